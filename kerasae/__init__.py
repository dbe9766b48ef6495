"""kerasae: a Keras 3 / TensorFlow model zoo of autoencoders.

Importing kerasae selects the TensorFlow backend for Keras when none was chosen, and raises
:class:`kerasae.backend.BackendError` when another backend is already active; before TensorFlow is imported, it
also asks for TensorFlow's oneDNN CPU kernels unless ``TF_ENABLE_ONEDNN_OPTS`` is set (:mod:`kerasae.backend`).
The names below load on first use (PEP 562), so ``import kerasae`` and the ``kerasae`` command start without
importing TensorFlow; using any model, layer or function imports it, and registers every kerasae model with Keras'
serialization (so ``keras.models.load_model`` finds them).

Where things live (see README, "Architecture"): ``kerasae.models`` (one module per family),
``kerasae.layers`` (distribution and corruption layers), ``kerasae.ops`` (losses, sampling, Jacobian
norms), ``kerasae.data``, ``kerasae.networks``, ``kerasae.export``, ``kerasae.presets`` (trained models),
``kerasae.cli``, ``kerasae.utils``.
"""

import importlib

from kerasae.backend import ensure_tensorflow_backend as _ensure_tensorflow_backend
from kerasae.backend import prefer_onednn as _prefer_onednn

_prefer_onednn()
_ensure_tensorflow_backend()

__version__ = "0.1.0"

# === Models === (name -> module)
_MODELS = {
    "Autoencoder": "kerasae.models.autoencoder",
    "LinearAutoencoder": "kerasae.models.linear",
    "SparseAutoencoder": "kerasae.models.sparse",
    "DenoisingAutoencoder": "kerasae.models.denoising",
    "ContractiveAutoencoder": "kerasae.models.contractive",
    "StackedAutoencoder": "kerasae.models.stacked",
    "VAE": "kerasae.models.vae",
    "IWAE": "kerasae.models.iwae",
    "MIWAE": "kerasae.models.multi_sample",
    "CIWAE": "kerasae.models.multi_sample",
    "PIWAE": "kerasae.models.multi_sample",
    "CVAE": "kerasae.models.cvae",
    "HierarchicalVAE": "kerasae.models.hvae",
    "HierarchicalIWAE": "kerasae.models.hvae",
    "SemiSupervisedAutoencoder": "kerasae.models.semi_supervised",
    "LatentPredictor": "kerasae.models.latent_predictor",
    "LatentLabelSpreading": "kerasae.models.latent_predictor",
    "EncoderPredictor": "kerasae.models.encoder_predictor",
    "M2": "kerasae.models.m2",
}

# === Layers ===
_LAYERS = {
    "IndependentNormal": "kerasae.layers.distributions",
    "MultivariateNormalTriL": "kerasae.layers.distributions",
    "IndependentBernoulli": "kerasae.layers.distributions",
    "FixedScaleNormal": "kerasae.layers.distributions",
    "LearnedScaleNormal": "kerasae.layers.distributions",
    "Categorical": "kerasae.layers.distributions",
    "OneHotCategorical": "kerasae.layers.distributions",
    "GaussianCorruption": "kerasae.layers.corruption",
    "SaltAndPepperCorruption": "kerasae.layers.corruption",
    "MaskingCorruption": "kerasae.layers.corruption",
    "DropoutCorruption": "kerasae.layers.corruption",
    "StandardNormalPrior": "kerasae.layers.priors",
    "MixtureOfGaussiansPrior": "kerasae.layers.priors",
    "VampPrior": "kerasae.layers.priors",
    "InverseAutoregressiveFlow": "kerasae.layers.flows",
    "MADE": "kerasae.layers.flows",
    "PlanarFlow": "kerasae.layers.planar",
    "RadialFlow": "kerasae.layers.planar",
    "PretrainedEncoder": "kerasae.models.encoder_predictor",
}

# === Functions ===
_FUNCTIONS = {
    "load_model": "kerasae.safe_loading",
    "anomaly_score": "kerasae.anomaly",
}

# === Modules === (kerasae.NAME; the flat names of earlier versions point to their new homes)
_MODULES = {
    "models": "kerasae.models",
    "layers": "kerasae.layers",
    "ops": "kerasae.ops",
    "data": "kerasae.data",
    "utils": "kerasae.utils",
    "networks": "kerasae.networks",
    "export": "kerasae.export",
    "presets": "kerasae.presets",
    "anomaly": "kerasae.anomaly",
    "plots": "kerasae.plots",
    "callbacks": "kerasae.callbacks",
    "schedules": "kerasae.schedules",
    "safe_loading": "kerasae.safe_loading",
    "backend": "kerasae.backend",
    "datasets": "kerasae.data.datasets",
    "pipelines": "kerasae.data.pipelines",
    "distributions": "kerasae.layers.distributions",
    "corruption": "kerasae.layers.corruption",
    "priors": "kerasae.layers.priors",
    "flows": "kerasae.layers.flows",
    "planar": "kerasae.layers.planar",
    "posteriors": "kerasae.layers.posteriors",
    "losses": "kerasae.ops.losses",
    "sampling": "kerasae.ops.sampling",
    "jacobian": "kerasae.ops.jacobian",
    **{name: f"kerasae.models.{name}" for name in (
        "autoencoder", "linear", "sparse", "denoising", "contractive", "stacked", "vae", "iwae", "multi_sample",
        "cvae", "hvae", "semi_supervised", "latent_predictor", "encoder_predictor", "m2",
    )},
}

__all__ = sorted([*_MODELS, *_LAYERS, *_FUNCTIONS, *_MODULES])


def __getattr__(name):
    if name in _MODULES:
        if _MODULES[name] not in ("kerasae.backend", "kerasae.cli"):
            importlib.import_module("kerasae.models")  # every model registered with Keras once TF is in use
        value = importlib.import_module(_MODULES[name])
    else:
        module = _MODELS.get(name) or _LAYERS.get(name) or _FUNCTIONS.get(name)
        if module is None:
            raise AttributeError(f"module 'kerasae' has no attribute {name!r}")
        importlib.import_module("kerasae.models")
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
