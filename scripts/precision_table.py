"""fp32 against bf16 retrieval quality, from two `styledex eval --json` reports run at each precision.

    styledex --precision fp32 eval --json > fp32.json
    styledex --precision bf16 eval --json > bf16.json     # a CPU with native bf16 (AVX-512 BF16/AMX) or CUDA
    python scripts/precision_table.py fp32.json bf16.json

Prints a Markdown table: per space, each P@5 and museum top-1 at both precisions, the largest P@5 change, and the
cosine between the two catalogs' vectors of the same item (min / mean over the benchmark's items), read from the
catalogs the reports name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from styledex.catalog import Catalog

KEYS = ("image_style_p5", "image_content_p5", "video_style_p5", "video_content_p5", "museum_artist_top1")
P5_KEYS = tuple(k for k in KEYS if k.endswith("_p5"))


def item_vectors(catalog_dir: Path, space: str, dim: int) -> dict[str, np.ndarray]:
    """Item-level vectors of a catalog keyed by the item's path."""
    with Catalog.open(catalog_dir) as catalog:
        paths = {item["id"]: item["path"] for item in catalog.items(status="ok")}
        ids, vectors = catalog.load_vectors(space, dim)
    return {paths[int(i)]: row for i, row in zip(ids, vectors, strict=True)}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python scripts/precision_table.py FP32.json BF16.json", file=sys.stderr)
        return 2
    reports = [json.loads(Path(a).read_text()) for a in argv]
    labels = [r.get("precision", "fp32") for r in reports]
    print("| space | precision | " + " | ".join(KEYS) + " | largest P@5 change | cosine to fp32 (min / mean) |")
    print("|---|---|" + "---|" * (len(KEYS) + 2))
    for name, base in reports[0]["spaces"].items():
        other = reports[1]["spaces"].get(name)
        if other is None:
            continue
        a = item_vectors(Path(reports[0]["catalog"]), name, base["dim"])
        b = item_vectors(Path(reports[1]["catalog"]), name, base["dim"])
        cos = np.array([float(a[p] @ b[p]) for p in a.keys() & b.keys()])
        change = max(abs(other[k] - base[k]) for k in P5_KEYS)
        for label, row, extra in ((labels[0], base, "– | –"),
                                  (labels[1], other, f"{change:.3f} | {cos.min():.4f} / {cos.mean():.4f}")):
            cells = " | ".join(f"{row[k]:.3f}" for k in KEYS)
            print(f"| {name} | {label} | {cells} | {extra} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
