"""The reference every embedding-speed figure is divided by: a bare VGG19 forward to relu5_1.

No catalog, no decoding inside the timed loop, no statistics: only the network, on images already decoded and
resized. ``styledex bench --part embed`` runs it in the same process as ``add`` so the ratio holds on a noisy
machine; ``scripts/gpu_forward_bench.py`` runs it on CUDA with the precision and memory-layout levers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import torch
from PIL import Image

from styledex.embed.embedder import images_to_tensor, pick_device
from styledex.embed.vgg import STYLE_LAYERS, VGG19Encoder


def bare_forward_rate(
    images: Sequence[Image.Image],
    size: int,
    batch_size: int = 8,
    device: str = "auto",
    *,
    bf16: bool = False,
    channels_last: bool = False,
    repeats: int = 1,
) -> float:
    """Images per second of a VGG19 forward to relu5_1 on ``images`` resized to ``size`` × ``size``.

    ``bf16``: autocast to bfloat16 (CUDA, or a CPU with native bf16); ``channels_last``: NHWC weights and inputs.
    ``repeats``: passes over the images (a GPU needs several to outweigh its launch latency). One untimed batch
    warms up first (allocations, cuDNN algorithm choice).
    """
    dev = pick_device(device)
    encoder = VGG19Encoder(STYLE_LAYERS).to(dev)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    encoder = encoder.to(memory_format=layout)
    batches = [images_to_tensor(images[i : i + batch_size], size).to(dev).contiguous(memory_format=layout)
               for i in range(0, len(images), batch_size)]
    cast = torch.autocast(dev.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    with torch.inference_mode(), cast:
        encoder(batches[0])
        sync()
        started = time.perf_counter()
        for _ in range(repeats):
            for batch in batches:
                encoder(batch)
        sync()
    return repeats * len(images) / (time.perf_counter() - started)
