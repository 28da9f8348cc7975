"""``python -m helios`` runs the ``helios`` command."""

import sys

from helios.cli import main

sys.exit(main())
