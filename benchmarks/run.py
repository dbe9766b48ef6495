"""Performance benchmarks of kerasae: throughput, memory, input pipeline, contractive penalty, quality.

Measures, in one run on one machine:

* training throughput (samples/s, the median over timed epochs after one warm-up epoch) of the MLP
  autoencoder, the denoising, contractive and sparse variants and the VAE (784-200-200-50, tanh,
  Bernoulli likelihood) on MNIST, each with and without ``jit_compile``;
* the same for a hand-written Keras 3 VAE of the same architecture (:mod:`benchmarks.plain_vae`), with
  the same batch size, optimizer, jit setting, steps per compiled call (kerasae's ``"auto"`` default
  resolves to the largest divisor of the epoch's steps up to 16; the plain VAE is given that number) and
  ``tf.data`` pipeline, in interleaved rounds, so that the
  ratio kerasae / plain shows what the library costs; and that ratio measured in one process, both VAEs'
  train functions taking turns in blocks of steps, each on its own copy of the pipeline (the steadiest
  figure on a shared machine);
* the peak resident memory of every training run (each configuration runs in its own subprocess, which
  reports ``getrusage(RUSAGE_SELF).ru_maxrss``);
* the input pipeline's share of a step (the pipeline iterated alone vs a training step; the train
  function on pre-materialised in-memory batches vs the normal pipeline, in alternating blocks; and a
  ``tf.profiler`` trace: the step's time in ``IteratorGetNext``);
* the contractive penalty's cost (closed form on one sigmoid layer; the exact matrix form on a
  784-256-32 MLP; on a 784-200-200-50 MLP the exact matrix form, the exact tiled autodiff and the
  Hutchinson estimate) as ratios to a plain autoencoder step of the same network;
* quality figures: linear autoencoder / PCA test MSE (digits, k = 8) and the denoising PSNR gain (digits),
  plus what the other benchmark scripts recorded under ``benchmarks/results/``.

An "epoch" here is ``--steps`` training steps over the repeated, shuffled MNIST pipeline (the cache and
shuffle buffer hold the whole training set), so that several timed epochs fit in a short run.

Writes ``benchmarks/results/run_{quick,full}.json`` and re-renders ``benchmarks/RESULTS.md`` from every
``run_*.json`` present.

Usage (from the repository root):
    export KERAS_HOME=/tmp/keras-home   # where keras.datasets.mnist finds mnist.npz
    python -m benchmarks.run --quick    # < 3 minutes on 2 CPU cores
    python -m benchmarks.run            # the full run (about 10 minutes on 2 CPU cores)
    python -m benchmarks.run --profile  # in-process step profiles: kerasae vs plain VAE (+ ablations),
                                        # each model's jit_compile speed-up, and fit's throughput with
                                        # 1 and with kerasae's default steps per compiled call
"""

import argparse
import datetime
import glob
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")
MARKDOWN = os.path.join(HERE, "RESULTS.md")

#: Training configurations: name -> description (the networks are built in :func:`build_model`).
MODELS = {
    "autoencoder": "Autoencoder, MLP 784-200-200-50 tanh, MSE",
    "denoising": "DenoisingAutoencoder, same MLP, masking noise 0.3",
    "contractive": "ContractiveAutoencoder, same MLP, lambda 0.1, default penalty_method='auto': the exact "
    "matrix form for MLPs, tr(B G B^T) (kerasae.contractive.mlp_jacobian_norm)",
    "sparse": "SparseAutoencoder, same MLP with a ReLU code, L1 1e-3",
    "vae": "kerasae.vae.VAE.create((784,), 50, hidden_units=(200, 200), activation='tanh'), Bernoulli",
    "plain_vae": "hand-written keras.io-style VAE, same architecture (benchmarks/plain_vae.py)",
    "autoencoder_single": "Autoencoder, one sigmoid layer 784-128 (the closed form's network), MSE",
    "contractive_closed": "ContractiveAutoencoder, one sigmoid layer 784-128, closed-form penalty",
    "autoencoder_1hidden": "Autoencoder, MLP 784-256-32 tanh (one hidden layer, linear code), MSE",
    "contractive_1hidden": "ContractiveAutoencoder, MLP 784-256-32, lambda 0.1, default penalty_method='auto': the "
    "exact matrix form, here s^T (G * H) s (kerasae.contractive.mlp_jacobian_norm)",
    "contractive_autodiff": "ContractiveAutoencoder(penalty_method='autodiff'), same MLP: the exact norm for any "
    "encoder, one backward pass of the encoder on the batch tiled 50 times",
    "contractive_hutchinson": "ContractiveAutoencoder(penalty_method='hutchinson'), same MLP: one Rademacher "
    "projection, E_v ||v^T dh/dx||^2 = ||dh/dx||_F^2 (one vector-Jacobian product instead of 50)",
}
VAE_MODELS = ("vae", "plain_vae")
#: Fewer steps per epoch for slow models, so that every run takes a similar time.
STEP_SCALE = {"contractive": 0.5, "contractive_autodiff": 0.2}
BATCH_SIZE = 100
LEARNING_RATE = 1e-3
#: In-process comparisons (the kerasae/plain VAE pair, the in-memory pipeline check): timed steps per block,
#: and untimed steps at each block's start, which consume what an idle pipeline iterator prefetched.
BLOCK_STEPS = 50
BLOCK_BURN_IN = 20
#: Block pairs of the in-memory pipeline check (full mode; MODES sets the quick mode's).
MATERIALIZED_BLOCKS = 20

MODES = {
    # rounds: repetitions of the kerasae/plain VAE pair (interleaved); steps: steps per epoch; epochs: timed
    # epochs after the warm-up one; subset: training samples (None: all 60000); pair_jit, pair_blocks: the
    # in-process kerasae/plain VAE comparison (blocks of BLOCK_STEPS steps each).
    "quick": {
        "rounds": 1,
        "steps": 40,
        "epochs": 3,
        "subset": 20000,
        "variants_jit": (False,),
        "contractive_cost": False,
        "denoising_epochs": 8,
        "pair_jit": (False,),
        "pair_blocks": 10,
        "materialized_blocks": 12,
    },
    "full": {
        "rounds": 2,
        "steps": 100,
        "epochs": 5,
        "subset": None,
        "variants_jit": (False, True),
        "contractive_cost": True,
        "denoising_epochs": 30,
        "pair_jit": (False, True),
        "pair_blocks": 20,
        "materialized_blocks": MATERIALIZED_BLOCKS,
    },
}


# ================================================================================================ worker
def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def build_model(name, seed=0):
    """The model of configuration ``name`` (see :data:`MODELS`), uncompiled."""
    from kerasae import networks

    if name == "plain_vae":
        from benchmarks.plain_vae import PlainVAE

        return PlainVAE(784, 50, (200, 200), "tanh", seed=seed)
    if name == "vae":
        from kerasae.models.vae import VAE

        return VAE.create((784,), 50, hidden_units=(200, 200), activation="tanh", likelihood="bernoulli", seed=seed)
    if name in ("autoencoder_single", "contractive_closed"):
        encoder, decoder = networks.mlp((784,), 128, hidden_units=(), code_activation="sigmoid")
    elif name in ("autoencoder_1hidden", "contractive_1hidden"):
        encoder, decoder = networks.mlp((784,), 32, hidden_units=(256,), activation="tanh")
    else:
        code_activation = "relu" if name == "sparse" else None
        encoder, decoder = networks.mlp((784,), 50, hidden_units=(200, 200), activation="tanh",
                                        code_activation=code_activation)
    if name in ("autoencoder", "autoencoder_single", "autoencoder_1hidden"):
        from kerasae.models.autoencoder import Autoencoder

        return Autoencoder(encoder, decoder)
    if name == "denoising":
        from kerasae.models.denoising import DenoisingAutoencoder

        return DenoisingAutoencoder(encoder, decoder, noise="masking", noise_level=0.3, seed=seed)
    if name.startswith("contractive"):
        from kerasae.models.contractive import ContractiveAutoencoder

        method = {"contractive_closed": "closed_form", "contractive_hutchinson": "hutchinson",
                  "contractive_autodiff": "autodiff"}.get(name, "auto")
        return ContractiveAutoencoder(encoder, decoder, contractive_weight=0.1, penalty_method=method, seed=seed)
    if name == "sparse":
        from kerasae.models.sparse import SparseAutoencoder

        return SparseAutoencoder(encoder, decoder, sparsity_weight=1e-3)
    raise ValueError(f"Unknown benchmark model {name!r}. Expected one of {sorted(MODELS)}.")


def timed_fit(model, dataset, steps, epochs):
    """Trains one warm-up and ``epochs`` timed epochs; returns (median seconds per step, all epoch times)."""
    from kerasae.callbacks import EpochTimer

    timer = EpochTimer()
    model.fit(dataset, epochs=epochs + 1, steps_per_epoch=steps, verbose=0, callbacks=[timer], shuffle=False)
    return statistics.median(timer.times[1:]) / steps, timer.times


def _pass_ms(pipeline, batches):
    """Milliseconds per batch of full passes over ``pipeline`` consumed by a graph-side reduce (best of 2)."""
    import numpy as np

    count = lambda: int(pipeline.reduce(np.int64(0), lambda c, _: c + 1))  # noqa: E731
    count()  # traces the reduce
    pass_times = []
    for _ in range(2):
        t = time.perf_counter()
        count()
        pass_times.append(time.perf_counter() - t)
    return 1000 * min(pass_times) / batches


#: Steps traced by the profiler for the input-wait figure.
PROFILED_STEPS = 200


def _profiled_input_wait(function, iterator, steps=PROFILED_STEPS):
    """The input pipeline's time inside the training step, as TensorFlow's profiler counts it.

    Traces ``steps`` calls of the train function with ``tf.profiler`` and reads the trace: the time the step
    spends in ``IteratorGetNext`` (taking a batch from the prefetch buffer, and waiting when it is empty) over
    the step's time, which is the input share TensorBoard's input-pipeline analyser reports. Also returns the
    CPU time the pipeline's own threads worked per batch (they run beside the step, taking CPU from it on a
    machine without an accelerator: the cached-data comparison measures that).
    """
    import tempfile

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    for _ in range(BLOCK_BURN_IN):
        logs = function(iterator)
    tf.nest.map_structure(lambda v: v.numpy(), logs)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            for step in range(steps):
                with tf.profiler.experimental.Trace("train", step_num=step, _r=1):
                    logs = function(iterator)
                    tf.nest.map_structure(lambda v: v.numpy(), logs)
        finally:
            tf.profiler.experimental.stop()
        (path,) = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
    seconds = {"step": 0.0, "get_next": 0.0, "pipeline_threads": 0.0}
    for plane in space.planes:
        names = {key: value.name for key, value in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name, duration = names.get(event.metadata_id, ""), event.duration_ps / 1e12
                if name == "train" and line.name == "python":
                    seconds["step"] += duration
                elif name == "IteratorGetNextOp::DoCompute":
                    seconds["get_next"] += duration
                elif line.name.startswith("tf_data_private_threadpool") and name == "ExecutorState::Process":
                    seconds["pipeline_threads"] += duration
    return {"steps": steps, "step_ms": 1000 * seconds["step"] / steps,
            "get_next_ms": 1000 * seconds["get_next"] / steps,
            "pipeline_threads_ms_per_batch": 1000 * seconds["pipeline_threads"] / steps,
            "share": seconds["get_next"] / seconds["step"]}


def pair_worker(config):
    """The kerasae VAE and the plain VAE in one process, in alternating blocks, each through its own copy of
    the benchmark's pipeline: their throughput ratio with both under the same load (``ratio``: kerasae / plain).
    """
    _quiet_tensorflow()
    import keras
    import numpy as np

    from kerasae.data import datasets

    keras.utils.set_random_seed(config["seed"])
    x = np.load(config["data"])
    warm = (x[:BATCH_SIZE] > 0.5).astype("float32")
    runs = {}
    for name in VAE_MODELS:
        pipeline = datasets.make_pipeline(x, batch_size=BATCH_SIZE, seed=config["seed"], binarize="dynamic",
                                          drop_remainder=True)
        runs[name] = (_compiled(build_model(name, config["seed"]), config["jit_compile"], warm), iter(pipeline.repeat()))
    times = _alternating_blocks(runs, config["blocks"], BLOCK_STEPS, burn_in=BLOCK_BURN_IN)
    return {"jit_compile": config["jit_compile"], "blocks": config["blocks"], "steps_per_block": BLOCK_STEPS,
            "step_ms": {name: statistics.median(t) for name, t in times.items()}, "step_ms_each_block": times,
            "ratio": _pair_ratio(times, "plain_vae", "vae")}


def train_worker(config):
    """Runs one training configuration; returns its figures as a dict (printed as JSON by ``--worker``)."""
    _quiet_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasae.data import datasets
    from kerasae.models.autoencoder import auto_steps_per_execution

    start = time.perf_counter()
    keras.utils.set_random_seed(config["seed"])
    x = np.load(config["data"], mmap_mode=None)
    vae = config["model"] in VAE_MODELS
    batch_size, steps, epochs = config["batch_size"], config["steps"], config["epochs"]
    # The same pipeline for kerasae and the plain baseline: shuffled, batched (gathered), prefetched; the VAEs
    # see a fresh Bernoulli draw of every image each epoch (dynamic binarisation, as in the IWAE paper).
    pipeline = datasets.make_pipeline(x, batch_size=batch_size, seed=config["seed"],
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
    result["pipeline_ms_per_step"] = _pass_ms(pipeline, batches)
    result["pipeline_share_alone"] = result["pipeline_ms_per_step"] / 1000 / step_seconds
    if vae:  # what the Bernoulli draws cost: the same pipeline without dynamic binarisation
        plain = datasets.make_pipeline(x, batch_size=batch_size, seed=config["seed"], drop_remainder=True)
        result["pipeline_ms_per_step_without_binarization"] = _pass_ms(plain, batches)

    if config.get("materialized"):
        # What training loses to the pipeline: the same model's step through the pipeline and on batches held
        # in memory (one draw of the pipeline, cached: no shuffling, gathering or binarising per step).
        held = np.concatenate(list(pipeline.as_numpy_iterator()))
        in_memory = (
            tf.data.Dataset.from_tensor_slices(held).batch(batch_size, drop_remainder=True).cache().repeat()
            .prefetch(tf.data.AUTOTUNE)
        )
        # Per-step figures from here: recompiled with one step per call of the train function.
        function = _compiled(model, config["jit_compile"], held[:batch_size])
        times = _alternating_blocks({"normal": (function, iter(pipeline.repeat())),
                                     "in_memory": (function, iter(in_memory))},
                                    blocks=config.get("materialized_blocks", MATERIALIZED_BLOCKS),
                                    steps=BLOCK_STEPS, burn_in=BLOCK_BURN_IN)
        result["materialized_step_ms"] = statistics.median(times["in_memory"])
        result["normal_step_ms_alternating"] = statistics.median(times["normal"])
        result["materialized_blocks_ms"] = times
        result["pipeline_share_materialized"] = 1.0 - _pair_ratio(times, "in_memory", "normal")
        try:
            result["profiled_input_wait"] = _profiled_input_wait(function, iter(pipeline.repeat()))
        except Exception as err:  # noqa: BLE001 - a profiler that cannot trace leaves the other figures
            result["profiled_input_wait"] = {"error": f"{type(err).__name__}: {err}"}
    result["worker_seconds"] = time.perf_counter() - start
    return result


# ================================================================================================ step profile
def _ablation_classes():
    """kerasae VAE variants with one piece of the base step removed, to price each piece."""
    from kerasae.models.vae import VAE

    class NoTrackers(VAE):
        """No metric updates and no logs: the cost of tracking loss terms."""

        def _update_trackers(self, *args):
            pass

        def _logs(self, *args):
            return {"iterations": self.optimizer.iterations + 0}  # Keras needs one output

    class NoPrediction(VAE):
        """No likelihood mean (the prediction for compiled metrics) computed in the step."""

        def compute_loss_terms(self, x, target, training=False):
            parts = self.log_weights(x, self.num_samples, training=training)
            return self._elbo_terms(parts), x

    return {"vae_no_trackers": NoTrackers, "vae_no_prediction": NoPrediction}


def step_profile(jit_compile, blocks=6, steps=60, seed=0):
    """Per-step time of the kerasae and plain VAEs (and ablations) in one process, on one in-memory batch.

    Every model's compiled train function is called on the same repeated batch in alternating blocks, so
    the figures share the machine's load and exclude the input pipeline, ``fit`` and callbacks.
    """
    _quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    batch = _random_batch(seed)
    models = {"vae": build_model("vae", seed), "plain_vae": build_model("plain_vae", seed)}
    for name, cls in _ablation_classes().items():
        models[name] = cls.create((784,), 50, hidden_units=(200, 200), activation="tanh", seed=seed)
    runs = {name: (_compiled(model, jit_compile, batch), _repeated(batch)) for name, model in models.items()}
    times = _alternating_blocks(runs, blocks, steps)
    return {"jit_compile": jit_compile, "blocks": blocks, "steps_per_block": steps,
            "step_ms": {name: statistics.median(t) for name, t in times.items()},
            "step_ms_each_block": times}


def _compiled(model, jit_compile, batch):
    """``model`` compiled with Adam, built and traced by one ``fit`` epoch on ``batch``; its train function,
    which runs one step per call."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), jit_compile=jit_compile, steps_per_execution=1)
    model.fit(batch, epochs=1, batch_size=BATCH_SIZE, verbose=0, shuffle=False)
    return model.make_train_function()


def _alternating_blocks(runs, blocks, steps, burn_in=1):
    """Milliseconds per step of each ``name: (train_function, iterator)``, timed in alternating blocks.

    The runs take turns, ``steps`` timed steps a block, so that all share the machine's load of the moment;
    each block starts with ``burn_in`` untimed steps (which also consume what an idle pipeline iterator
    prefetched while the others were timed).
    """
    import tensorflow as tf

    times = {name: [] for name in runs}
    for _ in range(blocks):
        for name, (function, iterator) in runs.items():
            for _ in range(burn_in):
                logs = function(iterator)
            tf.nest.map_structure(lambda v: v.numpy(), logs)
            t = time.perf_counter()
            for _ in range(steps):
                logs = function(iterator)
            tf.nest.map_structure(lambda v: v.numpy(), logs)  # wait for the last step
            times[name].append(1000 * (time.perf_counter() - t) / steps)
    return times


def _random_batch(seed):
    """One batch of random binary MNIST-sized inputs (the step's speed does not depend on the values)."""
    import numpy as np

    return (np.random.default_rng(seed).random((BATCH_SIZE, 784)) < 0.3).astype("float32")


def _repeated(batch):
    import tensorflow as tf

    return iter(tf.data.Dataset.from_tensors(batch).repeat().prefetch(2))


def _pair_ratio(times, numerator, denominator):
    """Median over block pairs of ``times[numerator] / times[denominator]`` (each pair shares its moment's load)."""
    return statistics.median(a / b for a, b in zip(times[numerator], times[denominator]))


#: The models whose jit_compile speed-up the profile measures in process (the training configurations).
JIT_MODELS = ("autoencoder", "denoising", "contractive", "sparse", "vae", "contractive_closed",
              "contractive_hutchinson")


def jit_profile(model, blocks=16, steps=40, seed=0):
    """The jit_compile speed-up of one training configuration, measured in one process.

    Two copies of the model (``jit_compile=False`` and ``True``) take turns in alternating blocks on one
    in-memory batch (:func:`_alternating_blocks`), so that both see the same load: a steadier figure than
    the ratio of two separate training runs. The speed-up is the median over block pairs of the step-time
    ratio off / on.
    """
    _quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    batch = _random_batch(seed)
    steps = max(5, int(steps * STEP_SCALE.get(model, 1.0)))
    runs = {jit: (_compiled(build_model(model, seed), jit, batch), _repeated(batch)) for jit in (False, True)}
    times = _alternating_blocks(runs, blocks, steps)
    off, on = (statistics.median(times[jit]) for jit in (False, True))
    return {"model": model, "blocks": blocks, "steps_per_block": steps, "step_ms_jit_off": off,
            "step_ms_jit_on": on, "speedup": _pair_ratio(times, False, True)}


#: The models whose fit throughput the profile measures with 1 and with kerasae's default steps per compiled
#: call: name -> (description, batch size).
SPE_MODELS = {
    "vae": ("the benchmark VAE on MNIST-sized data", BATCH_SIZE),
    "autoencoder": ("the benchmark autoencoder, MLP 784-200-200-50", BATCH_SIZE),
    "digits_autoencoder": ("Autoencoder, MLP 64-64-16 on digits-sized data (digits: the default data set)", 32),
}


def spe_profile(model, blocks=16, steps=160, seed=0):
    """``fit`` throughput with one step per compiled call and with kerasae's default (``"auto"``), in process.

    Two copies of the model (XLA on, the default) take turns, each block one ``fit`` epoch of ``steps`` steps
    over a repeated in-memory dataset (through Keras' fit loop, callbacks included, as users train); the
    speed-up is the median over block pairs of the time with 1 step per call over the time with the default.
    """
    _quiet_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasae import networks
    from kerasae.models.autoencoder import Autoencoder, auto_steps_per_execution

    keras.utils.set_random_seed(seed)
    batch_size = SPE_MODELS[model][1]
    if model == "digits_autoencoder":
        x = np.random.default_rng(seed).random((1437, 64), dtype="float32")
        build = lambda: Autoencoder(*networks.mlp((64,), 16, hidden_units=(64,)))  # noqa: E731
    else:
        x = np.random.default_rng(seed).random((20 * BATCH_SIZE, 784), dtype="float32")
        x = (x < 0.3).astype("float32") if model == "vae" else x
        build = lambda: build_model(model, seed)  # noqa: E731
    data = tf.data.Dataset.from_tensor_slices(x).batch(batch_size, drop_remainder=True).cache().repeat().prefetch(2)
    models = {}
    for spe in (1, "auto"):
        models[spe] = build()
        models[spe].compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), steps_per_execution=spe)
        models[spe].fit(data, epochs=1, steps_per_epoch=steps, verbose=0)  # builds, traces, compiles
    times = {spe: [] for spe in models}
    for b in range(blocks):
        for spe in (1, "auto") if b % 2 == 0 else ("auto", 1):
            start = time.perf_counter()
            models[spe].fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
            times[spe].append(1000 * (time.perf_counter() - start) / steps)
    return {"model": model, "blocks": blocks, "steps_per_block": steps, "batch_size": batch_size,
            "steps_per_execution": auto_steps_per_execution(steps), "step_ms_each_block": {str(k): v for k, v in times.items()},
            "step_ms_one": statistics.median(times[1]),
            "step_ms_auto": statistics.median(times["auto"]), "speedup": _pair_ratio(times, 1, "auto")}


# ================================================================================================ quality
def quality_figures(denoising_epochs, seed=0):
    """Linear AE / PCA test MSE ratio and denoising PSNR gains on digits, trained in this process."""
    _quiet_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasae.data import datasets
    from kerasae import networks
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


# ================================================================================================ others' results
def _command_from_settings(script, settings):
    parts = ["python", f"benchmarks/{script}.py"]
    for key, value in settings.items():
        if key == "out" or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return " ".join(parts)


def collect_other_results():
    """Key figures of the other benchmark scripts' JSON files under ``benchmarks/results/``."""
    collected = []
    for path in sorted(glob.glob(os.path.join(RESULTS_DIR, "*.json"))):
        name = os.path.basename(path)
        if name.startswith("run"):
            continue
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as err:
            collected.append({"file": name, "error": str(err)})
            continue
        entry = {"file": f"benchmarks/results/{name}", "modified": datetime.datetime.fromtimestamp(
            os.path.getmtime(path)).isoformat(timespec="seconds")}
        if data.get("benchmark") == "vae_iwae_mnist":
            entry["kind"] = "vae_iwae"
            entry["command"] = data.get("command", "")
            for key in ("model", "num_samples", "epochs", "test_nll", "nll_samples", "nll_test_examples",
                        "test_elbo", "train_samples_per_second", "jit_compile"):
                entry[key] = data.get(key)
        elif data.get("benchmark") == "pytorch_peer":
            entry["kind"] = "pytorch_peer"
            for key in ("command", "markdown", "data", "date", "settings"):
                entry[key] = data.get(key)
            entry["versions"] = {k: v for r in (data.get("results") or {}).values() for k, v in r.get("versions", {}).items()}
        elif data.get("benchmark") == "contractive_cost":
            entry["kind"] = "contractive_cost"
            entry["command"] = data.get("command", "")
            entry["markdown"] = data.get("markdown", "")
        elif "semi_supervised" in data:
            entry["kind"] = "semi_supervised"
            entry["command"] = data.get("command") or _command_from_settings(
                "semi_supervised_mnist", data.get("config", {}))
            entry["accuracy"] = {k: v.get("test_accuracy") for k, v in data["semi_supervised"].items()}
            entry["anomaly_auc"] = {k: v.get("auc") for k, v in data.get("anomaly", {}).items()}
            entry["labels_per_class"] = data.get("config", {}).get("labels_per_class")
            entry["epochs"] = data.get("config", {}).get("epochs")
        elif "rows" in data and data["rows"] and "size_kib" in data["rows"][0]:
            entry["kind"] = "export"
            entry["command"] = data.get("command") or _command_from_settings(
                "export_benchmark", {k: v for k, v in data.get("settings", {}).items()
                                     if k in ("families", "epochs", "repeats", "seed")})
            entry["rows"] = [
                {k: row.get(k) for k in ("family", "mode", "size_kib", "size_ratio", "litert_encode_ms",
                                         "litert_decode_ms", "saved_model_encode_ms", "keras_encode_ms",
                                         "mse", "mse_change")}
                for row in data["rows"]
            ]
            entry["dataset"] = data.get("settings", {}).get("dataset")
        else:
            entry["kind"] = "unknown"
            entry["keys"] = sorted(data)[:20]
        collected.append(entry)
    return collected


# ================================================================================================ markdown
def _fmt(value, spec=".3g"):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format(value, spec)
    return str(value)


def _pct(value):
    return "-" if value is None else f"{100 * value:.1f}%"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _render_run(report):
    s = report["summary"]
    m, v = report["machine"], report["versions"]
    loads = [r["load_1min_before"] for r in report["runs"] if "load_1min_before" in r]
    out = [
        f"## {report['mode'].capitalize()} run",
        "",
        f"- Command: `{report['command']}` (from the repository root, `KERAS_HOME` holding `mnist.npz`)",
        f"- Date: {report['date']}; total {report['total_seconds']:.0f} s",
        f"- Machine: {m['cpu_model']}, {m['cpu_cores']} cores, {m['memory_gib']} GiB RAM, {m['platform']}; CPU only",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- Data: {report['data']['source']}; {report['data']['num_samples']} training samples",
        f"- Settings: batch {report['batch_size']}, {report['optimizer']}, {report['settings']['steps']} steps per "
        f"epoch, median of {report['settings']['epochs']} timed epochs after 1 warm-up epoch, "
        f"{report['settings']['rounds']} interleaved round(s) of the kerasae/plain VAE pair; each configuration in "
        "its own subprocess",
        f"- Load: 1-minute load average {report['load_1min_start']:.1f} at the start, {report['load_1min_end']:.1f} at "
        f"the end, {min(loads, default=0):.1f}-{max(loads, default=0):.1f} before the runs, on {m['cpu_cores']} "
        "cores (a training run alone counts for 1-2; more means other processes shared the CPU): single "
        "figures are noisy by +-20% or more; compare the interleaved ratios rather than absolute throughputs",
        "",
        "### Targets",
        "",
    ]
    rows = []
    for lr in s["library_ratio"]:
        # Separate processes through `fit`: each round's ratio moves by +-25% with the machine's load (a one-process
        # check alternating the two `fit` calls read 0.52-1.13 per round, median 0.99), too coarse for a 3% target:
        # shown for reference; the one-process rows below are the measurement of the target.
        rows.append([f"kerasae VAE / plain VAE throughput, jit_compile={lr['jit_compile']}, separate processes through "
                     "fit (reference: +-25% per round on this machine)", ">= 0.97",
                     f"{lr['ratio']:.3f} (rounds: {', '.join(f'{x:.3f}' for x in lr['per_round'])})", "-"])
    for pair in s.get("library_ratio_in_process", []):
        if "error" in pair:
            rows.append([f"kerasae VAE / plain VAE throughput, jit_compile={pair['jit_compile']}, one process", ">= 0.97",
                         "failed", "**not met**"])
            continue
        rows.append([f"kerasae VAE / plain VAE throughput, jit_compile={pair['jit_compile']}, one process (alternating "
                     f"blocks, same pipeline)", ">= 0.97",
                     f"{pair['ratio']:.3f} ({pair['step_ms']['plain_vae']:.2f} / {pair['step_ms']['vae']:.2f} ms per step)",
                     "met" if pair["ratio"] >= 0.97 else "**not met**"])
    for js in s["jit_speedup"]:
        rows.append([f"jit_compile speed-up, {js['model']}", "on by default where faster",
                     f"{js['speedup']:.2f}x", "jit faster" if js["jit_faster"] else "jit slower"])
    for p in s["pipeline"]:
        rows.append([f"input pipeline share, {p['model']} jit={p['jit_compile']} (pipeline CPU time alone / step; upper bound, "
                     "ignores the prefetch overlap)", "< 5%",
                     _pct(p["share_alone"]), "met" if p["share_alone"] < 0.05 else "**not met**"])
        if p["share_materialized"] is not None:
            rows.append([f"input pipeline share, {p['model']} jit={p['jit_compile']} (1 - in-memory step / normal step; what "
                         "training loses)",
                         "< 5%", _pct(p["share_materialized"]),
                         "met" if p["share_materialized"] < 0.05 else "**not met**"])
        if "share" in (p.get("profiled") or {}):
            rows.append([f"input pipeline share, {p['model']} jit={p['jit_compile']} (profile: time in IteratorGetNext / "
                         "step; what TensorBoard's input-pipeline analyser reports)", "< 5%", _pct(p["profiled"]["share"]),
                         "met" if p["profiled"]["share"] < 0.05 else "**not met**"])
    for c in s["contractive_cost"]:
        if c["target"]:
            rows.append([f"contractive penalty cost, {c['penalty']}, jit={c['jit_compile']}", "<= 3x",
                         f"{c['step_time_ratio']:.2f}x", "met" if c["meets_target"] else "**not met**"])
    out += _table(["target", "goal", "measured", "status"], rows)

    out += ["", "### Training throughput", "",
            "Samples per second (median over runs of the median timed epoch); peak RSS is `ru_maxrss` of the run's "
            "own process (Python + TensorFlow + data + model), pipeline share is the pipeline iterated alone "
            "divided by the training step.", ""]
    rows = [[r["model"], _fmt(r["jit_compile"]), f"{r['samples_per_second']:.0f}",
             ", ".join(f"{x:.0f}" for x in r["samples_per_second_each"]), f"{r['step_ms']:.2f}",
             f"{r['warmup_seconds']:.1f}", f"{r['peak_rss_mib']:.0f}", _pct(r["pipeline_share_alone"]),
             f"{r['load_1min']:.1f}"] for r in s["throughput"]]
    out += _table(["model", "jit", "samples/s", "each run", "step ms", "warm-up epoch s", "peak RSS MiB",
                   "pipeline share", "load"], rows)
    out += ["", "Models:", ""] + [f"- `{k}`: {val}" for k, val in report["models"].items()
                                   if any(r["model"] == k for r in s["throughput"])]

    if s["contractive_cost"]:
        out += ["", "### Contractive penalty cost", "",
                "Step-time ratio of the contractive autoencoder to a plain autoencoder step of the same network.", ""]
        out += _table(["penalty", "jit", "step time / plain AE step", "goal"],
                      [[c["penalty"], _fmt(c["jit_compile"]), f"{c['step_time_ratio']:.2f}x",
                        "<= 3x" if c["target"] else "-"] for c in s["contractive_cost"]])

    out += ["", "### Input pipeline", "",
            "`pipeline alone`: full passes of the same `kerasae.datasets.make_pipeline` pipeline (indices shuffled "
            "and batched, each batch gathered from the in-memory array, prefetched; dynamic binarisation for the "
            "VAEs) consumed by a graph-side `reduce`, per batch. `without binarisation`: the same pipeline without "
            "the Bernoulli draws, to show what they cost. `in memory`: the same model's train function on one draw of "
            f"the pipeline held as cached batches, taking turns with the normal pipeline in "
            f"{report['settings'].get('materialized_blocks', MATERIALIZED_BLOCKS)} "
            f"alternating blocks of {BLOCK_STEPS} steps ({BLOCK_BURN_IN} untimed steps at each block's start drain "
            "what the idle iterator prefetched); median ms per step, and the share as 1 - the median of the block "
            f"pairs' step-time ratios. `profile`: {PROFILED_STEPS} steps traced with `tf.profiler`; the time the step "
            "spends in `IteratorGetNext` (taking a prefetched batch, or waiting for one), its share of the step, and "
            "the CPU time the pipeline's threads worked per batch beside the step (on a machine without an "
            "accelerator they share its cores, which is what the in-memory comparison measures).",
            ""]
    out += _table(["model", "jit", "pipeline alone ms/batch", "train step ms", "share (alone)",
                   "without binarisation ms/batch (share)", "in-memory step ms", "normal step ms", "share (in memory)",
                   "profile: IteratorGetNext ms / step ms (share)", "profile: pipeline threads ms/batch"],
                  [[p["model"], _fmt(p["jit_compile"]), f"{p['pipeline_ms_per_step']:.3f}", f"{p['step_ms']:.2f}",
                    _pct(p["share_alone"]),
                    f"{_fmt(p.get('pipeline_ms_per_step_without_binarization'), '.3f')} "
                    f"({_pct(p['pipeline_ms_per_step_without_binarization'] / p['step_ms'] if p.get('pipeline_ms_per_step_without_binarization') else None)})",
                    _fmt(p["materialized_step_ms"], ".2f"),
                    _fmt(p.get("normal_step_ms_alternating"), ".2f"), _pct(p["share_materialized"]),
                    *_profiled_cells(p.get("profiled"))]
                   for p in s["pipeline"]])
    if s["failed"]:
        out += ["", "### Failed runs", ""] + [f"- {f['model']} jit={f['jit_compile']}: `{f['error'].strip().splitlines()[-1]}`"
                                             for f in s["failed"]]

    q = report.get("quality")
    if q and "error" in q:
        out += ["", "### Quality", "", f"Failed: `{q['error'].strip().splitlines()[-1]}`"]
    elif q:
        lp = q["linear_pca"]
        out += ["", "### Quality (digits, trained in this run)", ""]
        rows = [[f"linear AE / PCA test MSE, k={lp['k']}", f"{lp['linear_ae_test_mse']:.5f} / {lp['pca_test_mse']:.5f}",
                 f"ratio {lp['ratio']:.4f}", lp["training"]]]
        for d in q["denoising"]:
            rows.append([f"denoising PSNR gain, {d['noise']} {d['noise_level']}",
                         f"{d['psnr']:.2f} dB vs noisy {d['noisy_psnr']:.2f} dB", f"+{d['psnr_gain_db']:.2f} dB",
                         f"{d['network']}, {d['epochs']} epochs, Adam(3e-3), batch 64"])
        out += _table(["figure", "value", "result", "training"], rows)
    return out


def _profiled_cells(profiled):
    if not profiled:
        return "-", "-"
    if "error" in profiled:
        return f"failed: {profiled['error'][:80]}", "-"
    return (f"{profiled['get_next_ms']:.3f} / {profiled['step_ms']:.2f} ({_pct(profiled['share'])})",
            f"{profiled['pipeline_threads_ms_per_batch']:.3f}")


def _render_profile(report):
    out = ["## Step profile: kerasae VAE vs plain VAE, and what the base step's pieces cost", "",
           f"- Command: `{report['command']}`; date {report['date']}; {report['machine']['cpu_model']}, "
           f"{report['machine']['cpu_cores']} cores; 1-minute load {report['load_1min_start']:.1f} -> "
           f"{report['load_1min_end']:.1f}",
           "- One process per jit setting; each model's compiled train function called on one repeated in-memory "
           "batch of 100 (no tf.data work, no fit loop, no callbacks), in alternating blocks; median ms per step.",
           "- `vae_no_trackers`: kerasae VAE without metric updates or logs; `vae_no_prediction`: without the "
           "likelihood mean that the step computes for compiled metrics.", ""]
    rows = []
    for p in report["profiles"]:
        if "error" in p:
            rows.append([_fmt(p["jit_compile"]), "failed", "", "", ""])
            continue
        ms = p["step_ms"]
        for name, value in ms.items():
            rows.append([_fmt(p["jit_compile"]), name, f"{value:.3f}", f"{value / ms['plain_vae']:.3f}",
                         f"{ms['plain_vae'] / value:.3f}"])
    out += _table(["jit", "model", "ms/step", "step time / plain", "throughput / plain"], rows)
    if report.get("jit"):
        out += ["", "### jit_compile speed-up, measured in process", "",
                "Per training configuration, one process: a jit_compile=False and a jit_compile=True copy of the model "
                f"take turns in {report['jit'][0].get('blocks', '')} alternating blocks on one in-memory batch of 100 "
                "(median ms per step shown); speed-up = the median over block pairs of step time off / on. "
                "Steadier than the ratio of two separate training runs above. Target: XLA on by default where faster.",
                ""]
        out += _table(["model", "ms/step jit off", "ms/step jit on", "speed-up", "XLA"],
                      [[j["model"], "failed", "", "", ""] if "error" in j else
                       [j["model"], f"{j['step_ms_jit_off']:.3f}", f"{j['step_ms_jit_on']:.3f}", f"{j['speedup']:.2f}x",
                        "faster" if j["speedup"] > 1.0 else "**slower**"] for j in report["jit"]])
    spe = report.get("steps_per_execution")
    if spe:
        out += ["", "### Steps per compiled call, through fit", "",
                "Per model, one process: a copy compiled with `steps_per_execution=1` (Keras' default) and one with "
                "kerasae's default (`\"auto\"`: up to 16 steps per call of the compiled train function; the largest "
                f"divisor of the epoch's steps) take turns, each block one `fit` epoch of {spe[0].get('steps_per_block', '')} "
                "steps over a repeated in-memory dataset, XLA on; speed-up = the median over block pairs of the time "
                "with 1 over the time with the default. What it removes is Keras' per-step Python work in `fit`.", ""]
        out += _table(["model", "batch", "steps per call", "ms/step with 1", "ms/step with the default", "speed-up"],
                      [[f"{j['model']}: {SPE_MODELS.get(j['model'], ('',))[0]}", "failed", "", "", "", ""]
                       if "error" in j else
                       [f"{j['model']}: {SPE_MODELS.get(j['model'], ('',))[0]}", j["batch_size"], j["steps_per_execution"],
                        f"{j['step_ms_one']:.3f}", f"{j['step_ms_auto']:.3f}", f"{j['speedup']:.2f}x"] for j in spe])
    return out


def _render_others(others):
    out = ["## Results of the other benchmark scripts", "",
           "Collected from `benchmarks/results/*.json` (not rerun here); the command is the file's own or rebuilt "
           "from its recorded settings.", ""]
    vae = [o for o in others if o.get("kind") == "vae_iwae"]
    if vae:
        out += ["### VAE / IWAE on MNIST (benchmarks/vae_iwae_mnist.py)", ""]
        out += _table(["file", "model", "k", "epochs", "test NLL (nats)", "NLL samples x test images", "test ELBO",
                       "train samples/s", "jit", "command"],
                      [[o["file"], o["model"], o["num_samples"], o["epochs"], _fmt(o["test_nll"], ".2f"),
                        f"{o['nll_samples']} x {o['nll_test_examples']}", _fmt(o["test_elbo"], ".2f"),
                        _fmt(o["train_samples_per_second"], ".0f"), _fmt(o["jit_compile"]), f"`{o['command']}`"]
                       for o in vae])
        out += [""]
    for o in (o for o in others if o.get("kind") == "semi_supervised"):
        out += [f"### Semi-supervised MNIST ({o['file']})", "", f"Command: `{o['command']}`; "
                f"{o['labels_per_class']} labels per class, {o['epochs']} epochs.", ""]
        out += _table(["method", "test accuracy"], [[k, _fmt(val, ".4f")] for k, val in o["accuracy"].items()])
        if o["anomaly_auc"]:
            out += ["", "Anomaly detection AUC: " + ", ".join(f"{k} {_fmt(val, '.3f')}" for k, val in o["anomaly_auc"].items())]
        out += [""]
    for o in (o for o in others if o.get("kind") == "pytorch_peer"):
        settings = o.get("settings") or {}
        versions = ", ".join(f"{k} {v}" for k, v in o["versions"].items())
        out += [f"### kerasae against PyTorch, same VAE ({o['file']})", "", f"Command: `{o['command']}`; date {o['date']}; "
                f"{versions}; data: {o['data']}. The benchmark VAE (784-200-200-50 tanh, Bernoulli, Adam(1e-3), batch 100) in "
                "kerasae, hand-written in PyTorch (eager and `torch.compile`) and in pythae (the PyTorch autoencoder "
                "library), each in its own process on the same in-memory batches; the processes take turns, "
                f"{settings.get('blocks', '')} blocks of {settings.get('steps', '')} steps each, so that all share "
                "the machine's load. Ratio: the median over blocks of kerasae's throughput (compile defaults) over "
                "the contender's; above 1 is kerasae faster. The kerasae rows time the compiled train function "
                "(as `fit` calls it), the PyTorch rows a Python loop of optimizer steps (as PyTorch users train).",
                "", o["markdown"], ""]
    for o in (o for o in others if o.get("kind") == "contractive_cost"):
        out += [f"### Contractive penalty cost per MLP ({o['file']})", "", f"Command: `{o['command']}`; batch 100, "
                "random inputs; step time of the contractive autoencoder over the plain autoencoder's, same network. "
                "Goal of the performance issue: <= 3x for an MLP with a 784-dimensional input. Last column: the ratio the "
                "exact matrix form would reach if all its multiply-adds (`penalty_macs` in the script) ran at the measured "
                "speed of its largest matrix product (GMAC/s in brackets) and nothing else took time: its floor on this "
                "machine at that moment's plain step time.", "", o["markdown"], ""]
    for o in (o for o in others if o.get("kind") == "export"):
        out += [f"### TFLite export ({o['file']})", "", f"Command: `{o['command']}`; data: {o.get('dataset')}; "
                "latencies per call, batch 1. Targets: int8 file <= 0.30 of float32, int8 test MSE within 5% of "
                "float32's, LiteRT latency well under Keras's. `dynamic`/`int8` use the export default, one scale "
                "per weight tensor; `/per_channel` rows use TFLite's own default (a scale per output channel). The linear "
                "autoencoder on digits (64-8, ~1,000 weights, 7 KiB) is dominated by the file's fixed structure "
                "(~3.8 KiB), which quantisation cannot shrink; its size target is checked at MNIST size "
                "(`linear@mnist`, 784-50), where the weights make up the file.", ""]
        out += _table(["family", "quantisation", "size KiB (ratio)", "LiteRT encode ms", "LiteRT decode ms",
                       "SavedModel encode ms", "Keras encode ms", "test MSE (change)"],
                      [[r["family"], r["mode"], f"{r['size_kib']:.1f} ({r['size_ratio']:.3f})",
                        _fmt(r["litert_encode_ms"], ".3f"), _fmt(r["litert_decode_ms"], ".3f"),
                        _fmt(r["saved_model_encode_ms"], ".3f"), _fmt(r["keras_encode_ms"], ".3f"),
                        f"{r['mse']:.5f} ({100 * r['mse_change']:+.1f}%)"] for r in o["rows"]])
        out += [""]
    for o in (o for o in others if o.get("kind") in ("unknown", None)):
        out += [f"- {o['file']}: not recognised ({o.get('error') or ', '.join(o.get('keys', []))})"]
    return out


def write_markdown(path, results_dir):
    """Renders ``RESULTS.md`` from the ``run_full.json`` and ``run_quick.json`` present in ``results_dir``."""
    reports = []
    for mode in ("full", "quick"):
        file = os.path.join(results_dir, f"run_{mode}.json")
        if os.path.exists(file):
            with open(file) as f:
                reports.append(json.load(f))
    lines = ["# kerasae benchmark results", "",
             "Generated by `python -m benchmarks.run` (full) and `python -m benchmarks.run --quick`; the raw figures "
             "are in `benchmarks/results/run_full.json` and `run_quick.json`. Re-running either re-renders this file.",
             ""]
    lines += NOTES.strip().splitlines() + [""]
    for report in reports:
        lines += _render_run(report) + [""]
    profile_file = os.path.join(results_dir, "run_profile.json")
    if os.path.exists(profile_file):
        with open(profile_file) as f:
            lines += _render_profile(json.load(f)) + [""]
    others = collect_other_results()  # the result files are the source of truth, newest included
    lines += _render_others(others)
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")


#: Method notes printed at the top of RESULTS.md.
NOTES = """
How to read these figures: every training configuration runs in its own Python process (so that the peak
RSS is that run's), on the same MNIST pipeline (`kerasae.datasets.make_pipeline`: shuffled indices,
batches gathered from the array, prefetched), with Adam(1e-3) and batch 100, through `fit` with kerasae's
default steps per compiled call (the plain VAE given the same number); the in-process per-step figures
call the train function with one step per call. The kerasae VAE and the hand-written VAE
(`benchmarks/plain_vae.py`) run back to back in alternating order, and their ratio is taken within each
round. The machine is shared with other jobs, so absolute throughputs move with the load; the ratios of
neighbouring runs are the meaningful figures, and the steadiest is the one measured in one process: both
VAEs' train functions, each fed by its own copy of the pipeline, take turns in blocks of {BLOCK_STEPS} steps, and
the ratio is the median over neighbouring block pairs.
""".format(BLOCK_STEPS=BLOCK_STEPS)


# ================================================================================================ driver
def machine_info():
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu_model": model, "cpu_cores": os.cpu_count(), "platform": platform.platform(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def versions():
    from importlib import metadata

    found = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "tensorflow-probability", "kerasae", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def prepare_data(subset, directory, seed=0):
    """Loads MNIST through kerasae (random data of MNIST's shape if the Keras cache lacks it) to a .npy."""
    _quiet_tensorflow()
    import numpy as np

    from kerasae.data import datasets

    try:
        x = datasets.load("mnist", seed=seed).x_train
        source = "MNIST (kerasae.datasets.load('mnist'), training split, 784 features in [0, 1])"
    except ValueError as err:
        print(f"MNIST is not in the Keras cache ({err}); using random data of the same shape.", file=sys.stderr)
        x = np.random.default_rng(seed).random((60000, 784), dtype="float32")
        source = "random uniform data of MNIST's shape (60000 x 784): MNIST was not in the Keras cache"
    if subset:
        x = x[:subset]
    path = os.path.join(directory, "x_train.npy")
    np.save(path, x)
    return {"path": path, "source": source, "num_samples": int(len(x))}


def _subprocess(config):
    """Runs a worker task in a fresh Python process; returns (result or None, stderr tail, wall seconds).

    The driver itself never imports TensorFlow: Linux carries ``ru_maxrss`` over fork and exec, so a heavy
    parent would set every child's peak RSS.
    """
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", json.dumps(config)]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return None, (proc.stderr or proc.stdout)[-3000:], wall
    return json.loads(lines[-1][len("RESULT "):]), "", wall


def run_worker_process(config, verbose=True):
    """Runs a training ``config`` in its own process; returns its result dict (or one with an ``error``)."""
    load_before = os.getloadavg()[0]
    result, error, wall = _subprocess(config)
    if result is None:
        result = {**config, "error": error}
    result["process_seconds"] = wall
    result["load_1min_before"] = load_before
    result["load_1min_after"] = os.getloadavg()[0]
    if verbose:
        label = f"{config['model']:<20} jit={str(config['jit_compile']):<5} round {config['round']}"
        if "error" in result:
            print(f"  {label}  FAILED: {result['error'].strip().splitlines()[-1] if result['error'].strip() else ''}")
        else:
            print(f"  {label}  {result['samples_per_second']:9.0f} samples/s  {result['peak_rss_mib']:6.0f} MiB  "
                  f"pipeline {100 * result['pipeline_share_alone']:.1f}%  ({wall:.0f} s, load {load_before:.1f})",
                  flush=True)
    return result


def plan(mode_settings):
    """The ordered list of (model, jit, round, materialized) runs: the VAE pair interleaved, order alternated."""
    full = mode_settings["contractive_cost"]
    runs = []
    for r in range(mode_settings["rounds"]):
        pairs = [(m, jit) for jit in (False, True) for m in VAE_MODELS]
        if r % 2:
            pairs = pairs[::-1]
        runs += [(m, jit, r, m == "vae" and r == 0 and (full or not jit)) for m, jit in pairs]
    variants = ["autoencoder", "denoising", "contractive", "sparse"]
    if full:
        variants += ["autoencoder_single", "contractive_closed", "autoencoder_1hidden", "contractive_1hidden",
                     "contractive_autodiff", "contractive_hutchinson"]
    for jit in mode_settings["variants_jit"]:
        runs += [(m, jit, 0, full and m == "autoencoder" and jit == mode_settings["variants_jit"][0])
                 for m in variants]
    return runs


def summarise(runs):
    """Throughput per (model, jit), kerasae/plain ratios, jit speed-ups, contractive ratios, pipeline shares."""
    ok = [r for r in runs if "error" not in r]
    table = {}
    for r in ok:
        table.setdefault((r["model"], r["jit_compile"]), []).append(r)
    rows = []
    for (model, jit), group in sorted(table.items(), key=lambda kv: (list(MODELS).index(kv[0][0]), kv[0][1])):
        rows.append({
            "model": model, "jit_compile": jit, "runs": len(group),
            "samples_per_second": statistics.median(g["samples_per_second"] for g in group),
            "samples_per_second_each": [g["samples_per_second"] for g in group],
            "step_ms": statistics.median(g["step_ms"] for g in group),
            "warmup_seconds": statistics.median(g["warmup_seconds"] for g in group),
            "peak_rss_mib": max(g["peak_rss_mib"] for g in group),
            "pipeline_share_alone": statistics.median(g["pipeline_share_alone"] for g in group),
            "load_1min": statistics.median(g["load_1min_before"] for g in group),
        })
    throughput = {(row["model"], row["jit_compile"]): row["samples_per_second"] for row in rows}

    library_ratio = []
    for jit in (False, True):
        per_round = []
        for r in sorted({x["round"] for x in ok}):
            pair = {x["model"]: x for x in ok if x["round"] == r and x["jit_compile"] == jit and x["model"] in VAE_MODELS}
            if len(pair) == 2:
                per_round.append(pair["vae"]["samples_per_second"] / pair["plain_vae"]["samples_per_second"])
        if per_round:
            library_ratio.append({"jit_compile": jit, "ratio": statistics.median(per_round), "per_round": per_round,
                                  "kerasae": throughput.get(("vae", jit)), "plain": throughput.get(("plain_vae", jit))})

    jit_speedup = []
    for model in MODELS:
        if (model, False) in throughput and (model, True) in throughput:
            speedup = throughput[(model, True)] / throughput[(model, False)]
            jit_speedup.append({"model": model, "speedup": speedup, "jit_faster": speedup > 1.0})

    contractive = []
    for penalty, base, label in (("contractive_closed", "autoencoder_single", "closed form, one sigmoid layer 784-128"),
                                 ("contractive_1hidden", "autoencoder_1hidden",
                                  "exact, matrix form (default), MLP 784-256-32"),
                                 ("contractive", "autoencoder", "exact, matrix form (default), MLP 784-200-200-50"),
                                 ("contractive_autodiff", "autoencoder",
                                  "exact, tiled autodiff (any encoder), MLP 784-200-200-50"),
                                 ("contractive_hutchinson", "autoencoder",
                                  "1-projection Hutchinson estimate, MLP 784-200-200-50")):
        for jit in (False, True):
            if (penalty, jit) in throughput and (base, jit) in throughput:
                ratio = throughput[(base, jit)] / throughput[(penalty, jit)]  # step time ratio
                contractive.append({"penalty": label, "jit_compile": jit, "step_time_ratio": ratio,
                                    "target": 3.0 if penalty != "contractive_closed" else None,
                                    "meets_target": ratio <= 3.0 if penalty != "contractive_closed" else None})

    pipeline = [{"model": r["model"], "jit_compile": r["jit_compile"], "round": r["round"],
                 "pipeline_ms_per_step": r["pipeline_ms_per_step"], "step_ms": r["step_ms"],
                 "pipeline_ms_per_step_without_binarization": r.get("pipeline_ms_per_step_without_binarization"),
                 "share_alone": r["pipeline_share_alone"],
                 "materialized_step_ms": r.get("materialized_step_ms"),
                 "normal_step_ms_alternating": r.get("normal_step_ms_alternating"),
                 "share_materialized": r.get("pipeline_share_materialized"),
                 "profiled": r.get("profiled_input_wait")}
                for r in ok if r.get("materialized") or r["model"] in VAE_MODELS and r["round"] == 0]
    return {"throughput": rows, "library_ratio": library_ratio, "jit_speedup": jit_speedup,
            "contractive_cost": contractive, "pipeline": pipeline,
            "failed": [{"model": r["model"], "jit_compile": r["jit_compile"], "error": r["error"][-500:]}
                       for r in runs if "error" in r]}


def _per_model_profiles(task, models):
    """Runs the profile ``task`` for each model, one process per model (each starts from a clean XLA cache
    and heap); the results, a failed one as ``{"model", "error"}``."""
    results = []
    for model in models:
        result, error, _ = _subprocess({"task": task, "model": model})
        result = result or {"model": model, "error": error}
        results.append(result)
        print(json.dumps(result if "error" not in result else {"model": model, "error": "failed"}), flush=True)
    return results


def profile_main(args, argv):
    """``--profile``: the step profile with and without jit, each model's jit speed-up and its fit throughput
    with 1 and with the default steps per compiled call, each in its own process, to run_profile.json."""
    command = " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])])
    report = {"mode": "profile", "command": command,
              "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "machine": machine_info(), "versions": versions(), "load_1min_start": os.getloadavg()[0],
              "profiles": []}
    for jit in (False, True):
        result, error, wall = _subprocess({"task": "profile", "jit_compile": jit})
        result = result or {"jit_compile": jit, "error": error}
        report["profiles"].append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "step_ms_each_block"}), flush=True)
    report["jit"] = _per_model_profiles("jit_profile", JIT_MODELS)
    report["steps_per_execution"] = _per_model_profiles("spe_profile", SPE_MODELS)
    report["load_1min_end"] = os.getloadavg()[0]
    out = args.out or os.path.join(RESULTS_DIR, "run_profile.json")
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {out}")
    if not args.no_markdown:
        write_markdown(MARKDOWN, RESULTS_DIR)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs, configurations and samples (< 3 min)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the interleaved kerasae/plain VAE pair")
    parser.add_argument("--steps", type=int, default=None, help="training steps per epoch")
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs after the warm-up epoch")
    parser.add_argument("--skip-quality", action="store_true", help="skip the digits quality figures")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/run_{quick,full}.json)")
    parser.add_argument("--no-markdown", action="store_true", help="do not re-render benchmarks/RESULTS.md")
    parser.add_argument("--profile", action="store_true",
                        help="only the in-process step profiles: kerasae vs plain VAE (and ablations), and "
                             "each model's jit_compile speed-up")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        config = json.loads(args.worker)
        task = config.pop("task", "train")
        if task == "prepare":
            result = prepare_data(config["subset"], config["directory"])
        elif task == "profile":
            result = step_profile(config["jit_compile"])
        elif task == "jit_profile":
            result = jit_profile(config["model"])
        elif task == "spe_profile":
            result = spe_profile(config["model"])
        elif task == "pair":
            result = pair_worker(config)
        elif task == "quality":
            result = quality_figures(config["denoising_epochs"])
        else:
            result = train_worker(config)
        print("RESULT " + json.dumps(result), flush=True)
        return result

    started = time.perf_counter()
    if args.profile:
        return profile_main(args, argv)
    mode = "quick" if args.quick else "full"
    settings = dict(MODES[mode])
    for key in ("rounds", "steps", "epochs"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    command = " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])])
    print(f"kerasae benchmarks ({mode}): {command}", flush=True)
    report = {
        "mode": mode,
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(),
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()},
        "batch_size": BATCH_SIZE,
        "optimizer": f"Adam({LEARNING_RATE})",
        "models": MODELS,
        "load_1min_start": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="kerasae-bench-") as tmp:
        data, error, _ = _subprocess({"task": "prepare", "subset": settings["subset"], "directory": tmp})
        if data is None:
            raise RuntimeError(f"Preparing the data failed:\n{error}")
        data_path = data.pop("path")
        report["data"] = data
        print(f"data: {data['source']}, {data['num_samples']} samples", flush=True)
        runs = []
        for model, jit, round_, materialized in plan(settings):
            config = {"model": model, "jit_compile": jit, "round": round_, "materialized": materialized,
                      "data": data_path, "seed": 0, "batch_size": BATCH_SIZE,
                      "steps": max(5, int(settings["steps"] * STEP_SCALE.get(model, 1.0))),
                      "epochs": settings["epochs"], "materialized_blocks": settings["materialized_blocks"]}
            runs.append(run_worker_process(config))
        pairs = []
        for jit in settings["pair_jit"]:
            pair, error, wall = _subprocess({"task": "pair", "jit_compile": jit, "data": data_path, "seed": 0,
                                             "blocks": settings["pair_blocks"]})
            pairs.append(pair or {"jit_compile": jit, "error": error})
            print(f"  kerasae/plain VAE in one process, jit={jit}: "
                  + (f"{pair['ratio']:.3f}" if pair else "FAILED") + f"  ({wall:.0f} s)", flush=True)
    for r in runs:
        r.pop("data", None)
    report["runs"] = runs
    report["summary"] = summarise(runs)
    report["summary"]["library_ratio_in_process"] = pairs
    if not args.skip_quality:
        print("quality figures on digits ...", flush=True)
        quality, error, _ = _subprocess({"task": "quality", "denoising_epochs": settings["denoising_epochs"]})
        report["quality"] = quality if quality is not None else {"error": error}
    report["other_results"] = collect_other_results()
    report["load_1min_end"] = os.getloadavg()[0]
    report["total_seconds"] = time.perf_counter() - started

    out = args.out or os.path.join(RESULTS_DIR, f"run_{mode}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=2, default=str)
    print(f"wrote {out}")
    if not args.no_markdown:
        write_markdown(MARKDOWN, RESULTS_DIR)
        print(f"wrote {MARKDOWN}")
    print(f"total {report['total_seconds']:.0f} s")
    return report


if __name__ == "__main__":
    main()
