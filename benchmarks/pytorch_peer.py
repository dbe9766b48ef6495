"""Benchmark: kerasae's VAE against the same VAE in PyTorch, on one machine, network and data.

The peer to beat is PyTorch on the same network. Every contender trains the VAE of
:mod:`benchmarks.run` (encoder 784-200-200-(50 means, 50 log-variances), decoder 50-200-200-784, tanh,
Bernoulli likelihood, analytic KL, one reparameterised sample, Adam(1e-3), batch 100) on the same
in-memory batches of binarised MNIST (fixed draws; binarised random data of MNIST's shape when the Keras
cache has no MNIST):

* ``kerasae``: ``kerasae.models.vae.VAE.create`` trained by its compiled train function, fed from the batches held in
  a ``tf.data`` pipeline: with ``compile``'s defaults (XLA, 16 steps per call of the compiled function),
  with one step per call (Keras' default), and without XLA;
* ``torch``: the same VAE hand-written in PyTorch (the PyTorch examples' style: ``nn.Sequential``, the loss in
  ``forward``), eager, and the whole training step (forward, backward, ``Adam.step``) under ``torch.compile``
  (inductor; its compilation time is reported);
* ``pythae``: ``pythae.models.VAE``, the PyTorch autoencoder library, with the same encoder and decoder
  (its Bernoulli loss takes the decoder's sigmoid output), eager; when pythae is installed.

Each contender runs in its own process (two frameworks' thread pools in one process would compete for the
cores), and all of them stay alive side by side: after each has built and compiled its step, they take
turns, one block of ``--steps`` timed steps at a time (``BURN_IN`` untimed steps first), for ``--blocks``
rounds in alternating order, so that every contender's blocks share the machine's load of the moment (a
shared machine moves single runs by +-25%). Per contender: the median milliseconds per step, its peak
resident memory, its compilation time and the mean loss of its last block (all train the same objective:
their losses after the same steps should roughly agree). The ratio kerasae / contender is the median over
rounds of the two blocks' step-time ratio (throughput: above 1 is kerasae faster). PyTorch is not a
dependency of kerasae: ``--torch-python`` names the interpreter that has it (default: this one);
contenders that cannot import their framework are reported as skipped.

Usage (from the repository root; ``pip install torch`` and optionally ``pythae``):
    python benchmarks/pytorch_peer.py [--torch-python PATH] [--blocks 20] [--steps 64]

Writes ``benchmarks/results/pytorch_peer.json`` (rendered into ``benchmarks/RESULTS.md`` by
``python -m benchmarks.run``).
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH_SIZE = 100
LATENT_DIM = 50
HIDDEN_UNITS = (200, 200)
LEARNING_RATE = 1e-3
#: Distinct batches cycled through by every contender.
NUM_BATCHES = 50
#: Untimed steps after compilation, and at the start of every block (they also let the previous
#: contender's spinning worker threads go idle).
WARMUP_STEPS = 50
BURN_IN = 10

#: name -> (framework, description)
CONTENDERS = {
    "kerasae_jit": ("keras", "kerasae.models.vae.VAE, compile defaults: XLA, 16 steps per compiled call"),
    "kerasae_jit_1": ("keras", "kerasae.models.vae.VAE, XLA, steps_per_execution=1 (Keras' default)"),
    "kerasae_nojit": ("keras", "kerasae.models.vae.VAE, jit_compile=False (graph mode), 16 steps per call"),
    "torch_eager": ("torch", "hand-written PyTorch VAE, eager"),
    "torch_compile": ("torch", "hand-written PyTorch VAE, training step under torch.compile"),
    "pythae_eager": ("torch", "pythae.models.VAE (same networks), eager"),
}
REFERENCE = "kerasae_jit"


# ================================================================================================ workers
class Contender:
    """One contender's training step, ready to be timed: ``step(i)`` trains on batch ``i`` and returns what
    ``block_loss(outputs of a block)`` turns into the block's mean loss (waiting for the last step)."""

    def __init__(self, step, block_loss, block_start=lambda: None, steps_per_call=1, **info):
        self.step, self.block_loss, self.block_start, self.info = step, block_loss, block_start, info
        self.steps_per_call = steps_per_call

    def block(self, steps, num_batches):
        """Milliseconds per training step of at least ``steps`` timed steps (whole calls, after ``BURN_IN``
        untimed steps), and the block's loss."""
        calls = -(-steps // self.steps_per_call)
        self.block_loss([self.step(i % num_batches) for i in range(-(-BURN_IN // self.steps_per_call))])
        self.block_start()
        start = time.perf_counter()
        loss = self.block_loss([self.step(i % num_batches) for i in range(calls)])
        return 1000 * (time.perf_counter() - start) / (calls * self.steps_per_call), loss


def keras_contender(config, batches):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    from kerasae.models.vae import VAE

    keras.utils.set_random_seed(config["seed"])
    model = VAE.create((784,), LATENT_DIM, hidden_units=HIDDEN_UNITS, activation="tanh", likelihood="bernoulli",
                       seed=config["seed"])
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), jit_compile=config["name"] != "kerasae_nojit",
                  steps_per_execution=1 if config["name"] == "kerasae_jit_1" else "auto")
    return keras_model_contender(model, batches)


def keras_model_contender(model, batches, **extra):
    """The :class:`Contender` of a compiled kerasae model: its train function (as ``fit`` calls it) on
    ``batches`` repeated, after one ``fit`` on the first batch that builds and traces it (timed)."""
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    model.fit(batches[0], epochs=1, batch_size=BATCH_SIZE, verbose=0, shuffle=False)  # builds and traces
    compile_seconds = time.perf_counter() - start
    function = model.make_train_function()
    iterator = iter(tf.data.Dataset.from_tensor_slices(batches).repeat().prefetch(2))
    # The loss metric is a running mean since the last reset: reset before each block, read at its end. A
    # call of the train function runs steps_per_execution steps.
    return Contender(lambda _: function(iterator), lambda outputs: float(outputs[-1]["loss"]),
                     block_start=model.reset_metrics, steps_per_call=model.steps_per_execution,
                     compile_seconds=compile_seconds, steps_per_execution=model.steps_per_execution,
                     versions={"tensorflow": tf.__version__, "keras": keras.__version__}, **extra)


def _torch_networks(torch):
    nn = torch.nn

    def mlp(sizes):
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.Tanh()]
        return nn.Sequential(*layers[:-1])

    encoder = mlp((784, *HIDDEN_UNITS, 2 * LATENT_DIM))
    decoder = mlp((LATENT_DIM, *reversed(HIDDEN_UNITS), 784))
    return encoder, decoder


def _torch_vae(torch):
    import torch.nn.functional as F

    class TorchVAE(torch.nn.Module):
        """The PyTorch examples' VAE on logits: -ELBO = sum BCE(x, logits) + KL(q(z|x) || N(0, I)), batch mean."""

        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = _torch_networks(torch)

        def forward(self, x):
            mean, log_var = self.encoder(x).chunk(2, dim=-1)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            logits = self.decoder(z)
            reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
            kl = -0.5 * (1.0 + log_var - mean.square() - log_var.exp()).sum(-1)
            return (reconstruction + kl).mean()

    return TorchVAE()


def _pythae_vae(torch):
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = _torch_networks(torch)[0]

        def forward(self, x):
            mean, log_var = self.net(x).chunk(2, dim=-1)
            return ModelOutput(embedding=mean, log_covariance=log_var)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = _torch_networks(torch)[1]

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

    config = VAEConfig(input_dim=(784,), latent_dim=LATENT_DIM, reconstruction_loss="bce")
    model = VAE(config, encoder=Encoder(), decoder=Decoder())
    return model, lambda x: model({"data": x}).loss


def torch_contender(config, batches):
    import torch

    torch.manual_seed(config["seed"])
    batches = [torch.from_numpy(b) for b in batches]
    if config["name"] == "pythae_eager":
        import pythae

        model, loss_of = _pythae_vae(torch)
        versions = {"torch": torch.__version__, "pythae": getattr(pythae, "__version__", "installed")}
    else:
        model = _torch_vae(torch)
        loss_of = model
        versions = {"torch": torch.__version__}
    return step_contender(torch, model, loss_of, batches, config["name"], versions)


def step_contender(torch, model, loss_of, batches, name, versions):
    """The :class:`Contender` of a PyTorch model: an Adam step on ``loss_of(x)`` (``torch.compile``-d for the
    contender ``torch_compile``), timed from its first call (allocations, or the compilation)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

    def step(x):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(x)
        loss.backward()
        optimizer.step()
        return loss.detach()

    if name == "torch_compile":
        step = torch.compile(step)
    start = time.perf_counter()
    float(step(batches[0]))  # eager: first-call allocations; compiled: the compilation
    compile_seconds = time.perf_counter() - start
    return Contender(lambda i: step(batches[i]), lambda outputs: float(torch.stack(outputs).mean()),
                     compile_seconds=compile_seconds, threads=torch.get_num_threads(), versions=versions)


def worker(config, contenders=None, makers=None):
    """A contender's process: builds, warms up, says READY, then runs a timed block per ``block`` line of its
    standard input and reports it; on ``done`` reports its totals (peak RSS) and exits. ``contenders`` and
    ``makers`` (framework -> ``make(config, batches) -> Contender``) default to this benchmark's."""
    import numpy as np

    batches = np.load(config["data"])
    makers = makers or {"keras": keras_contender, "torch": torch_contender}
    contender = makers[(contenders or CONTENDERS)[config["name"]][0]](config, batches)
    contender.block(WARMUP_STEPS, len(batches))
    print("READY " + json.dumps(contender.info), flush=True)
    for line in sys.stdin:
        if line.strip() != "block":
            break
        ms, loss = contender.block(config["steps"], len(batches))
        print("BLOCK " + json.dumps({"step_ms": ms, "loss": loss}), flush=True)
    print("RESULT " + json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}),
          flush=True)


# ================================================================================================ driver
def prepare_batches(path, seed=0):
    """Saves ``NUM_BATCHES`` fixed Bernoulli draws of MNIST batches (random data of MNIST's shape without the
    Keras cache: :func:`benchmarks.workers.prepare_data`) to ``path``; returns a description of the data. Run in
    its own process (see :func:`_python`)."""
    import numpy as np

    from benchmarks.workers import prepare_data

    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_data(NUM_BATCHES * BATCH_SIZE, tmp, seed)
        x = np.load(data["path"])
    # A stream of its own: prepare_data's random fallback draws x from default_rng(seed).
    binary = (np.random.default_rng([seed, 1]).random(x.shape, dtype="float32") < x).astype("float32")
    np.save(path, binary.reshape(NUM_BATCHES, BATCH_SIZE, 784))
    return data["source"] + ", one fixed Bernoulli draw"


def _python(python, *args, script=None, **kwargs):
    """A process running this script (or ``script``) with ``python``. The driver never imports TensorFlow or
    PyTorch itself: Linux carries a parent's peak RSS over to its children."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    script = script or os.path.abspath(__file__)
    return subprocess.Popen([python, script, *args], cwd=ROOT, env=env, text=True, **kwargs)


def _reply(process, prefix, stderr):
    """The JSON after ``prefix`` on the process's next line of that kind; raises RuntimeError if it ended."""
    for line in process.stdout:
        if line.startswith(prefix + " "):
            return json.loads(line[len(prefix) + 1:])
    process.wait()
    stderr.seek(0)
    lines = stderr.read().strip().splitlines() or [f"exit status {process.returncode}"]
    raise RuntimeError(lines[-1])


def measure(names, data, blocks, steps, seed, torch_python, contenders=None, script=None):
    """Starts every contender (of ``contenders``, run by ``script``: default this benchmark's), times them in
    turns, and returns ``{name: figures or {"status": why not}}``."""
    running, results = {}, {}
    contenders = contenders or CONTENDERS
    try:
        for name in names:
            python = sys.executable if contenders[name][0] == "keras" else torch_python
            stderr = tempfile.TemporaryFile("w+")
            config = {"name": name, "data": data, "steps": steps, "seed": seed}
            process = _python(python, "--worker", json.dumps(config), script=script, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=stderr)
            try:
                results[name] = {**_reply(process, "READY", stderr), "step_ms_each_block": [],
                                 "loss_each_block": []}
                running[name] = (process, stderr)
                print(f"{name:14s} ready (compiled in {results[name]['compile_seconds']:.1f} s)", flush=True)
            except RuntimeError as err:
                skipped = "ModuleNotFoundError" in str(err) or "ImportError" in str(err)
                results[name] = {"status": ("skipped: " if skipped else "failed: ") + str(err)}
                print(f"{name:14s} {results[name]['status']}", flush=True)
        for b in range(blocks):
            for name in list(running)[:: 1 if b % 2 == 0 else -1]:
                process, stderr = running[name]
                try:
                    process.stdin.write("block\n")
                    process.stdin.flush()
                    block = _reply(process, "BLOCK", stderr)
                except (RuntimeError, OSError) as err:
                    results[name] = {"status": f"failed in block {b}: {err}"}
                    del running[name]
                    continue
                results[name]["step_ms_each_block"].append(block["step_ms"])
                results[name]["loss_each_block"].append(block["loss"])
            print(f"block {b + 1}/{blocks}: " + ", ".join(
                f"{n} {results[n]['step_ms_each_block'][-1]:.2f} ms" for n in running), flush=True)
        for name, (process, stderr) in list(running.items()):
            process.stdin.write("done\n")
            process.stdin.flush()
            results[name].update(_reply(process, "RESULT", stderr))
            process.wait()
            del running[name]
    finally:
        for process, _ in running.values():
            process.kill()
    return results


def summarise(results, reference=REFERENCE):
    """Adds each contender's median step time, samples/s and kerasae/contender throughput ratio (median over
    the rounds of the blocks' step-time ratio contender / kerasae: the ``reference`` contender)."""
    reference = results.get(reference, {}).get("step_ms_each_block")
    for figures in results.values():
        times = figures.get("step_ms_each_block")
        if not times:
            continue
        figures["step_ms"] = statistics.median(times)
        figures["samples_per_second"] = 1000 * BATCH_SIZE / figures["step_ms"]
        figures["loss_last_block"] = figures["loss_each_block"][-1]
        if reference and len(reference) == len(times):
            figures["kerasae_ratio"] = statistics.median(t / r for t, r in zip(times, reference))
    return results


def markdown(results, contenders=None):
    lines = ["| contender | samples/s | ms/step | kerasae (defaults) / contender throughput | loss, last block "
             "| compile s | peak RSS MiB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in results.items():
        label = f"`{name}`: {(contenders or CONTENDERS)[name][1]}"
        if "step_ms" not in s:
            lines.append(f"| {label} | {s.get('status', 'not measured')} | | | | | |")
            continue
        ratio = f"{s['kerasae_ratio']:.2f}" if "kerasae_ratio" in s else "-"
        lines.append(f"| {label} | {s['samples_per_second']:.0f} | {s['step_ms']:.2f} | {ratio} "
                     f"| {s['loss_last_block']:.1f} | {s['compile_seconds']:.1f} | {s.get('peak_rss_mib', 0):.0f} |")
    return "\n".join(lines)


def main(argv=None, benchmark="pytorch_peer", contenders=None, reference=REFERENCE, script=None, run_worker=None,
         description=None):
    """The benchmark's command line; the other arguments let another peer benchmark (its ``contenders``,
    ``reference``, ``script`` and ``run_worker(config)``) reuse it (:mod:`benchmarks.pytorch_conv_peer`)."""
    contenders, run_worker = contenders or CONTENDERS, run_worker or worker
    parser = argparse.ArgumentParser(description=description or __doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    parser.add_argument("--torch-python", default=sys.executable,
                        help="Python interpreter with torch (and optionally pythae) installed")
    parser.add_argument("--contenders", nargs="+", choices=list(contenders), default=list(contenders))
    parser.add_argument("--blocks", type=int, default=20, help="timed blocks per contender, taken in turns")
    parser.add_argument("--steps", type=int, default=64, help="timed steps per block (whole compiled calls)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(HERE, "results", f"{benchmark}.json"))
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(json.loads(args.worker))
        return 0
    if args.prepare:
        print("SOURCE " + json.dumps(prepare_batches(args.prepare, args.seed)), flush=True)
        return 0
    for name, value in (("--blocks", args.blocks), ("--steps", args.steps)):
        if value < 1:
            parser.error(f"{name} must be at least 1. Received: {value}")
    names = list(dict.fromkeys([reference, *args.contenders]))  # the ratios' reference always runs
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "batches.npy")
        out, _ = _python(sys.executable, "--prepare", data, "--seed", str(args.seed),
                         stdout=subprocess.PIPE).communicate()  # this script's batches, whoever runs them
        source = json.loads(out.split("SOURCE ", 1)[1])
        results = summarise(measure(names, data, args.blocks, args.steps, args.seed, args.torch_python,
                                    contenders, script), reference)
    table = markdown(results, contenders)
    print(table)
    report = {
        "benchmark": benchmark,
        "command": f"python benchmarks/{os.path.basename(script or __file__)} "
                   + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "total_seconds": time.perf_counter() - started,
        "data": source,
        "settings": {**{k: v for k, v in vars(args).items() if k not in ("worker", "prepare")},
                     "batch_size": BATCH_SIZE, "burn_in": BURN_IN, "warmup_steps": WARMUP_STEPS},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]},
        "results": results,
        "markdown": table,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    partial = args.out + ".partial"
    with open(partial, "w") as f:
        json.dump(report, f, indent=2)
    os.replace(partial, args.out)
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
