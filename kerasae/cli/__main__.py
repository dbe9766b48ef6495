"""``python -m kerasae.cli``: the ``kerasae`` command."""

import sys

from kerasae.cli.main import main

sys.exit(main())
