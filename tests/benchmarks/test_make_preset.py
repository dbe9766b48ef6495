"""benchmarks/make_preset.py: a preset from a 'kerasae train' run folder, its SavedModel on demand by default."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import make_preset  # noqa: E402
from kerasae.cli import main as cli  # noqa: E402
from kerasae.presets import cards  # noqa: E402


@pytest.mark.parametrize("option, shipped", [([], False), (["--saved-model", "included"], True)])
def test_a_run_becomes_a_preset_with_its_saved_model_on_demand_unless_asked(option, shipped, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    run = tmp_path / "run"
    assert cli.main(["train", "vae", "--epochs", "1", "--latent-dim", "2", "--hidden-units", "16", "--out", str(run),
                     "--verbose", "0"]) == 0
    out = tmp_path / "preset"
    assert make_preset.main([str(run), "--name", "tiny", "--out", str(out), "--num-samples", "5", "--n-examples", "8",
                             *option]) == 0
    card = cards.read_card(str(out))
    assert card["saved_model"] == ("included" if shipped else "on_demand")
    assert os.path.isdir(out / "saved_model") == shipped
