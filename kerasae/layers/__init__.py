"""Keras 3 layers: distribution layers that return ``tfp.distributions`` objects
(:mod:`~kerasae.layers.distributions`), the VAE's priors (:mod:`~kerasae.layers.priors`: standard normal, mixture
of Gaussians, VampPrior), its posteriors (:mod:`~kerasae.layers.posteriors`), among them the inverse autoregressive
flow (:mod:`~kerasae.layers.flows`) and the planar and radial flows (:mod:`~kerasae.layers.planar`), input
corruptions (:mod:`~kerasae.layers.corruption`), and the tied-weights decoder layer (:mod:`~kerasae.layers.tied`)."""
