"""The model zoo, one module per family. Importing this package registers every model with Keras'
serialization, so that ``keras.models.load_model`` finds them."""

from kerasae.models.autoencoder import Autoencoder
from kerasae.models.contractive import ContractiveAutoencoder
from kerasae.models.cvae import CVAE
from kerasae.models.denoising import DenoisingAutoencoder
from kerasae.models.encoder_predictor import EncoderPredictor, PretrainedEncoder
from kerasae.models.hvae import HierarchicalIWAE, HierarchicalVAE
from kerasae.models.iwae import IWAE
from kerasae.models.latent_predictor import LatentLabelSpreading, LatentPredictor
from kerasae.models.linear import LinearAutoencoder
from kerasae.models.m2 import M2
from kerasae.models.multi_sample import CIWAE, MIWAE, PIWAE
from kerasae.models.semi_supervised import SemiSupervisedAutoencoder
from kerasae.models.sparse import SparseAutoencoder
from kerasae.models.stacked import StackedAutoencoder
from kerasae.models.vae import VAE
from kerasae import schedules as _schedules  # noqa: F401  registers the learning-rate schedules optimizers save

__all__ = [
    "Autoencoder", "CIWAE", "CVAE", "ContractiveAutoencoder", "DenoisingAutoencoder", "EncoderPredictor",
    "HierarchicalIWAE",
    "HierarchicalVAE", "IWAE", "LatentLabelSpreading", "LatentPredictor", "M2", "MIWAE", "PIWAE", "PretrainedEncoder",
    "LinearAutoencoder", "SemiSupervisedAutoencoder", "SparseAutoencoder", "StackedAutoencoder", "VAE",
]
