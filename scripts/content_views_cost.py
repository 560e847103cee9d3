"""What the content space's views cost: a search asking with 12 views against one vector, and `add`'s region
pooling against the VGG19 forward it rides on, each pair timed in one run (the ratios are the figures).

    python scripts/content_views_cost.py [--cases flat:5000 flat:100000 hnsw:20000] [--queries 100] [--images 16]

Search: per case TYPE:ITEMS an index of that type holding ITEMS synthetic content vectors (2048-d), p50 of one
search of 10 results asking with 1, 2 (a catalog without stored regions: vector and mirror) and 12 views, on one
FAISS thread as the service searches (the index policy gives flat up to 5000 items, then hnsw). Add: per 256²
image, the VGG19 forward to relu5_1 (batches of 8, bf16 where the CPU has it) and the five region vectors
pooled from its map (`region_vectors`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from styledex.embed.content_views import query_views, region_vectors
from styledex.embed.embedder import Embedder
from styledex.evaluation.search_bench import SyntheticVectors
from styledex.index import SpaceIndex, faiss_threads


def _median_ms(fn, runs: list) -> float:  # noqa: ANN001 - a callable of one run's argument
    samples = []
    for arg in runs:
        started = time.perf_counter()
        fn(arg)
        samples.append((time.perf_counter() - started) * 1000)
    return round(float(np.median(samples)), 3)


def search_cost(index_type: str, items: int, queries: int) -> dict[str, float]:
    vectors = SyntheticVectors.for_space("content").rows(0, items)
    ids = np.arange(1, items + 1, dtype=np.int64)
    rng = np.random.default_rng(1)
    chosen = vectors[rng.choice(items, queries, replace=False)]
    regions = vectors[rng.choice(items, (queries, 5))]  # stand-ins with the vectors' statistics
    with tempfile.TemporaryDirectory() as tmp, faiss_threads(1):
        index = SpaceIndex.from_vectors(
            Path(tmp) / "content", ids, vectors, space="content", metric="ip", fingerprint="bench",
            index_type=index_type,
        )
        out = {}
        for label, views in (
            ("1 view", [q[None, :] for q in chosen]),
            ("2 views", [query_views(q, None) for q in chosen]),
            ("12 views", [query_views(q, r) for q, r in zip(chosen, regions, strict=True)]),
        ):
            search = lambda rows: index.search(rows, 10, exclude=[set()] * len(rows))  # noqa: E731
            out[label] = _median_ms(search, views)
    out["ratio 12 views / 1"] = round(out["12 views"] / out["1 view"], 2)
    return out


def add_cost(images: int) -> dict[str, float]:
    embedder = Embedder(["content"])
    x = torch.rand(8, 3, 256, 256)
    forward_ms, pooling_ms = [], []
    with torch.inference_mode():
        for _ in range(max(2, images // 8) + 1):
            started = time.perf_counter()
            autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=embedder.bf16)
            with autocast:
                feats = embedder._vgg()(x)
            middle = time.perf_counter()
            region_vectors(feats)
            done = time.perf_counter()
            forward_ms.append((middle - started) * 1000 / 8)
            pooling_ms.append((done - middle) * 1000 / 8)
    forward, pooling = float(np.median(forward_ms[1:])), float(np.median(pooling_ms[1:]))  # the first warms up
    return {"forward_ms_per_image": round(forward, 2), "region_views_ms_per_image": round(pooling, 3),
            "region_views_share_of_forward": round(pooling / forward, 4)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["flat:5000", "flat:100000", "hnsw:20000"])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--images", type=int, default=16)
    args = parser.parse_args()
    report: dict[str, object] = {}
    for case in args.cases:
        index_type, _, items = case.partition(":")
        report[f"search p50 ms, {case}"] = search_cost(index_type, int(items), args.queries)
    report["add"] = add_cost(args.images)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
