import argparse
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasae
from kerasae.models import semi_supervised as ss  # registers "semi-supervised"
from kerasae.models.semi_supervised import LatentPredictor, SemiSupervisedAutoencoder
from helpers import assert_keras_roundtrip, compile_model, small_mlp


def _model(latent_dim=16, hidden_units=(64,), **kwargs):
    encoder, decoder = small_mlp(latent_dim=latent_dim, hidden_units=hidden_units)
    kwargs.setdefault("num_classes", 10)
    return SemiSupervisedAutoencoder(encoder, decoder, **kwargs)


def _log_softmax(logits):
    logits = logits - logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


# ---------------------------------------------------------------------------------------------- data
def test_labelled_mask_reads_minus_one_and_nan_as_unlabelled():
    np.testing.assert_array_equal(ss.labelled_mask(np.array([0, -1, np.nan, 2.0])), [True, False, False, True])
    np.testing.assert_array_equal(ss.labelled_mask(np.array([3, -1, 0])), [True, False, True])
    np.testing.assert_array_equal(ss.labelled_mask(np.array([[0.5, 1.0], [np.nan, 2.0], [1.0, np.inf]]),
                                                   task="regression"), [True, False, False])


def test_mask_labels_is_balanced_seeded_and_checked(digits):
    y = ss.mask_labels(digits.y_train, 5, seed=3)
    kept = y >= 0
    assert kept.sum() == 50 and set(np.unique(y)) == set(range(-1, 10))
    np.testing.assert_array_equal(np.bincount(y[kept]), np.full(10, 5))
    np.testing.assert_array_equal(y[kept], digits.y_train[kept])  # kept labels are the true ones
    np.testing.assert_array_equal(y, ss.mask_labels(digits.y_train, 5, seed=3))
    assert not np.array_equal(y, ss.mask_labels(digits.y_train, 5, seed=4))
    with pytest.raises(ValueError, match="fewer than labels_per_class"):
        ss.mask_labels(np.array([0, 0, 1]), 2)
    with pytest.raises(ValueError, match="labels_per_class"):
        ss.mask_labels(digits.y_train, 0)
    with pytest.raises(ValueError, match="class labels"):
        ss.mask_labels(digits.y_train.astype("float32"), 5)


def test_mixed_pipeline_puts_labels_in_every_batch(digits):
    y = ss.mask_labels(digits.y_train, 2, seed=0)  # 20 labelled out of 1437
    batches = list(ss.mixed_pipeline(digits.x_train, y, batch_size=32, labelled_fraction=0.25, seed=0))
    labelled = [int(np.sum(yb.numpy() >= 0)) for _, yb in batches]
    assert min(labelled) == 8 and max(labelled) == 8  # round(32 * 0.25), oversampled
    unlabelled_seen = sum(int(np.sum(yb.numpy() < 0)) for _, yb in batches)
    assert unlabelled_seen == int(np.sum(y < 0))  # one epoch is one pass over the unlabelled examples
    with pytest.raises(ValueError, match="labelled_fraction"):
        ss.mixed_pipeline(digits.x_train, y, labelled_fraction=1.0)
    with pytest.raises(ValueError, match="one label per example"):
        ss.mixed_pipeline(digits.x_train, y[:-1])


# ---------------------------------------------------------------------------------------------- objective
def test_supervised_loss_is_the_mean_over_labelled_examples_only(digits):
    model = compile_model(_model(alpha=0.5))
    x = digits.x_train[:16]
    unlabelled = np.full(16, -1)
    terms, logits = model.compute_loss_terms(x, tf.constant(unlabelled, "int32"))
    # A batch without labels contributes exactly zero supervised loss, and no gradient to the head.
    np.testing.assert_array_equal(terms["supervised_loss"].numpy(), np.zeros(16))
    np.testing.assert_array_equal(
        model.combine_loss_terms(terms).numpy(), 0.5 * terms["reconstruction_loss"].numpy()
    )
    head_before = [w.numpy() for w in model.head.weights]
    model.train_on_batch(x, unlabelled)
    for before, after in zip(head_before, model.head.weights):
        np.testing.assert_array_equal(before, after.numpy())

    # A mixed batch: the batch mean of the per-example term is the cross-entropy mean over labelled ones.
    labels = np.where(np.arange(16) % 4 == 0, digits.y_train[:16], -1)
    terms, logits = model.compute_loss_terms(x, tf.constant(labels, "int32"))
    mask = labels >= 0
    ce = -_log_softmax(logits.numpy())[mask, labels[mask]]
    np.testing.assert_allclose(terms["supervised_loss"].numpy().mean(), ce.mean(), rtol=1e-5)
    np.testing.assert_array_equal(terms["supervised_loss"].numpy()[~mask], 0.0)

    # The tracked metrics see the labelled examples only; the loss is supervised + alpha * reconstruction.
    result = model.evaluate(x, labels, batch_size=16, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["supervised_loss"], ce.mean(), rtol=1e-5)
    predicted = logits.numpy().argmax(axis=1)
    assert result["accuracy"] == pytest.approx(np.mean(predicted[mask] == labels[mask]))
    recon = terms["reconstruction_loss"].numpy().mean()
    np.testing.assert_allclose(result["loss"], ce.mean() + 0.5 * recon, rtol=1e-5)


def test_concurrent_training_beats_labelled_only_training(digits):
    accuracies = {"semi": [], "labelled_only": []}
    for seed in range(3):
        y = ss.mask_labels(digits.y_train, 5, seed=seed)
        keras.utils.set_random_seed(seed)
        model = compile_model(_model(alpha=1.0))
        history = model.fit(ss.mixed_pipeline(digits.x_train, y, batch_size=64, seed=seed), epochs=10, verbose=0, shuffle=False)
        steps = 10 * int(np.ceil(np.sum(y < 0) / 48))  # 48 unlabelled + 16 labelled per batch
        assert {"loss", "reconstruction_loss", "supervised_loss", "accuracy"} <= set(history.history)
        accuracies["semi"].append(ss.accuracy(model, digits.x_test, digits.y_test))
        # The same network and number of steps on the 50 labelled examples alone (no reconstruction).
        keras.utils.set_random_seed(seed)
        baseline = compile_model(_model(alpha=0.0))
        labelled = y >= 0
        repeated = tf.data.Dataset.from_tensor_slices((digits.x_train[labelled], y[labelled]))
        repeated = repeated.shuffle(50, seed=seed).batch(16).repeat()
        baseline.fit(repeated, epochs=10, steps_per_epoch=steps // 10, verbose=0, shuffle=False)
        accuracies["labelled_only"].append(ss.accuracy(baseline, digits.x_test, digits.y_test))
    semi, alone = np.mean(accuracies["semi"]), np.mean(accuracies["labelled_only"])
    assert semi > 0.75, accuracies
    assert semi > alone, accuracies


def test_regression_head_learns_from_few_targets(digits):
    target = digits.x_train.mean(axis=1, keepdims=True) * 4.0  # ink: a continuous target
    y = target.copy()
    y[np.random.default_rng(0).random(len(y)) > 0.2] = np.nan  # 80% unlabelled
    model = compile_model(_model(task="regression", num_classes=None))
    assert model.output_dim == 1 and model.accuracy_tracker is None
    history = model.fit(ss.mixed_pipeline(digits.x_train, y, batch_size=64, task="regression"), epochs=8, verbose=0, shuffle=False)
    assert "accuracy" not in history.history
    assert history.history["supervised_loss"][-1] < 0.2 * history.history["supervised_loss"][0]
    test_target = digits.x_test.mean(axis=1, keepdims=True) * 4.0
    mse = np.mean((model.predict_labels(digits.x_test) - test_target) ** 2)
    assert mse < 0.2 * test_target.var()
    with pytest.raises(ValueError, match="regression targets of shape"):
        model.fit(digits.x_train[:64], np.zeros((64, 3)), verbose=0)


def test_keras_roundtrip_with_custom_head(digits, tmp_path):
    head = keras.Sequential([keras.Input((16,)), keras.layers.Dense(12, activation="relu"), keras.layers.Dense(10)])
    model = compile_model(_model(head=head, num_classes=None, alpha=2.0))
    assert model.num_classes == 10
    y = ss.mask_labels(digits.y_train, 5)
    model.fit(ss.mixed_pipeline(digits.x_train, y), epochs=1, verbose=0, shuffle=False)
    x = digits.x_test[:32]
    both = lambda m, x: np.concatenate([m.predict_head(x), np.asarray(m.reconstruct(x))], axis=1)  # noqa: E731
    loaded = assert_keras_roundtrip(model, x, tmp_path, outputs=both)  # then goes on training from x alone
    assert loaded.alpha == 2.0 and loaded.task == "classification"
    assert [w.shape for w in loaded.head.weights] == [w.shape for w in head.weights]


def test_sequential_training_freezes_the_encoder(digits):
    model = compile_model(_model())
    y = ss.mask_labels(digits.y_train, 5, seed=0)
    head_before = [w.numpy() for w in model.head.weights]
    encoder_after_stage1 = {}

    class Snapshot(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            encoder_after_stage1.update({w.path: w.numpy() for w in model.encoder.weights})

    histories = model.fit_sequential(digits.x_train, y, epochs=5, head_epochs=100, callbacks=[Snapshot()])
    assert set(histories) == {"autoencoder", "head"}
    assert histories["autoencoder"].history["supervised_loss"] == [0.0] * 5  # stage 1 sees no labels
    for w in model.encoder.weights:  # stage 2 did not move the encoder
        np.testing.assert_array_equal(w.numpy(), encoder_after_stage1[w.path])
    assert model.encoder.trainable
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(head_before, model.head.weights))
    assert ss.accuracy(model, digits.x_test, digits.y_test) > 0.6


def test_m1_head_on_frozen_autoencoder_codes(digits):
    encoder, decoder = small_mlp(latent_dim=16, hidden_units=(64,))
    autoencoder = compile_model(kerasae.Autoencoder(encoder, decoder))
    autoencoder.fit(digits.x_train, epochs=5, batch_size=64, verbose=0)
    weights = [w.numpy() for w in autoencoder.weights]
    y = ss.mask_labels(digits.y_train, 5, seed=0)
    m1 = LatentPredictor(autoencoder).fit(digits.x_train, y, epochs=100)
    assert m1.score(digits.x_test, digits.y_test) > 0.6
    assert m1.predict_head(digits.x_test[:5]).sum(axis=1) == pytest.approx(np.ones(5), abs=1e-5)
    for before, after in zip(weights, autoencoder.weights):
        np.testing.assert_array_equal(before, after.numpy())
    with pytest.raises(ValueError, match="encode"):
        LatentPredictor(object())


def test_m1_head_on_vae_posterior_means(digits):
    vae = compile_model(kerasae.VAE.create((64,), 8, hidden_units=(64,), seed=0))
    vae.fit(digits.x_train, epochs=5, batch_size=64, verbose=0)
    y = ss.mask_labels(digits.y_train, 5, seed=0)
    m1 = LatentPredictor(vae).fit(digits.x_train, y, epochs=100)
    np.testing.assert_allclose(ss.encode_codes(vae, digits.x_test[:8]), vae.encode(digits.x_test[:8]).mean(), atol=1e-6)
    assert m1.score(digits.x_test, digits.y_test) > 0.5


def test_m1_label_spreading_uses_the_unlabelled_codes(digits):
    """LatentLabelSpreading is scikit-learn's label spreading on the model's codes of all examples (-1 and NaN both
    unlabelled); with 5 labels per class on PCA codes it beats a softmax head on the labelled codes alone."""
    from sklearn.semi_supervised import LabelSpreading

    from kerasae.models import linear

    pca = linear.pca(digits.x_train, 8)
    y = ss.mask_labels(digits.y_train, 5, seed=0)
    spreading = kerasae.LatentLabelSpreading(pca, n_neighbors=10, alpha=0.2).fit(digits.x_train, y)
    reference = LabelSpreading(kernel="knn", n_neighbors=10, alpha=0.2, max_iter=200).fit(pca.encode(digits.x_train), y)
    np.testing.assert_array_equal(spreading.predict_labels(digits.x_test), reference.predict(pca.encode(digits.x_test)))
    with_nan = np.where(y >= 0, y, np.nan)
    np.testing.assert_array_equal(kerasae.LatentLabelSpreading(pca).fit(digits.x_train, with_nan).predict_labels(
        digits.x_test), spreading.predict_labels(digits.x_test))
    keras.utils.set_random_seed(0)
    head = LatentPredictor(pca).fit(digits.x_train, y, epochs=100)
    # LatentPredictor reads NaN as unlabelled too (the same head, seeded), and refuses a label that is no class.
    keras.utils.set_random_seed(0)
    np.testing.assert_allclose(LatentPredictor(pca).fit(digits.x_train, with_nan, epochs=100).predict_head(
        digits.x_test[:16]), head.predict_head(digits.x_test[:16]), atol=1e-6)
    with pytest.raises(ValueError, match=r"labelled examples. labels to be whole numbers .*Received 3\.5"):
        LatentPredictor(pca).fit(digits.x_train, np.where(y >= 0, y, np.nan) + np.where(y == 3, 0.5, 0), epochs=1)
    with pytest.raises(ValueError, match="at least one labelled example"):
        LatentPredictor(pca).fit(digits.x_train, np.full(len(y), np.nan), epochs=1)
    assert spreading.score(digits.x_test, digits.y_test) > max(0.8, head.score(digits.x_test, digits.y_test) + 0.05)
    with pytest.raises(ValueError, match="Received: alpha=1"):
        kerasae.LatentLabelSpreading(pca, alpha=1)
    with pytest.raises(ValueError, match="not spread yet"):
        kerasae.LatentLabelSpreading(pca).predict_labels(digits.x_test)
    with pytest.raises(ValueError, match="Received none"):
        kerasae.LatentLabelSpreading(pca).fit(digits.x_train, np.full(len(digits.x_train), -1))
    with pytest.raises(ValueError, match="class indices >= 0"):
        kerasae.LatentLabelSpreading(pca).fit(digits.x_train, np.where(y == 3, -2, y))


def test_m1_label_spreading_reaches_every_example():
    """Examples of a cluster no label reaches (their neighbours got no spread label) take their nearest labelled
    code's class, without a warning, instead of the 0/0 of scikit-learn's probabilities."""
    import warnings

    class Identity:  # codes = inputs
        def encode(self, x):
            return np.asarray(x, "float32")

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(10, 0.1, (20, 2)), rng.normal(20, 0.1, (20, 2))])
    y = np.full(60, -1)
    y[0], y[40] = 3, 7  # the middle cluster gets no label, and no 5-neighbour graph edge reaches it
    x[20:40, 0] -= 2.0  # it lies at (8, 10): nearer the first labelled code (0, 0) than the second (20, 20)
    spreading = kerasae.LatentLabelSpreading(Identity(), n_neighbors=5).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = spreading.predict_labels(x)
    np.testing.assert_array_equal(labels, [3] * 40 + [7] * 20)


# ---------------------------------------------------------------------------------------------- errors
def test_bad_arguments_and_labels_raise(digits):
    encoder, decoder = small_mlp(latent_dim=16)
    with pytest.raises(ValueError, match="num_classes"):
        SemiSupervisedAutoencoder(encoder, decoder)
    with pytest.raises(ValueError, match="alpha"):
        SemiSupervisedAutoencoder(encoder, decoder, num_classes=10, alpha=-1)
    with pytest.raises(ValueError, match="task"):
        SemiSupervisedAutoencoder(encoder, decoder, num_classes=10, task="ranking")
    with pytest.raises(ValueError, match="head outputs 3 values"):
        SemiSupervisedAutoencoder(encoder, decoder, num_classes=10, head=keras.layers.Dense(3))
    model = compile_model(SemiSupervisedAutoencoder(encoder, decoder, num_classes=10))
    with pytest.raises(ValueError, match="integer class labels"):
        model.fit(digits.x_train[:64], keras.utils.to_categorical(digits.y_train[:64], 10), verbose=0)
    with pytest.raises(ValueError, match="Compile the model"):
        _model().fit_sequential(digits.x_train, digits.y_train)


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_trains_and_reports_test_accuracy(tmp_path):
    from kerasae.cli import main as cli
    from kerasae.cli import registry

    entry = registry.models()["semi-supervised"]
    assert entry.fit is not None and entry.pipeline is not None
    out = tmp_path / "run"
    status = cli.main(
        ["train", "semi-supervised", "--epochs", "2", "--labels-per-class", "5", "--alpha", "0.5",
         "--latent-dim", "16", "--out", str(out), "--verbose", "0"]
    )
    assert status == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.2 < metrics["test"]["accuracy"] <= 1.0  # on the labelled test set, not the unlabelled view
    assert 0.2 < metrics["train"]["accuracy"] <= 1.0
    assert metrics["config"]["alpha"] == 0.5
    model = keras.models.load_model(out / "model.keras")
    assert model.alpha == 0.5


def test_cli_sequential_option(digits):
    from kerasae.cli import registry

    entry = registry.models()["semi-supervised"]
    args = argparse.Namespace(
        architecture="mlp", latent_dim=16, hidden_units=(64,), filters=None, activation="relu", dropout=0.0,
        loss="mse", l2=0.0, alpha=1.0, labels_per_class=5, labelled_fraction=0.25, sequential=True,
        epochs=2, batch_size=64, seed=0, verbose=0,
    )
    model = compile_model(entry.build(args, digits))
    history = entry.fit(model, digits, args, [])
    assert len(history.history["loss"]) == 2
    report = model.evaluate(entry.make_pipeline(model, digits, "test", 64), verbose=0, return_dict=True)
    assert {"supervised_loss", "accuracy"} <= set(report) and report["accuracy"] > 0.3
