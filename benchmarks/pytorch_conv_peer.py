"""Benchmark: kerasae's convolutional VAE against the same network in PyTorch, on one machine and data.

The convolutional counterpart of :mod:`benchmarks.pytorch_peer`, whose driver it reuses (each contender in its
own process, all alive side by side, timed in turns: ``--blocks`` blocks of ``--steps`` steps in alternating
order, ``BURN_IN`` untimed steps before each). Every contender trains the VAE that
``kerasae.VAE.create((28, 28, 1), 16, architecture="conv", filters=(32, 64), likelihood="bernoulli")``
builds, with Adam(1e-3), batch 100, on the same fixed binarised 28x28x1 batches:

* encoder: Conv2D 32 and 64 filters, 3x3, stride 2, "same" padding, ReLU (28 -> 14 -> 7), flatten, dense to
  the posterior's 2 x 16 means and log-variances;
* decoder: dense 16 -> 7x7x64, ReLU, Conv2DTranspose 64 and 32 filters, 3x3, stride 2, ReLU (7 -> 14 -> 28),
  Conv2D 1 filter 3x3 to the Bernoulli logits; analytic KL, one reparameterised sample.

Contenders: ``kerasae_auto``, kerasae with ``compile``'s defaults (``jit_compile="auto"``, which resolves to XLA
off for this model on a CPU-only machine, on where a GPU is present; 16 steps per compiled call); ``kerasae_jit``
with ``jit_compile=True``; the same VAE hand-written in PyTorch, eager and with the whole training step under
``torch.compile``. Target (issue #23): kerasae's defaults at least 1.5x eager PyTorch's throughput on CPU.

Usage (from the repository root; ``pip install torch`` into the interpreter given):
    python benchmarks/pytorch_conv_peer.py [--torch-python PATH] [--blocks 20] [--steps 64]

Writes ``benchmarks/results/pytorch_conv_peer.json`` (rendered into ``benchmarks/RESULTS.md``).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))

from benchmarks import pytorch_peer  # noqa: E402
from benchmarks.pytorch_peer import BATCH_SIZE, LEARNING_RATE  # noqa: E402

IMAGE = (28, 28, 1)
LATENT_DIM = 16
FILTERS = (32, 64)

#: name -> (framework, description)
CONTENDERS = {
    "kerasae_auto": ("keras", "kerasae conv VAE, compile defaults: jit_compile=\"auto\", 16 steps per compiled call"),
    "kerasae_jit": ("keras", "kerasae conv VAE, jit_compile=True (XLA), 16 steps per compiled call"),
    "torch_eager": ("torch", "hand-written PyTorch conv VAE, eager"),
    "torch_compile": ("torch", "hand-written PyTorch conv VAE, training step under torch.compile"),
}
REFERENCE = "kerasae_auto"


def keras_contender(config, batches):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    from kerasae.models.vae import VAE

    batches = batches.reshape(len(batches), BATCH_SIZE, *IMAGE)
    keras.utils.set_random_seed(config["seed"])
    model = VAE.create(IMAGE, LATENT_DIM, architecture="conv", filters=FILTERS, likelihood="bernoulli",
                       seed=config["seed"])
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                  jit_compile=True if config["name"] == "kerasae_jit" else "auto")
    return pytorch_peer.keras_model_contender(model, batches, jit_compile=model.jit_compile_choice)


def torch_conv_vae(torch):
    """The conv VAE in PyTorch (channels first): -ELBO = sum BCE(x, logits) + KL(q(z|x) || N(0, I)), batch mean."""
    import torch.nn.functional as F

    nn = torch.nn
    (f1, f2), side = FILTERS, IMAGE[0] // 4

    class TorchConvVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, f1, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(f1, f2, 3, stride=2, padding=1),
                nn.ReLU(), nn.Flatten(), nn.Linear(f2 * side * side, 2 * LATENT_DIM))
            self.decoder = nn.Sequential(
                nn.Linear(LATENT_DIM, f2 * side * side), nn.ReLU(), nn.Unflatten(1, (f2, side, side)),
                nn.ConvTranspose2d(f2, f2, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                nn.ConvTranspose2d(f2, f1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                nn.Conv2d(f1, 1, 3, padding=1))

        def forward(self, x):
            mean, log_var = self.encoder(x).chunk(2, dim=-1)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            logits = self.decoder(z)
            reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
            kl = -0.5 * (1.0 + log_var - mean.square() - log_var.exp()).sum(-1)
            return (reconstruction + kl).mean()

    return TorchConvVAE()


def torch_contender(config, batches):
    import torch

    torch.manual_seed(config["seed"])
    batches = [torch.from_numpy(b.reshape(BATCH_SIZE, 1, *IMAGE[:2]).copy()) for b in batches]
    model = torch_conv_vae(torch)
    return pytorch_peer.step_contender(torch, model, model, batches, config["name"], {"torch": torch.__version__})


def worker(config):
    pytorch_peer.worker(config, CONTENDERS, {"keras": keras_contender, "torch": torch_contender})


def main(argv=None):
    return pytorch_peer.main(argv, benchmark="pytorch_conv_peer", contenders=CONTENDERS, reference=REFERENCE,
                             script=os.path.abspath(__file__), run_worker=worker,
                             description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
