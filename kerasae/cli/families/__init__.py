"""Each model family's CLI glue: its builder, options, evaluation and plots (see :mod:`kerasae.cli.registry`)."""
