"""Fixtures the export tests share."""

import pytest

from kerasae.cli import main as cli

#: The code size of the tiny run.
RUN_LATENT = 4


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """``kerasae train autoencoder --epochs 1 --latent-dim 4 --out DIR``: a tiny run folder (one per module)."""
    folder = tmp_path_factory.mktemp("cli") / "run"
    assert cli.main(["train", "autoencoder", "--epochs", "1", "--latent-dim", str(RUN_LATENT), "--out", str(folder),
                     "--verbose", "0"]) == 0
    return folder
