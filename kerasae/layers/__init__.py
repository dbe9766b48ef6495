"""Keras 3 layers: distribution layers that return ``tfp.distributions`` objects
(:mod:`~kerasae.layers.distributions`) and input corruptions (:mod:`~kerasae.layers.corruption`)."""
