"""Learning-rate schedules the papers trained with, as Keras ``LearningRateSchedule`` objects.

Every schedule is a function of the optimizer step, so it runs inside the compiled training step, is saved
with the optimizer in a ``.keras`` file, and continues where it stopped after ``--resume``. The command line
picks one with ``kerasae train MODEL --schedule NAME`` (:data:`SCHEDULES`); :func:`get` builds it from the
number of epochs and steps per epoch.

* ``"constant"``: the learning rate itself (a float, not a schedule).
* ``"burda"``: :class:`BurdaSchedule`, the IWAE paper's staircase ``lr_i = lr * 10^(-i/7)`` held for ``3^i``
  epochs, ``i = 0..7`` (3,280 epochs), compressed proportionally to a shorter ``--epochs``.
* ``"cosine"``: Keras' ``CosineDecay`` from the learning rate to :data:`COSINE_ALPHA` times it over the run.

Example:
    >>> schedule = kerasae.schedules.get("burda", 1e-3, steps_per_epoch=600, epochs=3280)
    >>> model.compile(optimizer=keras.optimizers.Adam(schedule))
"""

import keras

from kerasae.utils.validation import check_choice, check_number, check_positive_int

SCHEDULES = ("constant", "burda", "cosine")
#: Final learning rate of ``"cosine"``, as a fraction of the initial one.
COSINE_ALPHA = 0.01


@keras.saving.register_keras_serializable(package="kerasae")
class BurdaSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The staircase of Burda et al. (2016): ``stages`` stages, stage ``i`` lasting ``ratio^i`` epochs at
    ``initial_learning_rate * decay^i``.

    With the defaults (``stages=8``, ``ratio=3``, ``decay=10^(-1/7)``) the stages last 1, 3, 9, ..., 2187
    epochs, 3,280 in all, and the last runs at ``initial_learning_rate * 10^(-1)``. ``epochs`` other than the
    full ``(ratio^stages - 1) / (ratio - 1)`` scales every stage by the same factor (a compressed schedule
    with the same shape); past the end the last rate holds.

    Args:
        initial_learning_rate: Rate of the first stage, > 0.
        steps_per_epoch: Optimizer steps per epoch, >= 1.
        epochs: Length of the whole schedule in epochs, >= 1 (default: the paper's 3,280).
        stages: Number of stages, >= 1.
        ratio: Growth of the stage lengths, > 0.
        decay: Factor of the rate from one stage to the next, in (0, 1].

    Returns:
        Called with the optimizer step, the learning rate (a float32 scalar).

    References:
        Burda, Grosse & Salakhutdinov (2016), Importance weighted autoencoders. ICLR (section 5).
    """

    def __init__(self, initial_learning_rate=1e-3, steps_per_epoch=1, epochs=None, stages=8, ratio=3.0,
                 decay=10.0 ** (-1.0 / 7.0)):
        self.initial_learning_rate = check_number("initial_learning_rate", initial_learning_rate, minimum=0,
                                                  exclusive_minimum=True)
        self.steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch)
        self.stages = check_positive_int("stages", stages)
        self.ratio = check_number("ratio", ratio, minimum=0, exclusive_minimum=True)
        self.decay = check_number("decay", decay, minimum=0, maximum=1, exclusive_minimum=True)
        full = sum(self.ratio**i for i in range(self.stages))
        self.epochs = full if epochs is None else check_number("epochs", epochs, minimum=0, exclusive_minimum=True)
        scale = self.epochs / full
        ends, total = [], 0.0
        for i in range(self.stages - 1):
            total += self.ratio**i * scale
            ends.append(total * self.steps_per_epoch)
        #: Optimizer steps at which each stage after the first begins.
        self.boundaries = ends
        #: The rate of each stage.
        self.values = [self.initial_learning_rate * self.decay**i for i in range(self.stages)]

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        stage = keras.ops.sum(keras.ops.cast(step >= keras.ops.array(self.boundaries or [float("inf")], "float32"),
                                             "int32"))
        return keras.ops.take(keras.ops.array(self.values, "float32"), stage)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "steps_per_epoch": self.steps_per_epoch,
                "epochs": self.epochs, "stages": self.stages, "ratio": self.ratio, "decay": self.decay}


def get(name, learning_rate, steps_per_epoch, epochs):
    """The schedule ``name`` (one of :data:`SCHEDULES`) for a run of ``epochs`` epochs of ``steps_per_epoch``
    steps, starting at ``learning_rate``: a ``LearningRateSchedule``, or the float for ``"constant"``.

    Raises:
        ValueError: for an unknown name or a count or rate out of range.
    """
    check_choice("schedule", name, SCHEDULES)
    learning_rate = check_number("learning_rate", learning_rate, minimum=0, exclusive_minimum=True)
    steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch)
    epochs = check_positive_int("epochs", epochs)
    if name == "constant":
        return learning_rate
    if name == "burda":
        return BurdaSchedule(learning_rate, steps_per_epoch=steps_per_epoch, epochs=epochs)
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps_per_epoch * epochs,
                                                  alpha=COSINE_ALPHA)
