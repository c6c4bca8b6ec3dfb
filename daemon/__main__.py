"""python -m daemon -> the oneassist command."""

import sys

from daemon.cli import main

sys.exit(main())
