"""benchmarks/one_class.py's result file: models run at different times are merged into one file with the same
settings, and a file with other settings is refused untouched (the training itself is replaced by fixed rows)."""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import one_class  # noqa: E402

AUC = {"autoencoder": 0.96, "conv_autoencoder": 0.91, "vae": 0.95}


@pytest.fixture
def fake_runs(monkeypatch):
    def run_class(model, normal_class, args):
        auc = AUC[model] + normal_class / 100
        return {"class": normal_class, "auc": {"combined": auc + 0.01, "reconstruction": auc}, "score": "combined",
                "train_wall_seconds": 10.0, "evaluate_wall_seconds": 2.0, "train_cpu_seconds": 15.0,
                "evaluate_cpu_seconds": 3.0}

    monkeypatch.setattr(one_class, "run_class", run_class)
    monkeypatch.setattr(one_class, "environment", lambda: {})


def test_a_second_model_joins_the_file_of_the_first(tmp_path, fake_runs):
    out = str(tmp_path / "one_class_mnist.json")
    first = ["--models", "autoencoder", "--classes", "0-9", "--out", out]
    one_class.main(first)
    with open(out) as f:
        # The autoencoder's target is on its default score (evaluate --anomaly's first), here "combined".
        assert json.load(f)["targets"]["autoencoder_mean_auc"]["value"] == pytest.approx(0.97 + 0.045)
    one_class.main(["--models", "conv_autoencoder", "--classes", "0-9", "--out", out])
    with open(out) as f:
        result = json.load(f)
    assert list(result["models"]) == ["autoencoder", "conv_autoencoder"]
    assert result["models"]["autoencoder"]["command"].endswith("--models autoencoder --classes 0-9 --out " + out)
    assert result["command"].count("python -m benchmarks.one_class") == 2
    assert result["complete"] and result["wall_seconds"] == 2 * 10 * 12.0 and result["cpu_seconds"] == 2 * 10 * 18.0
    assert result["models"]["conv_autoencoder"]["scores"]["reconstruction"]["mean"] == pytest.approx(0.91 + 0.045)
    # the conv autoencoder's default path has its own target, on its default score
    assert result["targets"]["conv_autoencoder_mean_auc"] == {"value": pytest.approx(0.92 + 0.045), "target": 0.97,
                                                             "met": False}
    fashion = str(tmp_path / "one_class_fashion_mnist.json")
    result = one_class.main(["--dataset", "fashion_mnist", "--models", "autoencoder", "--out", fashion])
    assert result["complete"] and result["targets"] is None  # the targets are MNIST's


def test_a_file_with_other_settings_is_refused_untouched(tmp_path, fake_runs, capsys):
    out = tmp_path / "one_class_mnist.json"
    one_class.main(["--models", "autoencoder", "--classes", "3", "--epochs", "20", "--out", str(out)])
    before = out.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        one_class.main(["--models", "vae", "--classes", "3", "--epochs", "30", "--out", str(out)])
    assert exit_info.value.code == 2 and out.read_bytes() == before
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "epochs 20, this run 30" in error and "--out NEW.json" in error
    out.write_text("[1, 2]")
    with pytest.raises(SystemExit) as exit_info:
        one_class.main(["--models", "vae", "--classes", "3", "--out", str(out)])
    assert exit_info.value.code == 2 and out.read_text() == "[1, 2]"
