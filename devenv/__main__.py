"""`python -m devenv cluster-up|cluster-down|services-up|services-down|down|status`."""

import sys

from .cli import main

sys.exit(main())
