"""The plain data the catalog exchanges with its callers: what a writer hands in and what a follower is told.

- :class:`ItemRecord` / :class:`SpaceVectors`: one item to write (``Catalog.write_batch``), with its vectors.
- :class:`CatalogState`: (revision, index generation), where the catalog stands.
- :class:`Commit` / :class:`WriteFollower`: one committed write as told to what follows the catalog's writes
  (``styledex.space_indexes.SpaceIndexes``), and the two calls such a follower answers.

Apart from :mod:`styledex.catalog` so that module stays about SQLite; it re-exports these names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np


@dataclass
class SpaceVectors:
    """One item's vectors in one space: per frame [F, dim] with times [F] (seconds), the item vector [dim], and
    for a space with region views (``styledex.embed.content_views``) the item's views [V, dim] (a video's: the
    normalized mean of its frames')."""

    item: np.ndarray
    frames: np.ndarray | None = None
    times: Sequence[float] = ()
    views: np.ndarray | None = None


@dataclass
class ItemRecord:
    """One row to write: a decoded and embedded item (status ok) or a failure (status failed, error set)."""

    path: str
    status: str
    kind: str | None = None
    sha256: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    frames: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    vectors: Mapping[str, SpaceVectors] = field(default_factory=dict)


def metadata_text(value: Any) -> str:
    """A metadata value as filters compare it: numbers as written (1889.0 also as ``1889``: manifests read integer
    columns with gaps as floats), booleans as ``true``/``false``, anything else as str()."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class CatalogState(NamedTuple):
    """Where the catalog stands: the revision (bumped by every write) and the index generation (by every reindex).
    An open index is current while the state it was opened at is the catalog's."""

    revision: int
    generation: int


@dataclass(frozen=True)
class Commit:
    """One committed write, as the catalog's followers see it right after the commit.

    ``before`` is the state the transaction started from (read inside it, so no other write came between);
    ``revision`` the one it committed. ``added``: space → (ids [n] int64, item vectors [n, dim]) of the ok items
    written; ``removed``: ids [m] int64 of the items deleted.
    """

    before: CatalogState
    revision: int
    added: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


class WriteFollower(Protocol):
    """What keeps state derived from the rows (each space's open index) in step with this catalog's writes."""

    def follow(self, commit: Commit) -> None:
        """Bring what follows up to ``commit`` (called after each commit through this catalog)."""

    def save(self) -> None:
        """Persist what follows (called when a writer leaves ``Catalog.writing``); CatalogError on failure."""
