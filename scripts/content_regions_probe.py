"""Probe: would matching a query against regions of each item fix `content` under corner crops?

    python scripts/content_regions_probe.py [--hard-cache DIR] [--fraction 0.66]

`content` (instance-normalized relu5_1 pooled 2×2) keeps where things are, so a photo cropped to a corner lands in
another layout: on the hard benchmark's `reframed` group its content P@5 is 0.84, and 0.51-0.60 on the corner
crops. This probe scores each pair by the best of the item's whole frame and its four corner regions (each
``--fraction`` of the frame's sides, pooled 2×2 like `content`), the query always whole:
sim(q, x) = max(cos(q, x), max_r cos(q, x_r)). It reads the hard benchmark's image items through the embedder's
own preprocessing and forward (~4 min on 2 CPU cores) and prints content P@5 and leakage per group and framing
for both scorings. This item-side variant is not in the product (it needs several vectors per item in the index);
the product asks query-side instead, with the query's regions and mirrors (embed/content_views.py).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from styledex.embed.embedder import Embedder
from styledex.embed.stats import instance_normalize

GROUPS = ("filters", "reframed", "neural")


def region_vectors(deep: torch.Tensor, fraction: float) -> torch.Tensor:
    """[C, h, w] instance-normalized relu5_1 → [5, C·4] unit vectors: the whole map, then its four corners."""
    _, h, w = deep.shape
    rh, rw = max(1, round(h * fraction)), max(1, round(w * fraction))
    regions = [deep] + [deep[:, y : y + rh, x : x + rw] for y in (0, h - rh) for x in (0, w - rw)]
    return F.normalize(torch.stack([F.adaptive_avg_pool2d(r, 2).flatten() for r in regions]), dim=1)


def content_p5(sims: np.ndarray, content: np.ndarray, style: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query: content P@5 (÷ min(5, relevant)) and leakage (its look on another content in the top 5)."""
    p5, leak = [], []
    for q in range(len(sims)):
        keep = ~((content == content[q]) & (style == style[q]))
        order = np.flatnonzero(keep)[np.argsort(-sims[q][keep], kind="stable")]
        hits = content[order] == content[q]
        k = min(5, int(hits.sum()))
        p5.append(hits[:k].mean())
        leak.append(np.mean((style[order[:5]] == style[q]) & ~hits[:5]))
    return np.array(p5), np.array(leak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hard-cache", type=Path, default=Path.home() / ".cache/styledex/hard-v1")
    parser.add_argument("--fraction", type=float, default=2 / 3, help="corner regions' share of each side")
    args = parser.parse_args()
    with open(args.hard_cache / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["group"] in GROUPS]
    embedder = Embedder(["content"], image_size=256, aspect="keep")
    vectors = []
    with torch.inference_mode():
        for row in rows:
            with Image.open(row["path"]) as img:
                feats = embedder.vgg_features([img.convert("RGB")])
            vectors.append(region_vectors(instance_normalize(feats["relu5_1"]).float()[0], args.fraction))
    stacked = torch.stack(vectors)  # [n, 5, 2048]
    for group in GROUPS:
        sel = [i for i, r in enumerate(rows) if r["group"] == group]
        content = np.array([rows[i]["content"] for i in sel])
        style = np.array([rows[i]["style"] for i in sel])
        framing = np.array([rows[i]["framing"] for i in sel])
        whole = stacked[sel, 0]
        scorings = {
            "whole frames": (whole @ whole.T).numpy(),
            "best region": torch.einsum("qd,ird->qir", whole, stacked[sel]).amax(2).numpy(),
        }
        for name, sims in scorings.items():
            p5, leak = content_p5(sims, content, style)
            line = f"{group:9s} {name:13s} content P@5 {p5.mean():.3f}  leakage {leak.mean():.3f}"
            if group == "reframed":
                per = {f: p5[framing == f].mean() for f in sorted(set(framing))}
                line += "  " + " ".join(f"{f} {v:.2f}" for f, v in per.items())
            print(line)


if __name__ == "__main__":
    main()
