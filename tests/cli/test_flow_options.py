"""``kerasae train vae|iwae|... --posterior iaf|planar|radial --flow-steps T [--flow-hidden-units W]``: the options
build the flow, match the model's names and defaults, and a bad combination is one line with exit status 2."""

import pytest

from helpers import build_registered, one_line
from kerasae.cli import main as cli
from kerasae.cli import registry
from kerasae.cli.families import vae as vae_family
from kerasae.layers import posteriors
from kerasae.layers.flows import InverseAutoregressiveFlow
from kerasae.layers.planar import PlanarFlow, RadialFlow
from kerasae.models import vae


def test_options_match_the_model_and_build_the_flow():
    assert vae_family.POSTERIORS == vae.POSTERIORS == posteriors.POSTERIORS
    assert vae_family.FLOWS == posteriors.FLOWS and vae_family.FLOW_STEPS == posteriors.DEFAULT_FLOW_STEPS
    for name in ("vae", "iwae", "cvae", "miwae", "ciwae", "piwae"):  # every family with --posterior
        assert registry.option_defaults(registry.models()[name])["flow_steps"] is None, name
    model, *_ = build_registered("vae", "--posterior", "iaf", "--flow-steps", "3", "--flow-hidden-units", "16,8")
    layer = model.posterior_layer
    assert isinstance(layer, InverseAutoregressiveFlow) and (layer.flow_steps, layer.hidden_units) == (3, (16, 8))
    assert model.encoder.outputs[0].shape[-1] == 3 * model.latent_dim and not model.analytic_kl
    model, *_ = build_registered("iwae", "--posterior", "iaf")
    assert model.flow_steps == 2 and model.posterior_layer.hidden_units == (16, 16)  # 4 x --latent-dim 4, twice
    model, *_ = build_registered("vae", "--posterior", "planar", "--flow-steps", "3")
    assert isinstance(model.posterior_layer, PlanarFlow) and model.posterior_layer.flow_steps == 3
    assert model.encoder.outputs[0].shape[-1] == 8 + 3 * 9 and model.flow_hidden_units is None  # 2 d + K (2 d + 1)
    model, *_ = build_registered("iwae", "--posterior", "radial")
    assert isinstance(model.posterior_layer, RadialFlow) and model.flow_steps == 2
    assert model.encoder.outputs[0].shape[-1] == 8 + 2 * 6 and not model.analytic_kl  # 2 d + K (d + 2)


@pytest.mark.parametrize("argv, message", [
    (["--flow-steps", "3"], "--flow-steps does not apply to 'kerasae train vae' (--flow-steps: it sets the steps of "
                            "--posterior iaf, planar or radial only)"),
    (["--posterior", "full", "--flow-hidden-units", "8"], "--flow-hidden-units does not apply"),
    (["--posterior", "planar", "--flow-hidden-units", "8"], "--flow-hidden-units does not apply to 'kerasae train vae' "
                                                            "(--flow-hidden-units: it sets the networks of --posterior "
                                                            "iaf only)"),
    (["--posterior", "radial", "--flow-steps", "0"], "argument --flow-steps: expected a positive integer, got 0"),
    (["--posterior", "planar", "--prior", "vamp"], "The VampPrior mixes the model's posteriors, and its density under "
                                                   "posterior='planar' would invert the flow of every pseudo-input at "
                                                   "every code (which the planar steps have in no closed form)"),
    (["--posterior", "iaf", "--flow-steps", "0"], "argument --flow-steps: expected a positive integer, got 0"),
    (["--posterior", "iaf", "--prior", "vamp"], "The VampPrior mixes the model's posteriors, and its density under "
                                                "posterior='iaf' would invert"),
])
def test_bad_flow_options_are_one_line_with_status_2(argv, message, capsys, tmp_path):
    assert cli.main(["train", "vae", "--epochs", "1", "--out", str(tmp_path / "r"), *argv]) == 2
    err = one_line(capsys.readouterr().err.strip())
    assert message in err, err
    assert not (tmp_path / "r").exists()


def test_hierarchical_vaes_take_no_flow_options(capsys, tmp_path):
    assert cli.main(["train", "hvae", "--flow-steps", "2", "--epochs", "1", "--out", str(tmp_path / "r")]) == 2
    assert "unrecognized arguments: --flow-steps" in capsys.readouterr().err
