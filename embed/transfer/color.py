"""Colour transfer by matching the mean and covariance of the RGB pixel distribution (Gatys et al. 2017, §5.1).

Gatys et al. ("Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017) preserve the content's colours
by recolouring the *style* image before the transfer: every style pixel x (an RGB 3-vector) becomes
``x' = A·x + b`` with ``A`` chosen so that the recoloured pixels have the content's mean μ_c and covariance Σ_c,
i.e. ``A Σ_s Aᵀ = Σ_c`` and ``b = μ_c − A μ_s``. Two solutions of that equation are in the paper:

- ``eigen`` (the default; the image-analogies form): ``A = Σ_c^½ Σ_s^-½`` with symmetric square roots from the
  eigendecomposition. It does not depend on the order of the R, G, B channels.
- ``cholesky``: ``A = L_c L_s⁻¹`` with ``Σ = L Lᵀ`` the Cholesky factors; depends on the channel order.

The paper calls this "colour histogram matching"; only the first two moments of the histogram are matched.

Pure numpy; no torch, nothing from the rest of styledex.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image

ColorMode = Literal["eigen", "cholesky"]
COLOR_MODES: tuple[str, ...] = ("eigen", "cholesky")

# Added to both covariances (on the 0..1 scale, where a typical photo's channel variance is 0.02–0.08) so a flat or
# one-hued image (singular covariance) still has an inverse square root; it shifts the matched covariance by
# at most about this much.
DEFAULT_EPS = 1e-5

ImageLike = Image.Image | np.ndarray


def as_rgb_array(image: ImageLike) -> np.ndarray:
    """An image as float64 RGB on 0..1, shape [H, W, 3].

    Accepts a PIL image (any mode, converted to RGB), an integer array [H, W, 3] on 0..255, or a float array
    [H, W, 3] already on 0..1 (taken as is, not clipped).
    """
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected an RGB array of shape [H, W, 3], got {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float64) / 255.0
    return arr.astype(np.float64)


def color_moments(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [3] and biased (population) covariance [3, 3] of the RGB pixels of ``pixels`` [..., 3]."""
    flat = pixels.reshape(-1, 3)
    mean = flat.mean(axis=0)
    centred = flat - mean
    return mean, centred.T @ centred / len(flat)


def _sym_power(cov: np.ndarray, power: float) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    # eigh of a PSD matrix can return tiny negative eigenvalues from rounding; eps already keeps them positive.
    return (vecs * np.clip(vals, 1e-12, None) ** power) @ vecs.T


def color_transform(
    source: ImageLike, target: ImageLike, mode: ColorMode = "eigen", eps: float = DEFAULT_EPS
) -> tuple[np.ndarray, np.ndarray]:
    """The affine map (A [3, 3], b [3]) with ``A·x + b`` giving ``source``'s pixels ``target``'s mean/covariance.

    Pixels are on the 0..1 scale (see :func:`as_rgb_array`). ``eps`` is added to both covariances' diagonals.
    """
    if mode not in COLOR_MODES:
        raise ValueError(f"unknown colour-matching mode {mode!r}; expected one of {', '.join(COLOR_MODES)}")
    mu_s, cov_s = color_moments(as_rgb_array(source))
    mu_t, cov_t = color_moments(as_rgb_array(target))
    cov_s = cov_s + eps * np.eye(3)
    cov_t = cov_t + eps * np.eye(3)
    if mode == "eigen":
        a = _sym_power(cov_t, 0.5) @ _sym_power(cov_s, -0.5)
    else:
        a = np.linalg.cholesky(cov_t) @ np.linalg.inv(np.linalg.cholesky(cov_s))
    return a, mu_t - a @ mu_s


def match_color(
    source: ImageLike, target: ImageLike, mode: ColorMode = "eigen", eps: float = DEFAULT_EPS
) -> np.ndarray:
    """``source`` recoloured to ``target``'s RGB mean and covariance, float64 [H, W, 3] on 0..1, *not* clipped.

    ``source`` and ``target`` may differ in size. Without clipping the moments match exactly (up to ``eps``).
    """
    pixels = as_rgb_array(source)
    a, b = color_transform(pixels, target, mode, eps)
    return pixels @ a.T + b


def match_color_histogram(
    source: ImageLike, target: ImageLike, *, mode: ColorMode = "eigen", eps: float = DEFAULT_EPS
) -> Image.Image:
    """``source`` (the style image, in Gatys' use) with the RGB mean and covariance of ``target`` (the content).

    Args:
        source: the image to recolour: PIL image, or an RGB array [H, W, 3] (integers on 0..255, floats on 0..1).
        target: the image whose colour statistics to take; same kinds, any size.
        mode: ``eigen`` (symmetric square roots, the image-analogies form) or ``cholesky``; see the module docstring.
        eps: added to both covariances' diagonals (0..1 scale) so flat images do not blow up.

    Returns a PIL RGB image of ``source``'s size: :func:`match_color` clipped to 0..1 and rounded to 8 bits, so the
    moments match up to the clipping of out-of-gamut pixels and the rounding.
    """
    out = match_color(source, target, mode, eps)
    return Image.fromarray((np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
