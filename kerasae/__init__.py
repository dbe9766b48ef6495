"""kerasae: a Keras 3 / TensorFlow model zoo of autoencoders.

Importing kerasae selects the TensorFlow backend for Keras when none was chosen, and raises
:class:`kerasae.backend.BackendError` when another backend is already active.
"""

from kerasae.backend import ensure_tensorflow_backend as _ensure_tensorflow_backend

_ensure_tensorflow_backend()

__version__ = "0.1.0"

# === Building blocks ===
from kerasae import datasets, losses, networks  # noqa: E402

# === Layers ===
from kerasae import corruption, distributions  # noqa: E402

# === Models ===
# Importing a model module registers it with the CLI (kerasae train MODEL); each module is also reachable
# as kerasae.<module> (kerasae.vae, kerasae.contractive, ...) for its helpers.
from kerasae.autoencoder import Autoencoder  # noqa: E402
from kerasae.contractive import ContractiveAutoencoder  # noqa: E402
from kerasae.denoising import DenoisingAutoencoder  # noqa: E402
from kerasae.linear import LinearAutoencoder  # noqa: E402
from kerasae.sparse import SparseAutoencoder  # noqa: E402
from kerasae.stacked import StackedAutoencoder  # noqa: E402
from kerasae.semi_supervised import SemiSupervisedAutoencoder  # noqa: E402
from kerasae.vae import CVAE, IWAE, VAE  # noqa: E402

# === Using trained models ===
from kerasae import anomaly, export, safe_loading  # noqa: E402
