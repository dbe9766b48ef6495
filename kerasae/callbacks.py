"""Callbacks kerasae adds to training: stopping with a clear message when the loss stops being finite, epoch
times, the learning rate in the logs, and images for TensorBoard."""

import math
import time

import keras


class NaNLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class StopOnNaN(keras.callbacks.Callback):
    """Raises :class:`NaNLossError` at the end of an epoch whose loss is NaN or infinite.

    ``Autoencoder.fit`` adds it unless the callbacks already hold one. It checks once per epoch (the
    epoch's mean loss is NaN as soon as one batch's was), so it costs no host synchronisation per step.
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise NaNLossError(
                f"The training loss became {float(loss)} in epoch {epoch + 1}; training stopped. Fix: lower "
                "the learning rate, check the data for extreme values (kerasae.datasets.check_array), use "
                "reconstruction_loss='bce' for data in [0, 1], or clip gradients (optimizer clipnorm=1.0)."
            )


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of every epoch in ``times`` (seconds).

    Only epoch hooks are used, so Keras keeps dispatching training steps asynchronously; the benchmarks use
    it for seconds per epoch and samples per second.
    """

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


class EpochLogs(keras.callbacks.Callback):
    """Adds to every epoch's logs the optimizer's ``learning_rate`` (a schedule's current value), the epoch's
    wall time ``epoch_seconds`` and the process's CPU time in it ``cpu_seconds`` (all threads), so that the
    history and the ``CSVLogger`` record them. Place it before the callbacks that read the logs."""

    #: The keys it adds (not training metrics: plots leave them out).
    keys = ("learning_rate", "epoch_seconds", "cpu_seconds")

    def on_epoch_begin(self, epoch, logs=None):
        self._start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if getattr(self.model, "optimizer", None) is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        start = getattr(self, "_start", None)
        if start is not None:
            logs["epoch_seconds"] = time.perf_counter() - start[0]
            logs["cpu_seconds"] = time.process_time() - start[1]


class CSVLog(keras.callbacks.CSVLogger):
    """Keras' ``CSVLogger`` (appending), which also copies the finished log to ``copy_to`` when training
    ends: a ``--resume`` run keeps its log in the backup folder, which ``BackupAndRestore`` deletes at the
    end of training (so this callback must come before it)."""

    def __init__(self, filename, copy_to=None):
        super().__init__(filename, append=True)
        self.copy_to = copy_to

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self.copy_to is not None:
            import shutil

            shutil.copyfile(self.filename, self.copy_to)


class ImageSummaries(keras.callbacks.Callback):
    """Writes images to TensorBoard at the end of every ``every``-th epoch: reconstructions of ``images``
    (originals above, reconstructions below) and, for a model with ``sample(n, seed=)``, ``num_samples``
    samples from the prior with a fixed seed (the same codes every epoch).

    Args:
        log_dir: TensorBoard folder (images go to its ``images`` run).
        images: A few examples ``(n, *data_shape)`` whose reconstructions are shown.
        image_shape: ``(height, width, channels)`` of one example.
        num_samples: Prior samples per summary (0: none).
        every: Epochs between summaries, >= 1.
    """

    def __init__(self, log_dir, images, image_shape, num_samples=16, every=1):
        super().__init__()
        import os

        self.log_dir = os.path.join(log_dir, "images")
        self.images = images
        self.image_shape = tuple(image_shape)
        self.num_samples = int(num_samples)
        self.every = max(1, int(every))
        self._writer = None

    def _as_images(self, x):
        import numpy as np

        x = np.clip(np.asarray(x, "float32").reshape((-1,) + self.image_shape), 0.0, 1.0)
        return x

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        import numpy as np
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default(step=epoch):
            recon = np.asarray(self.model.reconstruct(self.images))
            pairs = np.concatenate([self._as_images(self.images), self._as_images(recon)])
            tf.summary.image("reconstructions", pairs, max_outputs=len(pairs))
            if self.num_samples and callable(getattr(self.model, "sample", None)):
                tf.summary.image("samples", self._as_images(self.model.sample(self.num_samples, seed=0)),
                                 max_outputs=self.num_samples)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
