"""Result files that gather runs made at different times: a benchmark too long for one working session runs in
pieces, each adding its runs to the file the earlier pieces wrote, provided that the settings match."""

import itertools
import json
import os
import statistics
import sys

FIX = "Fix: pass --out NEW.json for a new file"


def earlier_result(path, settings, what, within=None, required=(), defaults=None):
    """The result in ``path`` to which a run with ``settings`` (a dict) adds its own, ``{}`` without a file.

    The file's settings are its keys (those of its ``within`` section if given) named in ``settings``; a key the
    file lacks (an option newer than the file) matches the run's value if that is the option's default in
    ``defaults`` (a dict). ``required`` names keys the file must have. Exits with status 2 and one line on standard
    error, touching nothing, when the file cannot be read or its settings differ; ``what`` names the result in that
    line ("a one-class result").
    """
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            earlier = json.load(f)
        stored = earlier[within] if within else earlier
        defaults = defaults or {}
        newer = {key for key, value in settings.items()  # options the file predates, at their default
                 if key not in stored and key in defaults and defaults[key] == value}
        differ = [f"{key} {stored.get(key)!r}, this run {value!r}" for key, value in settings.items()
                  if stored.get(key) != value and key not in newer]
        for key in required:
            earlier[key]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        refuse(f"{path} is not {what} this benchmark can add to ({type(err).__name__}: {err}); expected the JSON it "
               f"writes. {FIX}")
    if differ:
        refuse(f"{path} holds {what} with other settings ({'; '.join(differ)}); expected the same settings to add "
               f"to it. {FIX}, or the file's settings")
    return earlier


def seed_summary(runs, error, wall, cpu):
    """One cell of a results table from its ``runs`` (one per seed): the figure ``error`` of each, their mean and
    sample standard deviation (ddof = 1; 0 for one run), the seeds, and the mean wall and CPU minutes per run, each
    the sum of the run's keys in ``wall`` and ``cpu`` (seconds)."""
    errors = [float(r[error]) for r in runs]
    return {"errors": errors, "seeds": [r["seed"] for r in runs], "error_mean": statistics.mean(errors),
            "error_std": statistics.stdev(errors) if len(errors) > 1 else 0.0,
            "wall_minutes": statistics.mean(sum(r[k] for k in wall) for r in runs) / 60,
            "cpu_minutes": statistics.mean(sum(r[k] for k in cpu) for r in runs) / 60}


def missing(runs, grid):
    """The cells of ``grid`` (a dict: key -> the values it takes) that no run in ``runs`` covers, as dicts, in the
    grid's order: what a gathered result still lacks."""
    done = {tuple(r[key] for key in grid) for r in runs}
    return [dict(zip(grid, cell)) for cell in itertools.product(*grid.values()) if cell not in done]


def refuse(message):
    """Prints ``error: message`` (one line) and exits with status 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)
