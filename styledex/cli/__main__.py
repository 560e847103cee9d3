"""``python -m styledex.cli``: the same as the ``styledex`` command."""

import sys

from styledex.cli import main

sys.exit(main())
