"""``python -m kerasae``: the ``kerasae`` command."""

import sys

from kerasae.cli.main import main

sys.exit(main())
