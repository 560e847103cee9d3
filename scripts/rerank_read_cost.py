"""What re-ranking more ivfpq candidates costs: reading N exact vectors from a catalog's SQLite rows.

    python scripts/rerank_read_cost.py [--items 50000] [--space adain] [--counts 100 110 300 400 1000]

An ivfpq search re-scores max(rerank, 10·(k + excluded)) candidates with exact vectors read by
`Catalog.vectors_by_id` (`index/rerank.py`, through `styledex.space_indexes.CatalogVectors`), so a deeper query or a
filtered/mixed one (4·k per space) reads more of them. Builds a synthetic catalog
(`search_bench.build_synthetic_catalog`, the space's real dim) in a temp folder, then prints the median and p90
milliseconds of reading N random items' vectors (30 draws per N, warm page cache) as a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from styledex.embed.spaces import resolve
from styledex.evaluation.search_bench import build_synthetic_catalog


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--space", default="adain")
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 110, 300, 400, 1000])
    parser.add_argument("--draws", type=int, default=30)
    args = parser.parse_args(argv)
    spec = resolve(args.space)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        catalog = build_synthetic_catalog(Path(tmp) / "catalog", args.items, spaces=[spec.name])
        with catalog:
            catalog.vectors_by_id(spec.name, np.arange(1, args.items + 1), spec.dim)  # warm the page cache
            print(f"{args.items} items, {spec.name} ({spec.dim}-d)\n")
            print("| vectors read | median ms | p90 ms |\n|---|---|---|")
            for count in args.counts:
                samples = []
                for _ in range(args.draws):
                    ids = rng.choice(args.items, size=count, replace=False) + 1  # catalog ids start at 1
                    started = time.perf_counter()
                    rows = catalog.vectors_by_id(spec.name, ids, spec.dim)
                    samples.append((time.perf_counter() - started) * 1000)
                    assert rows.shape == (count, spec.dim)
                print(f"| {count} | {np.median(samples):.1f} | {np.percentile(samples, 90):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
