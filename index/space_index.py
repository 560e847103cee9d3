"""One FAISS index for one embedding space, keyed by catalog item ids, persisted with a manifest.

On disk a space lives in its own directory (by convention ``<root>/<space>/``)::

    index.faiss     the FAISS index; FAISS ids are the catalog's int64 item ids
    manifest.json   space, dim, metric, fingerprint, index type and parameters, count, revision, file size,
                    sha256, and (when a policy chose the type) the policy's choice and reason

Index types: "flat" (exact), "hnsw" (graph; float32 or, with sq8=1, 8-bit scalar-quantized storage), both inside
an IndexIDMap2; "ivfpq" (inverted lists of product-quantized codes, optionally behind an OPQ rotation), which keeps
the ids itself: IndexIDMap2 cannot wrap it because its remove_ids renumbers positions that IVF lists still hold,
and FAISS refuses removal through it with a hashtable direct map. An ivfpq index must be trained before it takes
vectors, so it is built with `from_vectors` (or `train` then `add`), never grown from an empty `create`.

HNSW graphs cannot drop nodes, so removing from an hnsw index marks the nodes dead instead: their id in the
IndexIDMap2's id map becomes -1 (saved with the index, so a crash cannot lose or half-apply it), searches pass FAISS
a selector that skips them while still routing through them, and once dead nodes exceed `COMPACT_DEAD_SHARE` of the
graph it is rebuilt from the live ones. A rebuild per removal cost 88 s at 1M 100-d vectors.

The manifest is checked on open, so an index built by another embedder (fingerprint), of another size (dim) or
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
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

Metric = Literal["ip", "l2"]

INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
# Bumped when the manifest's meaning changes; open refuses formats it does not know.
MANIFEST_FORMAT = 1

_FAISS_METRICS: dict[str, int] = {"ip": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}

# Each index type's tunable parameters and their defaults; adding a type means a defaults entry plus a branch in
# `make_faiss_index`.
INDEX_TYPE_DEFAULTS: dict[str, dict[str, int]] = {
    "flat": {},
    # m: graph degree; ef_construction / ef_search: candidate-list sizes at build / query time;
    # sq8: 1 stores 8-bit scalar-quantized vectors (dim bytes per item instead of 4·dim).
    "hnsw": {"m": 32, "ef_construction": 40, "ef_search": 64, "sq8": 0},
    # nlist: inverted lists (coarse centroids); m: PQ sub-quantizers (bytes per code at nbits 8; must divide dim);
    # nprobe: lists visited per query; opq: 1 adds a learned rotation before PQ; rerank: candidates re-scored with
    # the exact vectors when the index has a `vector_source` (0 = PQ scores as they are).
    "ivfpq": {"nlist": 1024, "m": 64, "nbits": 8, "nprobe": 32, "opq": 0, "rerank": 100},
}
# Parameters allowed below 1 (flags and "off" values) or bounded above; every other one must be >= 1.
_PARAM_RANGES: dict[str, tuple[int, int]] = {"sq8": (0, 1), "opq": (0, 1), "rerank": (0, 100_000), "nbits": (1, 16)}
# Parameters that only steer queries, so `set_search_params` may change them on a built index.
_SEARCH_PARAMS: dict[str, set[str]] = {"hnsw": {"ef_search"}, "ivfpq": {"nprobe", "rerank"}}
# An ivfpq search re-scores at least this many candidates per result asked for (besides `rerank` in all): among 1M
# 2944-d adain vectors, 101 candidates for 100 results lost 0.044 eval P@5 to the PQ codes' ordering errors, 300
# lost 0.011 and 1000 nothing, while visiting 2-4x more lists changed nothing (scripts/ivfpq_sweep.py, README).
RERANK_PER_RESULT = 10
# Types whose stored vectors are approximations: `reconstruct` prefers the exact `vector_source` for them.
_LOSSY = {"ivfpq"}
# k-means settings for training ivfpq: few iterations and a sample per centroid keep training minutes, not hours,
# at 2944-d (the quality lost is small next to the PQ error, and `rerank` takes the rest back).
_KMEANS_NITER = 10
_KMEANS_POINTS_PER_CENTROID = 32
# Training an OPQ rotation on 2944-d vectors crashed (SIGSEGV inside the OpenBLAS that faiss-cpu 1.15.1 bundles),
# with FAISS's own PQ as with ours; 32-d works. Larger dims are refused rather than risked (unmeasured in between).
_OPQ_MAX_DIM = 1024
# An hnsw index is rebuilt from its live nodes once dead (removed) nodes exceed this share of the graph: each removed
# item then costs a fraction of one rebuild, amortized, and searches never route through mostly dead nodes.
COMPACT_DEAD_SHARE = 0.25
# The id a removed hnsw node gets in the id map (never a real id: ids are >= 0).
_DEAD_ID = -1
# FAISS's exact scan of one query ran 1.3-1.6x slower on two OpenMP threads than on one on the 2-core machine (200k x
# 990-d: 78-98 vs 60-61 ms p50); ivfpq and hnsw showed no difference. A one-query flat search runs on one thread.
_FLAT_SINGLE_QUERY_THREADS = 1


class IndexMismatchError(ValueError):
    """An index on disk does not match what the caller expects or disagrees with its own manifest.

    The usual remedy is to rebuild the index (``styledex reindex``).
    """


def _short(value: str, n: int = 12) -> str:
    """`value` cut to `n` characters with an ellipsis, so fingerprints and hashes fit on one line."""
    return value if len(value) <= n else value[:n] + "…"


def resolve_index_params(index_type: str, params: Mapping[str, int] | None = None) -> dict[str, int]:
    """The full parameter dict for `index_type`: its defaults overridden by `params`.

    Raises ValueError for an unknown index type or an unknown parameter name.
    """
    if index_type not in INDEX_TYPE_DEFAULTS:
        raise ValueError(f"unknown index_type {index_type!r}; expected one of {sorted(INDEX_TYPE_DEFAULTS)}")
    defaults = INDEX_TYPE_DEFAULTS[index_type]
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for index_type {index_type!r}; expected some of {sorted(defaults)}"
        )
    resolved = {**defaults, **{name: int(value) for name, value in params.items()}}
    bad = {name: value for name, value in resolved.items() if not _in_range(name, value)}
    if bad:
        raise ValueError(f"index parameters out of range: {bad} (flags sq8/opq are 0 or 1, rerank >= 0, others >= 1)")
    return resolved


def _in_range(name: str, value: int) -> bool:
    low, high = _PARAM_RANGES.get(name, (1, 2**31 - 1))
    return low <= value <= high


def make_faiss_index(index_type: str, dim: int, metric: Metric, params: Mapping[str, int] | None = None):
    """A new empty FAISS index whose ids are caller-chosen int64 and reconstructible.

    index_type: "flat" (exact) or "hnsw" (approximate: IndexHNSWFlat, or IndexHNSWSQ with sq8=1), both wrapped in
    IndexIDMap2; "ivfpq" (IndexIVFPQ over a flat coarse quantizer, behind an OPQ IndexPreTransform with opq=1),
    untrained, keeping ids in its own lists with a hashtable direct map (for reconstruct and remove by id).
    metric: "ip" (inner product) or "l2" (squared Euclidean distance).
    """
    if metric not in _FAISS_METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected 'ip' or 'l2'")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    params = resolve_index_params(index_type, params)
    faiss_metric = _FAISS_METRICS[metric]
    if index_type == "flat":
        inner = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
    elif index_type == "hnsw":
        if params["sq8"]:
            inner = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, params["m"], faiss_metric)
        else:
            inner = faiss.IndexHNSWFlat(dim, params["m"], faiss_metric)
        inner.hnsw.efConstruction = params["ef_construction"]
        inner.hnsw.efSearch = params["ef_search"]
    elif index_type == "ivfpq":
        return _make_ivfpq(dim, faiss_metric, params)
    else:  # pragma: no cover - resolve_index_params already refused it
        raise AssertionError(index_type)
    return faiss.IndexIDMap2(inner)


def _make_ivfpq(dim: int, faiss_metric: int, params: Mapping[str, int]) -> Any:
    """An untrained IndexIVFPQ (or IndexPreTransform(OPQMatrix, IndexIVFPQ)) with native ids; see make_faiss_index."""
    m = params["m"]
    if dim % m:
        raise ValueError(f"ivfpq: m={m} sub-quantizers must divide dim {dim}")
    quantizer = faiss.IndexFlatIP(dim) if faiss_metric == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(dim)
    # The Python wrapper keeps `quantizer` alive as long as the IVF index (a reference taken in the constructor).
    ivf = faiss.IndexIVFPQ(quantizer, dim, params["nlist"], m, params["nbits"], faiss_metric)
    for cp in (ivf.cp, ivf.pq.cp):
        cp.niter = _KMEANS_NITER
        cp.max_points_per_centroid = _KMEANS_POINTS_PER_CENTROID
        cp.min_points_per_centroid = 1  # small catalogs train too (FAISS only warns, noisily, below 39)
    ivf.nprobe = params["nprobe"]
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
    if not params["opq"]:
        return ivf
    if dim > _OPQ_MAX_DIM:
        raise ValueError(f"ivfpq: opq is limited to dim <= {_OPQ_MAX_DIM} (got {dim}); use opq=0")
    opq = faiss.OPQMatrix(dim, m)
    opq.niter = _KMEANS_NITER
    # OPQ trains a PQ of its own; give it one with the same k-means settings (else it warns once per sub-quantizer
    # and iteration on small catalogs), kept alive by a Python reference for as long as the rotation.
    pq = faiss.ProductQuantizer(dim, m, params["nbits"])
    pq.cp.niter = _KMEANS_NITER
    pq.cp.max_points_per_centroid = _KMEANS_POINTS_PER_CENTROID
    pq.cp.min_points_per_centroid = 1
    opq.pq = pq
    opq.referenced_objects = [pq]
    return faiss.IndexPreTransform(opq, ivf)


def _ivf_of(faiss_index: Any) -> Any:
    """The IndexIVFPQ inside an ivfpq index (itself, or the one behind an OPQ IndexPreTransform)."""
    return faiss.extract_index_ivf(faiss_index)


def _faiss_ids(faiss_index: Any) -> np.ndarray:
    """Every live id stored in `faiss_index`, (n,) int64, in no particular order (dead hnsw nodes left out)."""
    if isinstance(faiss_index, faiss.IndexIDMap2):
        ids = faiss.vector_to_array(faiss_index.id_map).astype(np.int64, copy=False)
        return ids[ids != _DEAD_ID]
    invlists = _ivf_of(faiss_index).invlists
    chunks = [np.zeros(0, dtype=np.int64)]
    for list_no in range(invlists.nlist):
        size = invlists.list_size(list_no)
        if size:
            chunks.append(faiss.rev_swig_ptr(invlists.get_ids(list_no), size).astype(np.int64, copy=True))
    return np.concatenate(chunks)


@contextlib.contextmanager
def faiss_threads(threads: int | None) -> Iterator[None]:
    """FAISS's OpenMP threads for the calling thread set to ``threads`` inside the block (None: left as they are),
    restored after. The setting is per thread: a server's worker threads each keep their own."""
    previous = faiss.omp_get_max_threads()
    if threads is not None:
        faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def _fsync_dir(directory: Path) -> None:
    """Make renames inside `directory` durable (a rename is only on disk once its directory is synced)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _faiss_reason(exc: RuntimeError) -> str:
    """A FAISS exception's message on one line, without its "Error in <function> at <file>:<line>: " prefix."""
    text = " ".join(str(exc).split())
    return re.sub(r"^Error in .*? at \S+:\d+: ", "", text) or type(exc).__name__


def _file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class SpaceIndex:
    """A FAISS index for one embedding space whose FAISS ids are the catalog item ids (int64).

    Build with `create` (empty) or `from_vectors`, load with `open`; nothing touches disk until `save`.
    Scores from `search` are "higher is better" for both metrics: the inner product for "ip", the negative
    squared Euclidean distance for "l2". Vectors are stored as given: normalization is the caller's job (the
    embedding space declares its metric and the mapper normalizes once), so this class never normalizes.

    Not thread-safe: guard concurrent writers (and readers during writes) with a lock.
    """

    def __init__(
        self,
        directory: Path,
        *,
        space: str,
        dim: int,
        metric: Metric,
        fingerprint: str,
        index_type: str,
        index_params: Mapping[str, int],
        faiss_index: Any,
        revision: int = 0,
        policy: Mapping[str, Any] | None = None,
    ) -> None:
        """Wraps an existing FAISS index; use `create`, `from_vectors` or `open` instead."""
        self._directory = Path(directory)
        self._space = space
        self._dim = int(dim)
        self._metric: Metric = metric
        self._fingerprint = fingerprint
        self._index_type = index_type
        self._index_params = dict(index_params)
        self._index = faiss_index
        # A Python-side copy of the ids present: O(1) membership and duplicate checks without asking FAISS.
        self._id_set: set[int] = {int(i) for i in _faiss_ids(faiss_index)}
        # Set by the caller (the catalog's revision when it last synced this index); written by `save`.
        self.revision = int(revision)
        # Why this index type was chosen ({"chosen_by": "auto", "count": ..., "reason": ...}); saved in the manifest.
        self.policy: dict[str, Any] | None = None if policy is None else dict(policy)
        # ids (n,) int64 -> their exact vectors (n, dim) float32, e.g. read from the catalog's raw vectors. Used by
        # lossy types (ivfpq) to re-rank candidates and to reconstruct exactly; never saved.
        self.vector_source: Callable[[np.ndarray], np.ndarray] | None = None

    # ---------------------------------------------------------------- construction

    @classmethod
    def create(
        cls,
        directory: Path,
        *,
        space: str,
        dim: int,
        metric: Metric,
        fingerprint: str,
        index_type: str = "flat",
        index_params: Mapping[str, int] | None = None,
        revision: int = 0,
        policy: Mapping[str, Any] | None = None,
    ) -> SpaceIndex:
        """An empty index in memory, to be saved into `directory` (the space's own directory).

        dim: vector length. metric: "ip" or "l2". fingerprint: the embedder's weights + parameters digest,
        stored in the manifest and checked by `open`. index_type: "flat" (exact), "hnsw" or "ivfpq" (untrained:
        call `train` before `add`, or use `from_vectors`). index_params: overrides of
        `INDEX_TYPE_DEFAULTS[index_type]` (e.g. {"ef_search": 128} for hnsw). policy: recorded in the manifest.
        """
        params = resolve_index_params(index_type, index_params)
        return cls(
            directory,
            space=space,
            dim=dim,
            metric=metric,
            fingerprint=fingerprint,
            index_type=index_type,
            index_params=params,
            faiss_index=make_faiss_index(index_type, dim, metric, params),
            revision=revision,
            policy=policy,
        )

    @classmethod
    def from_vectors(
        cls,
        directory: Path,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        space: str,
        metric: Metric,
        fingerprint: str,
        index_type: str = "flat",
        index_params: Mapping[str, int] | None = None,
        revision: int = 0,
        policy: Mapping[str, Any] | None = None,
    ) -> SpaceIndex:
        """An index holding `vectors` (n, dim) float under `ids` (n,) int64; dim is taken from `vectors`.

        An ivfpq index is first trained on (a sample of) `vectors`: it needs at least max(nlist, 2**nbits) of them.
        """
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise ValueError(f"expected vectors of shape (n, dim), got {vectors.shape}")
        index = cls.create(
            directory,
            space=space,
            dim=vectors.shape[1],
            metric=metric,
            fingerprint=fingerprint,
            index_type=index_type,
            index_params=index_params,
            revision=revision,
            policy=policy,
        )
        if not index.is_trained:
            index.train(vectors)
        index.add(ids, vectors)
        return index

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        expected_fingerprint: str | None = None,
        expected_dim: int | None = None,
        expected_metric: Metric | None = None,
    ) -> SpaceIndex:
        """Load the index saved in `directory`, after checking it against its manifest and the caller.

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

        manifest = _read_manifest(manifest_path)
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

        # The file must be the one the manifest describes: os.replace puts the index first and the manifest
        # last, so a crash in between leaves a new index.faiss beside the old manifest.
        try:
            handle = index_path.open("rb")
        except FileNotFoundError:
            raise IndexMismatchError(
                f"index {space!r}: {MANIFEST_FILE} exists but {INDEX_FILE} is missing in {directory}; rebuild it"
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
                faiss_index = faiss.read_index(faiss.PyCallbackIOReader(handle.read))
            except RuntimeError as exc:  # a file FAISS cannot parse although its hash matched: written wrongly
                raise IndexMismatchError(
                    f"index {space!r}: FAISS cannot read {index_path} ({_faiss_reason(exc)}); rebuild it"
                ) from None
        expected_class = (
            (faiss.IndexIVFPQ, faiss.IndexPreTransform) if manifest["index_type"] == "ivfpq" else (faiss.IndexIDMap2,)
        )
        if not isinstance(faiss_index, expected_class):
            raise IndexMismatchError(
                f"index {space!r}: expected a FAISS {' or '.join(c.__name__ for c in expected_class)} in "
                f"{index_path} for index_type {manifest['index_type']!r}, got {type(faiss_index).__name__}"
            )
        found = {
            "count": len(_faiss_ids(faiss_index)) if isinstance(faiss_index, faiss.IndexIDMap2) else faiss_index.ntotal,
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
        index = cls(
            directory,
            space=space,
            dim=manifest["dim"],
            metric=manifest["metric"],
            fingerprint=manifest["fingerprint"],
            index_type=manifest["index_type"],
            index_params=index_params,
            faiss_index=faiss_index,
            revision=manifest["revision"],
            policy=manifest.get("policy") if isinstance(manifest.get("policy"), dict) else None,
        )
        index._apply_search_params()
        return index

    # ---------------------------------------------------------------- properties

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

    @property
    def index_type(self) -> str:
        return self._index_type

    @property
    def index_params(self) -> dict[str, int]:
        return dict(self._index_params)

    def set_search_params(self, **params: int) -> None:
        """Change query-time parameters in place (hnsw: ef_search; ivfpq: nprobe, rerank), e.g. to trade speed for
        recall without a rebuild; a later `save` records them. ValueError for a parameter the index type lacks,
        one fixed at build time, or a value out of range."""
        fixed = sorted(set(params) - _SEARCH_PARAMS.get(self._index_type, set()))
        if fixed:
            allowed = sorted(_SEARCH_PARAMS.get(self._index_type, set())) or "none"
            raise ValueError(f"{fixed} cannot change once the {self._index_type} index is built; query-time: {allowed}")
        self._index_params = resolve_index_params(self._index_type, self._index_params | params)
        self._apply_search_params()

    def __len__(self) -> int:
        """Items present (removed hnsw nodes not counted)."""
        return len(self._id_set)

    @property
    def _dead(self) -> int:
        """Removed hnsw nodes still in the graph (FAISS's ntotal counts them; 0 for other types)."""
        return int(self._index.ntotal) - len(self._id_set)

    def __contains__(self, item_id: object) -> bool:
        # Only integers are ids: 3.0 or "3" are not.
        return isinstance(item_id, int | np.integer) and int(item_id) in self._id_set

    def __repr__(self) -> str:
        return (
            f"SpaceIndex(space={self._space!r}, dim={self._dim}, metric={self._metric!r}, "
            f"index_type={self._index_type!r}, count={len(self)}, directory={str(self._directory)!r})"
        )

    @property
    def is_trained(self) -> bool:
        """False only for an ivfpq index that has not been trained yet (it cannot take vectors then)."""
        return bool(self._index.is_trained)

    def ids(self) -> np.ndarray:
        """All ids present, (n,) int64, ascending."""
        return np.sort(_faiss_ids(self._index))

    def train(self, vectors: np.ndarray, *, max_points: int = 100_000, seed: int = 0) -> None:
        """Train an untrained index on `vectors` (n, dim) float: ivfpq (coarse centroids, PQ codebooks, OPQ
        rotation) or hnsw with sq8 (the per-dimension ranges of its 8-bit codes); a no-op for any other index.

        At most `max_points` rows (a seeded random sample) are used: training cost grows with them and 100k
        already exceeds what k-means samples per centroid. Raises ValueError for ivfpq when fewer vectors than
        max(nlist, 2**nbits) are given (k-means needs one per centroid).
        """
        if self._index.is_trained:
            return
        count = np.shape(vectors)[0] if np.ndim(vectors) == 2 else 0
        if count > max_points:
            # Sampled before any conversion, so a memory-mapped array is read only at the sampled rows.
            rows = np.sort(np.random.default_rng(seed).choice(count, size=max_points, replace=False))
            vectors = vectors[rows]
        vecs = self._check_vectors(vectors, "vectors", "n")
        need = max(self._index_params["nlist"], 2 ** self._index_params["nbits"]) if self._index_type == "ivfpq" else 1
        if vecs.shape[0] < need:
            raise ValueError(
                f"ivfpq needs at least {need} training vectors (nlist {self._index_params['nlist']}, "
                f"2**nbits {2 ** self._index_params['nbits']}), got {vecs.shape[0]}; use flat or hnsw"
            )
        self._index.train(vecs)
        self._apply_search_params()

    # ---------------------------------------------------------------- mutation

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add `vectors` (n, dim) float under `ids` (n,) int >= 0.

        Vectors are stored as given, converted to contiguous float32: normalize them first if the space
        wants cosine similarity. Raises ValueError on a shape/dtype mismatch, non-finite values, negative ids,
        or an id that is repeated in `ids` or already present (remove it first to replace a vector).
        """
        ids_arr = self._check_ids(ids)
        vecs = self._check_vectors(vectors, "vectors", "n")
        if vecs.shape[0] != ids_arr.shape[0]:
            raise ValueError(f"got {ids_arr.shape[0]} ids but {vecs.shape[0]} vectors")
        if np.unique(ids_arr).size != ids_arr.size:
            values, counts = np.unique(ids_arr, return_counts=True)
            raise ValueError(f"ids repeated within one add: {values[counts > 1][:10].tolist()}")
        present = [int(i) for i in ids_arr if int(i) in self._id_set]
        if present:
            raise ValueError(
                f"{len(present)} id(s) already in index {self._space!r}, e.g. {present[:10]}; remove them first"
            )
        if ids_arr.size == 0:
            return
        if not self._index.is_trained:
            raise ValueError(
                f"index {self._space!r} ({self._index_type}) is not trained: build it with from_vectors or train first"
            )
        self._index.add_with_ids(vecs, ids_arr)
        self._id_set.update(int(i) for i in ids_arr)

    def remove(self, ids: Collection[int] | np.ndarray) -> int:
        """Remove these ids; ids not present are ignored. Returns how many were removed."""
        ids_arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
        if ids_arr.size == 0:
            return 0
        if not np.issubdtype(ids_arr.dtype, np.integer):
            raise ValueError(f"expected integer ids, got dtype {ids_arr.dtype}")
        present = np.array(sorted({int(i) for i in ids_arr.ravel()} & self._id_set), dtype=np.int64)
        if present.size == 0:
            return 0
        if self._index_type == "flat":
            removed = int(self._index.remove_ids(present))
        elif self._index_type == "ivfpq":
            # A hashtable direct map only removes through an IDSelectorArray (the wrapper would build a batch one).
            removed = int(self._index.remove_ids(faiss.IDSelectorArray(present.size, faiss.swig_ptr(present))))
        else:
            # HNSW graphs cannot drop nodes: mark them dead in the id map (module docstring), compact when many are.
            id_map = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            dying = np.isin(id_map, present)
            id_map[dying] = _DEAD_ID
            faiss.copy_array_to_vector(id_map, self._index.id_map)
            self._index.construct_rev_map()
            removed = int(dying.sum())
            self._id_set.difference_update(int(i) for i in present)
            if self._dead > COMPACT_DEAD_SHARE * self._index.ntotal:
                self._compact()
            return removed
        self._id_set.difference_update(int(i) for i in present)
        return removed

    def _compact(self) -> None:
        """Rebuild an hnsw graph from its live nodes only."""
        id_map = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        live = id_map != _DEAD_ID
        if self._index_params["sq8"] and self.vector_source is not None:
            # 8-bit codes decode to approximations: re-encode the exact vectors, not those.
            vectors = np.asarray(self.vector_source(id_map[live]), dtype=np.float32)
        else:
            vectors = self._all_vectors()[live]
        self.rebuild(id_map[live], vectors)

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the whole content with `vectors` (n, dim) under `ids` (n,); settings stay the same.

        An ivfpq index is retrained on the new vectors.
        """
        old_index, old_set = self._index, self._id_set
        self._index = make_faiss_index(self._index_type, self._dim, self._metric, self._index_params)
        self._id_set = set()
        try:
            self.train(vectors)
            self.add(ids, vectors)
        except Exception:
            # Leave the index as it was if the new content is rejected.
            self._index, self._id_set = old_index, old_set
            raise

    # ---------------------------------------------------------------- reading

    def reconstruct(self, item_id: int) -> np.ndarray:
        """The vector of `item_id`, (dim,) float32. Raises KeyError if the id is not present.

        For ivfpq: the exact vector from `vector_source` when set, else the PQ approximation the index stores.
        """
        if item_id not in self:
            raise KeyError(f"id {item_id} is not in index {self._space!r}")
        if self._index_type in _LOSSY and self.vector_source is not None:
            return np.asarray(self.vector_source(np.array([int(item_id)], dtype=np.int64))[0], dtype=np.float32)
        return np.asarray(self._index.reconstruct(int(item_id)), dtype=np.float32)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exclude: Sequence[Collection[int]] | None = None,
    ) -> list[list[tuple[int, float]]]:
        """The k best (id, score) pairs for each query, best first.

        queries: (q, dim) float. k >= 1; fewer come back when the index holds fewer (never -1 padding).
        Score, higher is better: the inner product for metric "ip" (the cosine similarity, in [-1, 1], when
        vectors and queries are unit-normalized); minus the squared Euclidean distance for "l2" (<= 0).
        exclude: one collection of ids per query, dropped from that query's results (e.g. the query item
        itself); k results still come back when enough other items exist.
        With index_type "hnsw" or "ivfpq" the results are approximate. An ivfpq index with `vector_source` set and
        param rerank > 0 fetches max(rerank, RERANK_PER_RESULT·(k + excluded)) candidates and re-scores them with
        the exact vectors, so its scores are exact and only the candidate set is approximate.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        q = self._check_vectors(queries, "queries", "q")
        if exclude is not None and len(exclude) != q.shape[0]:
            raise ValueError(f"expected one exclude set per query ({q.shape[0]}), got {len(exclude)}")
        excluded = [set() for _ in range(q.shape[0])] if exclude is None else [{int(i) for i in ex} for ex in exclude]
        ntotal = len(self)
        if ntotal == 0 or q.shape[0] == 0:
            return [[] for _ in range(q.shape[0])]
        # Over-fetch by the largest exclude set so each query still has k after filtering.
        fetch = min(ntotal, int(k) + max((len(ex) for ex in excluded), default=0))
        rerank = self._index_params.get("rerank", 0) if self._index_type in _LOSSY else 0
        if rerank and self.vector_source is not None:
            scores, labels = self._rerank(q, min(ntotal, max(rerank, RERANK_PER_RESULT * fetch)))
        elif self._dead:
            # Skip dead hnsw nodes inside the graph walk, so k live results come back without over-fetching. The
            # selector sees item ids (IndexIDMap2 translates) and the params carry efSearch, or FAISS's 16 applies.
            dead = np.array([_DEAD_ID], dtype=np.int64)
            dead_selector = faiss.IDSelectorArray(1, faiss.swig_ptr(dead))
            live_selector = faiss.IDSelectorNot(dead_selector)
            params = faiss.SearchParametersHNSW(sel=live_selector, efSearch=self._index_params["ef_search"])
            scores, labels = self._index.search(q, fetch, params=params)
        elif self._index_type == "flat" and q.shape[0] == 1:
            with faiss_threads(_FLAT_SINGLE_QUERY_THREADS):
                scores, labels = self._index.search(q, fetch)
        else:
            scores, labels = self._index.search(q, fetch)
        if self._metric == "l2":
            scores = 0.0 - scores  # not -scores: an exact match scores 0.0, not -0.0
        results: list[list[tuple[int, float]]] = []
        for row_scores, row_labels, ex in zip(scores, labels, excluded, strict=True):
            row: list[tuple[int, float]] = []
            for label, score in zip(row_labels.tolist(), row_scores.tolist(), strict=True):
                if label == -1 or label in ex:
                    continue
                row.append((label, score))
                if len(row) == k:
                    break
            results.append(row)
        return results

    def _rerank(self, q: np.ndarray, candidates: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's top `candidates` per query re-scored exactly: (scores, labels), each (q, candidates), best
        first, in FAISS's conventions (l2: squared distance, smaller first; missing: label -1)."""
        _, labels = self._index.search(q, candidates)
        assert self.vector_source is not None
        scores = np.full(labels.shape, -np.inf, dtype=np.float32)
        for row, row_labels in enumerate(labels):
            valid = row_labels >= 0
            try:
                vecs = np.asarray(self.vector_source(row_labels[valid]), dtype=np.float32)
            except KeyError:
                # An id whose exact vector is gone (removed by another writer after this index was read): drop it.
                valid &= np.array([self._has_exact(int(i)) for i in row_labels])
                vecs = np.asarray(self.vector_source(row_labels[valid]), dtype=np.float32).reshape(-1, self._dim)
            if self._metric == "ip":
                scores[row, valid] = vecs @ q[row]
            else:
                scores[row, valid] = -((vecs - q[row]) ** 2).sum(axis=1)
        # Sort by exact score (higher first) with the id as tie-break, then restore FAISS's l2 convention.
        order = np.lexsort((labels, -scores), axis=1)
        scores, labels = np.take_along_axis(scores, order, 1), np.take_along_axis(labels, order, 1)
        labels[~np.isfinite(scores)] = -1
        return (scores if self._metric == "ip" else -scores), labels

    def _has_exact(self, item_id: int) -> bool:
        if item_id < 0 or self.vector_source is None:
            return False
        try:
            self.vector_source(np.array([item_id], dtype=np.int64))
        except KeyError:
            return False
        return True

    # ---------------------------------------------------------------- persistence

    def save(self, *, revision: int | None = None) -> None:
        """Write index.faiss and manifest.json into `directory` atomically.

        Each file is written to a ``.tmp`` sibling, fsynced, then renamed over the old one: the index first,
        the manifest last, then the directory is fsynced. A crash leaves either the old pair, or a new index
        beside the old manifest, which `open` detects (size/sha256) and refuses. revision: if given, stored
        as `self.revision` before writing.

        Raises OSError (one line) when a file cannot be written, e.g. a full disk; the ``.tmp`` files are removed
        then and the saved pair stays as it was.
        """
        if revision is not None:
            self.revision = int(revision)
        directory = self._directory
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        if created:
            _fsync_dir(directory.parent)

        index_path, manifest_path = directory / INDEX_FILE, directory / MANIFEST_FILE
        index_tmp = index_path.with_name(INDEX_FILE + ".tmp")
        manifest_tmp = manifest_path.with_name(MANIFEST_FILE + ".tmp")

        try:
            self._write_pair(index_tmp, manifest_tmp)
        except BaseException:
            # Half-written temporaries only take space (a full disk stays full): remove them, keep the old pair.
            for tmp in (index_tmp, manifest_tmp):
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
            raise
        os.replace(index_tmp, index_path)
        os.replace(manifest_tmp, manifest_path)
        _fsync_dir(directory)

    def _write_pair(self, index_tmp: Path, manifest_tmp: Path) -> None:
        """Write and fsync the index to ``index_tmp`` and its manifest to ``manifest_tmp``."""
        try:
            faiss.write_index(self._index, str(index_tmp))
        except RuntimeError as exc:  # FAISS reports a failed write (ENOSPC, EFBIG) as a C++ exception
            reason = _faiss_reason(exc)
            # "... write error in <path>: 106128 != 117760 (No space left on device)": the OS's words suffice.
            system = re.search(r"write error in .*\(([^()]+)\)$", reason)
            raise OSError(f"cannot write {index_tmp}: {system.group(1) if system else reason}") from None
        with index_tmp.open("rb+") as f:
            os.fsync(f.fileno())
        manifest = {
            "format": MANIFEST_FORMAT,
            "space": self._space,
            "dim": self._dim,
            "metric": self._metric,
            "fingerprint": self._fingerprint,
            "index_type": self._index_type,
            "index_params": self._index_params,
            "count": len(self),
            "revision": self.revision,
            **({"policy": self.policy} if self.policy is not None else {}),
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

    def _check_ids(self, ids: np.ndarray) -> np.ndarray:
        arr = np.asarray(ids)
        if arr.ndim != 1:
            raise ValueError(f"expected ids of shape (n,), got {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"expected integer ids (int64), got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.int64)
        # -1 is FAISS's "no result" marker; negative ids would be ambiguous.
        if arr.size and arr.min() < 0:
            raise ValueError(f"ids must be >= 0, got {arr.min()}")
        return arr

    def _check_vectors(self, vectors: np.ndarray, what: str, n: str) -> np.ndarray:
        arr = np.asarray(vectors)
        if arr.ndim != 2 or arr.shape[1] != self._dim:
            raise ValueError(f"expected {what} of shape ({n}, {self._dim}), got {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"expected floating-point {what} (float32), got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ValueError(f"{what} contain NaN or infinite values")
        return arr

    def _all_vectors(self) -> np.ndarray:
        """The stored vectors in FAISS's internal order (the order of `id_map`, dead hnsw nodes included), (n, dim)
        float32."""
        inner = faiss.downcast_index(self._index.index)
        if inner.ntotal == 0:
            return np.zeros((0, self._dim), dtype=np.float32)
        return inner.reconstruct_n(0, inner.ntotal)

    def _apply_search_params(self) -> None:
        if self._index_type == "hnsw":
            faiss.downcast_index(self._index.index).hnsw.efSearch = self._index_params["ef_search"]
        elif self._index_type == "ivfpq":
            _ivf_of(self._index).nprobe = self._index_params["nprobe"]


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


def _read_manifest(path: Path) -> dict[str, Any]:
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
    if manifest["metric"] not in _FAISS_METRICS:
        raise IndexMismatchError(f"{path}: expected metric 'ip' or 'l2', got {manifest['metric']!r}")
    if manifest["index_type"] not in INDEX_TYPE_DEFAULTS:
        raise IndexMismatchError(
            f"{path}: index_type {manifest['index_type']!r} is not one this styledex builds "
            f"({sorted(INDEX_TYPE_DEFAULTS)}); rebuild the index"
        )
    return manifest
