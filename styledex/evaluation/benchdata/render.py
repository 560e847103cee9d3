"""Rendering a planned item: a photo or a video segment stylized by the Magenta or CIN ONNX networks, written out.

Magenta styles come from a painting (the predictor turns it into a style vector, once per style); CIN styles are
one of the network's 26 built-in styles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .files import save_png
from .plan import Item, Style
from .recipe import Recipe
from .video import read_segment, write_mp4


def _fit_long_side(img: Image.Image, side: int, *, even: bool = False) -> Image.Image:
    """Resize (Lanczos, aspect kept) to long side ``side``; ``even`` rounds sides down to even (yuv420p)."""
    scale = side / max(img.size)
    w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    if even:
        w, h = max(2, w - w % 2), max(2, h - h % 2)
    return img if (w, h) == img.size else img.resize((w, h), Image.Resampling.LANCZOS)


class Renderer:
    """Stylizes with the ONNX wrappers; sessions, style vectors, decoded segments made on first need."""

    def __init__(self, recipe: Recipe) -> None:
        from styledex.embed.onnx_nets import CIN26, MagentaPredictor, MagentaTransformer

        self.recipe = recipe
        self.predictor = MagentaPredictor()
        self.transformer = MagentaTransformer(self.predictor)
        self.cin = CIN26()
        self._vectors: dict[str, np.ndarray] = {}
        self._segment_key: tuple[Path, tuple[float, int]] | None = None
        self._segment: list[Image.Image] = []

    def _vector(self, style: Style) -> np.ndarray:
        if style.label not in self._vectors:
            assert style.source is not None
            with Image.open(style.source) as img:
                self._vectors[style.label] = self.predictor.predict([img.convert("RGB")])[0]
        return self._vectors[style.label]

    def stylize(self, img: Image.Image, style: Style, side: int, *, even: bool = False) -> Image.Image:
        """``img`` in ``style`` at long side ``side``: Magenta runs at 384, then resized; CIN at size."""
        if style.cin is not None:
            return self.cin.stylize(_fit_long_side(img, side, even=even), style.cin, max_side=None)
        return _fit_long_side(self.transformer.stylize(img, self._vector(style)), side, even=even)

    def segment(self, item: Item) -> list[Image.Image]:
        # The styles of one segment are consecutive in the plan: keep only the last segment decoded.
        key = (item.src, item.window)
        if key != self._segment_key:
            start, frames = item.window
            self._segment = read_segment(item.src, start, frames, self.recipe.fps)
            self._segment_key = key
        return self._segment

    def render(self, item: Item, path: Path) -> None:
        if item.kind == "image":
            with Image.open(item.src) as src:
                photo = _fit_long_side(src.convert("RGB"), self.recipe.image_side)
            save_png(self.stylize(photo, item.style, self.recipe.image_side), path)
        else:
            side = self.recipe.video_side
            frames = [self.stylize(f, item.style, side, even=True) for f in self.segment(item)]
            write_mp4(frames, path, self.recipe.fps)
