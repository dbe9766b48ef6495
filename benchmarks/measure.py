"""Timing helpers shared by the workers and the profiles (each runs inside a worker process).

TensorFlow is imported inside the functions, so that importing this module does not import it.
"""

import os
import statistics
import time

from benchmarks.models import BATCH_SIZE, LEARNING_RATE


def quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def timed_fit(model, dataset, steps, epochs):
    """Trains one warm-up and ``epochs`` timed epochs; returns (median seconds per step, all epoch times)."""
    from kerasae.callbacks import EpochTimer

    timer = EpochTimer()
    model.fit(dataset, epochs=epochs + 1, steps_per_epoch=steps, verbose=0, callbacks=[timer], shuffle=False)
    return statistics.median(timer.times[1:]) / steps, timer.times


def pass_ms(pipeline, batches):
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


def compiled(model, jit_compile, batch):
    """``model`` compiled with Adam, built and traced by one ``fit`` epoch on ``batch``; its train function,
    which runs one step per call."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), jit_compile=jit_compile, steps_per_execution=1)
    model.fit(batch, epochs=1, batch_size=BATCH_SIZE, verbose=0, shuffle=False)
    return model.make_train_function()


def alternating_blocks(runs, blocks, steps, burn_in=1):
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


def random_batch(seed):
    """One batch of random binary MNIST-sized inputs (the step's speed does not depend on the values)."""
    import numpy as np

    return (np.random.default_rng(seed).random((BATCH_SIZE, 784)) < 0.3).astype("float32")


def repeated(batch):
    import tensorflow as tf

    return iter(tf.data.Dataset.from_tensors(batch).repeat().prefetch(2))


def pair_ratio(times, numerator, denominator):
    """Median over block pairs of ``times[numerator] / times[denominator]`` (each pair shares its moment's load)."""
    return statistics.median(a / b for a, b in zip(times[numerator], times[denominator]))
