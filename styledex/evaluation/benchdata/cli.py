"""``python -m styledex.evaluation.benchdata``: build the benchmark from the command line, print where and how much."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .cache import build
from .recipe import FULL_RECIPE, HARD_RECIPE


def main(argv: list[str] | None = None) -> int:
    """``python -m styledex.evaluation.benchdata [--hard] [--force] [--cache DIR] [--quiet]``: build, print path
    and counts."""
    from styledex.evaluation import benchdata  # its docstring's first line describes the command

    parser = argparse.ArgumentParser(
        prog="python -m styledex.evaluation.benchdata", description=benchdata.__doc__.splitlines()[0]
    )
    parser.add_argument("--force", action="store_true", help="regenerate every file")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="benchmark directory (default: the user cache)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--hard", action="store_true", help="the harder parts (held-out looks and contents)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    recipe = HARD_RECIPE if args.hard else FULL_RECIPE
    report = build(args.cache, recipe=recipe, force=args.force, progress=not args.quiet)
    print(report.path)
    for group in report.groups:
        print(f"{group}: {report.counts.get(group, 0)}")
    state = "complete already, nothing to do" if report.skipped else f"{len(report.generated)} files generated"
    print(f"{state} in {report.seconds:.1f} s")
    if report.missing:
        print("skipped (not on this machine): " + ", ".join(report.missing))
    return 0
