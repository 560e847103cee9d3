"""Classic filter looks made with image operations: the "filters" of a short-video app, as data.

A :class:`Look` is a list of :class:`Step` (an operation name and its parameters) and a strength: the fully
filtered picture is blended with the original by ``strength`` (0 = the photo, 1 = the whole effect), the
intensity slider of an app. Every operation works on RGB floats in 0..1; sizes (blur radii, cells, grain) are
fractions of the image's short side, so one look is the same look at 256 px and at 1080 px. Random parts (grain,
paper texture) are drawn from a generator seeded by the look's seed, so applying a look is deterministic.

Two uses, kept apart on purpose (``styledex eval`` measures the second on looks the first never made):

- :func:`random_look` draws a training look: one to three operations from :data:`TRAIN_OPERATIONS` with random
  parameters. The learned style and content heads (``styledex train style-head`` / ``content-head``) see only these.
- :data:`NAMED_LOOKS`: fixed compositions for the benchmark (sketch, watercolour, cartoon, cinematic grade,
  vintage, black-and-white film, …). None of them is ever drawn in training, and four of their operations
  (:data:`HELDOUT_OPERATIONS`: halftone, emboss, VHS channel shift with scanlines, watercolour paper) are never
  used in training at all, so the benchmark also asks about looks of a kind the heads never met.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter

Pixels = np.ndarray  # [H, W, 3] float32 in 0..1
Operation = Callable[[Pixels, Mapping[str, float], np.random.Generator], Pixels]

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma weights


def _luma(x: Pixels) -> np.ndarray:
    return x @ LUMA


def _pil(x: Pixels) -> Image.Image:
    return Image.fromarray((np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8))


def _arr(img: Image.Image) -> Pixels:
    return np.asarray(img.convert("RGB"), np.float32) / 255.0


def _px(x: Pixels, fraction: float) -> float:
    """A size given as a fraction of the short side, in pixels (≥ 0.5)."""
    return max(0.5, fraction * min(x.shape[:2]))


def _blur(x: Pixels, fraction: float) -> Pixels:
    return _arr(_pil(x).filter(ImageFilter.GaussianBlur(_px(x, fraction))))


def _smooth_noise(shape: tuple[int, int], fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise [H, W] in about -1..1 with features of ``fraction`` × short side."""
    h, w = shape
    small = max(2, round(1 / max(fraction, 1e-3)))
    coarse = rng.standard_normal((small, max(2, round(small * w / h)))).astype(np.float32)
    img = Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)
    out = np.asarray(img, np.float32)
    return out / (np.abs(out).max() + 1e-6)


# --- operations: (pixels, params, rng) → pixels, every one in 0..1 ---------------------------------------------


def op_grade(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Lift / gamma / gain per channel (a colourist's three-way grade): params lift_r…, gamma_r…, gain_r…."""
    out = x
    for c, ch in enumerate("rgb"):
        v = x[..., c]
        v = p.get(f"lift_{ch}", 0.0) + (p.get(f"gain_{ch}", 1.0) - p.get(f"lift_{ch}", 0.0)) * v
        out = out.copy() if out is x else out
        out[..., c] = np.clip(v, 0, 1) ** p.get(f"gamma_{ch}", 1.0)
    return out


def op_saturation(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Saturation ``s`` (0 = grey, 1 = unchanged, > 1 = vivid)."""
    y = _luma(x)[..., None]
    return np.clip(y + p["s"] * (x - y), 0, 1)


def op_curve(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Contrast S-curve of steepness ``contrast`` (1 = none) around mid-grey, then ``fade`` (blacks raised and
    whites lowered by that much: the washed-out film look)."""
    k = p.get("contrast", 1.0)
    if abs(k - 1.0) > 1e-6:
        lo, hi = 1 / (1 + math.exp(k * 4 * 0.5)), 1 / (1 + math.exp(-k * 4 * 0.5))
        x = (1 / (1 + np.exp(-k * 4 * (x - 0.5))) - lo) / (hi - lo)
    fade = p.get("fade", 0.0)
    return fade + (1 - 2 * fade) * x


def op_duotone(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Luminance mapped from colour ``dark_r/g/b`` to ``light_r/g/b`` (sepia, cyanotype, pop duotones)."""
    y = _luma(x)[..., None]
    dark = np.array([p["dark_r"], p["dark_g"], p["dark_b"]], np.float32)
    light = np.array([p["light_r"], p["light_g"], p["light_b"]], np.float32)
    return dark + y * (light - dark)


def op_hue(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Hue rotated by ``degrees`` (a rotation about the grey axis of RGB space)."""
    a = math.radians(p["degrees"])
    cos, sin = math.cos(a), math.sin(a)
    k = 1 / 3
    s3 = math.sqrt(k)
    m = np.array(
        [
            [cos + (1 - cos) * k, k * (1 - cos) - s3 * sin, k * (1 - cos) + s3 * sin],
            [k * (1 - cos) + s3 * sin, cos + k * (1 - cos), k * (1 - cos) - s3 * sin],
            [k * (1 - cos) - s3 * sin, k * (1 - cos) + s3 * sin, cos + k * (1 - cos)],
        ],
        np.float32,
    )
    return np.clip(x @ m.T, 0, 1)


def op_posterize(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Each channel quantized to ``levels`` values."""
    n = max(2, round(p["levels"]))
    return np.round(x * (n - 1)) / (n - 1)


def op_blur(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Gaussian blur of radius ``radius`` × short side."""
    return _blur(x, p["radius"])


def op_glow(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Bloom: the highlights blurred (``radius``) and screened over the picture with weight ``amount``."""
    highlights = np.clip((x - 0.6) / 0.4, 0, 1)
    halo = _blur(highlights, p["radius"]) * p["amount"]
    return 1 - (1 - x) * (1 - halo)


def op_sharpen(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Unsharp mask: x + ``amount`` · (x − blur(x, ``radius``)), the crunchy "HDR" look when strong."""
    return np.clip(x + p["amount"] * (x - _blur(x, p.get("radius", 0.01))), 0, 1)


def op_grain(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Film grain: Gaussian noise of std ``sigma``, monochrome when ``mono`` > 0.5, strongest in the mid-tones."""
    h, w, _ = x.shape
    noise = rng.standard_normal((h, w, 1) if p.get("mono", 1.0) > 0.5 else (h, w, 3)).astype(np.float32)
    mid = 4 * x * (1 - x)
    return np.clip(x + p["sigma"] * noise * (0.4 + 0.6 * mid), 0, 1)


def op_vignette(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Corners darkened by up to ``strength`` (a radial falloff from the centre)."""
    h, w, _ = x.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2)) / math.sqrt(2)
    return x * (1 - p["strength"] * r[..., None] ** 2)


def op_pixelate(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Blocks of ``cell`` × short side (nearest-neighbour down and up)."""
    h, w, _ = x.shape
    cell = _px(x, p["cell"])
    small = _pil(x).resize((max(1, round(w / cell)), max(1, round(h / cell))), Image.Resampling.BOX)
    return _arr(small.resize((w, h), Image.Resampling.NEAREST))


def op_sketch(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Pencil sketch: the grey image colour-dodged with its blurred negative (``radius``), darkened by ``dark``."""
    g = _luma(x)
    blurred_negative = _blur(np.repeat((1 - g)[..., None], 3, axis=2), p["radius"])[..., 0]
    dodge = np.clip(g / np.maximum(1 - blurred_negative, 1e-3), 0, 1)
    dodge = dodge ** p.get("dark", 1.0)
    return np.repeat(dodge[..., None], 3, axis=2)


def op_ink(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Dark outlines where the smoothed luminance has strong gradients (``threshold``), drawn over the picture."""
    g = _blur(np.repeat(_luma(x)[..., None], 3, axis=2), 0.004)[..., 0]
    gy, gx = np.gradient(g * min(x.shape[:2]) / 256)
    edge = np.clip((np.hypot(gx, gy) - p["threshold"]) / p["threshold"], 0, 1)
    return x * (1 - edge[..., None])


def op_smooth(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Painterly flattening: a median filter of ``size`` × short side (odd, ≥ 3), which keeps edges, twice."""
    size = max(3, int(_px(x, p["size"])) | 1)
    img = _pil(x)
    for _ in range(2):
        img = img.filter(ImageFilter.MedianFilter(min(size, 9)))
    return _arr(img)


def op_oil(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Oil-paint strokes: PIL's mode filter (each pixel takes its neighbourhood's most common value), ``size``."""
    size = max(3, min(9, int(_px(x, p["size"])) | 1))
    return _arr(_pil(x).filter(ImageFilter.ModeFilter(size)))


def op_solarize(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Values above ``threshold`` inverted (the Sabattier effect)."""
    return np.where(x > p["threshold"], 1 - x, x)


def op_invert(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """The negative."""
    return 1 - x


# Held-out operations: never in a training look.


def op_halftone(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Comic halftone: per channel, dots on a grid of ``cell`` × short side whose size follows the ink amount."""
    h, w, _ = x.shape
    cell = max(3.0, _px(x, p["cell"]))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fy, fx = (yy % cell) / cell - 0.5, (xx % cell) / cell - 0.5
    radius = np.hypot(fx, fy) * math.sqrt(2)  # 0 at the dot's centre, 1 at the cell's corner
    ink = 1 - _blur(x, cell / min(h, w) / 2)  # per channel (C, M, Y): how much ink the cell needs
    return np.where(radius[..., None] < np.sqrt(ink), 0.1, 0.97).astype(np.float32)


def op_emboss(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Relief: PIL's emboss of the grey image, mixed with the colours by ``color``."""
    g = _pil(np.repeat(_luma(x)[..., None], 3, axis=2)).filter(ImageFilter.EMBOSS)
    e = _arr(g)
    return np.clip(e * (1 - p.get("color", 0.0)) + p.get("color", 0.0) * (x + e - 0.5), 0, 1)


def op_vhs(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """VHS tape: red and blue shifted apart by ``shift`` × width, horizontal chroma smear, dark scanlines every
    ``lines`` × height."""
    h, w, _ = x.shape
    d = max(1, round(p["shift"] * w))
    out = x.copy()
    out[..., 0] = np.roll(x[..., 0], d, axis=1)
    out[..., 2] = np.roll(x[..., 2], -d, axis=1)
    smear = _arr(_pil(out).filter(ImageFilter.BoxBlur(max(1, d))))
    y = _luma(out)[..., None]
    out = y + (smear - _luma(smear)[..., None])  # sharp luma, smeared chroma
    period = max(2, round(p["lines"] * h))
    rows = (np.arange(h) % period) < max(1, period // 3)
    out[rows] *= 0.75
    return np.clip(out, 0, 1)


def op_paper(x: Pixels, p: Mapping[str, float], rng: np.random.Generator) -> Pixels:
    """Watercolour paper: pigment pooled at edges (a darkened difference of blurs) and a paper-grain texture
    multiplied in with weight ``texture``."""
    h, w, _ = x.shape
    wash = _blur(x, 0.01)
    edge = np.clip(wash - _blur(wash, 0.03), -1, 0)  # darker rims around washes
    grain = _smooth_noise((h, w), 0.02, rng) * 0.5 + rng.standard_normal((h, w)).astype(np.float32) * 0.25
    out = (wash + 1.5 * edge) * (1 - p["texture"] * 0.25 * (1 + grain[..., None]))
    return np.clip(0.08 + 0.92 * out, 0, 1)


OPERATIONS: dict[str, Operation] = {
    "grade": op_grade, "saturation": op_saturation, "curve": op_curve, "duotone": op_duotone, "hue": op_hue,
    "posterize": op_posterize, "blur": op_blur, "glow": op_glow, "sharpen": op_sharpen, "grain": op_grain,
    "vignette": op_vignette, "pixelate": op_pixelate, "sketch": op_sketch, "ink": op_ink, "smooth": op_smooth,
    "oil": op_oil, "solarize": op_solarize, "invert": op_invert,
    "halftone": op_halftone, "emboss": op_emboss, "vhs": op_vhs, "paper": op_paper,
}  # fmt: skip
HELDOUT_OPERATIONS = frozenset({"halftone", "emboss", "vhs", "paper"})
TRAIN_OPERATIONS = tuple(name for name in OPERATIONS if name not in HELDOUT_OPERATIONS)


@dataclass(frozen=True)
class Step:
    op: str
    params: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Look:
    """A filter look: ``steps`` applied in order, blended with the original by ``strength`` (0..1)."""

    name: str
    steps: tuple[Step, ...]
    strength: float = 1.0
    seed: int = 0

    @property
    def label(self) -> str:
        """The benchmark's style label: ``filter:<name>@<strength>``."""
        return f"filter:{self.name}@{self.strength:g}"

    def key(self) -> str:
        """A digest of every step, parameter, strength and seed (two looks with the same key render the same)."""
        blob = json.dumps([[s.op, dict(s.params)] for s in self.steps] + [self.strength, self.seed], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def at(self, strength: float) -> Look:
        return Look(self.name, self.steps, strength, self.seed)

    def apply(self, img: Image.Image) -> Image.Image:
        """``img`` (any mode) in this look: RGB, the same size."""
        x = _arr(img)
        rng = np.random.default_rng(self.seed)
        out = x
        for step in self.steps:
            out = OPERATIONS[step.op](out, step.params, rng).astype(np.float32)
        return _pil(x + self.strength * (out - x))


def _rgb(prefix: str, r: float, g: float, b: float) -> dict[str, float]:
    return {f"{prefix}_r": r, f"{prefix}_g": g, f"{prefix}_b": b}


def _look(name: str, *steps: tuple[str, dict[str, float]], seed: int = 1) -> Look:
    return Look(name, tuple(Step(op, params) for op, params in steps), 1.0, seed)


# The benchmark's looks (held out from training), at full strength; ``look.at(0.5)`` gives the mild version.
NAMED_LOOKS: tuple[Look, ...] = (
    _look("pencil_sketch", ("sketch", {"radius": 0.03, "dark": 2.0}), ("grain", {"sigma": 0.03})),
    _look(
        "watercolour",
        ("smooth", {"size": 0.02}),
        ("saturation", {"s": 1.3}),
        ("paper", {"texture": 0.8}),
        ("curve", {"fade": 0.06}),
    ),
    _look("cartoon", ("smooth", {"size": 0.03}), ("posterize", {"levels": 5}), ("ink", {"threshold": 0.05}),
          ("saturation", {"s": 1.5})),
    _look("oil_paint", ("oil", {"size": 0.03}), ("sharpen", {"amount": 1.0, "radius": 0.01}),
          ("saturation", {"s": 1.2})),
    _look("teal_orange", ("grade", {**_rgb("lift", 0.0, 0.05, 0.1), **_rgb("gain", 1.1, 0.95, 0.8)}),
          ("curve", {"contrast": 1.6}), ("saturation", {"s": 1.25})),
    _look("vintage", ("grade", {**_rgb("lift", 0.1, 0.06, 0.0), **_rgb("gain", 1.0, 0.92, 0.75)}),
          ("curve", {"fade": 0.12, "contrast": 0.9}), ("vignette", {"strength": 0.7}), ("grain", {"sigma": 0.05})),
    _look("bw_film", ("saturation", {"s": 0.0}), ("curve", {"contrast": 2.2}), ("grain", {"sigma": 0.08})),
    _look("sepia", ("duotone", {**_rgb("dark", 0.17, 0.1, 0.04), **_rgb("light", 1.0, 0.9, 0.7)}),
          ("vignette", {"strength": 0.4})),
    _look("cyanotype", ("duotone", {**_rgb("dark", 0.02, 0.12, 0.3), **_rgb("light", 0.85, 0.93, 1.0)}),
          ("curve", {"contrast": 1.3})),
    _look("vhs_retro", ("vhs", {"shift": 0.008, "lines": 0.012}), ("saturation", {"s": 1.4}),
          ("curve", {"fade": 0.08}), ("grain", {"sigma": 0.04, "mono": 0.0})),
    _look("pop_halftone", ("posterize", {"levels": 3}), ("saturation", {"s": 1.8}), ("halftone", {"cell": 0.025})),
    _look("neon_glow", ("curve", {"contrast": 1.8}), ("hue", {"degrees": 160}), ("saturation", {"s": 1.7}),
          ("glow", {"radius": 0.04, "amount": 1.0})),
    _look("pixel_art", ("pixelate", {"cell": 0.03}), ("posterize", {"levels": 6})),
    _look("emboss_relief", ("emboss", {"color": 0.3}), ("curve", {"contrast": 1.4})),
)  # fmt: skip


def named_look(name: str) -> Look:
    for look in NAMED_LOOKS:
        if look.name == name:
            return look
    raise ValueError(f"unknown look {name!r}; expected one of {', '.join(look.name for look in NAMED_LOOKS)}")


def _random_params(op: str, rng: np.random.Generator) -> dict[str, float]:
    """Random parameters for a training operation, spanning mild to strong."""
    u = rng.uniform
    if op == "grade":
        return {**_rgb("lift", *u(0, 0.15, 3)), **_rgb("gamma", *u(0.6, 1.6, 3)), **_rgb("gain", *u(0.7, 1.15, 3))}
    if op == "saturation":
        return {"s": float(u(0.0, 2.0))}
    if op == "curve":
        return {"contrast": float(u(0.6, 2.5)), "fade": float(u(0, 0.2))}
    if op == "duotone":
        dark, light = u(0, 0.35, 3), u(0.6, 1.0, 3)
        return {**_rgb("dark", *dark), **_rgb("light", *light)}
    if op == "hue":
        return {"degrees": float(u(-180, 180))}
    if op == "posterize":
        return {"levels": float(rng.integers(2, 9))}
    if op == "blur":
        return {"radius": float(u(0.003, 0.02))}
    if op == "glow":
        return {"radius": float(u(0.01, 0.06)), "amount": float(u(0.3, 1.0))}
    if op == "sharpen":
        return {"amount": float(u(0.5, 3.0)), "radius": float(u(0.004, 0.02))}
    if op == "grain":
        return {"sigma": float(u(0.02, 0.12)), "mono": float(u(0, 1))}
    if op == "vignette":
        return {"strength": float(u(0.3, 0.9))}
    if op == "pixelate":
        return {"cell": float(u(0.01, 0.05))}
    if op == "sketch":
        return {"radius": float(u(0.01, 0.05)), "dark": float(u(1.0, 3.0))}
    if op == "ink":
        return {"threshold": float(u(0.03, 0.12))}
    if op in ("smooth", "oil"):
        return {"size": float(u(0.01, 0.04))}
    if op == "solarize":
        return {"threshold": float(u(0.4, 0.8))}
    if op == "invert":
        return {}
    raise ValueError(f"{op!r} is not a training operation")


def random_look(rng: np.random.Generator, name: str = "random") -> Look:
    """A training look: one to three distinct operations of :data:`TRAIN_OPERATIONS` with random parameters, at a
    strength between 0.5 and 1, with its own seed. Never one of :data:`NAMED_LOOKS` (their compositions and
    parameters are fixed; four of their operations are not in the training set at all)."""
    count = int(rng.integers(1, 4))
    ops = rng.choice(TRAIN_OPERATIONS, count, replace=False)
    steps = tuple(Step(str(op), _random_params(str(op), rng)) for op in ops)
    return Look(name, steps, float(rng.uniform(0.5, 1.0)), int(rng.integers(0, 2**31)))
