"""What every space index answers about itself: where it is saved, its space, dimension, metric and fingerprint."""

from __future__ import annotations

from pathlib import Path

from .factory import Metric


class IndexIdentity:
    """Read-only identity of a space's index, shared by the FAISS (`SpaceIndex`) and Milvus (`MilvusSpaceIndex`)
    back ends; the subclass sets the five fields in its constructor."""

    _directory: Path
    _space: str
    _dim: int
    _metric: Metric
    _fingerprint: str

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def space(self) -> str:
        return self._space

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> Metric:
        return self._metric

    @property
    def fingerprint(self) -> str:
        return self._fingerprint
