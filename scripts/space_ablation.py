"""Reproduce the space-design measurements quoted in the README ("What the measurements chose").

Embeds the benchmark grid (10 photos × 11 styles) once with VGG19 at 256×256, then scores content variants
(global average, instance norm + pooling at several grids and layers) and Gram compressions (random channel
projections of several widths, a PCA basis) by style and content P@5. About 2 minutes on 2 CPU cores.

    python scripts/space_ablation.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from styledex.embed.embedder import images_to_tensor
from styledex.embed.stats import gram_matrix, instance_normalize, mean_std, upper_triangle
from styledex.embed.vgg import STYLE_LAYERS, VGG19Encoder
from styledex.evaluation.benchdata import build_benchmark
from styledex.evaluation.retrieval import retrieval_metrics
from styledex.media import decode

LAYERS = (*STYLE_LAYERS, "relu4_2")


def grid_features() -> tuple[dict[str, torch.Tensor], np.ndarray, np.ndarray]:
    manifest = pd.read_csv(build_benchmark() / "manifest.csv")
    grid = manifest[manifest["group"] == "grid"].reset_index(drop=True)
    encoder = VGG19Encoder(LAYERS)
    out: dict[str, list[torch.Tensor]] = {layer: [] for layer in LAYERS}
    for start in tqdm(range(0, len(grid), 8), desc="VGG19 on the grid"):
        images = [decode(p).frames[0] for p in grid["path"][start : start + 8]]
        with torch.inference_mode():
            for layer, value in encoder(images_to_tensor(images, 256)).items():
                out[layer].append(value)
    return {k: torch.cat(v) for k, v in out.items()}, grid["content"].to_numpy(), grid["style"].to_numpy()


def score(name: str, vectors: torch.Tensor, content: np.ndarray, style: np.ndarray) -> None:
    unit = F.normalize(vectors.flatten(1).float(), dim=1).numpy()
    every = np.ones(len(unit), dtype=bool)
    style_p5 = retrieval_metrics(unit, style, content, every)[0]
    content_p5 = retrieval_metrics(unit, content, style, every)[0]
    print(f"{name:44s} {unit.shape[1]:6d}  style P@5 {style_p5:.3f}  content P@5 {content_p5:.3f}")


def gram_vectors(feats: dict[str, torch.Tensor], projections: dict[str, torch.Tensor] | None) -> torch.Tensor:
    parts = []
    for layer in STYLE_LAYERS:
        f = feats[layer]
        if projections is not None:
            f = torch.einsum("kc,bchw->bkhw", projections[layer], f)
        parts.append(F.normalize(upper_triangle(gram_matrix(f)), dim=1))
    return torch.cat(parts, dim=1)


def main() -> None:
    feats, content, style = grid_features()
    print("content candidates")
    for layer in ("relu4_1", "relu4_2", "relu5_1"):
        score(f"global average {layer}", feats[layer].mean((2, 3)), content, style)
        normalized = instance_normalize(feats[layer])
        for grid in (1, 2, 4):
            pooled = F.adaptive_avg_pool2d(normalized, grid)
            score(f"instance norm + {grid}x{grid} pool {layer}", pooled, content, style)
    print("style candidates")
    adain = torch.cat([torch.cat(mean_std(feats[layer]), 1) for layer in STYLE_LAYERS], 1)
    score("AdaIN mean/std relu1_1..relu5_1 (raw concat)", adain, content, style)
    full = [F.normalize(upper_triangle(gram_matrix(feats[layer])), dim=1) for layer in STYLE_LAYERS[:3]]
    score("full Gram relu1_1..relu3_1", torch.cat(full, 1), content, style)
    gen = torch.Generator().manual_seed(0)
    for width in (16, 24, 32, 40):
        projections = {
            layer: torch.linalg.qr(torch.randn(feats[layer].shape[1], width, generator=gen))[0].T
            for layer in STYLE_LAYERS
        }
        score(f"Gram, random projection to {width} channels", gram_vectors(feats, projections), content, style)
    projections = {}
    for layer in STYLE_LAYERS:
        pixels = feats[layer].permute(0, 2, 3, 1).reshape(-1, feats[layer].shape[1])
        pixels = pixels[torch.randperm(len(pixels), generator=gen)[:200_000]]
        projections[layer] = torch.pca_lowrank(pixels, q=40, center=False)[2].T
    score("Gram, PCA to 40 channels (fitted on these images)", gram_vectors(feats, projections), content, style)


if __name__ == "__main__":
    main()
