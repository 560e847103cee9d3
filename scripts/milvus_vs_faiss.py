"""Milvus Lite against FAISS on the same synthetic vectors, in one run: p50/p99 of one search of 10 (in-process,
through the index classes the catalog uses, and over HTTP), recall@10 against exact search, build seconds and
bytes per item; and over HTTP a mix of two spaces, which Milvus answers from one multi-vector search.

    python scripts/milvus_vs_faiss.py [--space style_head] [--mix-with predictor] [--items 100000] [--queries 200]

FAISS: the type the index policy picks for that many items (hnsw at 100k) and exact flat; Milvus: the `milvus`
back end (exact FLAT) in a Milvus Lite file. One FAISS thread, as the service searches. HTTP: a synthetic catalog
of the same vectors (both spaces), `reindex` to each back end, then ``GET /items/{id}/similar`` of random items to
a uvicorn server on loopback in this process (the search bench's server), for ``space`` alone and for the mix
``space:0.5,mix-with:0.5`` (FAISS: one search per space, Milvus: one hybrid search; both then score exactly).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from styledex.config import Config, IndexConfig
from styledex.embed.spaces import resolve
from styledex.evaluation.search_bench import SyntheticVectors, build_synthetic_catalog
from styledex.evaluation.search_bench.server import http_server
from styledex.index import SpaceIndex, faiss_threads
from styledex.index.milvus_client import close_milvus_clients
from styledex.index.milvus_collection import MilvusCollection, VectorField
from styledex.index.policy import choose_index
from styledex.operations import CatalogSession


def _timed(index, queries: np.ndarray, exact: list[set[int]]) -> dict[str, float]:  # noqa: ANN001
    samples, found = [], []
    for q, truth in zip(queries, exact, strict=True):
        started = time.perf_counter()
        hits = index.search(q[None, :], 10)[0]
        samples.append((time.perf_counter() - started) * 1000)
        found.append(len(truth & {i for i, _ in hits}) / 10)
    p50, p99 = (round(float(np.percentile(samples, q)), 2) for q in (50, 99))
    return {"p50_ms": p50, "p99_ms": p99, "recall_at_10": round(float(np.mean(found)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="style_head")
    parser.add_argument("--mix-with", default="predictor", help="the second space of the mix timed over HTTP")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    spec = resolve(args.space)
    vectors = SyntheticVectors.for_space(spec.name).rows(0, args.items)
    ids = np.arange(1, args.items + 1, dtype=np.int64)
    queries = vectors[np.random.default_rng(1).choice(args.items, args.queries, replace=False)]
    exact = [set((ids[np.argsort(-(vectors @ q))[:10]]).tolist()) for q in queries]
    config = IndexConfig()
    choice = choose_index(args.items, spec.dim, config.memory_budget_bytes, flat_max_items=config.flat_max_items,
                          ivfpq_min_items=config.ivfpq_min_items, **spec.index_hints())  # fmt: skip
    report: dict[str, object] = {"space": spec.name, "dim": spec.dim, "items": args.items}
    with tempfile.TemporaryDirectory() as tmp, faiss_threads(1):
        for label, index_type, params in (("faiss " + choice.index_type, choice.index_type, choice.params),
                                          ("faiss flat", "flat", {})):  # fmt: skip
            started = time.perf_counter()
            index = SpaceIndex.from_vectors(
                Path(tmp) / label, ids, vectors, space=spec.name, metric=spec.metric, fingerprint="bench",
                index_type=index_type, index_params=params,
            )  # fmt: skip
            build = time.perf_counter() - started
            index.save()
            size = (Path(tmp) / label / "index.faiss").stat().st_size
            report[label] = {"build_s": round(build, 1), "bytes_per_item": round(size / args.items, 1),
                             **_timed(index, queries, exact)}  # fmt: skip
        started = time.perf_counter()
        uri = str(Path(tmp) / "milvus.db")
        fields = {spec.name: VectorField(spec.dim, spec.metric, "bench")}
        collection = MilvusCollection.build(Path(tmp) / "m", ids, {spec.name: vectors}, uri=uri, name="bench",
                                            spaces=fields)  # fmt: skip
        collection.save()
        milvus = collection.view(spec.name)
        build = time.perf_counter() - started
        size = sum(f.stat().st_size for f in Path(uri).parent.rglob("*") if f.is_file() and "milvus" in str(f))
        report["milvus lite flat"] = {"build_s": round(build, 1), "bytes_per_item": round(size / args.items, 1),
                                      **_timed(milvus, queries, exact)}  # fmt: skip
        close_milvus_clients()
        report |= _http(Path(tmp), [spec.name, resolve(args.mix_with).name], args.items, args.queries)
    print(json.dumps(report, indent=1))


def _http(tmp: Path, spaces: list[str], items: int, queries: int) -> dict[str, dict[str, float]]:
    """p50/p99 of ``GET /items/{id}/similar?space=…&k=10`` on a synthetic catalog of ``spaces``, for the first
    space alone and for an even mix of both: FAISS's policy indexes, then Milvus."""
    directory = tmp / "catalog"
    build_synthetic_catalog(directory, items, spaces=spaces).close()
    ids = np.random.default_rng(2).choice(np.arange(1, items + 1), queries, replace=False)
    asks = {spaces[0]: spaces[0], "mix": ",".join(f"{space}:0.5" for space in spaces)}
    out = {}
    for backend in ("faiss", "milvus"):
        with CatalogSession(directory, Config()) as session:
            row, *_ = session.reindex(spaces, backend=backend)
        for label, space in asks.items():
            with http_server(directory) as client:
                client.get(f"/items/{int(ids[0])}/similar", params={"space": space, "k": 10})  # opens the index
                samples = []
                for item_id in ids:
                    started = time.perf_counter()
                    response = client.get(f"/items/{int(item_id)}/similar", params={"space": space, "k": 10})
                    samples.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
            p50, p99 = (round(float(np.percentile(samples, q)), 2) for q in (50, 99))
            out[f"http {label} {backend} ({row['index']})"] = {"p50_ms": p50, "p99_ms": p99}
        close_milvus_clients()
    return out


if __name__ == "__main__":
    main()
