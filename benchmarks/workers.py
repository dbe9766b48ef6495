"""What runs in a worker process: data preparation, one training configuration, the in-process kerasae/plain
VAE pair, the quality figures, and (through :mod:`benchmarks.profiling`) the profiles.

:func:`run_task` is the worker's entry (``python -m benchmarks.run --worker JSON``); each task returns a
JSON-serialisable dict.
"""

import os
import resource
import statistics
import sys
import time

from benchmarks.measure import alternating_blocks, compiled, pair_ratio, pass_ms, quiet_tensorflow, timed_fit
from benchmarks.models import (BATCH_SIZE, BLOCK_BURN_IN, BLOCK_STEPS, LEARNING_RATE, MATERIALIZED_BLOCKS, VAE_MODELS,
                               build_model)


def run_task(config):
    """Runs the worker task ``config["task"]`` (default ``"train"``) with the rest of ``config``."""
    from benchmarks import profiling

    config = dict(config)
    task = config.pop("task", "train")
    if task == "prepare":
        return prepare_data(config["subset"], config["directory"])
    if task == "profile":
        return profiling.step_profile(config["jit_compile"])
    if task == "jit_profile":
        return profiling.jit_profile(config["model"])
    if task == "spe_profile":
        return profiling.spe_profile(config["model"])
    if task == "pair":
        return pair_worker(config)
    if task == "quality":
        return quality_figures(config["denoising_epochs"])
    return train_worker(config)


def prepare_data(subset, directory, seed=0):
    """Loads MNIST through kerasae (random data of MNIST's shape if the Keras cache lacks it) to a .npy."""
    quiet_tensorflow()
    import numpy as np

    from kerasae.data import datasets

    try:
        x = datasets.load("mnist", seed=seed).x_train
        source = "MNIST (kerasae.data.datasets.load('mnist'), training split, 784 features in [0, 1])"
    except ValueError as err:
        print(f"MNIST is not in the Keras cache ({err}); using random data of the same shape.", file=sys.stderr)
        x = np.random.default_rng(seed).random((60000, 784), dtype="float32")
        source = "random uniform data of MNIST's shape (60000 x 784): MNIST was not in the Keras cache"
    if subset:
        x = x[:subset]
    path = os.path.join(directory, "x_train.npy")
    np.save(path, x)
    return {"path": path, "source": source, "num_samples": int(len(x))}


def pair_worker(config):
    """The kerasae VAE and the plain VAE in one process, in alternating blocks, each through its own copy of
    the benchmark's pipeline: their throughput ratio with both under the same load (``ratio``: kerasae / plain).
    """
    quiet_tensorflow()
    import keras
    import numpy as np

    from kerasae.data import pipelines

    keras.utils.set_random_seed(config["seed"])
    x = np.load(config["data"])
    warm = (x[:BATCH_SIZE] > 0.5).astype("float32")
    runs = {}
    for name in VAE_MODELS:
        pipeline = pipelines.make_pipeline(x, batch_size=BATCH_SIZE, seed=config["seed"], binarize="dynamic",
                                           drop_remainder=True)
        runs[name] = (compiled(build_model(name, config["seed"]), config["jit_compile"], warm), iter(pipeline.repeat()))
    times = alternating_blocks(runs, config["blocks"], BLOCK_STEPS, burn_in=BLOCK_BURN_IN)
    return {"jit_compile": config["jit_compile"], "blocks": config["blocks"], "steps_per_block": BLOCK_STEPS,
            "step_ms": {name: statistics.median(t) for name, t in times.items()}, "step_ms_each_block": times,
            "ratio": pair_ratio(times, "plain_vae", "vae")}


def train_worker(config):
    """Runs one training configuration; returns its figures as a dict (printed as JSON by ``--worker``)."""
    quiet_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasae.data import pipelines
    from kerasae.models.autoencoder import auto_steps_per_execution

    start = time.perf_counter()
    keras.utils.set_random_seed(config["seed"])
    x = np.load(config["data"], mmap_mode=None)
    vae = config["model"] in VAE_MODELS
    batch_size, steps, epochs = config["batch_size"], config["steps"], config["epochs"]
    # The same pipeline for kerasae and the plain baseline: shuffled, batched (gathered), prefetched; the VAEs
    # see a fresh Bernoulli draw of every image each epoch (dynamic binarisation, as in the IWAE paper).
    pipeline = pipelines.make_pipeline(x, batch_size=batch_size, seed=config["seed"],
                                       binarize="dynamic" if vae else None, drop_remainder=True)
    model = build_model(config["model"], config["seed"])
    # kerasae's default steps per compiled call (compile(steps_per_execution="auto"): the largest divisor of
    # the epoch's steps up to 16); the plain baseline gets the same number.
    spe = auto_steps_per_execution(steps)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), jit_compile=config["jit_compile"],
                  **({"steps_per_execution": spe} if config["model"] == "plain_vae" else {}))
    step_seconds, times = timed_fit(model, pipeline.repeat(), steps, epochs)
    rusage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        **config,
        "samples_per_second": batch_size / step_seconds,
        "step_ms": 1000 * step_seconds,
        "epoch_seconds": times,
        "warmup_seconds": times[0],
        "steps_per_execution": model.steps_per_execution,
        "peak_rss_mib": rusage.ru_maxrss / 1024,  # KiB on Linux
        "cpu_seconds_training": rusage.ru_utime + rusage.ru_stime,
        "num_samples": int(len(x)),
    }

    # The input pipeline alone: full passes (so each epoch's reshuffle is counted once per pass as in
    # training), consumed by a graph-side reduce, like Keras' own iterator.
    batches = len(x) // batch_size
    result["pipeline_ms_per_step"] = pass_ms(pipeline, batches)
    result["pipeline_share_alone"] = result["pipeline_ms_per_step"] / 1000 / step_seconds
    if vae:  # what the Bernoulli draws cost: the same pipeline without dynamic binarisation
        plain = pipelines.make_pipeline(x, batch_size=batch_size, seed=config["seed"], drop_remainder=True)
        result["pipeline_ms_per_step_without_binarization"] = pass_ms(plain, batches)

    if config.get("materialized"):
        from benchmarks.profiling import profiled_input_wait

        # What training loses to the pipeline: the same model's step through the pipeline and on batches held
        # in memory (one draw of the pipeline, cached: no shuffling, gathering or binarising per step).
        held = np.concatenate(list(pipeline.as_numpy_iterator()))
        in_memory = (
            tf.data.Dataset.from_tensor_slices(held).batch(batch_size, drop_remainder=True).cache().repeat()
            .prefetch(tf.data.AUTOTUNE)
        )
        # Per-step figures from here: recompiled with one step per call of the train function.
        function = compiled(model, config["jit_compile"], held[:batch_size])
        times = alternating_blocks({"normal": (function, iter(pipeline.repeat())),
                                    "in_memory": (function, iter(in_memory))},
                                   blocks=config.get("materialized_blocks", MATERIALIZED_BLOCKS),
                                   steps=BLOCK_STEPS, burn_in=BLOCK_BURN_IN)
        result["materialized_step_ms"] = statistics.median(times["in_memory"])
        result["normal_step_ms_alternating"] = statistics.median(times["normal"])
        result["materialized_blocks_ms"] = times
        result["pipeline_share_materialized"] = 1.0 - pair_ratio(times, "in_memory", "normal")
        try:
            result["profiled_input_wait"] = profiled_input_wait(function, iter(pipeline.repeat()))
        except Exception as err:  # noqa: BLE001 - a profiler that cannot trace leaves the other figures
            result["profiled_input_wait"] = {"error": f"{type(err).__name__}: {err}"}
    result["worker_seconds"] = time.perf_counter() - start
    return result


def quality_figures(denoising_epochs, seed=0):
    """Linear AE / PCA test MSE ratio and denoising PSNR gains on digits, trained in this process."""
    quiet_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasae import networks
    from kerasae.data import datasets
    from kerasae.models.denoising import DenoisingAutoencoder, denoising_scores
    from kerasae.models.linear import LinearAutoencoder, pca

    digits = datasets.load("digits", seed=seed)
    out = {}

    t = time.perf_counter()
    keras.utils.set_random_seed(seed)
    steps = 1000
    model = LinearAutoencoder.from_shape((64,), 8)
    schedule = keras.optimizers.schedules.CosineDecay(5e-2, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), steps_per_execution=100)
    model.fit(tf.data.Dataset.from_tensors(digits.x_train).repeat(), epochs=1, steps_per_epoch=steps, verbose=0)
    model_mse = float(np.mean((model.predict(digits.x_test, verbose=0) - digits.x_test) ** 2))
    pca_mse = pca(digits.x_train, 8).mse(digits.x_test)
    out["linear_pca"] = {
        "dataset": "digits", "k": 8, "linear_ae_test_mse": model_mse, "pca_test_mse": pca_mse,
        "ratio": model_mse / pca_mse, "training": f"full-batch Adam, cosine decay from 5e-2, {steps} steps",
        "seconds": time.perf_counter() - t,
    }

    out["denoising"] = []
    for noise, level in (("masking", 0.4), ("gaussian", 0.3)):
        t = time.perf_counter()
        keras.utils.set_random_seed(seed)
        encoder, decoder = networks.mlp((64,), 32, hidden_units=(64,))
        model = DenoisingAutoencoder(encoder, decoder, noise=noise, noise_level=level, seed=seed)
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        model.fit(digits.x_train, epochs=denoising_epochs, batch_size=64, verbose=0)
        scores = denoising_scores(model, digits.x_test, noise=noise, noise_level=level, seed=seed)
        out["denoising"].append({
            "dataset": "digits", "network": "mlp 64-64-32", "noise": noise, "noise_level": level,
            "epochs": denoising_epochs, **scores, "psnr_gain_db": scores["psnr"] - scores["noisy_psnr"],
            "seconds": time.perf_counter() - t,
        })
    return out
