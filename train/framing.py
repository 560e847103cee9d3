"""Reframings of a picture (the hard benchmark's fixed ones, the heads' training set's random ones), the ways two
clips of one subject differ: mirrored, cropped to a corner, zoomed about the centre, slightly rotated. Each returns
a new RGB image at the input's size (a crop is resized back with Lanczos), so a reframing changes what is where,
not the resolution.
"""

from __future__ import annotations

import math

from PIL import Image, ImageOps

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


def _crop_resized(img: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """The region ``box`` (left, top, right, bottom in pixels, floats) resized back to ``img.size``."""
    return img.resize(img.size, Image.Resampling.LANCZOS, box=box)


def mirror(img: Image.Image) -> Image.Image:
    return ImageOps.mirror(img)


def crop_corner(img: Image.Image, keep: float, corner: str) -> Image.Image:
    """The ``corner`` (one of :data:`CORNERS`) keeping ``keep`` (0..1) of each side."""
    w, h = img.size
    cw, ch = keep * w, keep * h
    left = 0.0 if corner.endswith("left") else w - cw
    top = 0.0 if corner.startswith("top") else h - ch
    return _crop_resized(img, (left, top, left + cw, top + ch))


def zoom(img: Image.Image, factor: float) -> Image.Image:
    """Magnified ``factor`` (> 1) times about the centre: the central 1/factor of each side."""
    w, h = img.size
    cw, ch = w / factor, h / factor
    return _crop_resized(img, ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2))


def rotate(img: Image.Image, degrees: float) -> Image.Image:
    """Turned ``degrees`` counter-clockwise about the centre, then cropped to the largest centred frame of the same
    aspect ratio that has no border: scale s = min(w / (w cos θ + h sin θ), h / (w sin θ + h cos θ))."""
    w, h = img.size
    a = math.radians(abs(degrees))
    s = min(w / (w * math.cos(a) + h * math.sin(a)), h / (w * math.sin(a) + h * math.cos(a)))
    turned = img.rotate(degrees, resample=Image.Resampling.BICUBIC)
    return _crop_resized(turned, ((w - s * w) / 2, (h - s * h) / 2, (w + s * w) / 2, (h + s * h) / 2))


def reframe(img: Image.Image, framing: str, *, keep: float, factor: float, degrees: float) -> Image.Image:
    """``img`` in ``framing``: ``mirror``, ``crop_<corner>`` (see :data:`CORNERS`), ``zoom``, ``rotate`` or
    ``mirror_zoom``; ``keep``, ``factor`` and ``degrees`` as in :func:`crop_corner`, :func:`zoom`, :func:`rotate`."""
    if framing == "mirror":
        return mirror(img)
    if framing.startswith("crop_") and framing[5:] in CORNERS:
        return crop_corner(img, keep, framing[5:])
    if framing == "zoom":
        return zoom(img, factor)
    if framing == "rotate":
        return rotate(img, degrees)
    if framing == "mirror_zoom":
        return zoom(mirror(img), factor)
    raise ValueError(f"unknown framing {framing!r}; expected mirror, crop_<corner>, zoom, rotate or mirror_zoom")
