"""Benchmarks of kerasae: ``python -m benchmarks.run`` measures speed, memory and quality figures."""
