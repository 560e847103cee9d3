"""The measuring commands: eval (retrieval quality), demo (a catalog over the public data and two questions) and
bench (speed). Each needs an optional extra, checked before any work, and reaches the evaluation package, which the
runtime never imports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from styledex.config import Config
from styledex.embed.runtime import configure_threads
from styledex.extras import require_extra
from styledex.textout import shown

from .output import UserError, catalog_dir, print_json


def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    require_extra("data", "eval")
    from styledex.evaluation.retrieval import eval_spaces, format_table, run_eval

    configure_threads(config.embed.threads)

    if args.distractors < 0 or args.depth < 1:
        raise UserError(f"expected --distractors >= 0 and --depth >= 1, got {args.distractors} and {args.depth}")
    if args.spaces:
        try:
            eval_spaces(args.spaces)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    report = run_eval(
        config, cache_dir=args.cache, progress=True, index=args.index,
        distractors=args.distractors, depth=args.depth, spaces=args.spaces,
        parts=tuple(dict.fromkeys(args.parts)), hard_cache_dir=args.hard_cache,
    )  # fmt: skip
    if args.json:
        print_json(report)
    else:
        print(format_table(report))
    return 0


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    require_extra("data", "demo")
    from styledex.evaluation.demo import run_demo

    configure_threads(config.embed.threads)

    directory = catalog_dir(args, config)
    report = run_demo(directory, config, progress=True)
    if args.json:
        print_json(report)
        return 0
    add = report["add"]
    print(
        f"demo: {add['added']} items added, {add['skipped']} already there, {add['failed']} failed; catalog in "
        f"{shown(directory.absolute())}, its pictures and clips in {shown(report['data'])}"
    )
    print(f"query #{report['query']['id']}: {shown(report['query']['path'])}")
    for question, hits in report["answers"].items():
        print(f"\n{question} search (more {'in this look' if question == 'style' else 'of this subject'}):")
        for rank, hit in enumerate(hits, 1):
            print(f"  {rank}. {hit['score']:.4f}  #{hit['id']:<5} {shown(Path(hit['path']).name)}")
    print(f"\npicture: {shown(report['panel'])}")
    return 0


def cmd_bench(args: argparse.Namespace, config: Config) -> int:
    require_extra("bench", "bench")
    from styledex.evaluation.embed_bench import format_embed_table, run_embed_bench
    from styledex.evaluation.search_bench import (
        INDEX_VARIANTS,
        format_search_table,
        plot_search_report,
        run_search_bench,
    )

    configure_threads(config.embed.threads)

    report: dict[str, Any] = {}
    if args.part in ("all", "embed"):
        if args.rounds < 1:
            raise UserError(f"--rounds must be at least 1, got {args.rounds}")
        report |= run_embed_bench(
            config, images=args.images, videos=args.videos, sizes=tuple(args.sizes), rounds=args.rounds
        )
    if args.part in ("all", "search"):
        unknown = sorted(set(args.index_types) - set(INDEX_VARIANTS))
        if unknown:
            expected = ", ".join(INDEX_VARIANTS)
            raise UserError(f"--index-types: unknown {', '.join(unknown)}; expected some of {expected}")
        report |= run_search_bench(
            items=args.items, queries=args.queries, space=args.search_spaces, index_types=args.index_types,
            isotropic_items=args.isotropic_items or None, threads=args.threads or None,
            build_threads=args.build_threads or None, work_dir=args.work_dir,
            # stderr even with --json (stdout holds the report): a run killed after hours still leaves its rows
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )  # fmt: skip
        if args.plot is not None:
            plot_search_report(report, args.plot)
    if args.part == "levers":
        from styledex.evaluation.levers_bench import run_levers_bench

        report |= run_levers_bench(config, images=args.images, size=args.sizes[0], rounds=args.rounds)
    if args.part == "transfer":
        from styledex.evaluation.transfer_bench import run_transfer_bench

        report |= run_transfer_bench(args.methods, gallery=args.gallery, progress=not args.json)
    if args.json:
        print_json(report)
        return 0
    if "embed" in report:
        print(format_embed_table(report))
    if "levers" in report:
        from styledex.evaluation.levers_bench import format_levers_table

        print(format_levers_table(report))
    if "search" in report:
        print(format_search_table(report))
    if "transfer" in report:
        from styledex.evaluation.transfer_bench import format_transfer_table

        print(format_transfer_table(report))
    return 0

