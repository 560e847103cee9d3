"""Any Pillow pixel mode to 8-bit "RGB" (H × W × 3, uint8, 0..255): :func:`_to_rgb` and what it needs.

16-bit and float samples are scaled to 0..255 rather than clipped (stretched min–max when they fit no known
range), alpha and transparency are composited over white, and CMYK, or RGB with an embedded non-sRGB ICC
profile, is converted to sRGB through that profile.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image

from .common import MediaError, _reason


@lru_cache(maxsize=1)
def _srgb_profile():  # -> ImageCms.ImageCmsProfile
    from PIL import ImageCms

    return ImageCms.createProfile("sRGB")


def _icc_to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image | None:
    """``im`` (RGB or CMYK) taken from its embedded ICC profile to sRGB; None if absent, sRGB or broken."""
    if not icc:
        return None
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if im.mode == "RGB" and "srgb" in ImageCms.getProfileDescription(src).lower():
            return None  # already sRGB: skip a transform that would only cost time
        out = ImageCms.profileToProfile(im, src, _srgb_profile(), outputMode="RGB")
    except (ImportError, OSError, ValueError, TypeError, AttributeError):
        return None  # a broken profile (ImageCms.PyCMSError is an OSError) falls back to the plain conversion
    return out


def _scale_to_uint8(arr: np.ndarray, full_scale: float | None) -> np.ndarray:
    """Map integer/float samples to 0..255 uint8: divide by ``full_scale``/255, or min–max stretch if None."""
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if full_scale is None:
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    else:
        arr = arr * (255.0 / full_scale)
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit "RGB".

    16-bit ("I;16*") samples are scaled 0..65535 → 0..255 (Pillow's own convert clips them at 255). "I" is
    taken as 16-bit when its values fit 0..65535, else stretched min–max; "F" as 0..1 when it fits, else
    0..255 when it fits, else stretched. Alpha, and palette or colour-key transparency, is composited over
    white. CMYK and RGB with an embedded non-sRGB ICC profile go through that profile.
    """
    mode = im.mode
    icc = im.info.get("icc_profile")
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im)
        if mode == "I" and (arr.size == 0 or arr.min() < 0 or arr.max() > 65535):
            grey = _scale_to_uint8(arr, None)
        else:
            grey = _scale_to_uint8(arr, 65535.0)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(im)
        finite = arr[np.isfinite(arr)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 0.0
        scale = 1.0 if lo >= 0 and hi <= 1 else 255.0 if lo >= 0 and hi <= 255 else None
        return Image.fromarray(_scale_to_uint8(arr, scale), "L").convert("RGB")
    if mode == "CMYK":
        converted = _icc_to_srgb(im, icc)
        return im.convert("RGB") if converted is None else converted
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, rgba).convert("RGB")
        converted = _icc_to_srgb(rgb, icc) if mode.startswith("RGB") else None
        return rgb if converted is None else converted
    if mode == "RGB":
        converted = _icc_to_srgb(im, icc)
        return im if converted is None else converted
    try:
        return im.convert("RGB")  # "1", "L", "P", "YCbCr", "RGBX", "HSV"…
    except ValueError as e:
        raise MediaError(f"unsupported pixel mode {mode!r} (expected one convertible to RGB): {_reason(e)}") from None
