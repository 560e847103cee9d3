"""Running the ``styledex`` command in tests: in this process (fast) or in a fresh interpreter (real exit codes).

:class:`Run` is what one invocation left (exit code, stdout, stderr); :func:`one_line_error` checks a user error.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# "styledex add: 3/8 item (38%) in 00:04, 0.75 item/s, 00:07 left" (styledex.progress, stderr not a terminal)
PROGRESS_LINE = re.compile(r"^[\w ]+: \d+(/\d+)? \w+( \(\d+%\))? in [\d:]+, ")


@dataclass
class Run:
    """What one CLI invocation left: exit code, stdout, stderr."""

    rc: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def progress_lines(self) -> list[str]:
        """The stderr lines that report progress (styledex.progress writes them where stderr is not a terminal)."""
        return [line for line in self.err_lines if PROGRESS_LINE.match(line)]

    @property
    def error_lines(self) -> list[str]:
        """The stderr lines that are not progress: a user error is exactly one of them."""
        return [line for line in self.err_lines if not PROGRESS_LINE.match(line)]

    @property
    def err_besides_progress(self) -> str:
        """stderr less its progress lines: where a traceback or a warning would show."""
        return "".join(line for line in self.err.splitlines(keepends=True) if not PROGRESS_LINE.match(line))


def run_inprocess(*args: str | os.PathLike[str]) -> Run:
    """``styledex ARGS`` through ``styledex.cli.main`` in this process (no interpreter + torch start-up)."""
    from styledex.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            rc = exc.code if isinstance(exc.code, int) else 1
    return Run(int(rc), out.getvalue(), err.getvalue())


def cli_command(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "styledex.cli", *map(str, args)]


def run_subprocess(*args: str | os.PathLike[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """``styledex ARGS`` in a fresh interpreter: the real exit code, stdout and stderr (about 3 s of start-up)."""
    proc = subprocess.run(
        cli_command(*args), capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def one_line_error(run: Run, rc: int = 2) -> str:
    """Check a user error: exit ``rc``, nothing on stdout, exactly one line on stderr, no traceback; that line."""
    assert run.rc == rc, (run.rc, run.out, run.err)
    assert run.out == ""
    assert len(run.err_lines) == 1, run.err
    assert "Traceback" not in run.err
    line = run.err_lines[0]
    assert line.startswith("styledex: error:"), line
    return line
