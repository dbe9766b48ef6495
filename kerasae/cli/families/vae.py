"""CLI glue of the variational family (``kerasae train vae|iwae|miwae|ciwae|piwae|cvae``): builders, options,
evaluation, plots."""

import math
import os

from kerasae.cli.arguments import int_list, non_negative_float, positive_int, unit_interval
from kerasae.cli.registry import networks_from_args, register_model

#: ``--posterior`` and ``--likelihood`` choices: :data:`kerasae.models.vae.POSTERIORS` and
#: :data:`kerasae.models.vae.LIKELIHOODS` (a test keeps them equal; spelled out here so that ``--help`` needs
#: no TensorFlow).
POSTERIORS = ("diagonal", "full", "iaf", "planar", "radial")
#: The flow posteriors (:data:`kerasae.layers.posteriors.FLOWS`), which take ``--flow-steps`` (and the IAF
#: ``--flow-hidden-units``), and their default number of steps (``DEFAULT_FLOW_STEPS``).
FLOWS = ("iaf", "planar", "radial")
FLOW_STEPS = 2
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned", "categorical")
#: ``--prior`` choices, :data:`kerasae.layers.priors.PRIORS`, and the defaults of their component counts
#: (:class:`~kerasae.layers.priors.VampPrior`, :class:`~kerasae.layers.priors.MixtureOfGaussiansPrior`).
PRIORS = ("standard", "vamp", "mog")
PSEUDO_INPUTS = 500
PRIOR_COMPONENTS = 10


def _steps_per_epoch(args, data):
    return max(1, math.ceil(len(data.x_train) / int(getattr(args, "batch_size", 64) or 64)))


def _model_kwargs(args, data, iwae=False):
    kwargs = {
        "posterior": args.posterior,
        "likelihood": args.likelihood,
        "num_bins": args.num_bins,
        "num_samples": args.num_samples,
        "seed": getattr(args, "seed", None),
        "l2": getattr(args, "l2", 0.0) or 0.0,
    }
    if args.posterior in FLOWS:
        kwargs["flow_steps"] = getattr(args, "flow_steps", None) or FLOW_STEPS
    if args.posterior == "iaf":
        kwargs["flow_hidden_units"] = getattr(args, "flow_hidden_units", None)
    if not iwae:
        kwargs["beta"] = args.beta
        kwargs["kl_warmup_steps"] = int(round(args.kl_warmup * _steps_per_epoch(args, data)))
    return kwargs


def _build(cls, args, data, **extra):
    from kerasae import networks
    from kerasae.models.iwae import IWAE

    kwargs = _model_kwargs(args, data, iwae=issubclass(cls, IWAE))
    kwargs.update(extra)
    overrides = {}
    if args.architecture == "mlp" and getattr(args, "hidden_units", None) is None:
        overrides["hidden_units"] = networks.default_hidden_units(math.prod(data.input_shape), args.latent_dim)

    def build(shape, width, name, **more):
        return networks_from_args(args, data, latent_dim=width, input_shape=shape, name=name, **{**overrides, **more})

    encoder, decoder = cls._networks(build, tuple(data.input_shape), args.latent_dim, args.posterior,
                                     args.likelihood, args.num_bins, kwargs)
    return cls(encoder, decoder, latent_dim=args.latent_dim, **kwargs)


def _data_options(args):
    return {"binarize": "dynamic"} if getattr(args, "likelihood", None) == "bernoulli" else {}


def _is_conditional(model):
    from kerasae.models.cvae import CVAE

    return isinstance(model, CVAE)


def _test_inputs(model, data, batch_size=256):
    """The test split as the model sees it (binarised with the pipeline's fixed draw), with conditions."""
    import keras
    import numpy as np

    batch_size = min(batch_size, len(data.x_test))
    x = np.concatenate(list(data.pipeline("test", batch_size=batch_size).as_numpy_iterator()))
    if _is_conditional(model):
        return x, keras.utils.to_categorical(data.y_test, model.num_classes).astype("float32")
    return x


def _cvae_pipeline(model, data, split, batch_size):
    import tensorflow as tf

    ds = data.pipeline(split, batch_size=batch_size, with_labels=True)
    return ds.map(lambda x, y: ((x, tf.one_hot(tf.cast(y, "int64"), model.num_classes)),))


def evaluate(model, data, args):
    """Test ``elbo`` (mean, nats) and ``nll`` (``-log_likelihood`` with ``args.nll_samples``, default 100)."""
    import numpy as np

    from kerasae.utils.validation import check_positive_int

    k = getattr(args, "nll_samples", None)
    k = 100 if k is None else check_positive_int("nll_samples", k)  # 0 is an error, not the default
    inputs = _test_inputs(model, data)
    results = model.evaluate(inputs, batch_size=256, verbose=0, return_dict=True)
    nll = -float(np.mean(model.log_likelihood(inputs, num_samples=k, seed=getattr(args, "seed", None) or 0)))
    return {"elbo": float(results["elbo"]), "nll": nll, "nll_samples": k}


def plots(model, data, out_dir):
    """Prior samples, an interpolation, the reconstructions of a conditional model (the standard plots draw a
    plain model's, beside PCA's), and for a 2-D code the manifold and the codes."""
    import numpy as np

    from kerasae import plots as kplots

    shape = data.image_shape
    inputs = _test_inputs(model, data)
    x = inputs[0] if isinstance(inputs, tuple) else inputs
    conditional = _is_conditional(model)
    paths = []
    path = lambda name: os.path.join(out_dir, name)  # noqa: E731
    if conditional:
        rows = min(model.num_classes, 10)
        conditions = np.repeat(np.arange(rows), 10)
        samples = model.sample(len(conditions), condition=conditions, seed=0)
        kplots.image_grid(samples, rows=rows, cols=10, image_shape=shape, title="Samples, one class a row",
                          path=path("samples.png"))
        few = (inputs[0][:10], inputs[1][:10])
        strip = model.interpolate((few[0][:1], few[1][:1]), (few[0][1:2], few[1][:1]), steps=10)[0]
    else:
        samples = model.sample(64, seed=0)
        kplots.image_grid(samples, image_shape=shape, title="Samples from the prior", path=path("samples.png"))
        few = x[:10]
        strip = model.interpolate(x[0], x[1], steps=10)
    paths.append(path("samples.png"))
    if conditional:
        kplots.reconstructions(x[:10], np.asarray(model.reconstruct(few)), image_shape=shape,
                               path=path("reconstructions.png"))
        paths.append(path("reconstructions.png"))
    kplots.interpolation_strip(strip, image_shape=shape, path=path("interpolation.png"))
    paths.append(path("interpolation.png"))
    if model.latent_dim == 2:
        if conditional:
            decode = lambda z: model.decode(z, condition=0)  # noqa: E731
        else:
            decode = model.decode
        kplots.latent_manifold(lambda z: np.asarray(decode(z)), image_shape=shape, path=path("manifold.png"))
        kplots.latent_scatter(model.encode_mean(inputs), data.y_test, path=path("latent.png"))
        paths += [path("manifold.png"), path("latent.png")]
    return paths


_COMMON_OPTIONS = (
    (("--likelihood",), {"choices": LIKELIHOODS, "default": "bernoulli",
                         "help": "p(x|z); bernoulli turns on dynamic binarisation"}),
    (("--num-bins",), {"type": int, "default": 16, "help": "intensity levels of the categorical likelihood (default: 16)"}),
    (("--posterior",), {"choices": POSTERIORS, "default": "diagonal",
                         "help": "q(z|x): a diagonal or full-covariance normal, or a diagonal normal through "
                         "--flow-steps flow steps (KL by Monte Carlo): iaf (inverse autoregressive, Kingma et al. "
                         "2016), planar or radial (Rezende & Mohamed 2015, parameters output by the encoder)"}),
    (("--num-samples",), {"type": positive_int, "default": None, "help": "samples per example in training"}),
    (("--nll-samples",), {"type": positive_int, "default": 100, "help": "importance samples of the test NLL"}),
)
#: The options of a flow posterior (every family with ``--posterior``), refused without one (``--flow-hidden-units``
#: unless ``--posterior iaf``).
_FLOW_OPTIONS = (
    (("--flow-steps",), {"type": positive_int, "default": None, "metavar": "T",
                         "help": f"flow steps of --posterior iaf, planar or radial (default: {FLOW_STEPS})"}),
    (("--flow-hidden-units",), {"type": int_list, "default": None,
                                "help": "widths of each IAF step's MADE, e.g. 200,200 (default: two layers of 4 x "
                                "--latent-dim)"}),
)
_BETA_OPTIONS = (
    (("--beta",), {"type": non_negative_float, "default": 1.0, "help": "KL weight (beta-VAE)"}),
    (("--kl-warmup",), {"type": non_negative_float, "default": 0.0, "help": "epochs of linear KL warm-up from 0 to beta"}),
)
#: The prior p(z) (``vae`` and ``iwae``): each mixture's size has its own option, refused with the other prior.
_PRIOR_OPTIONS = (
    (("--prior",), {"choices": PRIORS, "default": None,  # None, not "standard": runs from before --prior resume
                    "help": "p(z): standard normal (default), vamp (a mixture of the model's posteriors of learned "
                    "pseudo-inputs, Tomczak & Welling 2018) or mog (a learned mixture of Gaussians); a mixture's "
                    "KL is estimated by Monte Carlo"}),
    (("--pseudo-inputs",), {"type": positive_int, "default": None, "metavar": "K",
                            "help": f"pseudo-inputs of --prior vamp (default: {PSEUDO_INPUTS})"}),
    (("--prior-components",), {"type": positive_int, "default": None, "metavar": "K",
                               "help": f"Gaussian components of --prior mog (default: {PRIOR_COMPONENTS})"}),
)


def _prior_kwargs(args, data):
    """The ``prior`` and ``num_components`` of ``--prior`` and its mixture's size option."""
    prior = getattr(args, "prior", None) or "standard"
    if prior == "standard":
        return {"prior": prior}
    count = args.pseudo_inputs if prior == "vamp" else args.prior_components
    return {"prior": prior, "num_components": count or (PSEUDO_INPUTS if prior == "vamp" else PRIOR_COMPONENTS)}


def unused_options(args):
    """``--loss`` (the likelihood is the reconstruction term), ``--num-bins`` unless categorical, ``--flow-steps``
    without a flow posterior and ``--flow-hidden-units`` unless ``--posterior iaf``, and the size of each mixture
    prior (``--pseudo-inputs``, ``--prior-components``) with another ``--prior``."""
    unused = [("--loss", "a VAE's reconstruction term is its --likelihood")]
    if getattr(args, "posterior", None) not in FLOWS:
        unused.append(("--flow-steps", "it sets the steps of --posterior iaf, planar or radial only"))
    if getattr(args, "posterior", None) != "iaf":
        unused.append(("--flow-hidden-units", "it sets the networks of --posterior iaf only"))
    if getattr(args, "likelihood", None) != "categorical":
        unused.append(("--num-bins", "it sets the levels of --likelihood categorical only"))
    if getattr(args, "prior", None) != "vamp":
        unused.append(("--pseudo-inputs", "it sets the size of --prior vamp only"))
    if getattr(args, "prior", None) != "mog":
        unused.append(("--prior-components", "it sets the size of --prior mog only"))
    return unused


def _cvae_classes(args, data):
    """The CVAE's ``num_classes``; raises ``ValueError`` with the fix for a data set without labels."""
    if data.y_train is None or data.y_test is None:
        raise ValueError(
            f"The conditional VAE (cvae) is conditioned on labels, and the data set {data.name!r} has "
            f"{'none' if data.y_train is None else 'no test labels'}. Fix: give the data labels ('y_train' "
            "and 'y_test', or 'y', in a .npz file), or train 'vae'."
        )
    return {"num_classes": data.num_classes}


def _builder(module, class_name, default_samples, extra=None):
    """A registry ``build(args, data)`` for ``module.class_name``; ``--num-samples`` defaults to ``default_samples``,
    and ``extra(args, data)`` gives more constructor arguments."""

    def build(args, data):
        import importlib

        cls = getattr(importlib.import_module(module), class_name)
        if getattr(args, "num_samples", None) is None:
            args.num_samples = default_samples
        return _build(cls, args, data, **(extra(args, data) if extra else {}))

    return build


def register_variational(name, build, *, help, model_class, arguments, **extra):
    """Registers a model of the variational family with this family's evaluation (test ELBO and NLL), plots,
    data options (dynamic binarisation for a Bernoulli likelihood) and refused options."""
    return register_model(name, build, help=help, model_class=model_class, arguments=arguments, evaluate=evaluate,
                          plots=plots, data_options=_data_options, unused_options=unused_options, **extra)


register_variational(
    "vae",
    _builder("kerasae.models.vae", "VAE", 1, extra=_prior_kwargs),
    help="variational autoencoder (-ELBO, optional beta and KL warm-up; --prior standard, vamp or mog)",
    model_class="VAE",
    arguments=_COMMON_OPTIONS + _FLOW_OPTIONS + _BETA_OPTIONS + _PRIOR_OPTIONS,
)
register_variational(
    "iwae",
    _builder("kerasae.models.iwae", "IWAE", 5, extra=_prior_kwargs),
    help="importance-weighted autoencoder (k-sample bound, k = --num-samples, default 5; --prior as for vae)",
    model_class="IWAE",
    arguments=_COMMON_OPTIONS + _FLOW_OPTIONS + _PRIOR_OPTIONS,
)
register_variational(
    "cvae",
    _builder("kerasae.models.cvae", "CVAE", 1, extra=_cvae_classes),
    help="conditional VAE on one-hot labels (samples a chosen class)",
    model_class="CVAE",
    arguments=_COMMON_OPTIONS + _FLOW_OPTIONS + _BETA_OPTIONS,
    pipeline=_cvae_pipeline,
)


# === The multi-sample objectives of Rainforth et al. (2018) (kerasae.models.multi_sample) ===
#: Rainforth et al.'s settings: M = K = 8 for MIWAE and PIWAE (64 samples per example), K = 64 for CIWAE.
MULTI_SAMPLE_DEFAULTS = {"num_groups": 8, "num_samples": 8, "ciwae_samples": 64, "beta": 0.5}
_GROUPED_OPTIONS = tuple(option for option in _COMMON_OPTIONS if option[0] != ("--num-samples",)) + (
    (("--num-groups",), {"type": positive_int, "default": MULTI_SAMPLE_DEFAULTS["num_groups"],
                         "help": f"M, the K-sample bounds averaged (default: {MULTI_SAMPLE_DEFAULTS['num_groups']})"}),
    (("--num-samples",), {"type": positive_int, "default": None,
                          "help": f"K, the samples of each bound; a step draws M K per example (default: "
                          f"{MULTI_SAMPLE_DEFAULTS['num_samples']})"}),
) + _FLOW_OPTIONS
_CIWAE_OPTIONS = _COMMON_OPTIONS + _FLOW_OPTIONS + (
    (("--beta",), {"type": unit_interval, "default": MULTI_SAMPLE_DEFAULTS["beta"],
                   "help": "weight of the ELBO in beta ELBO + (1 - beta) IWAE bound, in [0, 1] (default: "
                   f"{MULTI_SAMPLE_DEFAULTS['beta']}); not a KL weight"}),
)


def _num_groups(args, data):
    return {"num_groups": args.num_groups}


def _ciwae_beta(args, data):
    return {"beta": args.beta}


register_variational(
    "miwae",
    _builder("kerasae.models.multi_sample", "MIWAE", MULTI_SAMPLE_DEFAULTS["num_samples"], extra=_num_groups),
    help="multiply importance-weighted autoencoder: the mean of M = --num-groups bounds of K = --num-samples "
    "samples each (default 8 x 8)",
    model_class="MIWAE",
    arguments=_GROUPED_OPTIONS,
)
register_variational(
    "ciwae",
    _builder("kerasae.models.multi_sample", "CIWAE", MULTI_SAMPLE_DEFAULTS["ciwae_samples"], extra=_ciwae_beta),
    help="combination importance-weighted autoencoder: beta ELBO + (1 - beta) k-sample IWAE bound (default "
    f"--beta {MULTI_SAMPLE_DEFAULTS['beta']}, k = --num-samples {MULTI_SAMPLE_DEFAULTS['ciwae_samples']})",
    model_class="CIWAE",
    arguments=_CIWAE_OPTIONS,
)
register_variational(
    "piwae",
    _builder("kerasae.models.multi_sample", "PIWAE", MULTI_SAMPLE_DEFAULTS["num_samples"], extra=_num_groups),
    help="partially importance-weighted autoencoder: the encoder on the MIWAE bound (M = --num-groups, "
    "K = --num-samples), the decoder on the IWAE bound of all M K samples (default 8 x 8)",
    model_class="PIWAE",
    arguments=_GROUPED_OPTIONS,
)
