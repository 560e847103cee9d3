"""The FAISS factory: index type + parameters → an empty FAISS index, and the knobs that type turns at query time.

Index types: "flat" (exact), "hnsw" (graph; float32 or, with sq8=1, 8-bit scalar-quantized storage, or, with pca=d,
over the vectors' first d principal components, re-ranked with the exact vectors), both inside an IndexIDMap2;
"ivfpq" (inverted lists of product-quantized codes, optionally behind an OPQ rotation), which keeps the ids itself:
IndexIDMap2 cannot wrap it because its remove_ids renumbers positions that IVF lists still hold, and FAISS refuses
removal through it with a hashtable direct map. An ivfpq index must be trained before it takes
vectors, so it is built with `SpaceIndex.from_vectors` (or `train` then `add`), never grown from an empty `create`.

Also here, because every layout question is answered by the type: which ids a FAISS index of these layouts holds
(`faiss_ids`), which parameters may change after the build (`SEARCH_PARAMS`) and how they are applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import faiss
import numpy as np

from .dead_nodes import DEAD_ID

Metric = Literal["ip", "l2"]

FAISS_METRICS: dict[str, int] = {"ip": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}

# Each index type's tunable parameters and their defaults; adding a type means a defaults entry plus a branch in
# `make_faiss_index`.
INDEX_TYPE_DEFAULTS: dict[str, dict[str, int]] = {
    "flat": {},
    # m: graph degree; ef_construction / ef_search: candidate-list sizes at build / query time;
    # sq8: 1 stores 8-bit scalar-quantized vectors (dim bytes per item instead of 4·dim); pca: d > 0 builds the
    # graph over the first d principal components (a trained PCAMatrix, 4·d bytes per item), and candidates are then
    # re-scored with the exact vectors, `rerank` of them at least (as ivfpq's; 0 = the reduced scores as they are).
    "hnsw": {"m": 32, "ef_construction": 40, "ef_search": 64, "sq8": 0, "pca": 0, "rerank": 100},
    # nlist: inverted lists (coarse centroids); m: PQ sub-quantizers (bytes per code at nbits 8; must divide dim);
    # nprobe: lists visited per query; opq: 1 adds a learned rotation before PQ; rerank: candidates re-scored with
    # the exact vectors when the index has a `vector_source` (0 = PQ scores as they are).
    "ivfpq": {"nlist": 1024, "m": 64, "nbits": 8, "nprobe": 32, "opq": 0, "rerank": 100},
}
# Parameters allowed below 1 (flags and "off" values) or bounded above; every other one must be >= 1.
_PARAM_RANGES: dict[str, tuple[int, int]] = {
    "sq8": (0, 1), "opq": (0, 1), "rerank": (0, 100_000), "nbits": (1, 16), "pca": (0, 65_536),
}  # fmt: skip
# Parameters that only steer queries, so `SpaceIndex.set_search_params` may change them on a built index.
SEARCH_PARAMS: dict[str, set[str]] = {"hnsw": {"ef_search", "rerank"}, "ivfpq": {"nprobe", "rerank"}}
# k-means settings for training ivfpq: few iterations and a sample per centroid keep training minutes, not hours,
# at 2944-d (the quality lost is small next to the PQ error, and `rerank` takes the rest back).
_KMEANS_NITER = 10
_KMEANS_POINTS_PER_CENTROID = 32
# Training an OPQ rotation on 2944-d vectors crashed (SIGSEGV inside the OpenBLAS that faiss-cpu 1.15.1 bundles),
# with FAISS's own PQ as with ours; 32-d works. Larger dims are refused rather than risked (unmeasured in between).
_OPQ_MAX_DIM = 1024


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


def is_lossy(index_type: str, params: Mapping[str, int]) -> bool:
    """Whether an index of this type and parameters stores approximations of its vectors, so its candidates are
    re-ranked and its items reconstructed with the exact vectors (`vector_source`): ivfpq (PQ codes), and hnsw over
    principal components (pca > 0). (sq8 hnsw is near-exact and searches its 8-bit codes as they are.)"""
    return index_type == "ivfpq" or (index_type == "hnsw" and params.get("pca", 0) > 0)


def _in_range(name: str, value: int) -> bool:
    low, high = _PARAM_RANGES.get(name, (1, 2**31 - 1))
    return low <= value <= high


def make_faiss_index(index_type: str, dim: int, metric: Metric, params: Mapping[str, int] | None = None):
    """A new empty FAISS index whose ids are caller-chosen int64 and reconstructible.

    index_type: "flat" (exact) or "hnsw" (approximate: IndexHNSWFlat, or IndexHNSWSQ with sq8=1, or with pca=d an
    untrained IndexPreTransform(PCAMatrix to d dims, IndexHNSWFlat in L2 over them)), both wrapped in IndexIDMap2;
    "ivfpq" (IndexIVFPQ over a flat coarse quantizer, behind an OPQ IndexPreTransform with opq=1), untrained,
    keeping ids in its own lists with a hashtable direct map (for reconstruct and remove by id).
    metric: "ip" (inner product) or "l2" (squared Euclidean distance).
    """
    if metric not in FAISS_METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected 'ip' or 'l2'")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    params = resolve_index_params(index_type, params)
    faiss_metric = FAISS_METRICS[metric]
    if index_type == "flat":
        inner = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
    elif index_type == "hnsw" and params["pca"]:
        inner = _make_pca_hnsw(dim, params)
        inner.metric_type = faiss_metric  # what its re-ranked scores are; the graph inside measures L2
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


def _make_pca_hnsw(dim: int, params: Mapping[str, int]) -> Any:
    """An untrained IndexPreTransform(PCAMatrix(dim → pca), IndexHNSWFlat(pca)); see make_faiss_index."""
    reduced = params["pca"]
    if reduced >= dim:
        raise ValueError(f"hnsw: pca={reduced} must be below the vectors' dim {dim} (pca=0 keeps them whole)")
    if params["sq8"]:
        raise ValueError("hnsw: pca and sq8 are two ways to shrink the graph's vectors; set one of them")
    # The projections are centred, so L2 between them approximates the L2 between the whole vectors, which orders
    # unit vectors as their inner product does (an inner product of centred projections would not); the re-ranking
    # restores the exact "ip" or "l2" score, and without it `reduced_scores` converts the distances.
    graph = faiss.IndexHNSWFlat(reduced, params["m"], faiss.METRIC_L2)
    graph.hnsw.efConstruction = params["ef_construction"]
    graph.hnsw.efSearch = params["ef_search"]
    # FAISS's Python wrapper keeps the PCAMatrix and the graph alive as long as the IndexPreTransform.
    return faiss.IndexPreTransform(faiss.PCAMatrix(dim, reduced), graph)


def reduced_scores(distances: np.ndarray, metric: Metric) -> np.ndarray:
    """Scores, higher better, from the squared L2 distances an hnsw graph over principal components returns when
    nothing re-ranks them: "ip" 1 - d/2 (the inner product of unit vectors that far apart), "l2" -d."""
    return 1.0 - distances / 2.0 if metric == "ip" else 0.0 - distances


def hnsw_of(id_mapped: Any) -> Any:
    """The IndexHNSW inside an hnsw index's IndexIDMap2 (directly, or behind its PCA IndexPreTransform)."""
    inner = faiss.downcast_index(id_mapped.index)
    return faiss.downcast_index(inner.index) if isinstance(inner, faiss.IndexPreTransform) else inner


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


def expected_faiss_classes(index_type: str) -> tuple[type, ...]:
    """The FAISS classes `make_faiss_index` returns for `index_type` (what a saved index of that type must be)."""
    return (faiss.IndexIVFPQ, faiss.IndexPreTransform) if index_type == "ivfpq" else (faiss.IndexIDMap2,)


def ivf_of(faiss_index: Any) -> Any:
    """The IndexIVFPQ inside an ivfpq index (itself, or the one behind an OPQ IndexPreTransform)."""
    return faiss.extract_index_ivf(faiss_index)


def faiss_ids(faiss_index: Any) -> np.ndarray:
    """Every live id stored in `faiss_index`, (n,) int64, in no particular order (dead hnsw nodes left out)."""
    if isinstance(faiss_index, faiss.IndexIDMap2):
        ids = faiss.vector_to_array(faiss_index.id_map).astype(np.int64, copy=False)
        return ids[ids != DEAD_ID]
    invlists = ivf_of(faiss_index).invlists
    chunks = [np.zeros(0, dtype=np.int64)]
    for list_no in range(invlists.nlist):
        size = invlists.list_size(list_no)
        if size:
            chunks.append(faiss.rev_swig_ptr(invlists.get_ids(list_no), size).astype(np.int64, copy=True))
    return np.concatenate(chunks)


def remove_stored(faiss_index: Any, index_type: str, ids: np.ndarray) -> int:
    """Remove the items of `ids` (n,) int64 from a "flat" or "ivfpq" index; how many were removed. (An hnsw graph
    cannot drop nodes: `.dead_nodes.mark_dead` marks them instead.)"""
    if index_type == "flat":
        return int(faiss_index.remove_ids(ids))
    if index_type == "ivfpq":
        # A hashtable direct map only removes through an IDSelectorArray (the wrapper would build a batch one).
        return int(faiss_index.remove_ids(faiss.IDSelectorArray(ids.size, faiss.swig_ptr(ids))))
    raise ValueError(f"index_type {index_type!r} does not remove stored vectors; expected 'flat' or 'ivfpq'")


def apply_search_params(faiss_index: Any, index_type: str, params: Mapping[str, int]) -> None:
    """Set the query-time parameters of `params` on `faiss_index` (hnsw: efSearch; ivfpq: nprobe; flat: none).

    `SpaceIndex` calls it after a load, a training and a change of parameters, so the parameters it records (and
    saves in the manifest) are the ones FAISS searches with."""
    if index_type == "hnsw":
        hnsw_of(faiss_index).hnsw.efSearch = params["ef_search"]
    elif index_type == "ivfpq":
        ivf_of(faiss_index).nprobe = params["nprobe"]
