"""Atomic writes and the manifest: every file the build writes, and ``manifest.csv``, which says the build is done.

A file is written in full under a temporary sibling name, then moved onto its name with ``os.replace``: an
interrupted build leaves whole files or none, so a resumed build can keep every file it finds.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("path", "kind", "group", "content", "style", "segment", "title")


def atomic_target(path: Path) -> Path:
    """A temporary sibling of ``path``: written fully, then moved onto ``path`` with ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def save_png(img: Image.Image, path: Path) -> None:
    tmp = atomic_target(path)
    try:
        img.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    tmp = atomic_target(path)
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def manifest_row(
    path: Path, kind: str, group: str, content: str, style: str, segment: str, title: str
) -> dict[str, str]:
    """One row of ``manifest.csv``: :data:`MANIFEST_COLUMNS` → value."""
    return dict(zip(MANIFEST_COLUMNS, (str(path), kind, group, content, style, segment, title), strict=True))


def read_manifest(path: Path) -> list[dict[str, str]] | None:
    """The manifest's rows, or ``None`` when it cannot be read."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error):
        return None


def write_manifest(path: Path, rows: Iterable[dict[str, str]], columns: tuple[str, ...] = MANIFEST_COLUMNS) -> None:
    tmp = atomic_target(path)
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
