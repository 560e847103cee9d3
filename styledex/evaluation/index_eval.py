"""``styledex eval --index TYPE``: the benchmark's rankings as an approximate index returns them, among distractors.

Exact evaluation ranks the benchmark's few hundred items by brute force. An approximate index (hnsw, ivfpq) only
loses quality when it has to find those items among many others, so here every space's index holds the
benchmark's items plus ``distractors`` vectors, built with the parameters the index policy picks for that many
items, and each benchmark item queries it for its ``depth`` nearest; distractors are dropped from the answer and the
benchmark items left, in the index's order, are the ranking that the metrics score.

Distractors are drawn from a Gaussian with the benchmark vectors' own mean and sample covariance (each a random
combination of the centred benchmark vectors, plus the mean), then L2-normalized: they lie where the real items lie
and have their spread, so they compete for the index's candidate slots and its coarse lists as a larger real
catalog would, without the labels that only the benchmark has. Distractors can push a relevant item out of the
top ``depth`` of an exact search as well, so the reference is an exact search over the same items and distractors at
the same depth: the difference in P@5 between it and the index is the index's loss alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from styledex.embed.spaces import SPACES
from styledex.evaluation.search_bench import exact_topk
from styledex.evaluation.search_bench.views import exact_best_of_views, views_of_queries
from styledex.index import ArrayVectors, SpaceIndex
from styledex.index.policy import choose_index
from styledex.search import best_of_views

ADD_CHUNK = 65_536  # rows read from the vector file at a time (1 GB at 3808 dims)


def fitted_distractors(vectors: np.ndarray, count: int, *, seed: int = 0, chunk: int = 8192) -> np.ndarray:
    """``count`` unit rows [count, dim] float32 from N(mean, sample covariance) of ``vectors`` [n, dim], n ≥ 2.

    Row = mean + a·(vectors − mean)/√(n − 1) with a ~ N(0, I_n): exactly the sample covariance, without forming the
    dim × dim matrix; then each row is L2-normalized like every embedding.
    """
    out = np.empty((count, np.shape(vectors)[1] if np.ndim(vectors) == 2 else 0), dtype=np.float32)
    for start, block in distractor_chunks(vectors, count, seed=seed, chunk=chunk):
        out[start : start + block.shape[0]] = block
    return out


def distractor_chunks(
    vectors: np.ndarray, count: int, *, seed: int = 0, chunk: int = 8192
) -> Iterator[tuple[int, np.ndarray]]:
    """`fitted_distractors` a chunk at a time: (first row, rows [≤ chunk, dim]), the same rows in the same order,
    so a million of them never have to be in memory at once."""
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"expected at least 2 vectors of shape (n, dim), got {x.shape}")
    mean = x.mean(axis=0)
    centred = (x - mean) / np.float32(np.sqrt(x.shape[0] - 1))
    rng = np.random.default_rng(seed)
    for start in range(0, count, chunk):
        stop = min(count, start + chunk)
        block = rng.standard_normal((stop - start, x.shape[0]), dtype=np.float32) @ centred
        block += mean
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), np.float32(1e-12))
        yield start, block


@dataclass(frozen=True)
class IndexRankings:
    """Per benchmark item (row order of the vectors given), the other benchmark rows the index returned, best first.

    rankings[i]: int64 row numbers, the query row itself excluded, at most ``depth`` − (distractors returned) long.
    exact_rankings: the same from an exact search of the same items and distractors at the same depth, the
    reference the index's loss is measured against (distractors may crowd a relevant item out of the top
    ``depth`` of an exact search too; that is not the index's doing).
    """

    rankings: list[np.ndarray]
    exact_rankings: list[np.ndarray]
    index_type: str
    params: dict[str, int]
    reason: str
    items: int
    distractors: int
    depth: int
    build_seconds: float
    bytes_per_item: float

    def summary(self) -> dict[str, Any]:
        """JSON-ready description of the index (everything but the rankings)."""
        return {
            "index": self.index_type, "params": self.params, "policy": self.reason, "items": self.items,
            "distractors": self.distractors, "depth": self.depth, "build_seconds": self.build_seconds,
            "bytes_per_item": self.bytes_per_item,
        }  # fmt: skip


@dataclass
class EvalIndex:
    """A space's index over the benchmark rows (ids 0..items−1) and distractors (ids items..), built by
    `build_eval_index`; ``everything`` [items + distractors, dim] is the float32 file of their exact vectors, which
    the index re-ranks with."""

    index: SpaceIndex
    everything: np.ndarray
    reason: str
    items: int
    build_seconds: float
    bytes_per_item: float


def build_eval_index(
    vectors: np.ndarray,
    *,
    space: str,
    metric: str,
    index_type: str,
    directory: Path,
    distractors: int = 100_000,
    memory_budget_bytes: float = 2048 * 2**20,
    overrides: Mapping[str, Mapping[str, int]] | None = None,
    thresholds: Mapping[str, int] | None = None,
    seed: int = 0,
) -> EvalIndex:
    """A ``index_type`` index of ``vectors`` [n, dim] (unit rows) plus ``distractors`` `fitted_distractors`.

    The parameters are the policy's for n + distractors items of this dim under ``memory_budget_bytes`` (config
    overrides applied); ivfpq re-ranks its candidates with the exact vectors as a catalog's index does.
    ``index_type`` "auto" lets the policy pick the type, with ``thresholds`` (``flat_max_items``,
    ``ivfpq_min_items``, as the config gives them; the policy's defaults where absent).
    ``directory`` receives the vector file and the saved index (its size gives bytes per item).
    """
    real = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = real.shape
    total = n + distractors
    # Items and distractors go to a float32 file in ``directory``, read back by the build in chunks, by the index's
    # exact re-ranking and by the exact reference: 1M distractors of the 3808-d gram space are 15 GB, more than
    # fits beside everything else in this machine's memory.
    directory.mkdir(parents=True, exist_ok=True)
    everything = np.lib.format.open_memmap(directory / "vectors.npy", mode="w+", dtype=np.float32, shape=(total, dim))
    everything[:n] = real
    if distractors:
        for start, block in distractor_chunks(real, distractors, seed=seed):
            everything[n + start : n + start + block.shape[0]] = block
    everything.flush()
    spec = SPACES.get(space)  # its index hints; a space the registry does not know gets the policy's defaults
    choice = choose_index(
        total, dim, memory_budget_bytes, policy=index_type, overrides=overrides,
        **({} if spec is None else spec.index_hints()), **(thresholds or {}),
    )  # fmt: skip
    started = time.perf_counter()
    index = SpaceIndex.create(
        directory / "index", space=space, dim=dim, metric=metric, fingerprint="eval",  # type: ignore[arg-type]
        index_type=choice.index_type, index_params=choice.params,
        policy=choice.manifest_entry(f"eval:{index_type}", total, int(memory_budget_bytes)),
    )  # fmt: skip
    index.train(everything)  # samples its rows before reading them: the file is not loaded whole
    for start in range(0, total, ADD_CHUNK):
        stop = min(total, start + ADD_CHUNK)
        index.add(np.arange(start, stop, dtype=np.int64), everything[start:stop])
    build_seconds = time.perf_counter() - started
    index.save()
    size = (index.directory / "index.faiss").stat().st_size
    index.vector_source = ArrayVectors(everything)
    return EvalIndex(
        index=index, everything=everything, reason=choice.reason, items=n, build_seconds=round(build_seconds, 1),
        bytes_per_item=round(size / total, 1),
    )  # fmt: skip


def rank_through(index: SpaceIndex, asks: np.ndarray, depth: int) -> list[np.ndarray]:
    """Per row i of ``asks`` [n, V, dim] (`views_of_queries`; ids 0..n−1 of ``index``), the other rows < n among its
    ``depth`` nearest in ``index`` by the best of its V views, best first (the row itself excluded, distractors
    dropped), as `styledex.search.best_of_views` finds them."""
    n = asks.shape[0]
    rankings: list[np.ndarray] = []
    for row in range(n):
        found = best_of_views(index, asks[row], depth, [row])
        rankings.append(np.array([i for i, _ in found if i < n], dtype=np.int64))
    return rankings


def index_rankings(
    vectors: np.ndarray, *, depth: int = 100, views: np.ndarray | None = None, **build: Any
) -> IndexRankings:
    """Rank every row of ``vectors`` [n, dim] (unit rows) against the others through the index
    `build_eval_index` makes of them (``build``: its keyword arguments: space, metric, index_type, directory,
    distractors, ...) and, as the reference, through an exact search of the same items and distractors. Each row
    asks for its ``depth`` nearest, with its views when ``views`` (region views [n, R, dim]: `views_of_queries`) are
    given, an item counting by its best view in both. The exact reference ranks by inner product: on unit rows that
    is also the l2 order.
    """
    built = build_eval_index(vectors, **build)
    asks = views_of_queries(vectors, views)
    return IndexRankings(
        rankings=rank_through(built.index, asks, depth), exact_rankings=exact_top(asks, built.everything, depth),
        index_type=built.index.index_type, params=built.index.index_params, reason=built.reason, items=built.items,
        distractors=len(built.everything) - built.items, depth=depth, build_seconds=built.build_seconds,
        bytes_per_item=built.bytes_per_item,
    )  # fmt: skip


def exact_top(queries: np.ndarray, everything: np.ndarray, depth: int) -> list[np.ndarray]:
    """Exact inner-product ``depth`` nearest rows of ``everything`` [N, dim] for each row i of ``queries`` [n, dim]
    (rows 0..n−1 of ``everything``), row i itself excluded, then only rows < n kept, best first (ties by row).
    ``queries`` [n, V, dim] with V > 1 (`views_of_queries`): each row of ``everything`` scored by its best of the V."""
    n, total = queries.shape[0], everything.shape[0]

    def chunks() -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, total, ADD_CHUNK):
            yield start, np.asarray(everything[start : start + ADD_CHUNK])

    if queries.ndim == 3 and queries.shape[1] > 1:
        ranked = exact_best_of_views(chunks, queries, np.arange(n), min(depth, total - 1))  # best first already
        return [row[(row >= 0) & (row < n)] for row in ranked]
    queries = queries.reshape(n, -1)
    top = exact_topk(chunks, queries, np.arange(n), min(depth, total - 1))
    out = []
    for row, cand in enumerate(top):
        scores = everything[cand] @ queries[row]
        ranked = cand[np.lexsort((cand, -scores))]
        out.append(ranked[ranked < n])
    return out


def restrict(rankings: list[np.ndarray], members: np.ndarray) -> list[np.ndarray]:
    """Rankings over a subset: ``members`` [m] row numbers (ascending) → per member, its ranking in subset positions.

    Rows outside the subset are dropped; the order of what remains is kept.
    """
    position = np.full(len(rankings), -1, dtype=np.int64)
    position[members] = np.arange(len(members))
    out = []
    for row in members:
        mapped = position[rankings[row]]
        out.append(mapped[mapped >= 0])
    return out
