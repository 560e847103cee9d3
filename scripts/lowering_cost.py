"""What lowering the other question's answer costs a search (styledex.lowering), measured.

    python scripts/lowering_cost.py [--items 20000] [--queries 200]

A synthetic catalog (``build_synthetic_catalog``: fake image rows with vectors shaped like each space's real ones)
with ``content`` and ``style_head``; the same queries by id, alternating, with and without the lowering: a content
search (its own look lowered, or ``same_look``) and a ``style_head`` search (its own subject lowered, or
``same_subject``). Prints the p50 and p95 in ms of each, and the ratio of the p50s. The index each space gets is
the one the default policy picks for that many items.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from styledex.config import load_config
from styledex.evaluation.search_bench.catalogs import build_synthetic_catalog
from styledex.operations.session import CatalogSession


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    config = load_config(None)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "catalog"
        build_synthetic_catalog(directory, args.items, spaces=("content", "style_head")).close()
        with CatalogSession(directory, config) as session:
            ids = rng.integers(1, args.items + 1, size=args.queries)
            cases = {
                "content, own look lowered": ("content", {}),
                "content, by content alone (same_look)": ("content", {"same_look": True}),
                "style_head, own subject lowered": ("style_head", {}),
                "style_head, by style alone (same_subject)": ("style_head", {"same_subject": True}),
            }
            times: dict[str, list[float]] = {name: [] for name in cases}
            for space, flags in cases.values():
                session.similar(int(ids[0]), space, args.k, **flags)  # warm-up: the index is built or loaded
            for item_id in ids:
                for name, (space, flags) in cases.items():
                    start = time.perf_counter()
                    session.similar(int(item_id), space, args.k, **flags)
                    times[name].append((time.perf_counter() - start) * 1000)
    p50 = {name: statistics.median(t) for name, t in times.items()}
    print(f"{args.items} items, {args.queries} queries by id, k={args.k}")
    for name, t in times.items():
        print(f"  {name:44s} p50 {p50[name]:7.2f} ms  p95 {np.percentile(t, 95):7.2f} ms")
    names = list(cases)
    print(f"  content: lowered / alone p50 = {p50[names[0]] / p50[names[1]]:.2f}")
    print(f"  style_head: lowered / alone p50 = {p50[names[2]] / p50[names[3]]:.2f}")


if __name__ == "__main__":
    main()
