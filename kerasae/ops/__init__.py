"""Tensor functions the models are built from: reconstruction losses (:mod:`~kerasae.ops.losses`), random
draws (:mod:`~kerasae.ops.sampling`) and encoder Jacobian norms (:mod:`~kerasae.ops.jacobian`)."""
