"""Measure the near-duplicate thresholds of ``search --collapse`` on the benchmark catalog ``styledex eval`` caches.

Two items are near-duplicates when their cosine reaches one threshold in the style space and another in the content
space that folding uses (``styledex.search.near_duplicate_spaces``: ``adain`` and ``content``). On the benchmark's
grid and video items (146: 110 photos × styles, 36 clip segments), the true near-duplicates are the pairs that share
both labels (the two segments of one clip in one style: 18 pairs); every other pair must not fold. For each pair of
candidate thresholds (style, content) this prints:

- how many true pairs fold, and how many other pairs fold wrongly (same content in another style, same style on
  other content, neither);
- P@5 of the style question (in the ``style`` space) and of the content question (in the ``content`` space), on
  images and videos, three ways: the benchmark's own protocol (items sharing both labels with the query left out:
  the README quality table), the raw ranking as a user sees it (those items counted as misses), and the ranking
  folded as ``search --collapse`` folds it (``fold_near_duplicates``: the query's near-duplicates dropped, other
  near-duplicates folded into the best-ranked one; P@5 over the folded list, divided by min(5, relevant results
  left after folding)).

Usage: ``python scripts/collapse_threshold.py [--catalog DIR] [--style T ...] [--content T ...] [--json]`` (about
a minute on 2 cores). The catalog defaults to the newest ``catalog-*`` under ``$STYLEDEX_CACHE/bench-v1``
(``~/.cache/styledex``); ``styledex eval --spaces content`` builds it (minutes) when there is none.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from styledex.catalog import Catalog
from styledex.embed.spaces import resolve
from styledex.evaluation.retrieval import item_labels, items_matrix, ranked_precision_and_ap, retrieval_metrics
from styledex.search import Collapse, fold_near_duplicates, near_duplicate_spaces

STYLE_THRESHOLDS = (0.95, 0.97, 0.98, 0.99, 0.995)
CONTENT_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
QUESTIONS = (("style", "style", "content"), ("content", "content", "style"))  # (question, same label, other label)


def default_catalog() -> Path:
    cache = Path(os.environ.get("STYLEDEX_CACHE") or Path.home() / ".cache" / "styledex") / "bench-v1"
    found = sorted(cache.glob("catalog-*"), key=lambda path: path.stat().st_mtime)
    if not found:
        sys.exit(f"no benchmark catalog under {cache}: run `styledex eval --spaces content` first")
    return found[-1]


def pair_counts(
    cosines: dict[str, np.ndarray], content: np.ndarray, style: np.ndarray, thresholds: dict[str, float]
) -> dict[str, int]:
    """Pairs (i < j) that fold at ``thresholds`` (space → cosine), by how their labels relate. cosines: space →
    [n, n]; content, style: [n] labels."""
    folds = np.all([cosines[space] >= t for space, t in thresholds.items()], axis=0)
    upper = np.triu(np.ones_like(folds), k=1)
    same_c, same_s = content[:, None] == content[None, :], style[:, None] == style[None, :]
    kinds = {"true": same_c & same_s, "same_content": same_c & ~same_s, "same_style": same_s & ~same_c,
             "neither": ~same_c & ~same_s}  # fmt: skip
    return {name: int((folds & mask & upper).sum()) for name, mask in kinds.items()} | {
        "true_total": int((kinds["true"] & upper).sum())
    }


def folded_p5(
    scores: np.ndarray, vectors: dict[str, np.ndarray], same: np.ndarray, other: np.ndarray, queries: np.ndarray,
    thresholds: dict[str, float] | None,
) -> float:  # fmt: skip
    """Mean P@5 over the rows ``queries`` [n] bool of each one's ranking (scores [n, n], itself left out, nothing
    else left out), folded at ``thresholds`` (space → cosine; None: not folded) as ``search --collapse`` folds it."""
    values = []
    for q in np.flatnonzero(queries):
        relevant = (same == same[q]) & (other != other[q])
        order = np.array([i for i in np.argsort(-scores[q], kind="stable") if i != q])
        if thresholds is not None:
            collapse = Collapse(thresholds, {s: v[q : q + 1] for s, v in vectors.items()})
            groups = fold_near_duplicates({s: v[order] for s, v in vectors.items()}, collapse)
            order = order[[first for first, _ in groups]]
        hits = relevant[order]
        if hits.any():
            values.append(ranked_precision_and_ap(hits, int(hits.sum()))[0])
    return float(np.mean(values))


def measure(catalog_dir: Path, style: list[float], content: list[float]) -> dict[str, Any]:
    """The report: pair counts and P@5 for every (style, content) pair of thresholds."""
    with Catalog.open(catalog_dir) as catalog:
        items = [it for it in catalog.items(status="ok") if it["metadata"].get("group") in ("grid", "video")]
        by_kind = near_duplicate_spaces(list(catalog.get_meta("embed")["spaces"]))
        spaces = [by_kind["style"], by_kind["content"]]
        ranking_spaces = {question: resolve(question).name for question, _, _ in QUESTIONS}
        matrices = {name: items_matrix(catalog, items, name) for name in {*spaces, *ranking_spaces.values()}}
    labels = {key: item_labels(items, key) for key in ("content", "style", "group")}
    cosines = {space: matrices[space] @ matrices[space].T for space in spaces}
    true_pairs = (labels["content"][:, None] == labels["content"][None, :]) & (
        labels["style"][:, None] == labels["style"][None, :]
    )
    np.fill_diagonal(true_pairs, False)
    # The weaker of the two cosines decides a pair: the closest other pair and the farthest true pair.
    weaker = np.min(list(cosines.values()), axis=0)
    other_pairs = ~true_pairs
    np.fill_diagonal(other_pairs, False)
    report: dict[str, Any] = {
        "catalog": str(catalog_dir), "spaces": list(spaces), "items": len(items),
        "true_pair_lowest": round(float(weaker[true_pairs].min()), 4),
        "other_pair_highest": round(float(weaker[other_pairs].max()), 4), "rows": [],
    }  # fmt: skip
    subsets = {"image": labels["group"] == "grid", "video": labels["group"] == "video"}
    p5_protocol, p5_raw = {}, {}
    for question, same_key, other_key in QUESTIONS:
        matrix = matrices[ranking_spaces[question]]
        same, other = labels[same_key], labels[other_key]
        for subset, rows in subsets.items():
            key = f"{subset}_{question}_p5"
            p5_protocol[key] = round(retrieval_metrics(matrix, same, other, rows)[0], 4)
            p5_raw[key] = round(folded_p5(matrix @ matrix.T, {}, same, other, rows, None), 4)
    report["p5_protocol"], report["p5_raw"] = p5_protocol, p5_raw
    vectors = {space: matrices[space] for space in spaces}
    for style_t, content_t in itertools.product(style, content):
        thresholds = {spaces[0]: style_t, spaces[1]: content_t}
        pairs = pair_counts(cosines, labels["content"], labels["style"], thresholds)
        row: dict[str, Any] = {"style": style_t, "content": content_t, "pairs": pairs}
        for question, same_key, other_key in QUESTIONS:
            matrix = matrices[ranking_spaces[question]]
            for subset, rows in subsets.items():
                p5 = folded_p5(matrix @ matrix.T, vectors, labels[same_key], labels[other_key], rows, thresholds)
                row[f"{subset}_{question}_p5"] = round(p5, 4)
        report["rows"].append(row)
    return report


def format_report(report: dict[str, Any]) -> str:
    keys = [f"{subset}_{question}_p5" for question, _, _ in QUESTIONS for subset in ("image", "video")]
    lines = [
        f"{report['catalog']}: {report['items']} grid + video items; near-duplicates measured in "
        f"{' and '.join(report['spaces'])}",
        f"weaker cosine of a true pair: lowest {report['true_pair_lowest']}; of any other pair: highest "
        f"{report['other_pair_highest']}",
        "",
        "| style | content | true pairs folded | wrong: same content | wrong: same style | wrong: neither | "
        + " | ".join(key.replace("_p5", " P@5") for key in keys)
        + " |",
        "|" + "---|" * (6 + len(keys)),
        "| protocol (junk left out) | | | | | | " + " | ".join(f"{report['p5_protocol'][k]:.3f}" for k in keys) + " |",
        "| not folded (junk = miss) | | | | | | " + " | ".join(f"{report['p5_raw'][k]:.3f}" for k in keys) + " |",
    ]
    for row in report["rows"]:
        pairs = row["pairs"]
        lines.append(
            f"| {row['style']} | {row['content']} | {pairs['true']}/{pairs['true_total']} | {pairs['same_content']} | "
            f"{pairs['same_style']} | {pairs['neither']} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, help="benchmark catalog (default: the newest cached one)")
    parser.add_argument("--style", type=float, nargs="+", default=list(STYLE_THRESHOLDS), help="style thresholds")
    parser.add_argument("--content", type=float, nargs="+", default=list(CONTENT_THRESHOLDS), help="content ones")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = measure(args.catalog or default_catalog(), args.style, args.content)
    print(json.dumps(report, indent=2) if args.json else format_report(report))


if __name__ == "__main__":
    main()
