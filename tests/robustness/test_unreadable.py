"""Unreadable files and folders (issue 6) through a real ``styledex add`` that the file modes really stop.

Mode 000 stops nobody with CAP_DAC_OVERRIDE, which root has, so as root the command runs with that capability and
CAP_DAC_READ_SEARCH dropped (from its bounding and inheritable sets, then exec: the new process never holds
them). It stays uid 0, so it still reaches an interpreter under a mode-700 /root and pytest's mode-700 temporary
folders, which a switch to ``nobody`` could not; the mode-000 file and folder stop it exactly as they would stop
an unprivileged owner. Run unprivileged, the command is a plain subprocess. Skipped only where neither works
(not Linux, or root without CAP_SETPCAP to drop capabilities), with that reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.cli import Run, cli_command, run_inprocess
from helpers.media import make_image

# Linux capability numbers (linux/capability.h) and prctl/capset constants.
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
PR_CAPBSET_DROP = 24
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
EXIT_CANNOT_DROP = 77

# Run as `python -c DROP_AND_EXEC argv...`: drop the two capabilities for good, then exec argv (the CLI).
DROP_AND_EXEC = f"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
mask = ~((1 << {CAP_DAC_OVERRIDE}) | (1 << {CAP_DAC_READ_SEARCH})) & 0xFFFFFFFF
header, data = Header({_LINUX_CAPABILITY_VERSION_3}, 0), (Data * 2)()
ok = all(libc.prctl({PR_CAPBSET_DROP}, cap, 0, 0, 0) == 0 for cap in ({CAP_DAC_OVERRIDE}, {CAP_DAC_READ_SEARCH}))
ok = ok and libc.capget(ctypes.byref(header), data) == 0
if ok:
    data[0].effective &= mask; data[0].permitted &= mask; data[0].inheritable &= mask
    ok = libc.capset(ctypes.byref(header), data) == 0
if not ok:
    print("cannot drop capabilities:", os.strerror(ctypes.get_errno()), file=sys.stderr)
    sys.exit({EXIT_CANNOT_DROP})
os.execv(sys.argv[1], sys.argv[1:])
"""


def _unprivileged(command: list[str]) -> list[str]:
    """``command`` run so that file modes apply to it (see the module docstring)."""
    if os.geteuid() != 0:
        return command
    if not sys.platform.startswith("linux"):
        pytest.skip("running as root off Linux: no way here to make a mode-000 file unreadable to the CLI")
    return [sys.executable, "-c", DROP_AND_EXEC, *command]


def run_unprivileged(*args: str | os.PathLike[str]) -> Run:
    proc = subprocess.run(
        _unprivileged(cli_command(*args)), capture_output=True, text=True, timeout=300, check=False
    )  # fmt: skip
    if proc.returncode == EXIT_CANNOT_DROP and proc.stderr.startswith("cannot drop capabilities"):
        pytest.skip(f"running as root and {proc.stderr.strip()}: mode 000 would not stop the CLI")
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def locked_folder(tmp_path: Path) -> Iterator[Path]:
    """media/ holding good.png, locked.png (mode 000) and locked/ (mode 000) holding inner.png; modes restored
    afterwards so pytest can clean up."""
    media = tmp_path / "media"
    (media / "locked").mkdir(parents=True)
    make_image(media / "good.png", size=(32, 32), seed=1, pattern="noise")
    make_image(media / "locked.png", size=(32, 32), seed=2, pattern="checker")
    make_image(media / "locked" / "inner.png", size=(32, 32), seed=3, pattern="gradient")
    (media / "locked.png").chmod(0)
    (media / "locked").chmod(0)
    yield media
    (media / "locked").chmod(0o755)
    (media / "locked.png").chmod(0o644)


def test_unreadable_file_and_folder_each_fail_with_permission_denied(
    locked_folder: Path, tiny_config: Path, tmp_path: Path
) -> None:
    media, catalog = locked_folder, tmp_path / "catalog"
    good, locked, folder = (str((media / name).absolute()) for name in ("good.png", "locked.png", "locked"))

    run = run_unprivileged("--config", tiny_config, "add", media, "--catalog", catalog, "--json")
    assert run.rc == 0, run.err  # failed items are not a failed command (without --strict)
    assert run.err_besides_progress == ""  # no traceback, no warning
    summary = json.loads(run.out)
    assert (summary["added"], summary["skipped"], summary["failed"]) == (1, 0, 2)
    # The folder it could not list is reported as one failure (its inner.png cannot even be named).
    assert summary["failures"] == [
        {"path": locked, "error": "cannot read file: Permission denied"},
        {"path": folder, "error": "cannot read folder: Permission denied"},
    ]
    listing = run_inprocess("list", "--catalog", catalog, "--json")
    rows = {row["path"]: (row["status"], row["error"]) for row in listing.json()}
    assert rows == {
        good: ("ok", None),
        locked: ("failed", "cannot read file: Permission denied"),
        folder: ("failed", "cannot read folder: Permission denied"),
    }

    # The human output, with --strict: exit 1, one line per failure, nothing on stderr.
    run = run_unprivileged("--config", tiny_config, "add", media, "--catalog", catalog, "--strict")
    assert (run.rc, run.err_besides_progress) == (1, "")
    head, *lines = run.out.splitlines()
    assert head.startswith("added 0, skipped 1 (already in catalog), failed 2 in ")
    assert lines == [
        f"  failed: {locked}: cannot read file: Permission denied",
        f"  failed: {folder}: cannot read folder: Permission denied",
    ]

    # Readable again: a rerun adds both files it could not read and leaves one row per file.
    (media / "locked").chmod(0o755)
    (media / "locked.png").chmod(0o644)
    run = run_inprocess("--config", tiny_config, "add", media, "--catalog", catalog, "--json")
    assert (run.rc, run.json()["added"], run.json()["skipped"], run.json()["failed"]) == (0, 2, 1, 0)
    rows = {row["path"]: row["status"] for row in run_inprocess("list", "--catalog", catalog, "--json").json()}
    assert rows[locked] == rows[str((media / "locked" / "inner.png").absolute())] == "ok"
