"""python -m daemon.cli -> the oneassist command (as before the CLI became a package)."""

import logging
import sys

from daemon.cli import main

logging.captureWarnings(True)
sys.exit(main())
