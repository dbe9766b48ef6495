"""The figures of a preset's card, measured so that anyone can measure them again.

A card's ``data`` says how to rebuild the data set (``load``: the keyword arguments of
:func:`kerasae.datasets.load`); :func:`test_inputs` rebuilds the first ``n`` test examples exactly as the run saw
them (for dynamically binarised data, the test split's one fixed Bernoulli draw), and
:func:`log_likelihood_figure` measures the mean importance-weighted log-likelihood on them with a given number
of samples and seed: the figure every VAE-family preset carries (``n_examples=200``), checked by the tests
against the loaded preset. A classifier's card carries its ``accuracy`` on the same first test examples, an
autoencoder's its ``reconstruction_mse`` (:func:`figure`, measured again by :func:`measure`).

Example:
    >>> kerasae.presets.log_likelihood("vae-mnist", n_examples=200, num_samples=1000, seed=0)   # nats per image
    >>> kerasae.presets.measure("m1m2-mnist", "accuracy", n_examples=200)
"""

import numpy as np

from kerasae.data import datasets
from kerasae.export import signatures
from kerasae.utils import validation

#: Defaults of the figure every VAE-family preset carries.
N_EXAMPLES = 200
NUM_SAMPLES = 1000
SEED = 0


def _data_spec(data):
    spec = data.get("data", data) if isinstance(data, dict) and "files" in data else data  # a whole card too
    if not isinstance(spec, dict) or not isinstance(spec.get("dataset"), str) or not isinstance(spec.get("load"), dict):
        raise ValueError(
            "Expected a preset card's data: a dict with 'dataset' (a kerasae.datasets.load name or path) and 'load' "
            f"(its keyword arguments). Received: {spec!r}. Fix: record how the data are loaded when writing the "
            "preset (benchmarks/make_preset.py does)."
        )
    return spec


def load_data(data):
    """The :class:`kerasae.data.datasets.Dataset` a card's ``data`` (or a whole card) describes."""
    spec = _data_spec(data)
    return datasets.load(spec["dataset"], **spec["load"])


def preprocessing_text(dataset):
    """How a :class:`~kerasae.data.datasets.Dataset` reaches the model, in words, for a card's ``data``."""
    steps = [f"float32 in [0, 1]: {dataset.scaling}"]
    if dataset.binarize == "dynamic":
        # Dataset.pipeline draws the test split once with seed + 1 (kerasae.data.datasets).
        steps.append("dynamic binarisation in training (a fresh Bernoulli draw of every batch each epoch)")
        steps.append(f"test set: one fixed Bernoulli draw, seed {dataset.seed + 1}")
    elif dataset.binarize == "static":
        steps.append("static binarisation (pixels above the threshold become 1)")
    return "; ".join(steps)


def data_spec(dataset, load):
    """A card's ``data`` for a data set loaded as ``kerasae.datasets.load(dataset.name, **load)``."""
    return {
        "dataset": dataset.name,
        "load": dict(load),
        "input_shape": list(dataset.input_shape),
        "scaling": dataset.scaling,
        "preprocessing": preprocessing_text(dataset),
    }


def export_preprocessing(data):
    """What a preset's SavedModel metadata records about its inputs (from the card's ``data``)."""
    load = data.get("load") or {}
    preprocessing = {"scaling": data.get("scaling") or "float32 in [0, 1]", "binarization": load.get("binarize")}
    if load.get("binarize") == "static":
        preprocessing["threshold"] = load.get("threshold", 0.5)
    return preprocessing


def test_inputs(data, n_examples=N_EXAMPLES, model=None):
    """The first ``n_examples`` test examples as the model saw them in its run (binarised with the test split's
    fixed draw for dynamically binarised data); for a conditional ``model`` (the CVAE), ``(x, one-hot condition)``.

    Args:
        data: A card's ``data`` (or the whole card, or a loaded :class:`~kerasae.data.datasets.Dataset`).
        n_examples: How many, >= 1 (fewer when the test split is smaller).
        model: The model the inputs are for (only to tell whether it takes a condition).
    """
    n_examples = validation.check_positive_int("n_examples", n_examples)
    dataset = data if isinstance(data, datasets.Dataset) else load_data(data)
    k = None if model is None else signatures.condition_size(model)
    batch = dataset.pipeline("test", batch_size=n_examples, with_labels=k is not None)
    first = next(iter(batch.as_numpy_iterator()))
    if k is None:
        return first[0] if isinstance(first, tuple) else first
    x, y = first
    return x, np.eye(k, dtype="float32")[np.asarray(y, "int64")]


def test_labels(data, n_examples=N_EXAMPLES):
    """The labels of :func:`test_inputs`' examples (the same first ``n_examples`` of the test split)."""
    n_examples = validation.check_positive_int("n_examples", n_examples)
    dataset = data if isinstance(data, datasets.Dataset) else load_data(data)
    _, y = next(iter(dataset.pipeline("test", batch_size=n_examples, with_labels=True).as_numpy_iterator()))
    return np.asarray(y, "int64")


#: The figures :func:`measure_model` measures on a preset's first test examples, beside ``log_likelihood``.
MEASURED = ("accuracy", "reconstruction_mse")


def measure_model(model, data, metric, n_examples=N_EXAMPLES):
    """``metric`` of ``model`` on the first ``n_examples`` test examples of ``data`` (see :func:`test_inputs`):
    ``accuracy`` (the share of :meth:`predict_labels` equal to the labels) or ``reconstruction_mse`` (the mean
    squared error of :meth:`reconstruct`, per input value)."""
    if metric not in MEASURED:
        raise ValueError(f"Expected metric to be one of {', '.join(MEASURED)} (or log_likelihood, with "
                         f"log_likelihood_figure). Received: metric={metric!r}")
    needs = {"accuracy": "predict_labels", "reconstruction_mse": "reconstruct"}[metric]
    if not callable(getattr(model, needs, None)):
        raise ValueError(f"A {type(model).__name__} has no {needs}, so no {metric}. Fix: record another figure of it.")
    inputs = test_inputs(data, n_examples, model)
    x = inputs[0] if isinstance(inputs, tuple) else inputs  # a conditional model's inputs: (x, condition)
    if metric == "accuracy":
        return float(np.mean(np.asarray(model.predict_labels(x)) == test_labels(data, n_examples)))
    return float(np.mean((np.asarray(model.reconstruct(inputs)) - np.asarray(x)) ** 2))


def figure(model, data, metric, *, name, n_examples=N_EXAMPLES):
    """The card's figure ``metric`` of ``model`` (:func:`measure_model`), whose ``command`` measures it again from
    the preset ``name`` (:func:`measure`)."""
    value = measure_model(model, data, metric, n_examples)
    n = len(test_labels(data, n_examples))
    return {"metric": metric, "value": value, "split": "test", "n_examples": n, "num_samples": None, "seed": None,
            "command": f"python -c \"import kerasae; print(kerasae.presets.measure('{name}', '{metric}', "
                       f"n_examples={n}))\""}


def measure(name_or_path, metric, *, n_examples=N_EXAMPLES, sha256=None):
    """A preset's ``accuracy`` or ``reconstruction_mse`` on the first ``n_examples`` test examples of its card's
    data: the card's figure, measured again (:func:`measure_model`).

    Args:
        name_or_path: What :func:`kerasae.presets.load` takes (and ``sha256`` for a URL).
    """
    from kerasae.presets import loading

    model, card = loading.load_from_folder(loading.folder(name_or_path, sha256))
    return measure_model(model, card["data"], metric, n_examples)


def mean_log_likelihood(model, inputs, num_samples, seed):
    """The mean of ``model.log_likelihood(inputs, num_samples, seed=seed)`` in nats per example."""
    return float(np.mean(model.log_likelihood(inputs, num_samples=num_samples, seed=seed)))


def command(name, n_examples=N_EXAMPLES, num_samples=NUM_SAMPLES, seed=SEED):
    """The command that measures :func:`log_likelihood` of the preset ``name`` again."""
    return (f"python -c \"import kerasae; print(kerasae.presets.log_likelihood('{name}', n_examples={n_examples}, "
            f"num_samples={num_samples}, seed={seed}))\"")


def log_likelihood_figure(model, data, *, name, n_examples=N_EXAMPLES, num_samples=NUM_SAMPLES, seed=SEED):
    """Measures the mean log-likelihood of ``model`` on the first ``n_examples`` test examples of ``data`` (see
    :func:`test_inputs`); returns the card's figure, whose ``command`` measures it again from the preset ``name``.

    Example:
        >>> figure = kerasae.presets.log_likelihood_figure(model, card_data, name="vae-mnist")
        >>> figure["metric"], figure["n_examples"], figure["num_samples"], figure["seed"]
        ('log_likelihood', 200, 1000, 0)
    """
    if not callable(getattr(model, "log_likelihood", None)):
        raise ValueError(
            f"A {type(model).__name__} has no log_likelihood (only the VAE family has). Fix: record another figure "
            "of it, or none."
        )
    num_samples = validation.check_positive_int("num_samples", num_samples)
    seed = validation.check_int("seed", seed, minimum=0)
    inputs = test_inputs(data, n_examples, model)
    n = len(inputs[0] if isinstance(inputs, tuple) else inputs)
    return {
        "metric": "log_likelihood",
        "value": mean_log_likelihood(model, inputs, num_samples, seed),
        "split": "test",
        "n_examples": n,
        "num_samples": num_samples,
        "seed": seed,
        "command": command(name, n, num_samples, seed),
    }


def log_likelihood(name_or_path, *, n_examples=N_EXAMPLES, num_samples=NUM_SAMPLES, seed=SEED, sha256=None):
    """The mean log-likelihood (nats per example) of a preset on the first ``n_examples`` test examples of its
    card's data, with ``num_samples`` importance samples and ``seed``: the card's figure, measured again.

    Args:
        name_or_path: What :func:`kerasae.presets.load` takes (and ``sha256`` for a URL).
    """
    from kerasae.presets import loading

    model, card = loading.load_from_folder(loading.folder(name_or_path, sha256))
    inputs = test_inputs(card["data"], n_examples, model)
    return mean_log_likelihood(model, inputs, num_samples, seed)
