"""Data: named and user data sets (:mod:`~kerasae.data.datasets`), ``tf.data`` pipelines
(:mod:`~kerasae.data.pipelines`), partial labels (:mod:`~kerasae.data.labels`) and array checks
(:mod:`~kerasae.data.checks`)."""
