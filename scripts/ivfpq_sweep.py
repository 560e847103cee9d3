"""Which query-time setting of an ivfpq index loses eval quality among many distractors: nprobe or re-ranking.

    styledex --precision fp32 eval --json > fp32.json   # its report names the benchmark's catalog
    python scripts/ivfpq_sweep.py CATALOG --space adain --distractors 1000000 \\
        --nprobe 256 512 1024 --rerank 100 300 1000 --workdir /var/tmp/sweep

Builds the space's ivfpq index over the benchmark + fitted distractors once (`styledex.evaluation.index_eval`, the
policy's build parameters, as `styledex eval --index ivfpq` does), then ranks every benchmark item at each (nprobe,
rerank) pair and prints a Markdown table: P@5 of the space's question on images and videos, the loss against an
exact search at the same depth (what `eval`'s "index loss" column reports), and milliseconds per query on this
machine. The workdir holds the vector file (4·dim bytes per item: 11.8 GB for adain at 1M); it is removed at the
end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from styledex.catalog import Catalog
from styledex.config import load_config
from styledex.embed.spaces import resolve
from styledex.evaluation.index_eval import build_eval_index, exact_top, rank_through
from styledex.evaluation.retrieval import item_labels, items_matrix, question_keys, space_metrics


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalog", type=Path, help="the eval catalog (the report's 'catalog')")
    parser.add_argument("--space", default="adain")
    parser.add_argument("--distractors", type=int, default=1_000_000)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--rerank", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--workdir", type=Path, default=None, help="where the vector file goes (default: a tempdir)")
    args = parser.parse_args(argv)
    spec = resolve(args.space)
    config = load_config(None)
    with Catalog.open(args.catalog) as catalog:
        items = catalog.items(status="ok")
        matrix = items_matrix(catalog, items, spec.name)
    groups = item_labels(items, "group")
    keys = question_keys(spec.kind)

    workdir = Path(tempfile.mkdtemp(dir=args.workdir))
    try:
        print(f"{spec.name}: building ivfpq over {len(items)} items + {args.distractors} distractors", file=sys.stderr)
        built = build_eval_index(
            matrix, space=spec.name, metric=spec.metric, index_type="ivfpq", directory=workdir,
            distractors=args.distractors, memory_budget_bytes=config.index.memory_budget_bytes,
            overrides=config.index.overrides(),
        )  # fmt: skip
        exact = space_metrics(matrix, items, groups, exact_top(matrix, built.everything, args.depth))
        params = built.index.index_params
        print(f"{spec.name}, {params}, {built.bytes_per_item} B/item, built in {built.build_seconds} s")
        print(f"exact at depth {args.depth}: " + ", ".join(f"{k} {exact[k]:.3f}" for k in keys))
        print("| nprobe | rerank | " + " | ".join(keys) + " | index loss | ms/query |")
        print("|---|---|" + "---|" * (len(keys) + 2))
        for nprobe in args.nprobe:
            for rerank in args.rerank:
                built.index.set_search_params(nprobe=min(nprobe, params["nlist"]), rerank=rerank)
                started = time.perf_counter()
                rankings = rank_through(built.index, matrix, args.depth)
                ms = (time.perf_counter() - started) * 1000 / len(items)
                found = space_metrics(matrix, items, groups, rankings)
                loss = max(exact[k] - found[k] for k in keys)
                cells = " | ".join(f"{found[k]:.3f}" for k in keys)
                print(f"| {nprobe} | {rerank} | {cells} | {loss:.3f} | {ms:.0f} |", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
