"""Persistence of one space's index: the manifest, its checks on load, and the atomic save.

On disk a space lives in its own directory (by convention ``<root>/<space>/``)::

    index.faiss     the FAISS index; FAISS ids are the catalog's int64 item ids
    manifest.json   space, dim, metric, fingerprint, index type and parameters, count, revision, file size,
                    sha256, and (when a policy chose the type) the policy's choice and reason

The manifest is checked on load, so an index built by another embedder (fingerprint), of another size (dim) or
left half-written by a crash (size/sha256/count) is refused with `IndexMismatchError` instead of answering
wrong neighbours.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import faiss

from .factory import FAISS_METRICS, INDEX_TYPE_DEFAULTS, Metric, expected_faiss_classes, faiss_ids, resolve_index_params

INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
# Bumped when the manifest's meaning changes; open refuses formats it does not know.
MANIFEST_FORMAT = 1

_MANIFEST_KEYS = {
    "format": int,
    "space": str,
    "dim": int,
    "metric": str,
    "fingerprint": str,
    "index_type": str,
    "index_params": dict,
    "count": int,
    "revision": int,
    "file_size": int,
    "sha256": str,
}


class IndexMismatchError(ValueError):
    """An index on disk does not match what the caller expects or disagrees with its own manifest.

    The usual remedy is to rebuild the index (``styledex reindex``).
    """


class LoadedIndex(NamedTuple):
    """What `load_index` read: the checked manifest, the FAISS index and its resolved parameters (defaults filled)."""

    manifest: dict[str, Any]
    faiss_index: Any
    index_params: dict[str, int]


# ---------------------------------------------------------------- loading


def load_index(
    directory: Path,
    *,
    expected_fingerprint: str | None = None,
    expected_dim: int | None = None,
    expected_metric: Metric | None = None,
) -> LoadedIndex:
    """Read the index saved in `directory`, after checking it against its manifest and the caller.

    Raises FileNotFoundError when there is no saved index there, and IndexMismatchError (a ValueError)
    when the manifest disagrees with the expected fingerprint/dim/metric, or the index file disagrees with
    the manifest (size, sha256, count, dim, metric: e.g. a crash between writing the two files).
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST_FILE
    index_path = directory / INDEX_FILE
    if not directory.is_dir():
        raise FileNotFoundError(f"no index directory at {directory}")
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no saved index in {directory}: {MANIFEST_FILE} is missing")

    manifest = read_manifest(manifest_path)
    _check_expected(manifest, expected_fingerprint, expected_dim, expected_metric)
    space = manifest["space"]
    faiss_index = _read_checked_file(index_path, manifest)
    expected_class = expected_faiss_classes(manifest["index_type"])
    if not isinstance(faiss_index, expected_class):
        raise IndexMismatchError(
            f"index {space!r}: expected a FAISS {' or '.join(c.__name__ for c in expected_class)} in "
            f"{index_path} for index_type {manifest['index_type']!r}, got {type(faiss_index).__name__}"
        )
    found = {
        "count": len(faiss_ids(faiss_index)) if isinstance(faiss_index, faiss.IndexIDMap2) else faiss_index.ntotal,
        "dim": faiss_index.d,
        "metric": "ip" if faiss_index.metric_type == faiss.METRIC_INNER_PRODUCT else "l2",
    }
    for key, value in found.items():
        if value != manifest[key]:
            raise IndexMismatchError(
                f"index {space!r}: the manifest says {key} {manifest[key]!r} but {INDEX_FILE} has "
                f"{value!r}; rebuild it"
            )
    try:
        index_params = resolve_index_params(manifest["index_type"], manifest["index_params"])
    except (ValueError, TypeError) as exc:
        raise IndexMismatchError(f"index {space!r}: bad index_params in the manifest: {exc}") from exc
    return LoadedIndex(manifest, faiss_index, index_params)


def _check_expected(
    manifest: Mapping[str, Any],
    expected_fingerprint: str | None,
    expected_dim: int | None,
    expected_metric: Metric | None,
) -> None:
    """IndexMismatchError unless the manifest's fingerprint, dim and metric are the expected ones (None: any)."""
    space = manifest["space"]
    if expected_fingerprint is not None and manifest["fingerprint"] != expected_fingerprint:
        raise IndexMismatchError(
            f"index {space!r} was built with fingerprint {_short(manifest['fingerprint'])} "
            f"but the embedder now has {_short(expected_fingerprint)}; run reindex"
        )
    if expected_dim is not None and manifest["dim"] != expected_dim:
        raise IndexMismatchError(
            f"index {space!r} was built with dim {manifest['dim']} but the space now has dim "
            f"{expected_dim}; run reindex"
        )
    if expected_metric is not None and manifest["metric"] != expected_metric:
        raise IndexMismatchError(
            f"index {space!r} was built with metric {manifest['metric']!r} but the space now declares "
            f"{expected_metric!r}; run reindex"
        )


def _read_checked_file(index_path: Path, manifest: Mapping[str, Any]) -> Any:
    """The FAISS index in `index_path`, read only after its size and sha256 matched the manifest's."""
    space = manifest["space"]
    # The file must be the one the manifest describes: os.replace puts the index first and the manifest
    # last, so a crash in between leaves a new index.faiss beside the old manifest.
    try:
        handle = index_path.open("rb")
    except FileNotFoundError:
        raise IndexMismatchError(
            f"index {space!r}: {MANIFEST_FILE} exists but {INDEX_FILE} is missing in {index_path.parent}; rebuild it"
        ) from None
    # One open file for the checks and the read: a writer in another process may replace index.faiss at any
    # moment, and an open handle keeps reading the file that was checked, never a newer one.
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size != manifest["file_size"]:
            raise IndexMismatchError(
                f"index {space!r}: {INDEX_FILE} has {size} bytes but the manifest expects "
                f"{manifest['file_size']} (interrupted save?); rebuild it"
            )
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if digest != manifest["sha256"]:
            raise IndexMismatchError(
                f"index {space!r}: {INDEX_FILE} has sha256 {_short(digest)} but the manifest expects "
                f"{_short(manifest['sha256'])} (interrupted save?); rebuild it"
            )
        handle.seek(0)
        try:
            return faiss.read_index(faiss.PyCallbackIOReader(handle.read))
        except RuntimeError as exc:  # a file FAISS cannot parse although its hash matched: written wrongly
            raise IndexMismatchError(
                f"index {space!r}: FAISS cannot read {index_path} ({_faiss_reason(exc)}); rebuild it"
            ) from None


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at `path`, with its keys and types checked (IndexMismatchError otherwise)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexMismatchError(f"{path} is not valid JSON ({exc}); rebuild the index") from exc
    if not isinstance(manifest, dict):
        raise IndexMismatchError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    for key, kind in _MANIFEST_KEYS.items():
        if not isinstance(manifest.get(key), kind) or (kind is int and isinstance(manifest[key], bool)):
            raise IndexMismatchError(f"{path}: expected key {key!r} of type {kind.__name__}, got {manifest.get(key)!r}")
    if manifest["format"] != MANIFEST_FORMAT:
        raise IndexMismatchError(
            f"{path}: manifest format {manifest['format']} but this styledex reads format {MANIFEST_FORMAT}; "
            "rebuild the index"
        )
    if manifest["metric"] not in FAISS_METRICS:
        raise IndexMismatchError(f"{path}: expected metric 'ip' or 'l2', got {manifest['metric']!r}")
    if manifest["index_type"] not in INDEX_TYPE_DEFAULTS:
        raise IndexMismatchError(
            f"{path}: index_type {manifest['index_type']!r} is not one this styledex builds "
            f"({sorted(INDEX_TYPE_DEFAULTS)}); rebuild the index"
        )
    return manifest


# ---------------------------------------------------------------- saving


def save_index(directory: Path, faiss_index: Any, fields: Mapping[str, Any]) -> None:
    """Write `faiss_index` as index.faiss and its manifest as manifest.json into `directory` atomically.

    fields: what the manifest says of the index (space, dim, metric, fingerprint, index_type, index_params, count,
    revision, and policy when a policy chose the type); the format, the file's size and sha256, the FAISS version
    and the time are added here. Each file is written to a ``.tmp`` sibling, fsynced, then renamed over the old
    one: the index first, the manifest last, then the directory is fsynced. A crash leaves either the old pair, or
    a new index beside the old manifest, which `load_index` detects (size/sha256) and refuses.

    Raises OSError (one line) when a file cannot be written, e.g. a full disk; the ``.tmp`` files are removed
    then and the saved pair stays as it was.
    """
    directory = Path(directory)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    if created:
        _fsync_dir(directory.parent)

    index_path, manifest_path = directory / INDEX_FILE, directory / MANIFEST_FILE
    index_tmp = index_path.with_name(INDEX_FILE + ".tmp")
    manifest_tmp = manifest_path.with_name(MANIFEST_FILE + ".tmp")

    try:
        _write_pair(faiss_index, fields, index_tmp, manifest_tmp)
    except BaseException:
        # Half-written temporaries only take space (a full disk stays full): remove them, keep the old pair.
        for tmp in (index_tmp, manifest_tmp):
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        raise
    os.replace(index_tmp, index_path)
    os.replace(manifest_tmp, manifest_path)
    _fsync_dir(directory)


def _write_pair(faiss_index: Any, fields: Mapping[str, Any], index_tmp: Path, manifest_tmp: Path) -> None:
    """Write and fsync the index to ``index_tmp`` and its manifest to ``manifest_tmp``."""
    # FAISS writes through Python's file here, not its own: writing to a path, FAISS only logs a failure of the final
    # flush at fclose ("close error: File too large") and returns, leaving a short file behind a successful save.
    try:
        with index_tmp.open("wb") as f:
            writer = faiss.PyCallbackIOWriter(f.write)
            faiss.write_index(faiss_index, writer)
            del writer  # hands its last buffered bytes to f while f is open
            f.flush()
            os.fsync(f.fileno())
    except RuntimeError as exc:  # a failed write inside FAISS, as a C++ exception
        reason = _faiss_reason(exc)
        # "... write error in <path>: 106128 != 117760 (No space left on device)": the OS's words suffice.
        system = re.search(r"write error in .*\(([^()]+)\)$", reason)
        raise OSError(f"cannot write {index_tmp}: {system.group(1) if system else reason}") from None
    except OSError as exc:  # a failed write or flush of the file (ENOSPC, EFBIG)
        raise OSError(f"cannot write {index_tmp}: {exc.strerror or exc}") from None
    manifest = {
        "format": MANIFEST_FORMAT,
        **fields,
        "file_size": index_tmp.stat().st_size,
        "sha256": _file_sha256(index_tmp),
        "faiss_version": faiss.__version__,
        "saved_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    with manifest_tmp.open("w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


# ---------------------------------------------------------------- helpers


def _fsync_dir(directory: Path) -> None:
    """Make renames inside `directory` durable (a rename is only on disk once its directory is synced)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _faiss_reason(exc: RuntimeError) -> str:
    """A FAISS exception's message on one line, without its "Error in <function> at <file>:<line>: " prefix."""
    text = " ".join(str(exc).split())
    return re.sub(r"^Error in .*? at \S+:\d+: ", "", text) or type(exc).__name__


def _short(value: str, n: int = 12) -> str:
    """`value` cut to `n` characters with an ellipsis, so fingerprints and hashes fit on one line."""
    return value if len(value) <= n else value[:n] + "…"
