"""The VAE's approximate posteriors ``q(z|x)``: which layer each ``posterior`` name builds, the encoder outputs it
reads, and the three things a model does with any of them (draw codes with their log-density, take a point code,
export it).

============ ============================================================ ===================================
posterior    layer                                                        encoder outputs
============ ============================================================ ===================================
``diagonal`` :class:`~kerasae.layers.distributions.IndependentNormal`     ``2 d``
``full``     :class:`~kerasae.layers.distributions.MultivariateNormalTriL` ``d + d (d + 1) / 2``
``iaf``      :class:`~kerasae.layers.flows.InverseAutoregressiveFlow`     ``3 d`` (mean, scale, context)
``planar``   :class:`~kerasae.layers.planar.PlanarFlow`                   ``2 d + K (2 d + 1)`` (``K`` steps)
``radial``   :class:`~kerasae.layers.planar.RadialFlow`                   ``2 d + K (d + 2)``
============ ============================================================ ===================================

A flow posterior (:data:`FLOWS`) has no closed-form KL against any prior (the VAE estimates it by Monte Carlo)
and no closed-form mean: its point code (:func:`point_code`, what a VAE reconstructs from and exports as
``code``) is the flow's image of the base mean. The planar and radial flows' parameters are amortised (the encoder
outputs them per example, as in Rezende & Mohamed 2015) and their steps have no closed-form inverse: their
``log_prob`` takes the flow's own draws only (:func:`sample_and_log_prob`).
"""

import tensorflow_probability as tfp

from kerasae.layers import distributions as dists
from kerasae.layers import flows, planar
from kerasae.ops import sampling
from kerasae.utils.validation import check_choice, check_positive_int

tfb = tfp.bijectors

#: The names the VAE's ``posterior`` argument takes.
POSTERIORS = ("diagonal", "full", "iaf", "planar", "radial")
#: The normalizing-flow posteriors among them.
FLOWS = ("iaf", "planar", "radial")
#: The amortised flows (their layers, :mod:`kerasae.layers.planar`), whose encoder outputs grow with the steps.
AMORTISED_FLOWS = {"planar": planar.PlanarFlow, "radial": planar.RadialFlow}
#: Flow steps when ``flow_steps`` is not given (every flow).
DEFAULT_FLOW_STEPS = 2


def posterior_params_size(posterior, latent_dim, flow_steps=None):
    """Encoder outputs needed by the posterior: ``2 d`` (diagonal), ``d + d (d + 1) / 2`` (full), ``3 d`` (iaf:
    the base mean and scale and a context of ``d``), ``2 d + K (2 d + 1)`` (planar) or ``2 d + K (d + 2)`` (radial),
    ``K = flow_steps`` (default :data:`DEFAULT_FLOW_STEPS`)."""
    check_choice("posterior", posterior, POSTERIORS)
    if posterior == "full":
        return dists.MultivariateNormalTriL.params_size(latent_dim)
    if posterior == "iaf":
        return flows.InverseAutoregressiveFlow.params_size(latent_dim)
    if posterior in AMORTISED_FLOWS:
        steps = DEFAULT_FLOW_STEPS if flow_steps is None else flow_steps
        return AMORTISED_FLOWS[posterior].params_size(latent_dim, steps)
    return dists.IndependentNormal.params_size(latent_dim)


def flow_arguments(posterior, flow_steps=None, flow_hidden_units=None):
    """``(flow_steps, flow_hidden_units)`` checked for ``posterior``: ``(None, None)`` for a normal posterior (which
    refuses them), the steps (default :data:`DEFAULT_FLOW_STEPS`) and widths (a tuple, or ``None`` for the layer's
    default) for a flow."""
    check_choice("posterior", posterior, POSTERIORS)
    if posterior != "iaf" and flow_hidden_units is not None:
        raise ValueError(f"flow_hidden_units sets the MADE widths of posterior='iaf'. Received: flow_hidden_units="
                         f"{flow_hidden_units!r} with posterior={posterior!r}. Fix: posterior='iaf', or drop "
                         "flow_hidden_units.")
    if posterior not in FLOWS:
        if flow_steps is not None:
            raise ValueError(f"flow_steps sets the steps of a flow posterior ({', '.join(map(repr, FLOWS))}). "
                             f"Received: flow_steps={flow_steps!r} with posterior={posterior!r}. Fix: a flow "
                             "posterior, or drop flow_steps.")
        return None, None
    steps = DEFAULT_FLOW_STEPS if flow_steps is None else check_positive_int("flow_steps", flow_steps)
    units = None if flow_hidden_units is None else flows.check_hidden_units("flow_hidden_units", flow_hidden_units)
    return steps, units


def resolve_analytic_kl(posterior, analytic_kl):
    """``analytic_kl`` as a bool: ``None`` (auto) is ``True`` for a normal posterior (the closed form where tfp has
    it) and ``False`` for a flow; ``True`` with a flow raises ``ValueError``."""
    if analytic_kl is None:
        return posterior not in FLOWS
    if analytic_kl and posterior in FLOWS:
        raise ValueError(f"The {posterior!r} posterior has no closed-form KL divergence: the VAE estimates it by Monte "
                         f"Carlo. Expected analytic_kl=None (auto) or False with posterior={posterior!r}. Received: "
                         f"analytic_kl={analytic_kl!r}")
    return bool(analytic_kl)


def check_encoder(encoder, posterior, latent_dim, flow_steps=None):
    """Raises ``ValueError`` unless ``encoder`` (when its output width is known) has the posterior's
    :func:`posterior_params_size` outputs."""
    expected = posterior_params_size(posterior, latent_dim, flow_steps)
    try:
        got = int(encoder.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError):
        return
    if got != expected:
        raise ValueError(f"The {posterior!r} posterior over a {latent_dim}-dimensional code needs {expected} encoder "
                         f"outputs. Received an encoder with {got} outputs. Fix: build the encoder with latent_dim="
                         f"kerasae.vae.posterior_params_size({posterior!r}, {latent_dim}"
                         f"{f', flow_steps={flow_steps}' if posterior in AMORTISED_FLOWS else ''}), or use "
                         "VAE.create(...).")


def check_prior(posterior, prior_layer):
    """Raises ``ValueError`` for a flow posterior with a prior made of the model's own posteriors (the VampPrior):
    its density at a code would invert every pseudo-input's flow (``d`` sequential passes per component for the
    IAF; the planar and radial steps have no closed-form inverse)."""
    if posterior in FLOWS and prior_layer.uses_encoder:
        how = "" if posterior == "iaf" else f" (which the {posterior} steps have in no closed form)"
        raise ValueError(f"The {type(prior_layer).__name__} mixes the model's posteriors, and its density under "
                         f"posterior={posterior!r} would invert the flow of every pseudo-input at every code{how}. "
                         "Fix: prior='mog' or 'standard' with a flow posterior, or posterior='diagonal' or 'full' "
                         "with the VampPrior.")


def build(posterior, latent_dim, min_scale=1e-4, flow_steps=None, flow_hidden_units=None):
    """The posterior layer (named ``"posterior"``) for a VAE's ``posterior`` argument (see the module's table)."""
    check_choice("posterior", posterior, POSTERIORS)
    if posterior == "iaf":
        return flows.InverseAutoregressiveFlow(latent_dim, flow_steps=flow_steps, hidden_units=flow_hidden_units,
                                               min_scale=min_scale, name="posterior")
    if posterior in AMORTISED_FLOWS:
        return AMORTISED_FLOWS[posterior](latent_dim, flow_steps=flow_steps, min_scale=min_scale, name="posterior")
    layer = dists.MultivariateNormalTriL if posterior == "full" else dists.IndependentNormal
    return layer(latent_dim, min_scale=min_scale, name="posterior")


def is_flow(distribution):
    """Whether ``distribution`` is a transformed distribution (a flow's ``q``): it has a ``bijector``.

    (``tfd.TransformedDistribution(...)`` returns an instance of a private base class when its bijector is not a
    composite tensor, as a flow's is not, so ``isinstance`` cannot tell.)
    """
    return isinstance(getattr(distribution, "bijector", None), tfb.Bijector)


def sample_and_log_prob(distribution, num_samples, seed):
    """``(z, log q(z))``: ``num_samples`` reparameterised draws (:func:`kerasae.ops.sampling.reparameterized_sample`)
    and their log-density, shapes ``(S, *batch, d)`` and ``(S, *batch)``.

    For a flow (a ``TransformedDistribution``), ``z = f(z_0)`` with ``z_0`` drawn from the base and ``log q(z) =
    log q_0(z_0) - log |det df/dz_0|``: the change of variables at the draw, one pass through the flow, where
    ``log_prob(z)`` would invert it.
    """
    if is_flow(distribution):
        base, bijector = distribution.distribution, distribution.bijector
        z0 = sampling.reparameterized_sample(base, num_samples, seed)
        event_ndims = len(distribution.event_shape)
        return bijector.forward(z0), base.log_prob(z0) - bijector.forward_log_det_jacobian(z0, event_ndims=event_ndims)
    z = sampling.reparameterized_sample(distribution, num_samples, seed)
    return z, distribution.log_prob(z)


def point_code(distribution):
    """The code that stands for ``q(z|x)``: its mean, or for a flow (no closed-form mean) the flow's image of its
    base mean, ``f(mu)``."""
    if is_flow(distribution):
        return distribution.bijector.forward(distribution.distribution.mean())
    return distribution.mean()


def export_outputs(distribution, posterior):
    """The ``encode`` signature's outputs for ``q(z|x)`` (tensors by name, before the float32 cast):

    * a normal posterior: ``mean`` and ``scale`` (standard deviations), and ``scale_tril`` (its Cholesky factor)
      for ``"full"``;
    * a flow: ``code`` (:func:`point_code`, what ``reconstruct`` decodes and what ``decode`` takes), the base
      normal's ``base_mean`` and ``base_scale``, and the IAF's ``context`` or the planar and radial flows' raw
      ``flow_parameters`` (``K`` steps of the layer's ``step_size(d)`` values, before their constraints).
    """
    if posterior in FLOWS:
        base = distribution.distribution.distribution  # Independent(Normal)
        outputs = {"code": point_code(distribution), "base_mean": base.loc, "base_scale": base.scale}
        if posterior == "iaf":
            return {**outputs, "context": distribution.flow_context}
        return {**outputs, "flow_parameters": distribution.flow_parameters}
    outputs = {"mean": distribution.mean(), "scale": distribution.stddev()}
    if posterior == "full":
        outputs["scale_tril"] = distribution.parameters["scale_tril"]
    return outputs

