"""Vector indexes: one FAISS index per embedding space, with a manifest, persistence, search and fusion.

This package knows nothing of the embedders or the catalog: it takes ids and vectors, and per-space settings as
arguments. The modules, one job each: `factory` (index types and parameters → FAISS indexes), `persistence`
(manifest, checks, atomic save), `dead_nodes` (hnsw removal), `exact_vectors` (the `ExactVectors` interface),
`rerank`, `query` (one search), `checks`, `threads`, `space_index` (`SpaceIndex`, composing them), `policy`
(which type a space gets) and `fusion` (mixes of spaces). The Milvus back end: `milvus_client` (connection and
expressions), `milvus_collection` (one collection per catalog, a vector field per space) and `milvus_index` (a
space of it with the `SpaceIndex` contract); pymilvus is imported only when it is used.
"""

from .exact_vectors import ArrayVectors, ExactVectors
from .fusion import fuse, fused_score, parse_mix
from .space_index import INDEX_TYPE_DEFAULTS, IndexMismatchError, SpaceIndex, faiss_threads, make_faiss_index

__all__ = [
    "INDEX_TYPE_DEFAULTS", "ArrayVectors", "ExactVectors", "IndexMismatchError", "SpaceIndex", "faiss_threads", "fuse",
    "fused_score", "make_faiss_index", "parse_mix",
]  # fmt: skip
