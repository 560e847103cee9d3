"""Transfer with the pretrained ONNX networks: ``ghiasi`` (Magenta predictor + transformer) and ``cin`` (26 styles)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from styledex.embed.model_cache import MODELS
from styledex.embed.onnx_nets import CIN26, NUM_CIN_STYLES, MagentaPredictor, MagentaTransformer
from styledex.embed.transfer.imaging import fit_long_side
from styledex.embed.transfer.registry import TransferError


def _magenta() -> tuple[MagentaPredictor, MagentaTransformer]:
    """The Magenta predictor and transformer, loaded once per process (the shared model cache)."""

    def load() -> tuple[MagentaPredictor, MagentaTransformer]:
        predictor = MagentaPredictor()
        return predictor, MagentaTransformer(predictor)

    return MODELS.get_or_load(("magenta", "transfer"), load)


def _cin() -> CIN26:
    """The pretrained 26-style CIN network (ONNX), loaded once per process (the shared model cache)."""
    return MODELS.get_or_load(("cin26", "onnx"), CIN26)


def parse_mixture(text: str | Sequence[float] | np.ndarray | int, n: int = NUM_CIN_STYLES) -> np.ndarray:
    """(n,) weights summing to 1 from a style name ``"7"``, a mixture ``"3:0.5,7:0.5"``, an index or n weights."""
    if isinstance(text, int | np.integer):
        text = str(int(text))
    if not isinstance(text, str):
        w = np.asarray(text, dtype=np.float32).reshape(-1)
        if w.shape != (n,) or (w < 0).any() or w.sum() <= 0:
            raise TransferError(f"style weights need {n} non-negative values, not all zero")
        return w / w.sum()
    w = np.zeros(n, np.float32)
    for part in text.split(","):
        name, _, weight = part.strip().partition(":")
        try:
            index, value = int(name), float(weight) if weight else 1.0
        except ValueError:
            raise TransferError(f"bad style {part.strip()!r}: expected a name 0..{n - 1} or NAME:WEIGHT") from None
        if not 0 <= index < n:
            raise TransferError(f"unknown style name {name!r}: the cin styles are 0..{n - 1}")
        if not (value >= 0 and np.isfinite(value)):
            raise TransferError(f"style weight must be non-negative, got {weight!r} for style {name}")
        w[index] += value
    if w.sum() <= 0:
        raise TransferError(f"style mixture {text!r} has no positive weight")
    return w / w.sum()


def parse_weights(text: str | Sequence[float] | None, n: int) -> np.ndarray:
    """(n,) weights summing to 1 from ``"0.5,0.5"`` (``None``: equal weights)."""
    if text is None:
        return np.full(n, 1.0 / n, np.float32)
    try:
        w = np.asarray([float(v) for v in text.split(",")] if isinstance(text, str) else text, dtype=np.float32)
    except ValueError:
        raise TransferError(f"bad --weights {text!r}: expected comma-separated numbers") from None
    if w.shape != (n,):
        raise TransferError(f"--weights needs one value per style image ({n}), got {w.size}")
    if (w < 0).any() or w.sum() <= 0 or not np.isfinite(w).all():
        raise TransferError("--weights must be non-negative and not all zero")
    return w / w.sum()


def ghiasi(
    content: Image.Image,
    styles: Sequence[Image.Image],
    size: int,
    *,
    strength: float = 1.0,
    weights: str | Sequence[float] | None = None,
) -> Image.Image:
    """Ghiasi et al. 2017: the style vector of each style image, mixed by ``weights``, rendered on ``content``.

    ``strength`` 0..1 interpolates from the content's own style vector (0) to the style's (1). The transformer
    works at 384 px long side; the result is resized to ``size`` long side.
    """
    if not styles:
        raise TransferError("method 'ghiasi' needs --style IMAGE")
    strength = float(strength)
    if not 0.0 <= strength <= 1.0:
        raise TransferError(f"strength must be in 0..1, got {strength}")
    w = parse_weights(weights, len(styles))
    predictor, transformer = _magenta()
    vector = (w[:, None] * predictor.predict(list(styles))).sum(0)
    out = transformer.stylize(content, vector, strength=strength)
    return fit_long_side(out, size)


def cin(content: Image.Image, style_name: str | Sequence[float] | int, size: int) -> Image.Image:
    """Dumoulin et al. 2017: ``content`` at ``size`` long side in CIN style ``"7"`` or mixture ``"3:0.5,7:0.5"``."""
    weights = parse_mixture(style_name)
    return _cin().stylize(fit_long_side(content.convert("RGB"), size), weights, max_side=None)
