"""Reliability: multi-worker training, mixed precision, numerics, resume after a crash, bad input, safe
loading and determinism (issue 8). Model-family-specific checks live in each family's test file."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import weakref

import keras
import numpy as np
import pytest

import kerasae
from helpers import build_registered, compile_model, small_mlp
from kerasae.cli import main as cli
from kerasae.callbacks import NaNLossError
from kerasae.safe_loading import ModelLoadError, load_model

SCRIPTS = os.path.join(os.path.dirname(__file__), "scripts")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_mirrored_strategy_agrees_with_one_worker(tmp_path):
    """Two worker processes on 127.0.0.1 (TF_CONFIG) train the same model as one worker, step for step."""
    script = os.path.join(SCRIPTS, "multiworker_train.py")
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(config))
        procs.append(subprocess.Popen([sys.executable, script, str(tmp_path / f"w{index}.json")], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    try:
        for p in procs:
            _, err = p.communicate(timeout=240)
            assert p.returncode == 0, err[-2000:]
    finally:
        for p in procs:
            p.kill()
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    subprocess.run([sys.executable, script, str(tmp_path / "single.json")], env=env, check=True, timeout=240,
                   capture_output=True)
    single = json.loads((tmp_path / "single.json").read_text())
    for index in range(2):
        np.testing.assert_allclose(json.loads((tmp_path / f"w{index}.json").read_text()), single, rtol=1e-4)


@pytest.fixture
def policy():
    yield keras.mixed_precision.set_dtype_policy
    keras.mixed_precision.set_dtype_policy("float32")


MODELS = sorted(__import__("kerasae.cli.registry", fromlist=["models"]).models())


def _first_batch(entry, model, data, split="train", size=64):
    batch = next(iter(entry.make_pipeline(model, data, split, size)))
    return batch if isinstance(batch, tuple) else (batch,)


@pytest.mark.parametrize("policy_name", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("model_name", MODELS)
def test_mixed_precision_trains_without_nan_and_losses_stay_float32(policy, policy_name, model_name):
    policy(policy_name)
    model, data, entry, _ = build_registered(model_name)
    compile_model(model)
    history = model.fit(entry.make_pipeline(model, data, "train", 128), epochs=1, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    x, y, _ = keras.utils.unpack_x_y_sample_weight(_first_batch(entry, model, data))
    terms, _ = model.compute_loss_terms(x, model.targets(x, y))
    assert all(v.dtype == "float32" for v in terms.values()), {k: v.dtype for k, v in terms.items()}
    assert all(w.dtype == "float32" for w in model.weights)  # variables stay float32


def test_mixed_precision_exports_stay_float32(digits, policy, tmp_path):
    import tensorflow as tf

    policy("mixed_float16")
    model = compile_model(kerasae.Autoencoder(*small_mlp()))
    model.fit(digits.x_train, epochs=1, verbose=0)
    kerasae.export.export(model, tmp_path / "out", formats=("saved_model",), parity_data=digits.x_test[:32])
    signature = tf.saved_model.load(str(tmp_path / "out" / "saved_model")).signatures["reconstruct"]
    outputs = signature(x=tf.constant(digits.x_test[:4]))
    assert signature.structured_input_signature[1]["x"].dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in outputs.values())


@pytest.mark.parametrize("model_name", MODELS)
def test_extreme_inputs_and_pre_activations_stay_finite(model_name):
    """All-zero and all-one inputs through weights scaled up 100x (very large logits and scales)."""
    import tensorflow as tf

    model, data, entry, _ = build_registered(model_name)
    x, y, _ = keras.utils.unpack_x_y_sample_weight(_first_batch(entry, model, data, size=8))
    for variable in model.trainable_variables:
        if "kernel" in variable.path:
            variable.assign(variable * 100.0)
    for fill in (0.0, 1.0):
        inputs = tf.nest.map_structure(lambda t: t, x)
        if isinstance(inputs, tuple):  # (x, condition): only the data is extreme
            inputs = (tf.fill(tf.shape(inputs[0]), fill), inputs[1])
        else:
            inputs = tf.fill(tf.shape(inputs), fill)
        with tf.GradientTape() as tape:
            terms, _ = model.compute_loss_terms(inputs, model.targets(inputs, y), training=True)
            loss = tf.reduce_mean(model.combine_loss_terms(terms))
        grads = tape.gradient(loss, model.trainable_variables)
        assert np.isfinite(float(loss)), (fill, {k: np.asarray(v) for k, v in terms.items()})
        assert all(g is None or np.all(np.isfinite(np.asarray(g))) for g in grads), fill


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_extreme_inputs_give_finite_losses_and_gradients(fill):
    import tensorflow as tf

    model = kerasae.Autoencoder(*small_mlp(), reconstruction_loss="bce")
    x = np.full((4, 64), fill, "float32")
    # Very large pre-activations: scale the output layer so that logits reach ~1e4.
    output = model.decoder.get_layer("output")
    output.kernel.assign(output.kernel * 1e4)
    with tf.GradientTape() as tape:
        terms, _ = model.compute_loss_terms(x, x, training=True)
        loss = tf.reduce_mean(model.combine_loss_terms(terms))
    grads = tape.gradient(loss, model.trainable_variables)
    assert np.isfinite(float(loss))
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_nan_loss_stops_training_with_a_clear_message(digits):
    model = compile_model(kerasae.Autoencoder(*small_mlp()))
    x = digits.x_train.copy()
    model.check_inputs = lambda x, name="x": None  # let NaN through the input check to reach the loss
    x[5, 3] = np.nan
    with pytest.raises(NaNLossError, match="became nan in epoch 1"):
        model.fit(x, epochs=3, verbose=0)


# ------------------------------------------------------------------------------------------- bad input
# One test per row of README's "Bad input" table.
def _model():
    return compile_model(kerasae.Autoencoder(*small_mlp()))


@pytest.mark.parametrize(
    "make_x, message",
    [
        (lambda d: d.x_train[:, :32], r"has shape \(32,\) per example, but Autoencoder expects \(64,\)"),
        (lambda d: d.x_train.reshape(-1, 8, 8), r"expects \(64,\). Fix: reshape"),
        (lambda d: d.x_train.astype(str), "Expected x to be a numeric array"),
        (lambda d: np.where(np.arange(64) == 3, np.inf, d.x_train), "NaN or inf values"),
        (lambda d: d.x_train[:0], "at least one sample"),
    ],
    ids=["feature-shape", "rank", "dtype", "inf", "empty"],
)
def test_bad_training_data_raises_before_training(digits, make_x, message):
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=message):
        model.fit(make_x(digits), epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_batch_larger_than_data(digits):
    with pytest.raises(ValueError, match="batch_size=5000 is larger than the 1438 samples"):
        _model().fit(digits.x_train, batch_size=5000, epochs=1, verbose=0)


def test_latent_size_zero():
    with pytest.raises(ValueError, match="Expected latent_dim to be a positive integer. Received: latent_dim=0"):
        kerasae.networks.mlp((64,), 0)


def test_cli_bad_input_leaves_existing_outputs_untouched(tmp_path, capsys):
    out = tmp_path / "run"
    cli.main(["train", "autoencoder", "--epochs", "1", "--out", str(out), "--verbose", "0"])
    stamp = {p: (out / p).stat().st_mtime_ns for p in os.listdir(out)}
    assert cli.main(["train", "autoencoder", "--dataset", "/nonexistent.npy", "--out", str(out), "--overwrite"]) == 2
    assert "No data set named '/nonexistent.npy'" in capsys.readouterr().err
    assert {p: (out / p).stat().st_mtime_ns for p in os.listdir(out)} == stamp
    assert sorted(os.listdir(tmp_path)) == ["run"]


# ------------------------------------------------------------------------------------------- loading
def test_truncated_or_corrupted_model_gives_a_clear_error(digits, tmp_path):
    model = _model()
    path = tmp_path / "m.keras"
    model.save(path)
    data = path.read_bytes()
    (tmp_path / "truncated.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="not a valid .keras archive"):
        load_model(tmp_path / "truncated.keras")
    with pytest.raises(ModelLoadError, match="No model file"):
        load_model(tmp_path / "missing.keras")
    np.testing.assert_allclose(load_model(path).reconstruct(digits.x_test[:5]), model.reconstruct(digits.x_test[:5]))


def test_safe_mode_refuses_code_in_a_file(tmp_path):
    inputs = keras.Input((64,))
    encoder = keras.Model(inputs, keras.layers.Lambda(lambda t: t[:, :8])(inputs))
    _, decoder = small_mlp()
    model = kerasae.Autoencoder(encoder, decoder)
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ModelLoadError, match="(?i)unsafe|safe_mode|lambda"):
        load_model(tmp_path / "lambda.keras")


# ------------------------------------------------------------------------------------------- resume, seeds
def test_resume_after_a_crash_continues_at_the_right_epoch(tmp_path):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "kerasae.cli", "train", "autoencoder", "--epochs", "400", "--batch-size", "16",
            "--out", str(out), "--resume", "--verbose", "0", "--seed", "3"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metadata = tmp_path / ".run.backup" / "training_metadata.json"
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if metadata.exists() and json.loads(metadata.read_text() or '{"epoch": 0}')["epoch"] >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert not out.exists(), "an interrupted run must not leave a run folder"
    crashed_at = json.loads(metadata.read_text())["epoch"]
    result = subprocess.run(argv[:5] + ["--epochs", "12"] + argv[7:], capture_output=True, text=True, timeout=300)
    if crashed_at >= 12:
        pytest.skip("the first run got past the resumed run's last epoch")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Resuming from epoch {crashed_at}" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["initial_epoch"] == crashed_at
    assert len(metrics["history"]["loss"]) == 12 - crashed_at
    assert not (tmp_path / ".run.backup").exists()
    # The per-epoch log spans both parts (an epoch logged before the crash but not backed up appears twice).
    with open(out / "history.csv") as f:
        logged = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert set(logged) == set(range(12)) and logged[-1] == 11
    # In line with an uninterrupted run of 12 epochs.
    fresh = tmp_path / "fresh"
    cli.main(["train", "autoencoder", "--epochs", "12", "--batch-size", "16", "--out", str(fresh), "--verbose", "0", "--seed", "3"])
    reference = json.loads((fresh / "metrics.json").read_text())["test"]["loss"]
    assert metrics["test"]["loss"] == pytest.approx(reference, rel=0.15)


def test_terminated_run_cleans_up_its_staging_folder(tmp_path):
    """SIGTERM (a scheduler's stop) unwinds the run like Ctrl-C: its private staging folder goes, the run
    folder holds what it held."""
    out = tmp_path / "runs" / "run"
    argv = [sys.executable, "-m", "kerasae", "train", "autoencoder", "--epochs", "400", "--batch-size", "16",
            "--out", str(out), "--verbose", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if out.parent.is_dir() and any(p.name.startswith(".kerasae-staging-") for p in out.parent.iterdir()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be stopped"
        time.sleep(1.0)
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert "terminated; nothing was written" in err
    assert not out.parent.exists() or os.listdir(out.parent) == []


def test_a_stop_swallowed_inside_a_weakref_callback_is_delivered_again():
    """A SIGTERM handled inside a weakref callback (importlib's module locks have one) raises where Python
    only prints the exception and goes on; the command must still stop (CI once saw a run go on instead)."""

    class Thing:
        pass

    def callback(_):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs here, inside the callback
            pass

    with pytest.raises(cli._Terminated):
        with cli._terminate_like_interrupt():
            thing = Thing()
            ref = weakref.ref(thing, callback)  # noqa: F841
            del thing
            time.sleep(10)  # the stop, delivered again, ends this early


def test_a_stop_turned_into_another_error_by_c_code_is_reported_as_terminated():
    """TensorFlow's C++ once turned the stop raised inside it into a TypeError (a traceback, exit status 1): any
    error coming out of a command asked to stop is the stop."""

    def command():
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here
        except BaseException as err:
            raise TypeError("unhashable type") from err

    with pytest.raises(cli._Terminated):
        with cli._terminate_like_interrupt():
            command()


def test_a_stop_swallowed_by_a_bare_except_is_delivered_again():
    swallowed = []
    with pytest.raises(cli._Terminated):
        with cli._terminate_like_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            except BaseException as err:  # code that swallows everything
                swallowed.append(err)
            time.sleep(10)  # the stop, delivered again, ends this early
    assert len(swallowed) == 1 and isinstance(swallowed[0], cli._Terminated)


def test_a_stop_sent_again_does_not_cut_the_clean_up_short():
    """While the stop unwinds the command, the signals sent again raise nothing: ``finally`` blocks run to the end."""
    cleaned = []
    with pytest.raises(cli._Terminated):
        with cli._terminate_like_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            finally:
                time.sleep(4 * cli._StopRequest.EVERY)  # clean-up that outlasts several deliveries (each resumes it)
                cleaned.append(True)
    assert cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the previous handler is back


def test_seed_makes_two_runs_identical(tmp_path):
    weights = []
    for name in ("a", "b"):
        cli.main(["train", "autoencoder", "--epochs", "2", "--seed", "11", "--out", str(tmp_path / name), "--verbose", "0"])
        weights.append(load_model(tmp_path / name / "model.keras").get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_a_fresh_interpreter_loads_any_kerasae_model(tmp_path):
    """``import kerasae`` registers its classes lazily: load_model registers them all first, so a model of a class
    nothing has imported yet (here M2) loads in a fresh interpreter."""
    path = tmp_path / "m2.keras"
    kerasae.M2.create((64,), 4, 10, hidden_units=(8,)).save(path)
    code = "import sys; from kerasae.safe_loading import load_model; print(type(load_model(sys.argv[1])).__name__)"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "M2", done.stderr[-2000:]
