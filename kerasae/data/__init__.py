"""Data: named and user data sets (:mod:`~kerasae.data.datasets`), reading user files as arrays
(:mod:`~kerasae.data.files`), ``tf.data`` pipelines (:mod:`~kerasae.data.pipelines`), partial labels and
label checks (:mod:`~kerasae.data.labels`), one-class selection (:mod:`~kerasae.data.classes`) and array
checks and scaling (:mod:`~kerasae.data.checks`)."""
