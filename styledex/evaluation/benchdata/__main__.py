"""``python -m styledex.evaluation.benchdata [--hard] [--force] [--cache DIR] [--quiet]``: see ``cli.main``."""

import sys

from styledex.evaluation.benchdata import main

sys.exit(main())
