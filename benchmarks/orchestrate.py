"""The driver's side: runs each worker task in a fresh Python process, schedules the training runs in
interleaved rounds, and summarises their figures into a report (written by :mod:`benchmarks.run`).

The driver itself never imports TensorFlow: Linux carries ``ru_maxrss`` over fork and exec, so a heavy
parent would set every child's peak RSS.
"""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.collect import ROOT, collect_other_results
from benchmarks.models import (BATCH_SIZE, JIT_MODELS, LEARNING_RATE, MODELS, SPE_MODELS, STEP_SCALE, VAE_MODELS)


def machine_info():
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu_model": model, "cpu_cores": os.cpu_count(), "platform": platform.platform(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def versions():
    from importlib import metadata

    found = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "tensorflow-probability", "kerasae", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def now():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def run_subprocess(config):
    """Runs a worker task in a fresh Python process; returns (result or None, stderr tail, wall seconds)."""
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", json.dumps(config)]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return None, (proc.stderr or proc.stdout)[-3000:], wall
    return json.loads(lines[-1][len("RESULT "):]), "", wall


def run_worker_process(config, verbose=True):
    """Runs a training ``config`` in its own process; returns its result dict (or one with an ``error``)."""
    load_before = os.getloadavg()[0]
    result, error, wall = run_subprocess(config)
    if result is None:
        result = {**config, "error": error}
    result["process_seconds"] = wall
    result["load_1min_before"] = load_before
    result["load_1min_after"] = os.getloadavg()[0]
    if verbose:
        label = f"{config['model']:<20} jit={str(config['jit_compile']):<5} round {config['round']}"
        if "error" in result:
            print(f"  {label}  FAILED: {result['error'].strip().splitlines()[-1] if result['error'].strip() else ''}")
        else:
            print(f"  {label}  {result['samples_per_second']:9.0f} samples/s  {result['peak_rss_mib']:6.0f} MiB  "
                  f"pipeline {100 * result['pipeline_share_alone']:.1f}%  ({wall:.0f} s, load {load_before:.1f})",
                  flush=True)
    return result


def plan(mode_settings):
    """The ordered list of (model, jit, round, materialized) runs: the VAE pair interleaved, order alternated."""
    full = mode_settings["contractive_cost"]
    runs = []
    for r in range(mode_settings["rounds"]):
        pairs = [(m, jit) for jit in (False, True) for m in VAE_MODELS]
        if r % 2:
            pairs = pairs[::-1]
        runs += [(m, jit, r, m == "vae" and r == 0 and (full or not jit)) for m, jit in pairs]
    variants = ["autoencoder", "denoising", "contractive", "sparse"]
    if full:
        variants += ["autoencoder_single", "contractive_closed", "autoencoder_1hidden", "contractive_1hidden",
                     "contractive_autodiff", "contractive_hutchinson"]
    for jit in mode_settings["variants_jit"]:
        runs += [(m, jit, 0, full and m == "autoencoder" and jit == mode_settings["variants_jit"][0])
                 for m in variants]
    return runs


def summarise(runs):
    """Throughput per (model, jit), kerasae/plain ratios, jit speed-ups, contractive ratios, pipeline shares."""
    ok = [r for r in runs if "error" not in r]
    table = {}
    for r in ok:
        table.setdefault((r["model"], r["jit_compile"]), []).append(r)
    rows = []
    for (model, jit), group in sorted(table.items(), key=lambda kv: (list(MODELS).index(kv[0][0]), kv[0][1])):
        rows.append({
            "model": model, "jit_compile": jit, "runs": len(group),
            "samples_per_second": statistics.median(g["samples_per_second"] for g in group),
            "samples_per_second_each": [g["samples_per_second"] for g in group],
            "step_ms": statistics.median(g["step_ms"] for g in group),
            "warmup_seconds": statistics.median(g["warmup_seconds"] for g in group),
            "peak_rss_mib": max(g["peak_rss_mib"] for g in group),
            "pipeline_share_alone": statistics.median(g["pipeline_share_alone"] for g in group),
            "load_1min": statistics.median(g["load_1min_before"] for g in group),
        })
    throughput = {(row["model"], row["jit_compile"]): row["samples_per_second"] for row in rows}

    library_ratio = []
    for jit in (False, True):
        per_round = []
        for r in sorted({x["round"] for x in ok}):
            pair = {x["model"]: x for x in ok if x["round"] == r and x["jit_compile"] == jit and x["model"] in VAE_MODELS}
            if len(pair) == 2:
                per_round.append(pair["vae"]["samples_per_second"] / pair["plain_vae"]["samples_per_second"])
        if per_round:
            library_ratio.append({"jit_compile": jit, "ratio": statistics.median(per_round), "per_round": per_round,
                                  "kerasae": throughput.get(("vae", jit)), "plain": throughput.get(("plain_vae", jit))})

    jit_speedup = []
    for model in MODELS:
        if (model, False) in throughput and (model, True) in throughput:
            speedup = throughput[(model, True)] / throughput[(model, False)]
            jit_speedup.append({"model": model, "speedup": speedup, "jit_faster": speedup > 1.0})

    contractive = []
    for penalty, base, label in (("contractive_closed", "autoencoder_single", "closed form, one sigmoid layer 784-128"),
                                 ("contractive_1hidden", "autoencoder_1hidden",
                                  "exact, matrix form (default), MLP 784-256-32"),
                                 ("contractive", "autoencoder", "exact, matrix form (default), MLP 784-200-200-50"),
                                 ("contractive_autodiff", "autoencoder",
                                  "exact, tiled autodiff (any encoder), MLP 784-200-200-50"),
                                 ("contractive_hutchinson", "autoencoder",
                                  "1-projection Hutchinson estimate, MLP 784-200-200-50")):
        for jit in (False, True):
            if (penalty, jit) in throughput and (base, jit) in throughput:
                ratio = throughput[(base, jit)] / throughput[(penalty, jit)]  # step time ratio
                contractive.append({"penalty": label, "jit_compile": jit, "step_time_ratio": ratio,
                                    "target": 3.0 if penalty != "contractive_closed" else None,
                                    "meets_target": ratio <= 3.0 if penalty != "contractive_closed" else None})

    pipeline = [{"model": r["model"], "jit_compile": r["jit_compile"], "round": r["round"],
                 "pipeline_ms_per_step": r["pipeline_ms_per_step"], "step_ms": r["step_ms"],
                 "pipeline_ms_per_step_without_binarization": r.get("pipeline_ms_per_step_without_binarization"),
                 "share_alone": r["pipeline_share_alone"],
                 "materialized_step_ms": r.get("materialized_step_ms"),
                 "normal_step_ms_alternating": r.get("normal_step_ms_alternating"),
                 "share_materialized": r.get("pipeline_share_materialized"),
                 "profiled": r.get("profiled_input_wait")}
                for r in ok if r.get("materialized") or r["model"] in VAE_MODELS and r["round"] == 0]
    return {"throughput": rows, "library_ratio": library_ratio, "jit_speedup": jit_speedup,
            "contractive_cost": contractive, "pipeline": pipeline,
            "failed": [{"model": r["model"], "jit_compile": r["jit_compile"], "error": r["error"][-500:]}
                       for r in runs if "error" in r]}


def run_benchmarks(mode, settings, command, skip_quality=False):
    """The training runs of ``settings`` (one of :data:`benchmarks.models.MODES`, possibly overridden), the
    in-process kerasae/plain VAE pairs and the quality figures; returns the report (``run_{mode}.json``)."""
    started = time.perf_counter()
    report = {
        "mode": mode,
        "command": command,
        "date": now(),
        "machine": machine_info(),
        "versions": versions(),
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()},
        "batch_size": BATCH_SIZE,
        "optimizer": f"Adam({LEARNING_RATE})",
        "models": MODELS,
        "load_1min_start": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="kerasae-bench-") as tmp:
        data, error, _ = run_subprocess({"task": "prepare", "subset": settings["subset"], "directory": tmp})
        if data is None:
            raise RuntimeError(f"Preparing the data failed:\n{error}")
        data_path = data.pop("path")
        report["data"] = data
        print(f"data: {data['source']}, {data['num_samples']} samples", flush=True)
        runs = []
        for model, jit, round_, materialized in plan(settings):
            config = {"model": model, "jit_compile": jit, "round": round_, "materialized": materialized,
                      "data": data_path, "seed": 0, "batch_size": BATCH_SIZE,
                      "steps": max(5, int(settings["steps"] * STEP_SCALE.get(model, 1.0))),
                      "epochs": settings["epochs"], "materialized_blocks": settings["materialized_blocks"]}
            runs.append(run_worker_process(config))
        pairs = []
        for jit in settings["pair_jit"]:
            pair, error, wall = run_subprocess({"task": "pair", "jit_compile": jit, "data": data_path, "seed": 0,
                                                "blocks": settings["pair_blocks"]})
            pairs.append(pair or {"jit_compile": jit, "error": error})
            print(f"  kerasae/plain VAE in one process, jit={jit}: "
                  + (f"{pair['ratio']:.3f}" if pair else "FAILED") + f"  ({wall:.0f} s)", flush=True)
    for r in runs:
        r.pop("data", None)
    report["runs"] = runs
    report["summary"] = summarise(runs)
    report["summary"]["library_ratio_in_process"] = pairs
    if not skip_quality:
        print("quality figures on digits ...", flush=True)
        quality, error, _ = run_subprocess({"task": "quality", "denoising_epochs": settings["denoising_epochs"]})
        report["quality"] = quality if quality is not None else {"error": error}
    report["other_results"] = collect_other_results()
    report["load_1min_end"] = os.getloadavg()[0]
    report["total_seconds"] = time.perf_counter() - started
    return report


def _per_model_profiles(task, models):
    """Runs the profile ``task`` for each model, one process per model (each starts from a clean XLA cache
    and heap); the results, a failed one as ``{"model", "error"}``."""
    results = []
    for model in models:
        result, error, _ = run_subprocess({"task": task, "model": model})
        result = result or {"model": model, "error": error}
        results.append(result)
        print(json.dumps(result if "error" not in result else {"model": model, "error": "failed"}), flush=True)
    return results


def run_profiles(command):
    """``--profile``: the step profile with and without jit, each model's jit speed-up and its fit throughput
    with 1 and with the default steps per compiled call, each in its own process; returns the report
    (``run_profile.json``)."""
    report = {"mode": "profile", "command": command, "date": now(), "machine": machine_info(),
              "versions": versions(), "load_1min_start": os.getloadavg()[0], "profiles": []}
    for jit in (False, True):
        result, error, wall = run_subprocess({"task": "profile", "jit_compile": jit})
        result = result or {"jit_compile": jit, "error": error}
        report["profiles"].append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "step_ms_each_block"}), flush=True)
    report["jit"] = _per_model_profiles("jit_profile", JIT_MODELS)
    report["steps_per_execution"] = _per_model_profiles("spe_profile", SPE_MODELS)
    report["load_1min_end"] = os.getloadavg()[0]
    return report
