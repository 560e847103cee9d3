"""What every command shares: exit codes, the one-line user error, JSON output and the catalog folder's default."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from styledex.config import Config
from styledex.textout import unicode_capable

EXIT_USAGE = 2
EXIT_FAILED_ITEMS = 1


class UserError(Exception):
    """A mistake in the command line itself, reported as one line with exit code 2."""


def catalog_dir(args: argparse.Namespace, config: Config) -> Path:
    """``--catalog``, else ``$STYLEDEX_CATALOG``, else the config's default (``./catalog``)."""
    return Path(args.catalog or os.environ.get("STYLEDEX_CATALOG") or config.catalog.default_dir)


def print_json(value: Any) -> None:
    # \uXXXX escapes where stdout cannot encode every character (PYTHONIOENCODING=ascii, the C locale): the
    # output stays valid JSON holding the exact strings.
    json.dump(value, sys.stdout, indent=2, ensure_ascii=not unicode_capable(sys.stdout), default=str)
    sys.stdout.write("\n")


def silence_stdout() -> None:
    """The reader closed stdout's pipe (``styledex list | head -1``): what is left to print has no reader. Point
    stdout at /dev/null so Python's own flush at exit does not raise BrokenPipeError a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (a test's StringIO)
        pass
