"""What removing items from an hnsw index costs: marking them dead vs rebuilding the graph (the old way).

    python scripts/hnsw_remove_cost.py --space predictor --items 1000000

Builds a float32 hnsw index of ``--items`` synthetic vectors of the space (the search bench's generator, real
dimension) on every core, then times on one thread, as in a server: removing one item, removing 100 more, a
search before and after (p50 of 200 k=10 queries); and on every core one compaction (`SpaceIndex._compact`, a
rebuild from the live nodes: what every removal cost before dead marks). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from styledex.embed.spaces import resolve
from styledex.evaluation.search_bench import SyntheticVectors
from styledex.index import SpaceIndex, faiss_threads


def _p50_search_ms(index: SpaceIndex, queries: np.ndarray) -> float:
    samples = []
    for q in queries:
        started = time.perf_counter()
        index.search(q[None, :], 10)
        samples.append((time.perf_counter() - started) * 1000)
    return round(float(np.median(samples)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="predictor")
    parser.add_argument("--items", type=int, default=200_000)
    args = parser.parse_args()
    spec = resolve(args.space)
    vectors = SyntheticVectors.for_space(spec.name).rows(0, args.items)
    ids = np.arange(1, args.items + 1, dtype=np.int64)
    queries = vectors[np.random.default_rng(1).choice(args.items, 200, replace=False)]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        index = SpaceIndex.from_vectors(
            Path(tmp) / spec.name, ids, vectors, space=spec.name, metric=spec.metric, fingerprint="bench",
            index_type="hnsw", index_params={"sq8": 0},
        )  # fmt: skip
        build_s = time.perf_counter() - started
        with faiss_threads(1):
            before_ms = _p50_search_ms(index, queries)
            timings = {}
            for label, doomed in (("remove_1_ms", ids[:1]), ("remove_100_ms", ids[1:101])):
                started = time.perf_counter()
                index.remove(doomed)
                timings[label] = round((time.perf_counter() - started) * 1000, 2)
            after_ms = _p50_search_ms(index, queries)
        started = time.perf_counter()
        index._compact()
        compact_s = time.perf_counter() - started
    print(json.dumps({
        "space": spec.name, "items": args.items, "build_s_all_cores": round(build_s, 1), **timings,
        "search_p50_ms_before": before_ms, "search_p50_ms_with_101_dead": after_ms,
        "rebuild_s_all_cores": round(compact_s, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
