"""The ``kerasae`` command line: :mod:`~kerasae.cli.main` (the entry point), ``train``, ``evaluate`` and
``export``, and each model family's glue in :mod:`kerasae.cli.families`. Nothing outside ``cli`` imports it."""
