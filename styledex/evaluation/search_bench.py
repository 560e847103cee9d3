"""Search at scale: latency, recall, build time and size of each index type, raw FAISS next to styledex's paths.

For each catalog size, space and index type (flat, hnsw, ivfpq, ivfpq+opq) one run measures:

- ``build_seconds``: building the index from vectors already in memory (ivfpq: training included);
- ``bytes_per_item``: the saved index file's size / count;
- ``recall_at_10``: the overlap of the top 10 with the exact top 10 (brute force in float32 over the same vectors;
  the query item itself excluded in both), averaged over the queries;
- p50/p99 latency of one query three ways: ``faiss`` (the FAISS index's own search, no re-ranking, no catalog),
  ``inprocess`` (``Searcher.search`` through the catalog: ids → rows, ivfpq's exact re-ranking from SQLite) and
  ``http`` (``GET /items/{id}/similar`` to a uvicorn server on loopback, in the same process).

Each query asks for the k nearest items of a random catalog item, excluding itself.

Up to ``CATALOG_MAX_ITEMS`` items the bench writes a SQLite catalog and holds its vectors in memory. Above that (1M
items of 2944 floats are 11.8 GB of raw vectors per space) the vectors go to a float32 memmap on disk, which feeds
the index chunk by chunk and the exact brute-force pass, and (with HTTP on) a real SQLite catalog of the same vectors
is written one space at a time (another ~12.5 GB), so the index is measured through the catalog and the server as
at smaller sizes; with ``http=False`` no catalog is written, ``inprocess`` is ``SpaceIndex.search`` with the memmap
as its exact vectors. There an index type whose copies would not fit in the memory available is skipped (with
HTTP the server holds its own copy beside the bench's: a 1M flat or hnsw index of 2944-d vectors is ~12 GB each).

FAISS builds on every core (``build_threads``) and answers the timed queries on ``threads`` (one by default).

Synthetic vectors (``SyntheticVectors``). Isotropic Gaussian vectors have no neighbourhood structure at all, the worst
case for every ANN index and unlike real embeddings, so the default generator ("clustered") mimics the measured
structure of real vectors: a shared mean direction, a low-rank part with a power-law spectrum carrying clusters, and
isotropic noise, then L2 normalization. For a unit vector x::

    x ∝ μ·u + B·(√λ ⊙ (√(1−w)·c_z + √w·g)) + √(σ²/dim)·ε

u: a fixed random unit vector; B: a fixed random orthonormal dim×r basis (r = ``rank``); λᵢ ∝ i^(−α) scaled so
Σλ = (1 − μ²)(1 − ``noise_share``); z: a uniform cluster among ``clusters`` with centre c_z ~ N(0, I_r); g, ε: standard
normal (r and dim); w = ``within_share`` (the part of the low-rank variance inside a cluster); σ² = (1 − μ²)·
``noise_share``. μ (``mean_norm``), α and ``noise_share`` were fitted to the item vectors of the cached benchmark
catalog (``~/.cache/styledex/bench-v1``, 320 items): adain |mean| 0.945, eigenvalue decay α 1.59, 97% of the centred
variance in 64 components; content |mean| 0.37, α 0.67, 67% in 64 components. The cluster count and spread are
assumptions (the benchmark's labels are too few to fit them). Rows are generated in chunks of ``CHUNK`` rows, each
from its own seeded generator, so any rows can be regenerated instead of stored twice. ``isotropic`` (ε alone,
normalized) is reported at one size as the worst case.
"""

from __future__ import annotations

import gc
import math
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from styledex.catalog import Catalog, ItemRecord, SpaceVectors
from styledex.config import IndexConfig
from styledex.embed.embedder import Embedder
from styledex.embed.spaces import resolve
from styledex.index import ArrayVectors, SpaceIndex, faiss_threads
from styledex.index.policy import IndexChoice, choose_index, estimate_bytes_per_item
from styledex.search import CatalogSpaces, Searcher
from styledex.space_indexes import SpaceIndexes

BENCH_SPACES = ("adain",)
INDEX_TYPES = ("flat", "hnsw", "ivfpq")
# Bench labels → (index type, parameter overrides on top of the policy's choice for that type).
INDEX_VARIANTS: dict[str, tuple[str, dict[str, int]]] = {
    "flat": ("flat", {}),
    "hnsw": ("hnsw", {}),
    "hnsw-sq8": ("hnsw", {"sq8": 1}),
    "ivfpq": ("ivfpq", {}),
    "ivfpq+opq": ("ivfpq", {"opq": 1}),
}
CATALOG_MAX_ITEMS = 200_000
# A budget that lets the policy give each forced type its natural parameters (bench measures, it does not choose).
_BENCH_BUDGET_BYTES = 2048 * 2**20


@dataclass(frozen=True)
class SyntheticProfile:
    """Parameters of the clustered generator (module docstring): the structure of one space's vectors."""

    mean_norm: float
    alpha: float
    noise_share: float
    rank: int = 64
    clusters: int = 1000
    within_share: float = 0.3


SPACE_PROFILES: dict[str, SyntheticProfile] = {
    "adain": SyntheticProfile(mean_norm=0.945, alpha=1.59, noise_share=0.03),
    "content": SyntheticProfile(mean_norm=0.37, alpha=0.67, noise_share=0.33),
    # fit_profile on the same 320 items (it gives adain 0.945 / 1.64 / 0.035, content 0.369 / 0.73 / 0.34).
    "gram": SyntheticProfile(mean_norm=0.885, alpha=1.57, noise_share=0.044),
    "predictor": SyntheticProfile(mean_norm=0.95, alpha=2.56, noise_share=0.003),
    "cin": SyntheticProfile(mean_norm=0.941, alpha=3.04, noise_share=0.0005),
}
_DEFAULT_PROFILE = SyntheticProfile(mean_norm=0.5, alpha=1.0, noise_share=0.2)


def fit_profile(vectors: np.ndarray, rank: int = 64) -> SyntheticProfile:
    """The clustered generator's ``mean_norm``, ``alpha`` and ``noise_share`` fitted to real vectors [n, dim].

    mean_norm: |mean| of the L2-normalized rows. alpha: minus the log-log slope of the centred covariance's leading
    ``rank`` eigenvalues against their rank. noise_share: from the share t of the centred variance in those
    components; the generator's noise spreads evenly over all ``dim`` directions, so t = (1 - s) + s·rank/dim and
    s = (1 - t) / (1 - rank/dim). With fewer rows than dimensions t is over-estimated (only n - 1 directions vary).
    """
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    mean = unit.mean(axis=0)
    eigen = np.linalg.svd(unit - mean, compute_uv=False) ** 2
    eigen /= eigen.sum()
    r = min(rank, len(eigen))
    alpha = -np.polyfit(np.log(np.arange(1, r + 1)), np.log(eigen[:r]), 1)[0]
    noise_share = max(0.0, (1 - eigen[:r].sum()) / (1 - r / vectors.shape[1]))
    return SyntheticProfile(
        mean_norm=round(float(np.linalg.norm(mean)), 3), alpha=round(float(alpha), 2),
        noise_share=round(float(noise_share), 4), rank=rank,
    )  # fmt: skip


class SyntheticVectors:
    """Unit vectors [n, dim] float32 of one space, row i reproducible from (dim, profile, seed, kind) alone."""

    CHUNK = 8192

    def __init__(self, dim: int, profile: SyntheticProfile, *, seed: int = 0, kind: str = "clustered") -> None:
        if kind not in ("clustered", "isotropic"):
            raise ValueError(f"kind must be clustered or isotropic, got {kind!r}")
        self.dim, self.profile, self.seed, self.kind = dim, profile, seed, kind
        rng = np.random.default_rng([seed, dim, 0])
        p = profile
        self._mean = rng.standard_normal(dim).astype(np.float32)
        self._mean *= p.mean_norm / np.linalg.norm(self._mean)
        self._basis = np.linalg.qr(rng.standard_normal((dim, p.rank)))[0].astype(np.float32)  # [dim, r]
        spread = (1 - p.mean_norm**2) * (1 - p.noise_share)
        lam = np.arange(1, p.rank + 1, dtype=np.float64) ** -p.alpha
        self._scale = np.sqrt(lam / lam.sum() * spread).astype(np.float32)  # [r]
        self._centres = rng.standard_normal((p.clusters, p.rank)).astype(np.float32)
        self._noise = math.sqrt((1 - p.mean_norm**2) * p.noise_share / dim)

    @classmethod
    def for_space(cls, space: str, *, seed: int = 0, kind: str = "clustered") -> SyntheticVectors:
        spec = resolve(space)
        return cls(spec.dim, SPACE_PROFILES.get(spec.name, _DEFAULT_PROFILE), seed=seed, kind=kind)

    def _chunk(self, number: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.dim, 1, number])
        noise = rng.standard_normal((self.CHUNK, self.dim), dtype=np.float32)
        if self.kind == "isotropic":
            x = noise
        else:
            p = self.profile
            z = rng.integers(p.clusters, size=self.CHUNK)
            g = rng.standard_normal((self.CHUNK, p.rank), dtype=np.float32)
            latent = (math.sqrt(1 - p.within_share) * self._centres[z] + math.sqrt(p.within_share) * g) * self._scale
            x = noise
            x *= self._noise
            x += latent @ self._basis.T
            x += self._mean
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1: [stop - start, dim] float32."""
        first, last = start // self.CHUNK, (stop - 1) // self.CHUNK
        block = np.concatenate([self._chunk(c) for c in range(first, last + 1)]) if stop > start else None
        if block is None:
            return np.zeros((0, self.dim), np.float32)
        offset = first * self.CHUNK
        return np.ascontiguousarray(block[start - offset : stop - offset])

    def chunks(self, n: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows [≤ CHUNK, dim]) covering rows 0..n-1 in order."""
        for start in range(0, n, self.CHUNK):
            yield start, self.rows(start, min(n, start + self.CHUNK))


def exact_topk(
    chunks: Callable[[], Iterator[tuple[int, np.ndarray]]], queries: np.ndarray, query_rows: np.ndarray, k: int
) -> np.ndarray:
    """Exact top-k rows by inner product for each query [q, dim], its own row excluded: [q, k] int64 row numbers.

    chunks: called once, yields (first row, vectors) covering the whole collection, so it never has to be in memory.
    """
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_rows = np.full((len(queries), k), -1, dtype=np.int64)
    for start, block in chunks():
        scores = queries @ block.T  # [q, chunk]
        rows = np.arange(start, start + block.shape[0], dtype=np.int64)
        scores[query_rows[:, None] == rows[None, :]] = -np.inf
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_rows = np.concatenate([best_rows, np.broadcast_to(rows, scores.shape)], axis=1)
        top = np.argpartition(-merged_scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, top, 1)
        best_rows = np.take_along_axis(merged_rows, top, 1)
    return best_rows


def recall_at_k(found: Sequence[Sequence[int]], truth: np.ndarray) -> float:
    """Mean |found ∩ truth| / k over queries (truth [q, k])."""
    k = truth.shape[1]
    return float(np.mean([len(set(map(int, f[:k])) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)]))


# -- catalogs -------------------------------------------------------------------------------------------------------
def build_synthetic_catalog(
    directory: Path,
    items: int,
    *,
    seed: int = 0,
    spaces: Sequence[str] = BENCH_SPACES,
    kind: str = "clustered",
    batch: int = 2000,
) -> Catalog:
    """A catalog of ``items`` fake image rows with `SyntheticVectors` in ``spaces`` (item i has row i - 1 of each
    space's generator: catalog ids start at 1). No index is built."""
    catalog = Catalog.open(directory, create=True)
    fingerprints = Embedder(list(spaces)).fingerprints()
    generators = {space: SyntheticVectors.for_space(space, seed=seed, kind=kind) for space in spaces}
    with catalog.writing():
        catalog.set_meta("embed", {"spaces": fingerprints, "image_size": 256})
        for start in range(0, items, batch):
            stop = min(items, start + batch)
            vectors = {space: gen.rows(start, stop) for space, gen in generators.items()}
            records = [
                ItemRecord(
                    path=f"/synthetic/{start + i}.jpg", status="ok", kind="image", sha256=f"{start + i:064x}",
                    vectors={s: SpaceVectors(vectors[s][i]) for s in spaces},
                )
                for i in range(stop - start)
            ]  # fmt: skip
            catalog.write_batch(records)
    return catalog


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    values = np.asarray(samples_ms)
    return {"p50_ms": round(float(np.percentile(values, 50)), 3), "p99_ms": round(float(np.percentile(values, 99)), 3)}


def time_calls(call: Callable[[int], Any], ids: np.ndarray, warmup: int = 5) -> list[float]:
    for item_id in ids[:warmup]:
        call(int(item_id))
    samples = []
    for item_id in ids:
        started = time.perf_counter()
        call(int(item_id))
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _http_server(directory: Path) -> Iterator[Any]:
    """An httpx client to a uvicorn server over the catalog at ``directory``, on a free loopback port."""
    import httpx
    import uvicorn

    from styledex.serve.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(directory), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _choice(variant: str, space: str, count: int) -> IndexChoice:
    """The policy's parameters for bench label ``variant`` forced on ``count`` items of ``space``."""
    spec = resolve(space)
    index_type, extra = INDEX_VARIANTS[variant]
    return choose_index(
        count, spec.dim, _BENCH_BUDGET_BYTES, policy=index_type, overrides={index_type: extra},
        pq_subvector_dims=spec.pq_subvector_dims,
    )  # fmt: skip


def _memory_shortfall(variant: str, space: str, count: int, copies: int) -> str | None:
    """Why ``copies`` of the index would not fit in the memory available now (one line), or None if they fit.

    With HTTP the server in this process opens its own copy of the saved index beside the bench's, so a 1M flat
    or hnsw index of 2944-d vectors (~12 GB each) needs twice that."""
    choice = _choice(variant, space, count)
    need = estimate_bytes_per_item(choice.index_type, resolve(space).dim, count, choice.params) * count * copies
    available = _available_memory_bytes()
    if available is None or need <= 0.9 * available:
        return None
    copies_text = "1 copy needs" if copies == 1 else f"{copies} copies need"
    return f"{copies_text} ~{need / 2**30:.1f} GiB, {available / 2**30:.1f} GiB available"


def _available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else None (the guard is skipped)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _build(
    variant: str, directory: Path, space: str, fingerprint: str, train: np.ndarray, count: int
) -> tuple[SpaceIndex, float]:
    """An empty-but-trained index of ``variant`` for ``count`` items, and the training seconds."""
    spec = resolve(space)
    choice = _choice(variant, space, count)
    index = SpaceIndex.create(
        directory, space=space, dim=spec.dim, metric=spec.metric, fingerprint=fingerprint,  # type: ignore[arg-type]
        index_type=choice.index_type, index_params=choice.params,
        policy=choice.manifest_entry(f"bench:{variant}", count, _BENCH_BUDGET_BYTES),
    )  # fmt: skip
    started = time.perf_counter()
    index.train(train)
    return index, time.perf_counter() - started


def _raw_faiss(index: SpaceIndex, k: int) -> Callable[[np.ndarray], np.ndarray]:
    """FAISS's own search on the index styledex built (k + 1: the query item comes back too): labels [q, k+1]."""
    faiss_index = index._index  # the bench measures the library underneath on purpose

    def search(queries: np.ndarray) -> np.ndarray:
        return faiss_index.search(np.ascontiguousarray(queries, dtype=np.float32), k + 1)[1]

    return search


def _measured(
    index: SpaceIndex, variant: str, kind: str, build_s: float, query_vecs: np.ndarray, query_ids: np.ndarray,
    truth: np.ndarray,
) -> tuple[dict[str, Any], tuple[str, Callable[[int], Any], float], float]:  # fmt: skip
    """What every way of timing a built, saved index shares: its row fields (size, build, params), the ``faiss``
    way (FAISS's own search of a query item's vector) with its recall, and the recall styledex's answer gets.
    truth: [queries, k] item ids of the exact top k."""
    k, items = truth.shape[1], len(index)
    size = (index.directory / "index.faiss").stat().st_size
    common = {
        "items": items, "space": index.space, "index": variant, "vectors": kind, "k": k, "queries": len(query_ids),
        "params": index.index_params, "build_seconds": round(build_s, 2), "bytes_per_item": round(size / items, 1),
    }  # fmt: skip
    raw = _raw_faiss(index, k)
    raw_recall = recall_at_k(_drop_self(raw(query_vecs), query_ids, k), truth)
    by_id = dict(zip(query_ids.tolist(), query_vecs, strict=True))
    faiss_way = ("faiss", lambda item_id: raw(by_id[item_id][None, :]), raw_recall)
    return common, faiss_way, recall_at_k(_styledex_top(index, query_vecs, query_ids, k), truth)


def _drop_self(labels: np.ndarray, query_ids: np.ndarray, k: int) -> list[list[int]]:
    return [[int(i) for i in row if i != q and i != -1][:k] for row, q in zip(labels, query_ids, strict=True)]


def _bench_indexes(catalog: Catalog) -> SpaceIndexes:
    """The open indexes of a bench catalog. The bench builds every index it measures itself (``replace``); the
    default settings would only choose a rebuild, which a catalog the bench does not write to never needs."""
    return SpaceIndexes.of(catalog, IndexConfig())


def _bench_catalog_size(
    items: int, spaces: Sequence[str], variants: Sequence[str], queries: int, k: int, kind: str, http: bool,
    tmp: Path, progress: Callable[[str], None], build_threads: int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows for one catalog size: a real SQLite catalog, every variant of every space, three ways each."""
    rows: list[dict[str, Any]] = []
    directory = tmp / f"catalog-{items}-{kind}"
    started = time.perf_counter()
    catalog = build_synthetic_catalog(directory, items, spaces=spaces, kind=kind)
    progress(f"{items} items ({kind}): catalog written in {time.perf_counter() - started:.0f} s")
    try:
        for space in spaces:
            spec = resolve(space)
            ids, vectors = catalog.load_vectors(space, spec.dim)
            query_rows = np.random.default_rng(1).choice(len(ids), size=queries, replace=False)
            query_ids, query_vecs = ids[query_rows], vectors[query_rows]
            truth_rows = exact_topk(lambda v=vectors: iter([(0, v)]), query_vecs, query_rows, k)
            truth = ids[truth_rows]
            for variant in variants:
                fingerprint = CatalogSpaces.of(catalog).spaces[space]
                with faiss_threads(build_threads):
                    index, train_s = _build(variant, catalog.index_dir(space), space, fingerprint, vectors, items)
                    t0 = time.perf_counter()
                    index.add(ids, vectors)
                    build_s = train_s + time.perf_counter() - t0
                _bench_indexes(catalog).replace(index)
                common, faiss_way, recall = _measured(index, variant, kind, build_s, query_vecs, query_ids, truth)
                new_rows = _time_catalog_ways(catalog, space, k, http, faiss_way, recall, query_ids, common)
                rows += new_rows
                for row in new_rows:
                    progress(_progress_line(row))
    finally:
        catalog.close()
    return rows


def _styledex_top(index: SpaceIndex, query_vecs: np.ndarray, query_ids: np.ndarray, k: int) -> list[list[int]]:
    """The ids `SpaceIndex.search` returns for each query row (its own id excluded), as styledex answers."""
    return [
        [h[0] for h in index.search(q[None, :], k, exclude=[{int(i)}])[0]]
        for q, i in zip(query_vecs, query_ids, strict=True)
    ]


def _time_catalog_ways(
    catalog: Catalog, space: str, k: int, http: bool, faiss_way: tuple[str, Callable[[int], Any], float],
    recall: float, query_ids: np.ndarray, common: dict[str, Any],
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows for `faiss_way`, ``inprocess`` (`Searcher` through ``catalog``, whose index of ``space`` is the one
    measured) and, with ``http``, ``GET /items/{id}/similar`` to a server over the catalog's folder."""
    searcher = Searcher(catalog, indexes=_bench_indexes(catalog))

    def inprocess(item_id: int) -> None:
        query = searcher.query_vectors_for_item(item_id, [space])
        searcher.search(query, {space: 1.0}, k, exclude=[item_id])

    ways = [faiss_way, ("inprocess", inprocess, recall)]
    if not http:
        return _time_ways(ways, query_ids, common)
    with _http_server(catalog.directory) as client:

        def over_http(item_id: int) -> None:
            client.get(f"/items/{item_id}/similar", params={"space": space, "k": k}).raise_for_status()

        return _time_ways([*ways, ("http", over_http, recall)], query_ids, common)


def _time_ways(
    ways: Sequence[tuple[str, Callable[[int], Any], float]], query_ids: np.ndarray, common: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        common | {"via": via, "recall_at_10": round(recall, 4)} | percentiles(time_calls(call, query_ids))
        for via, call, recall in ways
    ]


@dataclass
class _StreamedSpace:
    """One space of a streamed size: its vectors on disk, the queries and their exact answers, the catalog (None
    without HTTP)."""

    space: str
    items: int
    kind: str
    k: int
    exact: np.ndarray  # [items, dim] float32 memmap, row = item id - 1
    query_vecs: np.ndarray  # [queries, dim]
    query_ids: np.ndarray  # [queries] item ids
    truth: np.ndarray  # [queries, k] item ids of the exact top k
    catalog: Catalog | None

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        return _memmap_chunks(self.exact)


def _memmap_chunks(exact: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows in memory) covering a memmap [n, dim], `SyntheticVectors.CHUNK` rows at a time."""
    for start in range(0, len(exact), SyntheticVectors.CHUNK):
        yield start, np.asarray(exact[start : start + SyntheticVectors.CHUNK])


def _bench_streamed(
    items: int, spaces: Sequence[str], variants: Sequence[str], queries: int, k: int, kind: str, http: bool,
    tmp: Path, progress: Callable[[str], None], build_threads: int | None = None, train_items: int = 100_000,
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows for a size too large to hold in memory: a memmap of the vectors feeds the index chunk by chunk and the
    exact brute force; with ``http`` a real catalog of the same vectors is written too (one space at a time) and the
    index is measured through it as in `_bench_catalog_size`, otherwise ``inprocess`` is `SpaceIndex.search` with
    the memmap as its exact vectors. Item ids are row + 1, as in a catalog. A variant whose index would not fit in
    the memory available (twice over with HTTP: the server opens its own copy) is skipped with a progress line."""
    rows: list[dict[str, Any]] = []
    for space in spaces:
        spec = resolve(space)
        gen = SyntheticVectors.for_space(space, kind=kind)
        memmap_path = tmp / f"{space}-{items}.f32"
        exact = np.lib.format.open_memmap(memmap_path, mode="w+", dtype=np.float32, shape=(items, spec.dim))
        for start, block in gen.chunks(items):
            exact[start : start + len(block)] = block
        exact.flush()
        progress(f"{items} items ({kind}) {space}: vectors on disk")
        catalog = None
        if http:
            started = time.perf_counter()
            catalog = build_synthetic_catalog(tmp / f"catalog-{items}-{kind}-{space}", items, spaces=[space], kind=kind)
            progress(f"{items} items ({kind}) {space}: catalog written in {time.perf_counter() - started:.0f} s")
        query_rows = np.sort(np.random.default_rng(1).choice(items, size=queries, replace=False))
        query_vecs = np.asarray(exact[query_rows])
        truth = exact_topk(lambda exact=exact: _memmap_chunks(exact), query_vecs, query_rows, k) + 1
        streamed = _StreamedSpace(space, items, kind, k, exact, query_vecs, query_rows + 1, truth, catalog)
        for variant in variants:
            shortfall = _memory_shortfall(variant, space, items, copies=2 if http else 1)
            if shortfall is not None:
                progress(f"{items} items ({kind}) {space} {variant}: skipped, {shortfall}")
                continue
            new_rows = _bench_streamed_variant(streamed, variant, tmp, build_threads, train_items)
            rows += new_rows
            for row in new_rows:
                progress(_progress_line(row))
            # The index is only held by the catalog now (and the server's copy by reference cycles): free both
            # before the next one is built, at 1M items two may not fit beside each other. A catalog opened anew
            # holds no index until its next search.
            if catalog is not None:
                catalog.close()
                catalog = streamed.catalog = Catalog.open(catalog.directory)
            gc.collect()
        if catalog is not None:
            catalog.close()
            shutil.rmtree(catalog.directory)
        del exact, streamed
        memmap_path.unlink()
    return rows


def _bench_streamed_variant(
    streamed: _StreamedSpace, variant: str, tmp: Path, build_threads: int | None, train_items: int
) -> list[dict[str, Any]]:
    """The rows of one index type of `_bench_streamed`: build it from the memmap, then time it."""
    s, catalog = streamed, streamed.catalog
    if catalog is None:
        directory, fingerprint = tmp / f"index-{s.space}-{variant}", "synthetic"
    else:
        directory, fingerprint = catalog.index_dir(s.space), CatalogSpaces.of(catalog).spaces[s.space]
    with faiss_threads(build_threads):
        index, train_s = _build(variant, directory, s.space, fingerprint, s.exact[:train_items], s.items)
        t0 = time.perf_counter()
        for start, block in s.chunks():
            index.add(np.arange(start + 1, start + 1 + len(block), dtype=np.int64), block)
        build_s = train_s + time.perf_counter() - t0
    if catalog is None:
        index.save()
        index.vector_source = ArrayVectors(s.exact, first_id=1)
    else:
        _bench_indexes(catalog).replace(index)  # re-ranks with the catalog's rows from now on
    common, faiss_way, recall = _measured(index, variant, s.kind, build_s, s.query_vecs, s.query_ids, s.truth)
    if catalog is not None:
        return _time_catalog_ways(catalog, s.space, s.k, True, faiss_way, recall, s.query_ids, common)

    by_id = dict(zip(s.query_ids.tolist(), s.query_vecs, strict=True))

    def inprocess(item_id: int) -> None:
        index.search(by_id[item_id][None, :], s.k, exclude=[{item_id}])

    note = "no catalog: inprocess = SpaceIndex.search, exact vectors from a memmap"
    ways = [faiss_way, ("inprocess", inprocess, recall)]
    return [row | {"note": note} for row in _time_ways(ways, s.query_ids, common)]


def _progress_line(row: dict[str, Any]) -> str:
    """One row's figures on one line (printed as each row is measured, so a killed run still leaves them)."""
    return (
        f"{row['items']} {row['space']} {row['index']} ({row['vectors']}) {row['via']}: p50 {row['p50_ms']} / p99 "
        f"{row['p99_ms']} ms, recall@10 {row['recall_at_10']}, build {row['build_seconds']} s, "
        f"{row['bytes_per_item']} B/item"
    )


def run_search_bench(
    items: int | Sequence[int] = (10_000, 100_000),
    queries: int = 300,
    k: int = 10,
    space: str | Sequence[str] = BENCH_SPACES,
    index_types: Sequence[str] = INDEX_TYPES,
    *,
    isotropic_items: int | None = None,
    http: bool = True,
    threads: int | None = 1,
    build_threads: int | None = None,
    work_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The ``search`` rows of ``styledex bench`` (see the module docstring), for every size × space × index type.

    isotropic_items: also measure isotropic vectors at this size (the ANN worst case). threads: FAISS OpenMP
    threads while queries are timed (1: one query's latency on one core, as a busy server sees it; None: FAISS's
    default). build_threads: FAISS threads while indexes are trained and filled (None: every core).
    work_dir: where catalogs and memmaps go (default a temporary directory; 1M × 2944-d needs ~25 GB of disk with HTTP).
    """
    sizes = [items] if isinstance(items, int) else list(items)
    spaces = [space] if isinstance(space, str) else list(space)
    unknown = sorted(set(index_types) - set(INDEX_VARIANTS))
    if unknown:
        raise ValueError(f"unknown index type(s) {unknown}; expected some of {sorted(INDEX_VARIANTS)}")
    say = progress or (lambda line: None)
    build_threads = build_threads or os.cpu_count() or 1
    rows: list[dict[str, Any]] = []
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    with faiss_threads(threads), tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        runs = [(n, "clustered") for n in sizes] + ([(isotropic_items, "isotropic")] if isotropic_items else [])
        for n, kind in runs:
            queries_n = min(queries, n)
            bench_size = _bench_catalog_size if n <= CATALOG_MAX_ITEMS else _bench_streamed
            rows += bench_size(n, spaces, index_types, queries_n, k, kind, http, Path(tmp), say, build_threads)
    setup = {"threads": threads, "build_threads": build_threads, "cpus": os.cpu_count(), "k": k}
    return {"search": rows, "search_setup": setup}


def format_search_table(report: dict[str, Any]) -> str:
    lines = [
        "| items | space | vectors | index | via | p50 (ms) | p99 (ms) | recall@10 | bytes/item | build (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["search"]:
        cells = [
            r["items"], r["space"], r.get("vectors", "clustered"), r["index"], r["via"], f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}", f"{r.get('recall_at_10', float('nan')):.3f}", f"{r.get('bytes_per_item', 0):.0f}",
            f"{r.get('build_seconds', 0):.1f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def plot_search_report(report: dict[str, Any], path: Path) -> Path:
    """A PNG with p99 latency vs items per index type (HTTP where measured, else in-process) and recall@10 vs
    bytes per item; clustered vectors only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["search"] if r.get("vectors", "clustered") == "clustered"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    # Colour: index type; marker: space (more than ten lines would repeat matplotlib's colour cycle).
    colours = {variant: f"C{i}" for i, variant in enumerate(INDEX_VARIANTS)}
    markers = dict(zip(dict.fromkeys(r["space"] for r in rows), "os^DvP*X", strict=False))
    for (space, variant), group in _groups(rows).items():
        by_items: dict[int, dict[str, float]] = {}
        for r in group:
            by_items.setdefault(r["items"], {})[r["via"]] = r["p99_ms"]
        xs = sorted(by_items)
        ys = [by_items[x].get("http", by_items[x].get("inprocess", math.nan)) for x in xs]
        style = {"color": colours.get(variant), "marker": markers.get(space, "o"), "label": f"{space} {variant}"}
        left.plot(xs, ys, **style)
        points = {r["items"]: (r["bytes_per_item"], r["recall_at_10"]) for r in group if r["via"] == "inprocess"}
        right.scatter([p[0] for p in points.values()], [p[1] for p in points.values()], **style)
        for n, (b, rec) in points.items():
            right.annotate(f"{n // 1000}k", (b, rec), textcoords="offset points", xytext=(4, 4), fontsize=7)
    left.set(xscale="log", yscale="log", xlabel="items", ylabel="p99 latency (ms): HTTP, else in-process",
             title="p99 latency of one k=10 query")  # fmt: skip
    left.axhline(20, color="grey", linestyle=":", linewidth=1)
    right.set(xscale="log", xlabel="index bytes per item", ylabel="recall@10 vs exact", title="recall vs size")
    right.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    right.axvline(2048, color="grey", linestyle=":", linewidth=1)
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _groups(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["space"], r["index"]), []).append(r)
    return groups
