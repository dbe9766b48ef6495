import math

import keras
import numpy as np
import pytest

from kerasae import schedules
from kerasae.cli import arguments


def test_burda_schedule_values_at_chosen_steps():
    # The paper's schedule: 3^i epochs at 1e-3 * 10^(-i/7), i = 0..7 (3,280 epochs).
    schedule = schedules.BurdaSchedule(1e-3, steps_per_epoch=10)
    assert schedule.epochs == 3280
    starts = np.cumsum([0] + [3**i for i in range(8)])[:-1] * 10  # first step of each stage
    for i, start in enumerate(starts):
        expected = 1e-3 * 10 ** (-i / 7)
        assert float(schedule(start)) == pytest.approx(expected, rel=1e-6)
        if start:
            assert float(schedule(start - 1)) == pytest.approx(1e-3 * 10 ** (-(i - 1) / 7), rel=1e-6)
    assert float(schedule(3280 * 10 + 5000)) == pytest.approx(1e-4, rel=1e-6)  # the last rate holds


def test_burda_schedule_compressed_keeps_the_shape():
    full, short = schedules.BurdaSchedule(2e-3, 600), schedules.BurdaSchedule(2e-3, 600, epochs=328)
    assert np.allclose(np.asarray(short.boundaries) * 10, full.boundaries)
    assert short.values == full.values
    # Stage 7 starts after 1,093 of the 3,280 epochs: at step 1093 * 600 / 10 of the compressed schedule.
    assert float(short(math.ceil(1093 * 60))) == pytest.approx(2e-4, rel=1e-6)


def test_get_returns_each_schedule():
    assert schedules.get("constant", 1e-3, 10, 5) == 1e-3
    cosine = schedules.get("cosine", 1e-3, 10, 5)
    assert float(cosine(0)) == pytest.approx(1e-3) and float(cosine(50)) == pytest.approx(1e-5)
    assert isinstance(schedules.get("burda", 1e-3, 10, 5), schedules.BurdaSchedule)
    with pytest.raises(ValueError, match=r"Expected schedule to be one of"):
        schedules.get("linear", 1e-3, 10, 5)
    with pytest.raises(ValueError, match="Expected steps_per_epoch"):
        schedules.BurdaSchedule(1e-3, steps_per_epoch=0)


def test_cli_choices_are_the_schedules():
    parser = arguments.common_arguments()
    choices = next(a.choices for a in parser._actions if a.dest == "schedule")
    assert tuple(choices) == schedules.SCHEDULES


def test_schedule_survives_serialization():
    schedule = schedules.BurdaSchedule(1e-3, 7, epochs=100)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, schedules.BurdaSchedule) and restored.get_config() == schedule.get_config()
    for step in (0, 7 * 30, 7 * 99):
        assert float(restored(step)) == float(schedule(step))
