"""Which FAISS index type a space gets, from its item count, its dimension, its hints and a memory budget.

The rules (thresholds measured with ``styledex bench --part search``; see the README's search-latency table):

- ``flat`` (exact) while the catalog is small (``count <= flat_max_items``, 5k by default: an exact scan of 2944-d
  vectors measured ~1.3 µs per item on one core here, 13 ms at 10k, where HNSW answered in 1.5 ms) and the float32
  vectors fit the budget.
- ``hnsw`` when float32 vectors plus the graph fit the budget, at any size: for the 100-d predictor space at 1M
  items (680 B/item) it answered with recall@10 1.000 in 0.26 ms where ivfpq reached 0.881 in 1.6 ms (before its
  re-ranking's SQLite reads). Below ``ivfpq_min_items`` (200k by default) ``hnsw`` with 8-bit scalar-quantized
  storage (``sq8=1``: a quarter of the vector bytes) is next, if that fits.
- ``hnsw`` over the first ``graph_dims`` principal components (``pca``), for a space that hints them, when the
  whole vectors do not fit (after sq8 below ``ivfpq_min_items``): a 2048-d `content` graph at 1M items takes ~1.3
  KB/item over 256 components instead of ~8.5 KB; candidates are re-scored with the exact vectors, as ivfpq's are.
- ``ivfpq`` otherwise: from ``ivfpq_min_items`` on when float32 hnsw does not fit, or whenever neither HNSW fits.
  ``nlist`` ≈ 4·√count, clipped so every list averages 32+ vectors; ``m`` (bytes per PQ code) is the largest
  divisor of ``dim`` with sub-vectors of at least ``pq_subvector_dims`` dimensions (a per-space hint the caller
  takes from the space's definition; ``DEFAULT_PQ_SUBVECTOR_DIMS`` = 8 without one) whose estimated bytes per item
  fit the budget.

Estimated bytes per item (what the index file holds; `bytes_per_item` in the bench is the measured file size/count):
flat 4·dim + 8 (the id map); hnsw 4·dim (sq8: dim; pca: 4·pca) + 8·m (two layer-0 links of 4 bytes per unit of
degree) + 24, with pca also (dim + pca + 2)·dim·4 / count for the PCA (its full eigenvector matrix, projection, mean);
ivfpq m + 24 (the id in its list and in the id hashtable) + (nlist + 2**nbits)·dim·4 (+ dim²·4 with OPQ) / count.

This module imports no FAISS, so settings can be checked cheaply. It knows no space by name: everything about a
space comes from the caller as arguments (its dimension, its hints).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

INDEX_TYPES = ("flat", "hnsw", "ivfpq")
POLICIES = ("auto", *INDEX_TYPES)

DEFAULT_MEMORY_BUDGET_MB = 2048.0
DEFAULT_FLAT_MAX_ITEMS = 5_000
DEFAULT_IVFPQ_MIN_ITEMS = 200_000
# Fewer vectors than this cannot train ivfpq's 256-centroid PQ codebooks (nbits 8): a forced ivfpq falls back to flat.
IVFPQ_MIN_TRAIN = 256
# The smallest PQ sub-vector (dims per code byte) for a space without a hint of its own: the VGG spaces (adain, gram,
# content) lost no eval P@5 at 8-d sub-vectors. Spaces whose variance is spread over all their dimensions hint finer
# ones (the `pq_subvector_dims` of their definition, with its measurements).
DEFAULT_PQ_SUBVECTOR_DIMS = 8
_MIN_PER_LIST = 32
# ef_search of an hnsw graph over principal components (the graph's order is rougher than over whole vectors).
REDUCED_EF_SEARCH = 128


class IndexChoice(NamedTuple):
    """The outcome of `choose_index`: a type, its parameters (only those the policy sets) and a one-line reason."""

    index_type: str
    params: dict[str, int]
    reason: str

    def manifest_entry(self, chosen_by: str, count: int, budget_bytes: int) -> dict[str, Any]:
        """What the index manifest records under "policy"."""
        return {"chosen_by": chosen_by, "count": count, "budget_bytes": budget_bytes, "reason": self.reason}


def estimate_bytes_per_item(index_type: str, dim: int, count: int, params: Mapping[str, int]) -> float:
    """The index file's estimated size divided by `count`, in bytes (see the module docstring for the terms)."""
    if index_type == "flat":
        return 4.0 * dim + 8
    if index_type == "hnsw":
        reduced = params.get("pca", 0)
        per_vector = dim if params.get("sq8", 0) else 4 * (reduced or dim)
        pca = (dim + reduced + 2) * dim * 4 / max(count, 1) if reduced else 0.0
        return float(per_vector + 8 * params.get("m", 32) + 24 + pca)
    if index_type == "ivfpq":
        fixed = (params["nlist"] + 2 ** params.get("nbits", 8)) * dim * 4 + (dim * dim * 4 if params.get("opq") else 0)
        return params["m"] + 24 + fixed / max(count, 1)
    raise ValueError(f"unknown index_type {index_type!r}; expected one of {list(INDEX_TYPES)}")


def ivfpq_nlist(count: int) -> int:
    """Inverted lists for `count` vectors: ≈ 4·√count, at most count/32 (so lists are not near-empty), 1..65536."""
    return int(max(1, min(round(4 * math.sqrt(max(count, 1))), count // _MIN_PER_LIST, 65_536)))


def ivfpq_nprobe(nlist: int) -> int:
    """Lists visited per query: 1/8 of them, 16..256 (at most all of them). Re-ranking recovers the order
    within the candidates, not neighbours in lists never visited, so recall hinges on this."""
    return int(min(nlist, max(16, min(256, nlist // 8))))


def ivfpq_m_choices(dim: int, min_subvector_dims: int = DEFAULT_PQ_SUBVECTOR_DIMS) -> list[int]:
    """Allowed PQ sub-quantizer counts for `dim`, largest first: divisors of dim with sub-vectors of at least
    `min_subvector_dims` dims (8 by default: finer ones cost bytes for little recall on the VGG spaces, whose
    variance sits in few directions); just [1] when dim is smaller."""
    found = [m for m in range(1, dim + 1) if dim % m == 0 and dim // m >= min_subvector_dims]
    return sorted(found, reverse=True) or [1]


def _ivfpq_params(
    count: int, dim: int, budget_per_item: float, overrides: Mapping[str, int], min_subvector_dims: int
) -> dict[str, int]:
    nlist = int(overrides.get("nlist", ivfpq_nlist(count)))
    params = {"nlist": nlist, "nprobe": ivfpq_nprobe(nlist)}
    if "m" in overrides:
        params["m"] = int(overrides["m"])
        return params
    choices = ivfpq_m_choices(dim, min_subvector_dims)
    base = {"nlist": nlist, "nbits": int(overrides.get("nbits", 8)), "opq": int(overrides.get("opq", 0))}
    fitting = [m for m in choices if estimate_bytes_per_item("ivfpq", dim, count, base | {"m": m}) <= budget_per_item]
    params["m"] = fitting[0] if fitting else choices[-1]
    return params


def choose_index(
    count: int,
    dim: int,
    memory_budget_bytes: float,
    *,
    policy: str = "auto",
    overrides: Mapping[str, Mapping[str, int]] | None = None,
    flat_max_items: int = DEFAULT_FLAT_MAX_ITEMS,
    ivfpq_min_items: int = DEFAULT_IVFPQ_MIN_ITEMS,
    pq_subvector_dims: int | None = None,
    graph_dims: int | None = None,
) -> IndexChoice:
    """The index type and parameters for one space of `count` vectors of `dim` floats within `memory_budget_bytes`.

    policy: "auto" (the rules in the module docstring) or a type name to force ("ivfpq" still falls back to flat
    below IVFPQ_MIN_TRAIN vectors, which cannot train it). overrides: per-type parameters from the config, e.g.
    {"ivfpq": {"nprobe": 64}}; they win over the policy's own choices. The returned params hold the policy's
    choices merged with the overrides of the chosen type (the rest come from the index type's defaults).
    pq_subvector_dims: the space's hint for the smallest PQ sub-vector (dims per code byte; finer for spaces whose
    variance is spread over all their dimensions), from its definition; None: `DEFAULT_PQ_SUBVECTOR_DIMS`.
    graph_dims: the space's hint for an hnsw graph over that many principal components when its whole vectors do
    not fit (None, or not below dim: never).
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown index policy {policy!r}; expected one of {list(POLICIES)}")
    sub_dims = DEFAULT_PQ_SUBVECTOR_DIMS if pq_subvector_dims is None else int(pq_subvector_dims)
    if sub_dims < 1:
        raise ValueError(f"pq_subvector_dims must be >= 1, got {pq_subvector_dims!r}")
    overrides = {name: dict(values) for name, values in (overrides or {}).items()}
    per_item = memory_budget_bytes / max(count, 1)
    hnsw = overrides.get("hnsw", {})

    def fits(index_type: str, params: Mapping[str, int]) -> bool:
        return estimate_bytes_per_item(index_type, dim, count, params) <= per_item

    def ivfpq(reason: str) -> IndexChoice:
        if count < IVFPQ_MIN_TRAIN:
            return IndexChoice("flat", {}, f"{reason}, but {count} < {IVFPQ_MIN_TRAIN} vectors cannot train ivfpq")
        params = _ivfpq_params(count, dim, per_item, overrides.get("ivfpq", {}), sub_dims)
        params |= overrides.get("ivfpq", {})
        estimate = estimate_bytes_per_item("ivfpq", dim, count, {"nbits": 8, "opq": 0} | params)
        over = "" if estimate <= per_item else " (over budget even at the smallest m)"
        return IndexChoice("ivfpq", params, f"{reason}: m={params['m']}, ~{estimate:.0f} B/item{over}")

    if policy == "flat":
        return IndexChoice("flat", {}, "forced flat")
    if policy == "hnsw":
        return IndexChoice("hnsw", dict(hnsw), "forced hnsw")
    if policy == "ivfpq":
        return ivfpq("forced ivfpq")
    budget = f"{per_item:.0f} B/item budget"
    if count <= flat_max_items and fits("flat", {}):
        return IndexChoice("flat", {}, f"{count} <= {flat_max_items} items and flat fits the {budget}")
    if fits("hnsw", {"sq8": 0} | hnsw):
        return IndexChoice("hnsw", {"sq8": 0} | hnsw, f"{count} items; float32 hnsw fits the {budget}")
    if count < ivfpq_min_items and fits("hnsw", hnsw | {"sq8": 1}):
        return IndexChoice("hnsw", hnsw | {"sq8": 1}, f"{count} items; only sq8 hnsw fits the {budget}")
    # A wider search (ef_search 128): at 1M 2048-d content vectors over 256 components, twelve-view queries found
    # 0.976 of the exact top 10 at 128 and 0.949 at the default 64 (README); config overrides still win.
    reduced = None
    if graph_dims and graph_dims < dim:
        reduced = {"sq8": 0, "ef_search": REDUCED_EF_SEARCH} | hnsw | {"pca": graph_dims}
    if reduced is not None and fits("hnsw", reduced):
        estimate = estimate_bytes_per_item("hnsw", dim, count, reduced)
        return IndexChoice("hnsw", reduced, (
            f"{count} items; float32 hnsw does not fit the {budget}, hnsw over {graph_dims} principal components "
            f"does (~{estimate:.0f} B/item; candidates re-scored with the exact vectors)"
        ))  # fmt: skip
    if count < ivfpq_min_items:
        return ivfpq(f"{count} items; no hnsw fits the {budget}")
    return ivfpq(f"{count} >= {ivfpq_min_items} items and float32 hnsw does not fit the {budget}")
