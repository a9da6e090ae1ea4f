"""``python -m terranb`` runs the command line."""

import sys

from terranb.cli.main import main

sys.exit(main())
