"""Helpers every layer of kerasae uses: argument checks (:mod:`~kerasae.utils.validation`), atomic
writes (:mod:`~kerasae.utils.files`) and version facts (:mod:`~kerasae.utils.versions`)."""
