"""The embedding-throughput levers on a CUDA GPU (issue 5): a bare VGG19 forward to relu5_1 in fp32 and bf16, with
and without channels-last, next to the embedder's VGG stage (one forward feeding every VGG space), in one run.

    python scripts/gpu_forward_bench.py IMAGE_FOLDER [--json OUT.json]

The embedder figure includes resizing the decoded PIL images on the CPU (it is what ``add`` does per batch); the
bare figures start from tensors already on the GPU. The ``predictor`` space (an ONNX network on the CPU) is left
out: on a GPU machine it is the next bottleneck, measured by ``styledex bench`` on CPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from PIL import Image

from styledex.embed.embedder import Embedder
from styledex.evaluation.throughput import bare_forward_rate

VGG_SPACES = ["content", "gram", "adain"]


def embed_rate(images: list[Image.Image], size: int, batch_size: int, repeats: int) -> float:
    embedder = Embedder(VGG_SPACES, image_size=size, batch_size=batch_size, device="cuda")
    embedder.embed(images[:batch_size])  # warm-up
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        embedder.embed(images)
    return repeats * len(images) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    images = [Image.open(p).convert("RGB") for p in (paths * args.count)[: args.count]]
    rows = []
    for size in (256, 512):
        repeats = 8 if size == 256 else 3
        base = bare_forward_rate(images, size, args.batch_size, "cuda", repeats=repeats)
        row = {"size": size, "batch_size": args.batch_size, "device": torch.cuda.get_device_name(),
               "bare_fp32": base}
        for name, bf16, cl in (("bare_fp32_cl", False, True), ("bare_bf16", True, False), ("bare_bf16_cl", True, True)):
            row[name] = bare_forward_rate(images, size, args.batch_size, "cuda", bf16=bf16, channels_last=cl,
                                          repeats=repeats)
        row["embed_vgg_spaces"] = embed_rate(images, size, args.batch_size, repeats)
        rows.append(row)
        print(f"{size} px, batch {args.batch_size}: " + ", ".join(
            f"{k} {v:.0f} img/s ({v / base:.2f}x)" for k, v in row.items() if isinstance(v, float)), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
