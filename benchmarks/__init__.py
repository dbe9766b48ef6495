"""Benchmarks of kerasae: ``python -m benchmarks.run`` measures speed, memory and quality figures."""

# Before any benchmark imports TensorFlow: kerasae's import asks for TensorFlow's oneDNN CPU kernels, as users get
# them (kerasae.backend.prefer_onednn); a script that imported Keras first would measure TensorFlow's own choice.
import kerasae  # noqa: E402,F401
