"""Performance benchmarks of kerasae: throughput, memory, input pipeline, contractive penalty, quality.

Measures, in one run on one machine:

* training throughput (samples/s, the median over timed epochs after one warm-up epoch) of the MLP
  autoencoder, the denoising, contractive and sparse variants and the VAE (784-200-200-50, tanh,
  Bernoulli likelihood) on MNIST, each with and without ``jit_compile``;
* the same for a hand-written Keras 3 VAE of the same architecture (:mod:`benchmarks.plain_vae`), with
  the same batch size, optimizer, jit setting, steps per compiled call (kerasae's ``"auto"`` default
  resolves to the largest divisor of the epoch's steps up to 16; the plain VAE is given that number) and
  ``tf.data`` pipeline, in interleaved rounds, so that the
  ratio kerasae / plain shows what the library costs; and that ratio measured in one process, both VAEs'
  train functions taking turns in blocks of steps, each on its own copy of the pipeline (the steadiest
  figure on a shared machine);
* the peak resident memory of every training run (each configuration runs in its own subprocess, which
  reports ``getrusage(RUSAGE_SELF).ru_maxrss``);
* the input pipeline's share of a step (the pipeline iterated alone vs a training step; the train
  function on pre-materialised in-memory batches vs the normal pipeline, in alternating blocks; and a
  ``tf.profiler`` trace: the step's time in ``IteratorGetNext``);
* the contractive penalty's cost (closed form on one sigmoid layer; the exact matrix form on a
  784-256-32 MLP; on a 784-200-200-50 MLP the exact matrix form, the exact tiled autodiff and the
  Hutchinson estimate) as ratios to a plain autoencoder step of the same network;
* quality figures: linear autoencoder / PCA test MSE (digits, k = 8) and the denoising PSNR gain (digits),
  plus what the other benchmark scripts recorded under ``benchmarks/results/``.

An "epoch" here is ``--steps`` training steps over the repeated, shuffled MNIST pipeline (the cache and
shuffle buffer hold the whole training set), so that several timed epochs fit in a short run.

Writes ``benchmarks/results/run_{quick,full,profile}.json`` and re-renders ``benchmarks/RESULTS.md`` from
every result file present.

The parts: :mod:`benchmarks.models` (the configurations, run modes and ablations), :mod:`benchmarks.workers`
(what runs in a worker process), :mod:`benchmarks.measure` (timing helpers), :mod:`benchmarks.profiling`
(the in-process profiles), :mod:`benchmarks.orchestrate` (worker processes, rounds, summaries),
:mod:`benchmarks.collect` (the other scripts' results), :mod:`benchmarks.report` and
:mod:`benchmarks.report_sections` (RESULTS.md); this module is the command line.

Usage (from the repository root):
    export KERAS_HOME=/tmp/keras-home   # where keras.datasets.mnist finds mnist.npz
    python -m benchmarks.run --quick    # < 3 minutes on 2 CPU cores
    python -m benchmarks.run            # the full run (about 10 minutes on 2 CPU cores)
    python -m benchmarks.run --profile  # in-process step profiles: kerasae vs plain VAE (+ ablations),
                                        # each model's jit_compile speed-up, and fit's throughput with
                                        # 1 and with kerasae's default steps per compiled call
"""

import argparse
import json
import os
import sys

from benchmarks.collect import RESULTS_DIR
from benchmarks.models import MODES
from benchmarks.report import MARKDOWN, write_markdown


def _write(report, out, markdown):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=2, default=str)
    print(f"wrote {out}")
    if markdown:
        write_markdown(MARKDOWN, RESULTS_DIR)
        print(f"wrote {MARKDOWN}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs, configurations and samples (< 3 min)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the interleaved kerasae/plain VAE pair")
    parser.add_argument("--steps", type=int, default=None, help="training steps per epoch")
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs after the warm-up epoch")
    parser.add_argument("--skip-quality", action="store_true", help="skip the digits quality figures")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/run_{quick,full}.json)")
    parser.add_argument("--no-markdown", action="store_true", help="do not re-render benchmarks/RESULTS.md")
    parser.add_argument("--profile", action="store_true",
                        help="only the in-process step profiles: kerasae vs plain VAE (and ablations), and "
                             "each model's jit_compile speed-up")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:  # in a worker process: run one task, print its result for the driver
        from benchmarks.workers import run_task

        result = run_task(json.loads(args.worker))
        print("RESULT " + json.dumps(result), flush=True)
        return result

    from benchmarks import orchestrate

    command = " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])])
    if args.profile:
        report = orchestrate.run_profiles(command)
        _write(report, args.out or os.path.join(RESULTS_DIR, "run_profile.json"), not args.no_markdown)
        return report
    mode = "quick" if args.quick else "full"
    settings = dict(MODES[mode])
    for key in ("rounds", "steps", "epochs"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    print(f"kerasae benchmarks ({mode}): {command}", flush=True)
    report = orchestrate.run_benchmarks(mode, settings, command, skip_quality=args.skip_quality)
    _write(report, args.out or os.path.join(RESULTS_DIR, f"run_{mode}.json"), not args.no_markdown)
    print(f"total {report['total_seconds']:.0f} s")
    return report


if __name__ == "__main__":
    main()
