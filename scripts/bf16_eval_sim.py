"""Retrieval quality of the VGG spaces under bf16 numerics, on a CPU without native bf16.

`styledex eval` wants fp32 and bf16 quality side by side, but this project's CPU (AVX2 only) emulates bf16 about
100x slower than fp32. What CUDA's bf16 autocast does to VGG19 is: each convolution reads bf16 inputs and bf16
weights, accumulates in fp32 and writes a bf16 output. This script reproduces exactly those roundings in fp32 (weights
rounded once, every convolution's input and output rounded to bf16 by hooks), so the vectors are those bf16 would
give up to accumulation order, at fp32 speed. It scores them with `styledex eval`'s metrics on the cached benchmark
catalog (run `styledex eval` once first) next to the catalog's fp32 vectors.

    python scripts/bf16_eval_sim.py            # prints a Markdown table: fp32 vs simulated bf16 per space
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from tqdm import tqdm

from styledex.catalog import Catalog
from styledex.config import load_config
from styledex.embed.embedder import Embedder, aggregate_frames
from styledex.evaluation.retrieval import item_labels, items_matrix, space_metrics
from styledex.pipeline import decode_with_config

VGG_SPACES = ("content", "gram", "adain")
KEYS = ("image_style_p5", "image_content_p5", "video_style_p5", "video_content_p5", "museum_artist_top1")


def _to_bf16(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.bfloat16).to(torch.float32)


def simulate_bf16(encoder: torch.nn.Module) -> None:
    """Round ``encoder``'s convolution weights to bf16 and hook every convolution to round its input and output."""
    for module in encoder.modules():
        if isinstance(module, torch.nn.Conv2d):
            with torch.no_grad():
                module.weight.copy_(_to_bf16(module.weight))
                if module.bias is not None:
                    module.bias.copy_(_to_bf16(module.bias))
            module.register_forward_pre_hook(lambda _m, args: (_to_bf16(args[0]),))
            module.register_forward_hook(lambda _m, _args, out: _to_bf16(out))


def main() -> int:
    from styledex.evaluation.benchdata import build_benchmark

    config = load_config()
    bench = build_benchmark(progress=False)
    catalogs = sorted(bench.glob("catalog-*"), key=lambda p: p.stat().st_mtime)
    if not catalogs:
        print("no cached benchmark catalog: run `styledex eval` first", file=sys.stderr)
        return 2
    embedder = Embedder(list(VGG_SPACES), image_size=config.embed.image_size, precision="fp32")
    simulate_bf16(embedder._vgg())
    with Catalog.open(catalogs[-1]) as catalog:
        items = catalog.items(status="ok")
        exact = {name: items_matrix(catalog, items, name) for name in VGG_SPACES}
    simulated: dict[str, list[np.ndarray]] = {name: [] for name in VGG_SPACES}
    for item in tqdm(items, unit="item", file=sys.stderr):
        media = decode_with_config(item["path"], config)
        vectors = embedder.embed(media.frames)
        for name in VGG_SPACES:
            rows = vectors[name]
            simulated[name].append(aggregate_frames(rows) if media.kind == "video" else rows[0])
    groups = item_labels(items, "group")
    print("| space | precision | " + " | ".join(KEYS) + " | cosine to fp32 (min / mean) |")
    print("|---|---|" + "---|" * (len(KEYS) + 1))
    for name in VGG_SPACES:
        bf16 = np.stack(simulated[name])
        cos = np.sum(bf16 * exact[name], axis=1)
        for label, matrix in (("fp32 (catalog)", exact[name]), ("bf16 (simulated)", bf16)):
            scores = space_metrics(matrix, items, groups)
            cells = " | ".join(f"{scores[k]:.3f}" for k in KEYS)
            extra = f"{cos.min():.4f} / {cos.mean():.4f}" if label.startswith("bf16") else "–"
            print(f"| {name} | {label} | {cells} | {extra} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
