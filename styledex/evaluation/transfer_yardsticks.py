"""Did a rendering take on its style image's look? Three yardsticks outside the catalog's spaces, and a pass rule.

The transfer table's first check read distances in the catalog's own ``adain`` space (cosines of per-layer
L2-normalized statistics at 256×256), where nearly any tint counts as moving toward the style: it called every
method "moved" while, looked at, StyleBank rendered two paintings as the same grey-teal picture. Each yardstick here
turns an image into a vector; a rendering's **ratio** is its distance to the style image over the photo's distance
to it (1: no closer than the untouched photo, 0: as close as the style image itself, above 1: farther):

- ``vgg_stats``: VGG19 relu1_1…relu5_1 per-channel mean and standard deviation, each layer's block L2-normalized,
  Euclidean distance (AdaIN's statistics, the measure issue 19 was checked with). Images at their own aspect
  ratio, long side 256.
- ``gram``: the Gram matrices of relu1_1…relu4_1 (Gatys et al.'s texture statistics: which features occur
  together), each divided by the number of positions and L2-normalized per layer, Euclidean distance.
- ``colour``: no network: the joint RGB histogram (8 bins per channel, 512 cells, fractions of the pixels),
  total-variation distance (half the L1 distance, 0..1). It sees the palette a person sees first.

A pair **passes** when its ``vgg_stats`` ratio is at most :data:`PASS_RATIO` (0.6, the issue's threshold: the
rendering must close at least 40 % of the way to its style) and the content stayed (checked by the bench in the
``content`` space). A method passes with at least 3 of 4 pairs. For per-style methods the bench also asks whether
their styles differ: :func:`styles_apart` is how far apart the renderings of one photo in two styles are, as a share
of how far apart the two style images are (0: the network renders both looks the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import torch
from PIL import Image

from styledex.embed.stats import mean_std
from styledex.embed.transfer.imaging import fit_long_side, to_tensor
from styledex.embed.vgg import VGG19Encoder, shared_encoder

YARDSTICKS = ("vgg_stats", "gram", "colour")
PASS_RATIO = 0.6
MEASURE_SIDE = 256  # long side the VGG yardsticks see, pixels
STATS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
COLOUR_BINS = 8


@cache
def _encoder() -> VGG19Encoder:
    return shared_encoder(STATS_LAYERS, "cpu")


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm().clamp_min(1e-12)


def yardstick_vectors(image: Image.Image) -> dict[str, np.ndarray]:
    """One image → {yardstick: vector} (float64): ``vgg_stats`` [2944], ``gram`` [64²+128²+256²+512²], ``colour``
    [512] (sums to 1)."""
    rgb = image.convert("RGB")
    with torch.inference_mode():
        features = _encoder()(to_tensor(fit_long_side(rgb, MEASURE_SIDE))[None])
        stats = [_unit(torch.cat(mean_std(features[layer]), dim=1)[0]) for layer in STATS_LAYERS]
        grams = []
        for layer in GRAM_LAYERS:
            f = features[layer][0].float().flatten(1)  # [C, positions]
            grams.append(_unit((f @ f.T / f.shape[1]).flatten()))
    pixels = (np.asarray(rgb, dtype=np.uint8) // (256 // COLOUR_BINS)).reshape(-1, 3).astype(np.int64)
    cells = (pixels[:, 0] * COLOUR_BINS + pixels[:, 1]) * COLOUR_BINS + pixels[:, 2]
    colour = np.bincount(cells, minlength=COLOUR_BINS**3) / len(cells)
    return {
        "vgg_stats": torch.cat(stats).double().numpy(),
        "gram": torch.cat(grams).double().numpy(),
        "colour": colour.astype(np.float64),
    }


def distance(yardstick: str, a: np.ndarray, b: np.ndarray) -> float:
    """The yardstick's distance between two of its vectors: total variation for ``colour``, else Euclidean."""
    if yardstick == "colour":
        return float(0.5 * np.abs(a - b).sum())
    return float(np.linalg.norm(a - b))


def ratios(photo: Image.Image, style: Image.Image, output: Image.Image) -> dict[str, float]:
    """Per yardstick, d(output, style) / d(photo, style) (module docstring); inf when photo and style coincide."""
    p, s, o = (yardstick_vectors(img) for img in (photo, style, output))
    out = {}
    for name in YARDSTICKS:
        base = distance(name, p[name], s[name])
        out[name] = distance(name, o[name], s[name]) / base if base > 0 else float("inf")
    return out


def styles_apart(outputs: Sequence[Image.Image], styles: Sequence[Image.Image]) -> float:
    """Mean over every two styles of d(output a, output b) / d(style a, style b) in ``vgg_stats``: ``outputs[i]``
    is one photo rendered in style i, whose style image is ``styles[i]``. Needs ≥ 2 styles."""
    if len(outputs) != len(styles) or len(outputs) < 2:
        raise ValueError(f"styles_apart needs one output per style and >= 2 styles, got {len(outputs)}, {len(styles)}")
    o = [yardstick_vectors(img)["vgg_stats"] for img in outputs]
    s = [yardstick_vectors(img)["vgg_stats"] for img in styles]
    shares = [
        distance("vgg_stats", o[i], o[j]) / max(distance("vgg_stats", s[i], s[j]), 1e-12)
        for i in range(len(o)) for j in range(i + 1, len(o))
    ]  # fmt: skip
    return float(np.mean(shares))
