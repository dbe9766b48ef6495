"""The model zoo's rows of RESULTS.md: one per reproduction (``benchmarks/results/reproduce/NAME.json``,
written by :mod:`benchmarks.reproduce`), with the paper's figure beside kerasae's. Never imports TensorFlow."""

import glob
import json
import os

from benchmarks.markdown import fmt, table

HERE = os.path.dirname(os.path.abspath(__file__))
REPRODUCE_DIR = os.path.join(HERE, "results", "reproduce")


def load_reproductions(results_dir=REPRODUCE_DIR):
    """Every reproduction result, sorted by name."""
    found = []
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        with open(path) as f:
            found.append(json.load(f))
    return found


def _status(r):
    if r.get("target_nll") is None:
        return "no paper figure"
    return "meets target" if r.get("meets_target") else f"misses target ({r['target_nll']})"


def render_reproductions(results_dir=REPRODUCE_DIR):
    """The "Model zoo: reproductions" section (empty when there is no result yet)."""
    found = load_reproductions(results_dir)
    if not found:
        return []
    out = ["## Model zoo: reproductions", "",
           "One command each (`python -m benchmarks.reproduce NAME`, `--list` for all): the paper's architecture and "
           "schedule, trained with `kerasae train ... --resume` on dynamically binarised data, then the test NLL "
           "`-log p(x)` with k importance samples over the **full** test set (one fixed Bernoulli draw of the test "
           "images, seeded). Training minutes are summed over the run's per-epoch log (every resumed part); the "
           "NLL evaluation is timed on its own.", ""]
    out += table(
        ["entry", "model", "paper NLL", "pythae", "kerasae NLL (k x images)", "test ELBO", "status", "epochs",
         "train wall / CPU min", "NLL eval wall / CPU min", "date", "command"],
        [[r["name"], r["title"], fmt(r.get("paper_nll"), ".2f"), fmt(r.get("pythae_nll"), ".2f"),
          f"{r['test_nll']:.2f} ({r['nll_samples']} x {r['test_images']})", fmt(r.get("test_elbo"), ".2f"), _status(r),
          r["epochs"], f"{r['train_wall_minutes']:.1f} / {r['train_cpu_minutes']:.1f}",
          f"{r['nll_wall_seconds'] / 60:.1f} / {r['nll_cpu_seconds'] / 60:.1f}", r.get("date", "-"),
          f"`{r['command']}`"] for r in found])
    out += ["", "Training commands, learning curves (per-epoch training ELBO, KL, learning rate and times, in "
            "`benchmarks/results/reproduce/`) and what was tried:", ""]
    out += [f"- {r['name']}: `{r['train_command']}`"
            + (f"; learning curve `{r['learning_curve']}`" if r.get("learning_curve") else "")
            + (f". {r['notes']}" if r.get("notes") else "") for r in found]
    return out + [""]


def headline_rows(results_dir=REPRODUCE_DIR):
    """One headline row per reproduction: ``[what, figure, command, date]``."""
    rows = []
    for r in load_reproductions(results_dir):
        paper = f"; paper {r['paper_nll']:.2f}" if r.get("paper_nll") is not None else ""
        rows.append([f"Test NLL, {r['title']} (k = {r['nll_samples']}, full test set)",
                     f"{r['test_nll']:.2f} nats after {r['epochs']} epochs{paper}",
                     r["command"], r.get("date", "-")])
    return rows
