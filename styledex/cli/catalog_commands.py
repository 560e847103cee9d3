"""The catalog commands: add, list, search, spaces, remove, reindex and serve; each one parses its arguments,
calls one :class:`styledex.operations.CatalogSession` operation and prints the answer (human text or ``--json``).

Heavy modules (torch, the embedders) are imported inside the commands that need them, so ``list`` starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from styledex.catalog import DB_NAME
from styledex.config import Config
from styledex.embed.runtime import configure_threads
from styledex.operations import CatalogSession
from styledex.textout import shown

from .output import EXIT_FAILED_ITEMS, UserError, catalog_dir, print_json


def cmd_add(args: argparse.Namespace, config: Config) -> int:
    from styledex.pipeline import InputError, read_sources

    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames must be at least 1, got {args.frames}")
    if args.engine != "ray" and (args.ray_address is not None or args.workers is not None):
        raise UserError("--ray-address and --workers go with --engine ray")
    media_overrides = {k: v for k, v in (("frames", args.frames), ("sampling", args.sampling)) if v is not None}
    config = config.model_copy(update={"media": config.media.model_copy(update=media_overrides)})
    try:
        sources = read_sources(args.paths)
    except InputError as exc:
        raise UserError(str(exc)) from None
    directory = catalog_dir(args, config)
    configure_threads(config.embed.threads)
    with CatalogSession(directory, config, create=True) as session:
        # progress on stderr: a bar on a terminal, a line every few seconds elsewhere
        summary = session.add(sources, progress=not args.quiet, engine=args.engine, ray_address=args.ray_address,
                              workers=args.workers)
    if args.json:
        print_json(summary.as_dict())
    elif not args.quiet:
        rate = summary.frames / summary.seconds if summary.seconds else 0.0
        print(
            f"added {len(summary.added)}, skipped {len(summary.skipped)} (already in catalog), "
            f"failed {len(summary.failed)} in {summary.seconds:.1f} s ({rate:.2f} frames/s) → {shown(directory)}"
        )
        for path, error in summary.failed:
            print(f"  failed: {shown(path)}: {shown(error)}")
    return EXIT_FAILED_ITEMS if args.strict and summary.failed else 0


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    with CatalogSession(catalog_dir(args, config), config) as session:
        items, _ = session.list_items(status=args.status, kind=args.kind)
    if args.json:
        print_json(items)
        return 0
    for item in items:
        note = f"  ({shown(item['error'])})" if item["error"] else ""
        print(f"{item['id']:>6}  {item['status']:<6} {item['kind'] or '-':<5}  {shown(item['path'])}{note}")
    print(f"{len(items)} item(s)")
    return 0


def cmd_search(args: argparse.Namespace, config: Config) -> int:
    """One query (a file, an anchor, or the ids and files given with --together: a list of results) or one search
    per --id (a mapping id → results)."""
    from styledex.search import parse_collapse

    k = config.search.k if args.k is None else args.k  # -k 0 is an error, not the default
    if not 1 <= k <= 1000:
        raise UserError(f"-k must be between 1 and 1000, got {k}")
    ids, files = args.id or [], args.file or []
    if args.anchor is not None and (ids or files):
        raise UserError("--anchor is a query of its own: give it without --id or --file")
    if args.anchor is None and not ids and not files:
        raise UserError("search needs a query: --id ID, --file PATH (several of them with --together) or --anchor")
    if not args.together and (len(files) > 1 or (files and ids)):
        raise UserError("several --file, or --file with --id, make one query: add --together")
    collapse = args.collapse
    if isinstance(collapse, str):
        try:
            collapse = parse_collapse(collapse)
        except ValueError as exc:
            raise UserError(f"--collapse: {exc}") from None
    configure_threads(config.embed.threads)
    groups: dict[str, list[dict[str, Any]]] = {}
    lowering = {"same_subject": args.same_subject, "same_look": args.same_look}  # styledex.lowering
    with CatalogSession(catalog_dir(args, config), config) as session:
        if args.anchor is not None:
            results: Any = session.search_anchor(args.anchor, args.space, k, collapse=collapse)
            groups[f"query: CIN style {shown(args.anchor)}"] = results
        elif args.together or files:
            results = session.similar_to(ids, files, args.space, k, collapse=collapse, **lowering)
            named = [f"#{item_id}" for item_id in dict.fromkeys(ids)] + [shown(path) for path in files]
            groups[f"query {' + '.join(named)}"] = results
        else:
            results = {}
            for item_id in ids:
                results[str(item_id)] = session.similar(item_id, args.space, k, collapse=collapse, **lowering)
                groups[f"query #{item_id} {shown(session.item(item_id)['path'])}"] = results[str(item_id)]
    if args.json:
        print_json(results)
        return 0
    for query, hits in groups.items():
        print(f"{query} — space {shown(args.space)}")
        for rank, hit in enumerate(hits, 1):
            where = f"  frame {hit['frame']} @ {hit['time']}s" if "frame" in hit else ""
            print(f"  {rank:>3}. {hit['score']:.4f}  #{hit['id']:<6} {shown(hit['path'])}{where}")
            if hit.get("duplicates"):
                folded = " ".join(f"#{item_id}" for item_id in hit["duplicates"])
                print(f"         +{len(hit['duplicates'])} near-duplicate(s): {folded}")
    return 0


def cmd_spaces(args: argparse.Namespace, config: Config) -> int:
    from styledex.search import describe_spaces

    directory = catalog_dir(args, config)
    if (directory / DB_NAME).exists():
        with CatalogSession(directory, config) as session:
            rows = session.spaces()
    else:
        rows = describe_spaces(None)  # no catalog: every registered space, none in it
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        alias = f" (= {', '.join(row['aliases'])})" if row["aliases"] else ""
        count = f"  {row['count']} items" if "count" in row else ""
        print(f"{row['name']:<10} {row['kind']:<7} {row['dim']:>5}-d{alias}{count}\n    {row['description']}")
    return 0


def cmd_remove(args: argparse.Namespace, config: Config) -> int:
    """Remove items by id in one transaction; an unknown id is an error (exit 2) and removes nothing."""
    with CatalogSession(catalog_dir(args, config), config) as session:
        removed = session.remove(args.ids)
    if args.json:
        print_json({"removed": removed})
    else:
        print(f"removed {len(removed)} item(s)")
    return 0


def cmd_reindex(args: argparse.Namespace, config: Config) -> int:
    """Rebuild spaces' indexes from the stored raw vectors with the index policy (see CatalogSession.reindex)."""
    with CatalogSession(catalog_dir(args, config), config) as session:
        rows = session.reindex(args.space, args.index, backend=args.backend)
    if args.json:
        print_json({"reindex": rows})
        return 0
    for row in rows:
        print(
            f"{row['space']:<10} {row['index']:<6} {row['count']:>9} items  {_bytes(row['bytes_per_item'])} B/item  "
            f"{row['build_seconds']:>7.2f} s  ({row['reason']})"
        )
    return 0


def _bytes(per_item: float | None) -> str:
    """An index's bytes per item for the reindex table; a Milvus collection has no file here ("-")."""
    return f"{per_item:>9.1f}" if per_item is not None else f"{'-':>9}"


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    from styledex.serve.app import WORKER_ENV, create_app, worker_settings

    if args.max_upload_mb <= 0:
        raise UserError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    if args.workers < 1:
        raise UserError(f"--workers expects a positive number of server processes, got {args.workers}")
    if args.ingest_root:  # replaces serve.ingest_roots; relative folders are taken from here, the working directory
        roots = [Path(root).expanduser().resolve() for root in args.ingest_root]
        if missing := [root for root in roots if not root.is_dir()]:
            raise UserError(f"--ingest-root expects an existing folder, got {missing[0]}")
        serve_config = config.serve.model_copy(update={"ingest_roots": [str(root) for root in roots]})
        config = config.model_copy(update={"serve": serve_config})
    directory = catalog_dir(args, config)
    if not (directory / DB_NAME).exists():
        raise UserError(f"no catalog at {directory}: build one with `styledex demo` or `styledex add PATH`")
    max_upload_bytes = int(args.max_upload_mb * 2**20)
    # Built here with one worker or not, so a catalog or setting the app refuses fails before any worker starts.
    app = create_app(directory, config=config, max_upload_bytes=max_upload_bytes)
    writes = "on" if app.state.service.token else "off (set $STYLEDEX_TOKEN to allow POST/DELETE /items)"
    roots = app.state.service.ingest_roots.roots
    paths = f"under {', '.join(map(str, roots))}" if roots else "off (--ingest-root DIR or serve.ingest_roots)"
    workers = f"; {args.workers} worker processes" if args.workers > 1 else ""
    print(
        f"styledex: serving {directory} on http://{args.host}:{args.port} (API docs: /docs; writes {writes}; "
        f"server paths {paths}{workers})",
        file=sys.stderr,
    )
    if args.workers == 1:
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
        return 0
    app.state.service.close()  # each worker opens the catalog and loads the indexes itself
    del app
    os.environ[WORKER_ENV] = worker_settings(directory, config, max_upload_bytes)
    uvicorn.run(
        "styledex.serve.app:app_from_env", factory=True, workers=args.workers, host=args.host, port=args.port,
        log_level="info",
    )  # fmt: skip
    return 0
