"""``python -m monitoring_layer`` is the ``monitoring-layer`` command."""

import sys

from monitoring_layer.cli import main

sys.exit(main())
