"""In-process profiles, each run in a worker process: the step profile of the kerasae and plain VAEs (and
the ablations of :mod:`benchmarks.models`), each model's jit_compile speed-up, ``fit``'s throughput with 1
and with kerasae's default steps per compiled call, and the ``tf.profiler`` trace of the input pipeline's
time inside a training step.
"""

import glob
import os
import statistics
import tempfile
import time

from benchmarks.measure import alternating_blocks, compiled, pair_ratio, quiet_tensorflow, random_batch, repeated
from benchmarks.models import (ABLATIONS, ABLATIONS_VERSION, BATCH_SIZE, BLOCK_BURN_IN, LEARNING_RATE, PROFILED_STEPS,
                               SPE_MODELS, STEP_SCALE, build_ablation, build_model, check_ablations)


def profiled_input_wait(function, iterator, steps=PROFILED_STEPS):
    """The input pipeline's time inside the training step, as TensorFlow's profiler counts it.

    Traces ``steps`` calls of the train function with ``tf.profiler`` and reads the trace: the time the step
    spends in ``IteratorGetNext`` (taking a batch from the prefetch buffer, and waiting when it is empty) over
    the step's time, which is the input share TensorBoard's input-pipeline analyser reports. Also returns the
    CPU time the pipeline's own threads worked per batch (they run beside the step, taking CPU from it on a
    machine without an accelerator: the cached-data comparison measures that).
    """
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


def step_profile(jit_compile, blocks=6, steps=60, seed=0):
    """Per-step time of the kerasae and plain VAEs (and ablations) in one process, on one in-memory batch.

    Every model's compiled train function is called on the same repeated batch in alternating blocks, so
    the figures share the machine's load and exclude the input pipeline, ``fit`` and callbacks. Before
    timing, :func:`benchmarks.models.check_ablations` fails the profile if an ablation's overrides were not
    called or it still updates metrics.
    """
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    batch = random_batch(seed)
    models = {"vae": build_model("vae", seed), "plain_vae": build_model("plain_vae", seed)}
    for name in ABLATIONS:
        models[name] = build_ablation(name, seed)
    runs = {name: (compiled(model, jit_compile, batch), repeated(batch)) for name, model in models.items()}
    outputs = {name: tf.nest.map_structure(lambda v: v.numpy(), function(iterator))
               for name, (function, iterator) in runs.items()}
    checks = check_ablations(models, outputs)
    times = alternating_blocks(runs, blocks, steps)
    return {"jit_compile": jit_compile, "blocks": blocks, "steps_per_block": steps,
            "step_ms": {name: statistics.median(t) for name, t in times.items()},
            "step_ms_each_block": times, "ablations_version": ABLATIONS_VERSION, "ablation_checks": checks}


def jit_profile(model, blocks=16, steps=40, seed=0):
    """The jit_compile speed-up of one training configuration, measured in one process.

    Two copies of the model (``jit_compile=False`` and ``True``) take turns in alternating blocks on one
    in-memory batch (:func:`benchmarks.measure.alternating_blocks`), so that both see the same load: a
    steadier figure than the ratio of two separate training runs. The speed-up is the median over block
    pairs of the step-time ratio off / on.
    """
    quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    batch = random_batch(seed)
    steps = max(5, int(steps * STEP_SCALE.get(model, 1.0)))
    runs = {jit: (compiled(build_model(model, seed), jit, batch), repeated(batch)) for jit in (False, True)}
    times = alternating_blocks(runs, blocks, steps)
    off, on = (statistics.median(times[jit]) for jit in (False, True))
    return {"model": model, "blocks": blocks, "steps_per_block": steps, "step_ms_jit_off": off,
            "step_ms_jit_on": on, "speedup": pair_ratio(times, False, True)}


def spe_profile(model, blocks=16, steps=160, seed=0):
    """``fit`` throughput with one step per compiled call and with kerasae's default (``"auto"``), in process.

    Two copies of the model (XLA on, the default) take turns, each block one ``fit`` epoch of ``steps`` steps
    over a repeated in-memory dataset (through Keras' fit loop, callbacks included, as users train); the
    speed-up is the median over block pairs of the time with 1 step per call over the time with the default.
    """
    quiet_tensorflow()
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
            "step_ms_auto": statistics.median(times["auto"]), "speedup": pair_ratio(times, 1, "auto")}
