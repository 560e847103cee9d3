"""The ``styledex`` command line: add, list, search, spaces, remove, reindex, serve, eval, demo, bench, transfer,
train and models.

- ``parser``: the grammar (subcommands, arguments, help);
- ``catalog_commands``: the catalog commands, each a thin call of one ``styledex.operations`` operation;
- ``measure_commands``: eval, demo, bench (the evaluation package);
- ``model_commands``: transfer, train, models;
- ``output``: exit codes, JSON output, the catalog folder's default.

:func:`main` is the one place an error becomes an exit code: a mistake the user can fix (a missing path, an
unreadable manifest, an unknown space or id, a busy catalog, a missing extra) prints one line to stderr and exits
2; ``add --strict`` exits 1 when any item failed. A reader that closes the pipe early (``styledex list | head -1``)
ends the command quietly with status 0, as standard Unix tools do.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from styledex.catalog import CatalogError
from styledex.config import ConfigError, load_config
from styledex.extras import MissingExtra
from styledex.operations import OperationError
from styledex.textout import escape_unencodable_output, shown

from .output import EXIT_USAGE, UserError, silence_stdout
from .parser import DESCRIPTION, build_parser

__all__ = ["DESCRIPTION", "build_parser", "main"]

# Every error a user can fix, whichever layer raised it.
USER_ERRORS = (UserError, OperationError, ConfigError, CatalogError, MissingExtra)


def main(argv: Sequence[str] | None = None) -> int:
    escape_unencodable_output()  # an arrow or an odd file name must not crash the output on an ASCII terminal
    try:
        args = build_parser().parse_args(argv)
        config = load_config(args.config)
        if args.precision is not None:
            config = config.model_copy(update={"embed": config.embed.model_copy(update={"precision": args.precision})})
        status = int(args.func(args, config))
        sys.stdout.flush()  # a closed pipe must show here, inside the handler, not at interpreter exit
        return status
    except BrokenPipeError:
        silence_stdout()
        return 0
    except SystemExit:  # argparse after --help or a usage error: its output may meet a closed pipe too
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            silence_stdout()
        raise
    except USER_ERRORS as exc:
        print(f"styledex: error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("styledex: interrupted; committed batches are kept: run the same command to resume", file=sys.stderr)
        return 130
