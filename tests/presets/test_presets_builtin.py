"""The built-in presets (the repository's presets/ folder): each passes every check of the issue; the folder holds
nothing but valid presets; together they stay under 25 MB."""

import os

import pytest

import kerasae
from kerasae.presets import builtin, cards

import preset_checks

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRESETS = os.path.join(ROOT, "presets")
#: The built-in presets together stay under this size (the issue's budget).
MAX_TOTAL_BYTES = 25 * 10**6
#: Entries of presets/ that are not presets.
NOT_PRESETS = ("README.md", "__init__.py", "__pycache__")


@pytest.mark.parametrize("name", kerasae.presets.list())
def test_builtin_preset(name):
    """Loads; its card's sha256s match; its log_likelihood on the card's 200 test images is within 1 nat of the
    card's figure (same images, samples and seed); its SavedModel's encode/decode agree with the Keras model."""
    preset_checks.check_preset(name, name)


def test_presets_folder_holds_only_valid_presets():
    """Fails for a folder in presets/ that is not a complete, valid preset named after its folder."""
    bad = []
    for entry in sorted(os.listdir(PRESETS)):
        path = os.path.join(PRESETS, entry)
        if entry in NOT_PRESETS or not os.path.isdir(path):
            continue
        try:
            card = kerasae.presets.verify(path)
            preset_checks.check_schema(card, entry)
        except (ValueError, AssertionError, KeyError, TypeError) as err:
            bad.append(f"presets/{entry}: {type(err).__name__}: {err}")
    assert not bad, "presets/ holds folders that are not valid presets:\n" + "\n".join(bad)


def test_list_finds_the_repository_presets():
    """This checkout's presets/ (editable install, or the source fallback) is where the built-ins come from."""
    assert os.path.realpath(PRESETS) in [os.path.realpath(r) for r in builtin.roots()]
    expected = sorted(e for e in os.listdir(PRESETS) if os.path.isfile(os.path.join(PRESETS, e, cards.CARD)))
    assert kerasae.presets.list() == expected


def test_builtin_presets_stay_under_25_mb():
    total = sum(os.path.getsize(os.path.join(here, name))
                for here, dirs, names in os.walk(PRESETS) if "__pycache__" not in here for name in names)
    assert total < MAX_TOTAL_BYTES, f"presets/ holds {total / 1e6:.1f} MB; the budget is {MAX_TOTAL_BYTES / 1e6:.0f} MB"
