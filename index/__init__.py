"""Vector indexes: one FAISS index per embedding space, with a manifest, persistence, search and fusion.

This package knows nothing of the embedders or the catalog: it takes ids and vectors.
"""

from .fusion import fuse, parse_mix
from .space_index import INDEX_TYPE_DEFAULTS, IndexMismatchError, SpaceIndex, faiss_threads, make_faiss_index

__all__ = [
    "INDEX_TYPE_DEFAULTS", "IndexMismatchError", "SpaceIndex", "faiss_threads", "fuse", "make_faiss_index", "parse_mix",
]
