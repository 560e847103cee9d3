"""Rendering a planned item: a photo or a video segment in its look, written out.

Looks: Magenta styles come from a painting (the predictor turns it into a style vector, once per style) and CIN
styles are one of the ONNX network's 26 built-in styles (the original benchmark); the hard benchmark's filter looks
are :class:`styledex.train.looks.Look` and its neural looks go through ``styledex.embed.transfer.transfer`` (every
shipped method). A reframed item is reframed after its look (:mod:`.framing`); a cut clip joins the first half of
one segment's frames with the second half of another's.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from styledex.train.framing import reframe

from .files import save_png
from .plan import Item, Style
from .recipe import HardRecipe, Recipe
from .video import read_segment, write_mp4


def _fit_long_side(img: Image.Image, side: int, *, even: bool = False) -> Image.Image:
    """Resize (Lanczos, aspect kept) to long side ``side``; ``even`` rounds sides down to even (yuv420p)."""
    scale = side / max(img.size)
    w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    if even:
        w, h = max(2, w - w % 2), max(2, h - h % 2)
    return img if (w, h) == img.size else img.resize((w, h), Image.Resampling.LANCZOS)


class Renderer:
    """Stylizes items; networks, style vectors, style images and decoded segments are made on first need."""

    def __init__(self, recipe: Recipe | HardRecipe) -> None:
        self.recipe = recipe
        self._vectors: dict[str, np.ndarray] = {}
        self._style_images: dict[Path, Image.Image] = {}
        self._segments: dict[tuple[Path, tuple[float, int]], list[Image.Image]] = {}

    @cached_property
    def predictor(self) -> Any:
        from styledex.embed.onnx_nets import MagentaPredictor

        return MagentaPredictor()

    @cached_property
    def transformer(self) -> Any:
        from styledex.embed.onnx_nets import MagentaTransformer

        return MagentaTransformer(self.predictor)

    @cached_property
    def cin(self) -> Any:
        from styledex.embed.onnx_nets import CIN26

        return CIN26()

    def _vector(self, style: Style) -> np.ndarray:
        if style.label not in self._vectors:
            self._vectors[style.label] = self.predictor.predict([self._style_image(style)])[0]
        return self._vectors[style.label]

    def _style_image(self, style: Style) -> Image.Image:
        assert style.source is not None, f"style {style.label} has no painting"
        if style.source not in self._style_images:
            with Image.open(style.source) as img:
                self._style_images[style.source] = img.convert("RGB")
        return self._style_images[style.source]

    def _transfer(self, img: Image.Image, style: Style, side: int) -> Image.Image:
        from styledex.embed.transfer import transfer

        assert style.method is not None
        styles = [self._style_image(style)] if style.source is not None else None
        return transfer(style.method, img, styles, style.name, style.side or side, **dict(style.options))

    def stylize(self, img: Image.Image, style: Style, side: int, *, even: bool = False) -> Image.Image:
        """``img`` in ``style`` at long side ``side``: a filter look at that size; Magenta runs at 384 and transfer
        methods at their own side (``style.side``), then resized; CIN ONNX at size."""
        if style.look is not None:
            return style.look.apply(_fit_long_side(img, side, even=even))
        if style.method is not None:
            return _fit_long_side(self._transfer(img, style, side), side, even=even)
        if style.cin is not None:
            return self.cin.stylize(_fit_long_side(img, side, even=even), style.cin, max_side=None)
        return _fit_long_side(self.transformer.stylize(img, self._vector(style)), side, even=even)

    def _decoded(self, src: Path, window: tuple[float, int]) -> list[Image.Image]:
        # The styles of one clip are consecutive in the plan, and a video's clips too: keep one video's segments.
        if not any(key[0] == src for key in self._segments):
            self._segments.clear()
        if (src, window) not in self._segments:
            start, frames = window
            self._segments[(src, window)] = read_segment(src, start, frames, self.recipe.fps)
        return self._segments[(src, window)]

    def segment(self, item: Item) -> list[Image.Image]:
        """The item's frames: its window's, or for a cut clip the first half of those and the second half of the
        ``cut`` window's (as many frames in all as one segment has)."""
        frames = self._decoded(item.src, item.window)
        if item.cut is None:
            return frames
        later = self._decoded(item.src, item.cut)
        half = max(1, len(frames) // 2)
        return frames[:half] + later[half:]

    def render(self, item: Item, path: Path) -> None:
        if item.kind == "image":
            side = self.recipe.image_side
            with Image.open(item.src) as src:
                photo = _fit_long_side(src.convert("RGB"), side)
            out = self.stylize(photo, item.style, side)
            if item.framing:
                recipe = self.recipe
                assert isinstance(recipe, HardRecipe), "only the hard benchmark reframes"
                out = reframe(out, item.framing, keep=recipe.crop_keep, factor=recipe.zoom,
                              degrees=recipe.rotate_degrees)  # fmt: skip
            save_png(out, path)
        else:
            side = self.recipe.video_side
            frames = [self.stylize(f, item.style, side, even=True) for f in self.segment(item)]
            write_mp4(frames, path, self.recipe.fps)
