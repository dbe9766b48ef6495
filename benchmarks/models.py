"""The benchmark's configurations: the models it trains, the run modes and the timing settings.

Also the step profile's ablations (kerasae VAEs with one piece of the base step removed) and their self
check, which fails the profile when an ablation's override is never called (a kerasae method renamed under
it), instead of publishing figures for the unmodified model.

Nothing here imports TensorFlow at import time: the driver reads these settings without it.
"""

#: Training configurations: name -> description (the networks are built in :func:`build_model`).
MODELS = {
    "autoencoder": "Autoencoder, MLP 784-200-200-50 tanh, MSE",
    "denoising": "DenoisingAutoencoder, same MLP, masking noise 0.3",
    "contractive": "ContractiveAutoencoder, same MLP, lambda 0.1, default penalty_method='auto': the exact "
    "matrix form for MLPs, tr(B G B^T) (kerasae.ops.jacobian.mlp_jacobian_norm)",
    "sparse": "SparseAutoencoder, same MLP with a ReLU code, L1 1e-3",
    "vae": "kerasae.models.vae.VAE.create((784,), 50, hidden_units=(200, 200), activation='tanh'), Bernoulli",
    "plain_vae": "hand-written keras.io-style VAE, same architecture (benchmarks/plain_vae.py)",
    "autoencoder_single": "Autoencoder, one sigmoid layer 784-128 (the closed form's network), MSE",
    "contractive_closed": "ContractiveAutoencoder, one sigmoid layer 784-128, closed-form penalty",
    "autoencoder_1hidden": "Autoencoder, MLP 784-256-32 tanh (one hidden layer, linear code), MSE",
    "contractive_1hidden": "ContractiveAutoencoder, MLP 784-256-32, lambda 0.1, default penalty_method='auto': the "
    "exact matrix form, here s^T (G * H) s (kerasae.ops.jacobian.mlp_jacobian_norm)",
    "contractive_autodiff": "ContractiveAutoencoder(penalty_method='autodiff'), same MLP: the exact norm for any "
    "encoder, one backward pass of the encoder on the batch tiled 50 times",
    "contractive_hutchinson": "ContractiveAutoencoder(penalty_method='hutchinson'), same MLP: one Rademacher "
    "projection, E_v ||v^T dh/dx||^2 = ||dh/dx||_F^2 (one vector-Jacobian product instead of 50)",
}
VAE_MODELS = ("vae", "plain_vae")
#: Fewer steps per epoch for slow models, so that every run takes a similar time.
STEP_SCALE = {"contractive": 0.5, "contractive_autodiff": 0.2}
BATCH_SIZE = 100
LEARNING_RATE = 1e-3
#: In-process comparisons (the kerasae/plain VAE pair, the in-memory pipeline check): timed steps per block,
#: and untimed steps at each block's start, which consume what an idle pipeline iterator prefetched.
BLOCK_STEPS = 50
BLOCK_BURN_IN = 20
#: Block pairs of the in-memory pipeline check (full mode; MODES sets the quick mode's).
MATERIALIZED_BLOCKS = 20
#: Steps traced by the profiler for the input-wait figure.
PROFILED_STEPS = 200

MODES = {
    # rounds: repetitions of the kerasae/plain VAE pair (interleaved); steps: steps per epoch; epochs: timed
    # epochs after the warm-up one; subset: training samples (None: all 60000); pair_jit, pair_blocks: the
    # in-process kerasae/plain VAE comparison (blocks of BLOCK_STEPS steps each).
    "quick": {
        "rounds": 1,
        "steps": 40,
        "epochs": 3,
        "subset": 20000,
        "variants_jit": (False,),
        "contractive_cost": False,
        "denoising_epochs": 8,
        "pair_jit": (False,),
        "pair_blocks": 10,
        "materialized_blocks": 12,
    },
    "full": {
        "rounds": 2,
        "steps": 100,
        "epochs": 5,
        "subset": None,
        "variants_jit": (False, True),
        "contractive_cost": True,
        "denoising_epochs": 30,
        "pair_jit": (False, True),
        "pair_blocks": 20,
        "materialized_blocks": MATERIALIZED_BLOCKS,
    },
}

#: The models whose jit_compile speed-up the profile measures in process (the training configurations).
JIT_MODELS = ("autoencoder", "denoising", "contractive", "sparse", "vae", "contractive_closed",
              "contractive_hutchinson")

#: The models whose fit throughput the profile measures with 1 and with kerasae's default steps per compiled
#: call: name -> (description, batch size).
SPE_MODELS = {
    "vae": ("the benchmark VAE on MNIST-sized data", BATCH_SIZE),
    "autoencoder": ("the benchmark autoencoder, MLP 784-200-200-50", BATCH_SIZE),
    "digits_autoencoder": ("Autoencoder, MLP 64-64-16 on digits-sized data (digits: the default data set)", 32),
}


def build_model(name, seed=0):
    """The model of configuration ``name`` (see :data:`MODELS`), uncompiled."""
    from kerasae import networks

    if name == "plain_vae":
        from benchmarks.plain_vae import PlainVAE

        return PlainVAE(784, 50, (200, 200), "tanh", seed=seed)
    if name == "vae":
        from kerasae.models.vae import VAE

        return VAE.create((784,), 50, hidden_units=(200, 200), activation="tanh", likelihood="bernoulli", seed=seed)
    if name in ("autoencoder_single", "contractive_closed"):
        encoder, decoder = networks.mlp((784,), 128, hidden_units=(), code_activation="sigmoid")
    elif name in ("autoencoder_1hidden", "contractive_1hidden"):
        encoder, decoder = networks.mlp((784,), 32, hidden_units=(256,), activation="tanh")
    else:
        code_activation = "relu" if name == "sparse" else None
        encoder, decoder = networks.mlp((784,), 50, hidden_units=(200, 200), activation="tanh",
                                        code_activation=code_activation)
    if name in ("autoencoder", "autoencoder_single", "autoencoder_1hidden"):
        from kerasae.models.autoencoder import Autoencoder

        return Autoencoder(encoder, decoder)
    if name == "denoising":
        from kerasae.models.denoising import DenoisingAutoencoder

        return DenoisingAutoencoder(encoder, decoder, noise="masking", noise_level=0.3, seed=seed)
    if name.startswith("contractive"):
        from kerasae.models.contractive import ContractiveAutoencoder

        method = {"contractive_closed": "closed_form", "contractive_hutchinson": "hutchinson",
                  "contractive_autodiff": "autodiff"}.get(name, "auto")
        return ContractiveAutoencoder(encoder, decoder, contractive_weight=0.1, penalty_method=method, seed=seed)
    if name == "sparse":
        from kerasae.models.sparse import SparseAutoencoder

        return SparseAutoencoder(encoder, decoder, sparsity_weight=1e-3)
    raise ValueError(f"Unknown benchmark model {name!r}. Expected one of {sorted(MODELS)}.")


# ================================================================================================ ablations
#: The step profile's ablations: name -> what the kerasae VAE does without (shown in RESULTS.md).
ABLATIONS = {
    "vae_no_trackers": "kerasae VAE without metric updates or metric logs (`update_metrics` does nothing, the "
    "step returns only the optimizer's iteration count; checked: its metrics stay at zero)",
    "vae_no_prediction": "kerasae VAE without the likelihood mean that the step computes for compiled metrics",
}
#: Version of the ablations' definitions, recorded in ``run_profile.json``. Version 1 (files without the
#: field) overrode ``_update_trackers``, a method kerasae no longer had: its ``vae_no_trackers`` figures are
#: those of a VAE that did update its metrics, and RESULTS.md does not show them.
ABLATIONS_VERSION = 2


def ablation_classes():
    """kerasae VAE variants with one piece of the base step removed, to price each piece.

    Each override counts its calls in the class's ``calls`` (during tracing: a Python side effect), so that
    :func:`check_ablations` can tell an override kerasae calls from one it never reaches.
    """
    import collections
    import functools

    from kerasae.models.vae import VAE

    def counted(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            type(self).calls[method.__name__] += 1
            return method(self, *args, **kwargs)

        return wrapper

    class NoTrackers(VAE):
        """No metric updates and no metric logs: the cost of tracking the loss terms."""

        calls = collections.Counter()

        @counted
        def update_metrics(self, terms, per_example_loss, regularization, target, prediction, sample_weight):
            return sample_weight

        @counted
        def _logs(self, x, target, prediction, sample_weight):
            return {"iterations": self.optimizer.iterations + 0}  # Keras needs one output

    class NoPrediction(VAE):
        """No likelihood mean (the prediction for compiled metrics) computed in the step."""

        calls = collections.Counter()

        @counted
        def compute_loss_terms(self, x, target, training=False):
            parts = self.log_weights(x, self.num_samples, training=training)
            return self._elbo_terms(parts), x

    classes = {"vae_no_trackers": NoTrackers, "vae_no_prediction": NoPrediction}
    for name, cls in classes.items():
        for method in overrides(cls):
            # A method kerasae renamed or removed would be overridden in vain: fail here, at build time.
            if not callable(getattr(VAE, method, None)):
                raise AssertionError(f"Ablation {name} overrides {method}, which kerasae.models.vae.VAE does not "
                                     "have (renamed?): the ablation would time the unmodified model.")
    return classes


def overrides(cls):
    """The methods an ablation class overrides (those counted by ``counted``)."""
    return [name for name, value in vars(cls).items() if callable(value) and hasattr(value, "__wrapped__")]


def build_ablation(name, seed=0):
    """The ablation ``name`` (see :data:`ABLATIONS`), the benchmark VAE's architecture, uncompiled."""
    cls = ablation_classes()[name]
    cls.calls.clear()
    return cls.create((784,), 50, hidden_units=(200, 200), activation="tanh", seed=seed)


def metric_totals(model):
    """The sum of the absolute values of all of ``model``'s metric variables (0: no metric was updated)."""
    import numpy as np

    return float(sum(np.abs(np.asarray(v)).sum() for m in model.metrics for v in m.variables))


def check_ablations(models, outputs):
    """Fails unless every ablation in ``models`` was traced through its overrides and does what it claims.

    Call after the models have been compiled and trained for at least one step (``outputs``: name -> one
    call's outputs of the train function). Checks that each override was called, that the reference
    ``models["vae"]`` updated its metrics (so that the next check can fail), and that ``vae_no_trackers``
    left all its metrics at zero and returned nothing but the iteration count. Returns what was checked
    (recorded in ``run_profile.json``).
    """
    checked = {}
    reference = metric_totals(models["vae"])
    if reference == 0:
        raise AssertionError("The reference VAE's metrics are zero after training: the metric check cannot "
                             "tell an ablation that updates none.")
    for name, model in models.items():
        if name not in ABLATIONS:
            continue
        calls = type(model).calls
        missing = [method for method in overrides(type(model)) if not calls[method]]
        if missing:
            raise AssertionError(f"Ablation {name}: kerasae never called its override(s) {missing} (renamed?): "
                                 "the ablation would time the unmodified model.")
        checked[name] = {"overrides_called": {method: calls[method] for method in overrides(type(model))}}
        if name == "vae_no_trackers":
            total, keys = metric_totals(model), sorted(outputs[name])
            if total != 0 or keys != ["iterations"]:
                raise AssertionError(f"Ablation {name} still tracks metrics: metric variables sum to {total}, the "
                                     f"step returns {keys}.")
            checked[name].update({"metric_totals": total, "step_outputs": keys,
                                  "reference_vae_metric_totals": reference})
    return checked
