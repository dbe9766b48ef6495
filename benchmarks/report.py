"""Renders ``benchmarks/RESULTS.md`` from the result files under ``benchmarks/results/``.

The page opens with one screen: a table of the headline figures, each with the command that made it and
its date (:func:`headline_rows`); the details follow (:mod:`benchmarks.report_sections`). Every figure
is read from a result file; none is written here by hand. Never imports TensorFlow.
"""

import json
import os

from benchmarks import report_one_class, zoo_report
from benchmarks.collect import RESULTS_DIR, collect_other_results
from benchmarks.models import BLOCK_STEPS
from benchmarks.markdown import fmt, pct, table
from benchmarks.report_sections import (STALE_ABLATIONS, edge_meeting, render_others, render_profile, render_run,
                                        stale_ablations)

HERE = os.path.dirname(os.path.abspath(__file__))
MARKDOWN = os.path.join(HERE, "RESULTS.md")

#: Method notes printed above the details.
NOTES = """
How to read these figures: every training configuration runs in its own Python process (so that the peak
RSS is that run's), on the same MNIST pipeline (`kerasae.data.pipelines.make_pipeline`: shuffled indices,
batches gathered from the array, prefetched), with Adam(1e-3) and batch 100, through `fit` with kerasae's
default steps per compiled call (the plain VAE given the same number); the in-process per-step figures
call the train function with one step per call. The kerasae VAE and the hand-written VAE
(`benchmarks/plain_vae.py`) run back to back in alternating order, and their ratio is taken within each
round. The machine is shared with other jobs, so absolute throughputs move with the load; the ratios of
neighbouring runs are the meaningful figures, and the steadiest is the one measured in one process: both
VAEs' train functions, each fed by its own copy of the pipeline, take turns in blocks of {BLOCK_STEPS} steps, and
the ratio is the median over neighbouring block pairs.
""".format(BLOCK_STEPS=BLOCK_STEPS)


# ================================================================================================ headline
def _off_on(by_jit, spec):
    """``"a / b"`` of the figures for jit off and on (one of them alone where the other is missing)."""
    return " / ".join(spec(by_jit[jit]) if jit in by_jit else "-" for jit in (False, True))


def _range(values, spec, to="-"):
    values = sorted(values)
    return spec(values[0]) if values[0] == values[-1] else f"{spec(values[0])}{to}{spec(values[-1])}"


def _run_rows(report):
    """Headline rows of a full (or quick) run: (what, figure)."""
    s, rows = report["summary"], []
    pairs = {p["jit_compile"]: p["ratio"] for p in s.get("library_ratio_in_process", []) if "error" not in p}
    if pairs:
        rows.append(("kerasae VAE / hand-written Keras VAE throughput, one process, jit off / on (goal >= 0.97)",
                     _off_on(pairs, "{:.3f}".format)))
    speed = {(r["model"], r["jit_compile"]): r["samples_per_second"] for r in s["throughput"]}
    named = [(label, {jit: speed[(model, jit)] for jit in (False, True) if (model, jit) in speed})
             for label, model in (("VAE", "vae"), ("autoencoder", "autoencoder"))]
    named = [(label, by_jit) for label, by_jit in named if by_jit]
    if named:
        rows.append((f"Training throughput through `fit`, samples/s, MNIST, batch {report['batch_size']}, jit off / on",
                     "; ".join(f"{label} {_off_on(by_jit, '{:,.0f}'.format)}" for label, by_jit in named)))
    if s["throughput"]:
        rows.append(("Peak RSS of one training run (its process: Python, TensorFlow, data, model)",
                     _range([r["peak_rss_mib"] for r in s["throughput"]], "{:.0f}".format) + " MiB"))
    vae = [p for p in s["pipeline"] if p["model"] == "vae"]
    profiled = {p["jit_compile"]: p["profiled"]["share"] for p in vae if "share" in (p.get("profiled") or {})}
    held = {p["jit_compile"]: p["share_materialized"] for p in vae if p.get("share_materialized") is not None}
    if profiled or held:
        rows.append(("Input pipeline's share of a VAE step, jit off / on (goal < 5%)",
                     "; ".join(part for part in (
                         profiled and f"time in IteratorGetNext {_off_on(profiled, pct)}",
                         held and f"vs batches held in memory {_off_on(held, pct)}") if part)))
    matrix, hutchinson = {}, {}
    for c in s["contractive_cost"]:
        if "matrix form" in c["penalty"]:
            matrix.setdefault(c["penalty"].split("MLP ")[-1], {})[c["jit_compile"]] = c["step_time_ratio"]
        elif "Hutchinson" in c["penalty"]:
            hutchinson.setdefault(c["penalty"].split("MLP ")[-1], {})[c["jit_compile"]] = c["step_time_ratio"]
    for label, figures in (("exact matrix form (the default)", matrix),
                           ("1-projection Hutchinson estimate", hutchinson)):
        if figures:
            rows.append((f"Contractive penalty, {label}: step time / plain autoencoder step, jit off / on (goal <= 3x)",
                         "; ".join(f"{mlp}: {_off_on(by_jit, '{:.2f}x'.format)}" for mlp, by_jit in figures.items())))
    q = report.get("quality") or {}
    if "linear_pca" in q:
        lp = q["linear_pca"]
        rows.append((f"Linear autoencoder / PCA test MSE, {lp['dataset']}, k = {lp['k']}", f"{lp['ratio']:.4f}"))
    if q.get("denoising"):
        noises = " / ".join(f"{d['noise']} {d['noise_level']}" for d in q["denoising"])
        rows.append((f"Denoising PSNR gain, digits, {noises} ({q['denoising'][0]['epochs']} epochs)",
                     " / ".join(f"+{d['psnr_gain_db']:.2f} dB" for d in q["denoising"])))
    return rows


def _profile_rows(profile):
    rows = []
    jit = [j for j in profile.get("jit") or [] if "error" not in j]
    if jit:
        faster = sum(j["speedup"] > 1.0 for j in jit)
        rows.append((f"jit_compile (XLA) speed-up of a training step, in process, {len(jit)} configurations",
                     _range([j["speedup"] for j in jit], "{:.2f}x".format) + f" (faster for {faster} of {len(jit)})"))
    spe = [j for j in profile.get("steps_per_execution") or [] if "error" not in j]
    if spe:
        rows.append(("`fit` speed-up of kerasae's default steps per compiled call over 1 (Keras' default)",
                     ", ".join(f"{j['model']} {j['speedup']:.2f}x" for j in spe)))
    return rows


def _others_rows(others):
    """Headline rows of the other scripts' results: (what, figure, command, date)."""
    rows = []
    for o in (o for o in others if o.get("kind") == "pytorch_peer"):
        ratios = {name: r for name, r in (o.get("ratios") or {}).items() if r and not name.startswith("kerasae")}
        if ratios:
            rows.append(("kerasae VAE (defaults) throughput / the same VAE in PyTorch, one process each, taking turns",
                         ", ".join(f"{name} {r:.2f}x" for name, r in ratios.items()), o["command"], o["recorded"]))
    nll = [o for o in others if o.get("kind") == "vae_iwae" and o.get("test_nll") is not None]
    if nll:  # the longest-trained run (the others are in the details)
        o = max(nll, key=lambda o: (o["epochs"] or 0, o["nll_test_examples"] or 0))
        rows.append((f"{o['model'].upper()} (k = {o['num_samples']}) test NLL on MNIST after {o['epochs']} epochs, "
                     f"{o['nll_samples']} importance samples x {o['nll_test_examples']} test images",
                     f"{o['test_nll']:.2f} nats", o["command"], o["recorded"]))
    for o in (o for o in others if o.get("kind") == "semi_supervised"):
        accuracy = {k: v for k, v in o["accuracy"].items() if v is not None}
        if accuracy:
            rows.append((f"Semi-supervised MNIST, {o['labels_per_class']} labels per class: test accuracy",
                         ", ".join(f"{k} {v:.3f}" for k, v in sorted(accuracy.items(), key=lambda kv: -kv[1])),
                         o["command"], o["recorded"]))
    for o in (o for o in others if o.get("kind") == "export"):
        float32 = {r["family"]: r["size_kib"] for r in o["rows"] if r["mode"] == "none"}
        int8 = [r for r in o["rows"] if r["mode"] == "int8"]
        tiny = [r for r in int8 if float32.get(r["family"], 0) < 16]  # the file's fixed structure dominates
        sized = [r for r in int8 if r not in tiny]
        if sized:
            figure = (f"{_range([r['size_ratio'] for r in sized], '{:.3f}'.format)} for {len(sized)} of {len(int8)} "
                      "families" + "".join(f"; {r['family']} ({float32[r['family']]:.0f} KiB) {r['size_ratio']:.3f}"
                                           for r in tiny)
                      + f"; test MSE change {_range([100 * r['mse_change'] for r in int8], '{:+.1f}%'.format, ' to ')}")
            rows.append(("TFLite int8 file / float32 file, models trained briefly on digits (the export default, "
                         "weight_scales=\"smallest\")", figure, o["command"], o["recorded"]))
            rows.append(("Encode latency, batch 1: LiteRT int8 vs Keras",
                         f"{_range([r['litert_encode_ms'] for r in int8], '{:.3f}'.format)} ms vs "
                         f"{_range([r['keras_encode_ms'] for r in int8], '{:.2f}'.format)} ms", o["command"],
                         o["recorded"]))
    rows += report_one_class.headline_rows(others)
    for o in (o for o in others if o.get("kind") == "edge"):
        targets = o.get("targets") or []
        for preset, meeting in edge_meeting(targets).items():
            int8 = {t["files"]: t for t in targets if t["preset"] == preset and t["mode"] == "int8"}
            sizes = "; ".join(f"{files} {fmt(t.get('size_ratio'), '.3f')}" for files, t in int8.items())
            unmeasured = any(t.get("log_likelihood_change") is None for t in targets if t["preset"] == preset)
            rows.append((f"Preset {preset} on devices: int8 files / float32, and the quantised files meeting all of "
                         "issue #21's targets (size <= 0.30, log-lik. within 1 nat, rec. MSE within 5%)",
                         f"int8 {sizes}; meeting the targets{' (log-lik. not measured)' if unmeasured else ''}: "
                         f"{', '.join(meeting) or 'none'}", o["command"], o["recorded"]))
    return rows


def headline_rows(run, profile, others):
    """The headline figures: (what, figure, command, date) rows, from a run report (full, else quick), the
    profile report and the other scripts' results (any of them may be ``None``)."""
    rows = []
    for report, extract in ((run, _run_rows), (profile, _profile_rows)):
        if report:
            rows += [(what, figure, report["command"], report["date"]) for what, figure in extract(report)]
    return rows + _others_rows(others or [])


def render_headline(run, profile, others):
    rows = zoo_report.headline_rows() + headline_rows(run, profile, others)
    machine = (run or profile or {}).get("machine")
    out = ["## Headline figures", "",
           "One line per figure; the details (settings, load, every configuration) follow below."
           + (f" CPU only: {machine['cpu_model']}, {machine['cpu_cores']} cores, shared with other jobs, so "
              "absolute speeds move with the load; the ratios are the steadier figures." if machine else ""), ""]
    out += table(["what", "figure", "command", "date"],
                 [[what, figure, f"`{command}`", str(date)[:10]] for what, figure, command, date in rows])
    stale = sorted({name for p in (profile or {}).get("profiles", []) for name in stale_ablations(p)})
    if stale:
        out += ["", f"Not shown: the step profile's {', '.join(f'`{n}`' for n in stale)} rows "
                f"({'; '.join(STALE_ABLATIONS[n][1] for n in stale)}); the next `python -m benchmarks.run "
                "--profile` re-measures them."]
    return out


# ================================================================================================ page
def _load(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_markdown(path=MARKDOWN, results_dir=RESULTS_DIR):
    """Renders ``RESULTS.md``: the headline table, then ``run_full.json``, ``run_quick.json`` and
    ``run_profile.json`` in detail, then the other scripts' results, all read from ``results_dir``."""
    reports = [r for r in (_load(os.path.join(results_dir, f"run_{mode}.json")) for mode in ("full", "quick")) if r]
    profile = _load(os.path.join(results_dir, "run_profile.json"))
    others = collect_other_results(results_dir)  # the result files are the source of truth, newest included
    lines = ["# kerasae benchmark results", ""]
    lines += render_headline(reports[0] if reports else None, profile, others) + [""]
    lines += zoo_report.render_reproductions()
    lines += ["## Method", "",
              "Generated by `python -m benchmarks.run` (full), `python -m benchmarks.run --quick` and `python -m "
              "benchmarks.run --profile`; the raw figures are in `benchmarks/results/run_full.json`, `run_quick.json` "
              "and `run_profile.json`. Re-running any of them re-renders this file.", ""]
    lines += NOTES.strip().splitlines() + [""]
    for report in reports:
        lines += render_run(report) + [""]
    if profile:
        lines += render_profile(profile) + [""]
    lines += render_others(others)
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")


if __name__ == "__main__":  # python -m benchmarks.report: re-render RESULTS.md from the result files
    write_markdown()
