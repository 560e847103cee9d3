"""The bench's figures as text and as a picture: the progress line of a row, the Markdown table, the PNG plot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .indexes import INDEX_VARIANTS


def progress_line(row: dict[str, Any]) -> str:
    """One row's figures on one line (printed as each row is measured, so a killed run still leaves them)."""
    beside = row.get("exact_file_bytes_per_item")
    return (
        f"{row['items']} {row['space']} {row['index']} ({row['vectors']}) {row['via']}: p50 {row['p50_ms']} / p99 "
        f"{row['p99_ms']} ms, recall@10 {row['recall_at_10']}, build {row['build_seconds']} s, "
        f"{row['bytes_per_item']} B/item" + ("" if beside is None else f" (+ {beside} B/item of exact vectors on disk)")
    )


def format_search_table(report: dict[str, Any]) -> str:
    lines = [
        "| items | space | vectors | index | via | p50 (ms) | p99 (ms) | recall@10 | bytes/item | build (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["search"]:
        cells = [
            r["items"], r["space"], r.get("vectors", "clustered"), r["index"], r["via"], f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}", f"{r.get('recall_at_10', float('nan')):.3f}", f"{r.get('bytes_per_item', 0):.0f}",
            f"{r.get('build_seconds', 0):.1f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def plot_search_report(report: dict[str, Any], path: Path) -> Path:
    """A PNG with p99 latency vs items per index type (HTTP where measured, else in-process) and recall@10 vs
    bytes per item; clustered vectors only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["search"] if r.get("vectors", "clustered") == "clustered"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    # Colour: index type; marker: space (more than ten lines would repeat matplotlib's colour cycle).
    colours = {variant: f"C{i}" for i, variant in enumerate(INDEX_VARIANTS)}
    markers = dict(zip(dict.fromkeys(r["space"] for r in rows), "os^DvP*X", strict=False))
    for (space, variant), group in _groups(rows).items():
        by_items: dict[int, dict[str, float]] = {}
        for r in group:
            by_items.setdefault(r["items"], {})[r["via"]] = r["p99_ms"]
        xs = sorted(by_items)
        ys = [by_items[x].get("http", by_items[x].get("inprocess", math.nan)) for x in xs]
        style = {"color": colours.get(variant), "marker": markers.get(space, "o"), "label": f"{space} {variant}"}
        left.plot(xs, ys, **style)
        points = {r["items"]: (r["bytes_per_item"], r["recall_at_10"]) for r in group if r["via"] == "inprocess"}
        right.scatter([p[0] for p in points.values()], [p[1] for p in points.values()], **style)
        for n, (b, rec) in points.items():
            right.annotate(f"{n // 1000}k", (b, rec), textcoords="offset points", xytext=(4, 4), fontsize=7)
    left.set(xscale="log", yscale="log", xlabel="items", ylabel="p99 latency (ms): HTTP, else in-process",
             title="p99 latency of one k=10 query")  # fmt: skip
    left.axhline(20, color="grey", linestyle=":", linewidth=1)
    right.set(xscale="log", xlabel="index bytes per item", ylabel="recall@10 vs exact", title="recall vs size")
    right.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    right.axvline(2048, color="grey", linestyle=":", linewidth=1)
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _groups(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["space"], r["index"]), []).append(r)
    return groups
