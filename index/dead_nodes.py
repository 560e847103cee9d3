"""Dead-node marks: how an hnsw index forgets items without rebuilding its graph.

HNSW graphs cannot drop nodes, so removing from an hnsw index marks the nodes dead instead: their id in the
IndexIDMap2's id map becomes `DEAD_ID` (saved with the index, so a crash cannot lose or half-apply it), searches pass
FAISS a selector that skips them while still routing through them, and once dead nodes exceed `COMPACT_DEAD_SHARE`
of the graph it is rebuilt from the live ones. A rebuild per removal cost 88 s at 1M 100-d vectors.

The functions take the FAISS IndexIDMap2 itself; `SpaceIndex` decides when to call them.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

# The id a removed hnsw node gets in the id map (never a real id: ids are >= 0).
DEAD_ID = -1
# An hnsw index is rebuilt from its live nodes once dead (removed) nodes exceed this share of the graph: each removed
# item then costs a fraction of one rebuild, amortized, and searches never route through mostly dead nodes.
COMPACT_DEAD_SHARE = 0.25


def mark_dead(id_mapped: Any, ids: np.ndarray) -> int:
    """Mark the nodes of `ids` (n,) int64 dead in the IndexIDMap2 `id_mapped`; how many nodes were marked.

    The reverse map is rebuilt, so a later add of one of these ids makes a new node instead of finding the old one.
    """
    id_map = faiss.vector_to_array(id_mapped.id_map).astype(np.int64)
    dying = np.isin(id_map, ids)
    id_map[dying] = DEAD_ID
    faiss.copy_array_to_vector(id_map, id_mapped.id_map)
    id_mapped.construct_rev_map()
    return int(dying.sum())


def needs_compaction(nodes: int, live: int) -> bool:
    """Whether a graph of `nodes` nodes (FAISS's ntotal, dead ones included) with `live` of them alive is due for
    a rebuild: dead nodes over `COMPACT_DEAD_SHARE` of the graph."""
    return nodes - live > COMPACT_DEAD_SHARE * nodes


def live_rows(id_mapped: Any) -> tuple[np.ndarray, np.ndarray]:
    """The id map of the IndexIDMap2 `id_mapped`, (ntotal,) int64 in FAISS's internal order, and the mask (ntotal,)
    bool of its live rows (what a compaction keeps)."""
    id_map = faiss.vector_to_array(id_mapped.id_map).astype(np.int64)
    return id_map, id_map != DEAD_ID


def search_live(id_mapped: Any, queries: np.ndarray, k: int, ef_search: int) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's search of the hnsw IndexIDMap2 `id_mapped` for `queries` (q, dim) float32, skipping dead nodes inside
    the graph walk, so k live results come back without over-fetching: (distances, labels), each (q, k), in FAISS's
    conventions (label -1 where fewer exist).

    The selector sees item ids (IndexIDMap2 translates) and the params carry efSearch, or FAISS's 16 applies. The
    arrays and selectors stay referenced here until the search returns: FAISS holds raw pointers to them.
    """
    dead = np.array([DEAD_ID], dtype=np.int64)
    dead_selector = faiss.IDSelectorArray(1, faiss.swig_ptr(dead))
    live_selector = faiss.IDSelectorNot(dead_selector)
    params = faiss.SearchParametersHNSW(sel=live_selector, efSearch=ef_search)
    return id_mapped.search(queries, k, params=params)


def stored_vectors(id_mapped: Any, dim: int) -> np.ndarray:
    """The vectors the IndexIDMap2 `id_mapped` stores, (ntotal, dim) float32 in FAISS's internal order (that of
    `live_rows`' id map, dead nodes included); 8-bit (sq8) storage decodes to approximations."""
    inner = faiss.downcast_index(id_mapped.index)
    if inner.ntotal == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return inner.reconstruct_n(0, inner.ntotal)
