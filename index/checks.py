"""Checks of the ids and vectors handed to an index, converted to what FAISS takes (contiguous int64 / float32)."""

from __future__ import annotations

import numpy as np


def checked_ids(ids: np.ndarray) -> np.ndarray:
    """`ids` as a contiguous (n,) int64 array; ValueError unless they are n integers >= 0."""
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


def checked_vectors(vectors: np.ndarray, dim: int, what: str, n: str) -> np.ndarray:
    """`vectors` as a contiguous (n, dim) float32 array; ValueError unless they are finite floats of that shape.

    what, n: the argument's name and its row count's name in the messages (e.g. "queries", "q").
    """
    arr = np.asarray(vectors)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"expected {what} of shape ({n}, {dim}), got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"expected floating-point {what} (float32), got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return arr
