"""Callbacks kerasae adds to training: stopping with a clear message when the loss stops being finite."""

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
