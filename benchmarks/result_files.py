"""Result files that gather runs made at different times: a benchmark too long for one working session runs in
pieces, each adding its runs to the file the earlier pieces wrote, provided that the settings match."""

import json
import os
import sys

FIX = "Fix: pass --out NEW.json for a new file"


def earlier_result(path, settings, what, within=None, required=()):
    """The result in ``path`` to which a run with ``settings`` (a dict) adds its own, ``{}`` without a file.

    The file's settings are its keys (those of its ``within`` section if given) named in ``settings``; ``required``
    names keys the file must have. Exits with status 2 and one line on standard error, touching nothing, when the
    file cannot be read or its settings differ; ``what`` names the result in that line ("a one-class result").
    """
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            earlier = json.load(f)
        stored = earlier[within] if within else earlier
        differ = [f"{key} {stored.get(key)!r}, this run {value!r}" for key, value in settings.items()
                  if stored.get(key) != value]
        for key in required:
            earlier[key]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        _refuse(f"{path} is not {what} this benchmark can add to ({type(err).__name__}: {err}); expected the JSON it "
                f"writes. {FIX}")
    if differ:
        _refuse(f"{path} holds {what} with other settings ({'; '.join(differ)}); expected the same settings to add "
                f"to it. {FIX}, or the file's settings")
    return earlier


def _refuse(message):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)
