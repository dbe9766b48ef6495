"""Helpers every layer of kerasae uses: argument checks (:mod:`~kerasae.utils.validation`), atomic
writes (:mod:`~kerasae.utils.files`), version facts (:mod:`~kerasae.utils.versions`) and what
``jit_compile="auto"`` resolves to (:mod:`~kerasae.utils.xla`)."""
