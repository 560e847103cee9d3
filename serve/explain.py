"""Explanation panels: why two items match, shown by transfer and by the numbers behind the score.

:func:`render_explanation` draws one PNG of 4 × 2 tiles and returns it with the JSON-ready numbers behind it:

- row 1, both questions: the query, the match, the query's content in the match's style and the match's content
  in the query's style, rendered by the pretrained Magenta arbitrary network (Ghiasi et al. 2017): each image's
  100-d style vector is predicted, then the transformer renders the other image with it;
- row 2, style: per VGG19 layer relu1_1…relu5_1, the cosine similarity of the two images' per-channel (mean, std)
  vectors (AdaIN's statistics) and of their Gram matrices (Gatys'), as bars next to what unrelated images
  typically score; shallow layers carry colour and fine texture, deep layers larger patterns;
- row 2, content: where the two images correspond. Both go through VGG19 at ``size`` × ``size`` (the spaces'
  preprocessing: resized, aspect not kept); relu5_1 is instance-normalized (per-channel mean and std removed, the
  AdaIN view of style, as in the ``content`` space) and, for each query position, the best cosine over the match's
  positions is a heat map over the query (and the other way round over the match). The strongest mutual nearest
  neighbours are joined by lines.

The title gives the labels, the question and the overall similarity in the space the alias ``style`` or
``content`` names (the score search gives two images at ``size`` 256, one frame each).

A video is explained by its middle sampled frame. Models are loaded once per process (a lazy module-level cache
behind a lock): VGG19 on CUDA when available, else CPU; onnxruntime picks its own provider.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from styledex.embed.embedder import images_to_tensor, pick_device
from styledex.embed.onnx_nets import TRANSFORM_SIZE, MagentaPredictor, MagentaTransformer
from styledex.embed.spaces import resolve, vgg_feature_fn
from styledex.embed.stats import gram_matrix, instance_normalize, mean_std, upper_triangle
from styledex.embed.transfer import transfer
from styledex.embed.vgg import STYLE_LAYERS, VGG19Encoder, shared_encoder
from styledex.media import Media

__all__ = [
    "CAPTION_HEIGHT",
    "COLUMNS",
    "CORRESPONDENCE_LAYER",
    "GAP",
    "MARGIN",
    "PANEL_HEIGHT",
    "PANEL_WIDTH",
    "ROWS",
    "TILE",
    "TITLE_HEIGHT",
    "HEAT_RANGE",
    "LINE_MIN_COSINE",
    "Correspondence",
    "cell_box",
    "correspond",
    "layer_agreement",
    "middle_frame",
    "render_explanation",
]

SpaceKind = Literal["style", "content"]

# -- layout (pixels) -----------------------------------------------------------------------------------------
TILE = 256  # side of one square tile; images are fitted inside it, aspect kept
COLUMNS = 4
ROWS = 2
MARGIN = 12  # around the whole panel
GAP = 12  # between tiles, both ways
TITLE_HEIGHT = 58  # two lines of title above the grid
CAPTION_HEIGHT = 44  # two lines of caption under each tile
PANEL_WIDTH = 2 * MARGIN + COLUMNS * TILE + (COLUMNS - 1) * GAP  # 1072
PANEL_HEIGHT = MARGIN + TITLE_HEIGHT + ROWS * (TILE + CAPTION_HEIGHT) + (ROWS - 1) * GAP + MARGIN  # 694

BACKGROUND = (255, 255, 255)
TILE_BACKGROUND = (236, 236, 236)
INK = (25, 25, 25)
MUTED = (105, 105, 105)
MEAN_STD_COLOUR = (49, 112, 178)
GRAM_COLOUR = (230, 126, 34)

CORRESPONDENCE_LAYER = "relu5_1"  # separates same content from same style best (measured below)
# Best-match cosines mapped onto the colour map. Measured per position on the eval grid (5th–95th percentile):
# unrelated pairs 0.17–0.36, same-content pairs 0.20–0.77; so unrelated images stay dark and shared content lights up.
HEAT_RANGE = (0.15, 0.75)
HEAT_ALPHA = 0.65  # opacity of the heat map over the (desaturated) image
MAX_LINES = 8  # mutual correspondences drawn
# Only mutual best matches at least this strong are drawn: of the 8 strongest (spread) pairs, 90 % of unrelated
# pairs' fall below 0.46, while same-content pairs' median is 0.59 (eval grid, 600 random pairs).
LINE_MIN_COSINE = 0.45
MIN_SEPARATION = 3  # grid cells between two drawn correspondences (either end), so the lines spread out

# What each style layer's statistics mostly carry, for the chart's labels.
LAYER_MEANING = {
    "relu1_1": "colour",
    "relu2_1": "fine texture",
    "relu3_1": "texture",
    "relu4_1": "patterns",
    "relu5_1": "large shapes",
}

# Medians over pairs of `styledex eval`'s grid (10 photos × 11 styles, VGG19 at 256 px) that share neither style
# nor content: the level above which a layer "agrees more than usual". (mean/std cosine, Gram cosine) per layer.
TYPICAL_UNRELATED_LAYERS = {
    "relu1_1": (0.813, 0.607),
    "relu2_1": (0.959, 0.903),
    "relu3_1": (0.922, 0.785),
    "relu4_1": (0.897, 0.731),
    "relu5_1": (0.818, 0.476),
}
# Same grid, same measurement: median cosine of (unrelated pairs, pairs sharing the question's label) per space,
# and of the mean best-match cosine at CORRESPONDENCE_LAYER (unrelated 0.24, same style 0.27, same content 0.36).
TYPICAL_SPACE_COSINE = {"adain": (0.884, 0.987), "content": (0.093, 0.479)}
TYPICAL_CORRESPONDENCE = (0.241, 0.364)

# A perceptual colour map (matplotlib's "viridis" at 9 stops), so Pillow alone can draw the heat map.
_VIRIDIS = np.array(
    [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ],
    dtype=np.float32,
)
# Distinct colours for the correspondence lines.
_LINE_COLOURS = (
    (228, 26, 28),
    (55, 126, 184),
    (77, 175, 74),
    (152, 78, 163),
    (255, 127, 0),
    (255, 221, 51),
    (166, 86, 40),
    (247, 129, 191),
)


def cell_box(row: int, column: int, span: int = 1) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the tile at ``row``, ``column`` (0-based), ``span`` tiles wide.

    The caption area (``CAPTION_HEIGHT`` high) lies directly under the box.
    """
    if not (0 <= row < ROWS and column >= 0 and column + span <= COLUMNS and span >= 1):
        raise ValueError(f"no tile at row {row}, column {column}, span {span} in a {COLUMNS}×{ROWS} grid")
    left = MARGIN + column * (TILE + GAP)
    top = MARGIN + TITLE_HEIGHT + row * (TILE + CAPTION_HEIGHT + GAP)
    return left, top, left + span * TILE + (span - 1) * GAP, top + TILE


# -- transfer methods for the cross-renderings ------------------------------------------------------------------
# Arbitrary-style methods that take one style image and render in about a second or less (gatys takes minutes).
EXPLAIN_METHODS = ("ghiasi", "adain", "wct", "cin")
# `auto`: the fastest method whose quality holds on the held-out pairs (README, "Quality and speed"): cin through
# its trained style predictor (style moved on 4 of 4 pairs, ~240 ms at 256 px); ghiasi (~210 ms, but 3 of 4) when
# the predictor is not shipped.
DEFAULT_EXPLAIN_METHOD = "cin"
FALLBACK_EXPLAIN_METHOD = "ghiasi"


def auto_explain_method() -> str:
    """The method ``auto`` stands for: :data:`DEFAULT_EXPLAIN_METHOD` when its weights ship, else the fallback."""
    from styledex.embed.transfer.weights import shipped

    return DEFAULT_EXPLAIN_METHOD if shipped("cin_predictor") is not None else FALLBACK_EXPLAIN_METHOD
METHOD_CAPTIONS = {
    "ghiasi": "Magenta arbitrary style transfer",
    "adain": "AdaIN (VGG19 relu4_1, trained decoder)",
    "wct": "WCT (whitening and colouring, 5 levels)",
    "cin": "26-style CIN with the fitted style predictor",
}


# -- models: loaded once per process ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Models:
    encoder: VGG19Encoder
    device: torch.device
    predictor: MagentaPredictor
    transformer: MagentaTransformer


_MODELS: _Models | None = None
_MODELS_LOCK = threading.Lock()


def _models() -> tuple[_Models, float]:
    """The shared models and the milliseconds this call spent loading them (0 once loaded)."""
    global _MODELS
    if _MODELS is not None:
        return _MODELS, 0.0
    with _MODELS_LOCK:
        if _MODELS is not None:
            return _MODELS, 0.0
        start = time.perf_counter()
        device = pick_device("auto")
        encoder = shared_encoder(STYLE_LAYERS, device)  # the same weights the search embedder holds
        predictor = MagentaPredictor()
        transformer = MagentaTransformer(predictor)
        # Create both ONNX sessions now, under the lock: the wrappers create them lazily without one.
        _ = predictor.session, transformer.session
        _MODELS = _Models(encoder, device, predictor, transformer)
        return _MODELS, (time.perf_counter() - start) * 1000.0


# -- the numbers -----------------------------------------------------------------------------------------------
def middle_frame(media: Media) -> tuple[Image.Image, int]:
    """The frame that stands for ``media`` (an image's only frame, a video's middle one) and its index."""
    if not media.frames:
        raise ValueError(f"a {media.kind} with no frames cannot be explained; expected at least one decoded frame")
    index = len(media.frames) // 2
    return media.frames[index].convert("RGB"), index


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two flat vectors, in fp64 so identical inputs give 1 to the last digit shown."""
    return float(F.cosine_similarity(a.double().flatten(), b.double().flatten(), dim=0).clamp(-1.0, 1.0))


def layer_agreement(features: Mapping[str, torch.Tensor], layers: tuple[str, ...] = STYLE_LAYERS) -> list[dict]:
    """Per layer, how alike the style statistics of image 0 and image 1 of ``features`` are.

    ``features``: layer → [2, C, H, W]. Returns ``[{"layer", "mean_std_cosine", "gram_cosine"}]`` in ``layers``
    order: the cosine of the concatenated per-channel (mean, std) vectors ([2C]) and of the Gram matrices' upper
    triangles ([C(C+1)/2]); both lie in [0, 1] for ReLU features, 1 for identical statistics.
    """
    out = []
    for layer in layers:
        feats = features[layer]
        if feats.shape[0] != 2:
            raise ValueError(f"layer_agreement compares 2 images, got a batch of {feats.shape[0]} at {layer}")
        mean, std = mean_std(feats)
        stats = torch.cat([mean, std], dim=1)
        gram = upper_triangle(gram_matrix(feats))
        out.append(
            {
                "layer": layer,
                "mean_std_cosine": _cosine(stats[0], stats[1]),
                "gram_cosine": _cosine(gram[0], gram[1]),
            }
        )
    return out


@dataclass(frozen=True)
class Correspondence:
    """Dense best matches between two feature maps on grids of the same ``(h, w)``.

    ``query_to_match[r, c]``: the best cosine between query position (r, c) and any match position;
    ``query_best[r, c]``: that match position as (row, col). Likewise ``match_to_query``/``match_best``.
    ``mutual``: pairs that are each other's best match, as ``(query (r, c), match (r, c), cosine)``, strongest
    first.
    """

    query_to_match: np.ndarray  # [h, w] float32
    match_to_query: np.ndarray  # [h, w] float32
    query_best: np.ndarray  # [h, w, 2] int (row, col) in the match
    match_best: np.ndarray  # [h, w, 2] int (row, col) in the query
    mutual: list[tuple[tuple[int, int], tuple[int, int], float]]

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.query_to_match.shape)  # type: ignore[return-value]

    @property
    def mean(self) -> float:
        """Mean of both maps: how much of each image is found in the other, symmetric in the two."""
        return float((self.query_to_match.mean() + self.match_to_query.mean()) / 2.0)


def correspond(query: torch.Tensor, match: torch.Tensor) -> Correspondence:
    """Best matches between two [C, h, w] feature maps: per position, cosine of the C-vectors (see class)."""
    if query.dim() != 3 or query.shape != match.shape:
        raise ValueError(
            f"correspond needs two [C, h, w] maps of one shape, got {tuple(query.shape)} and {tuple(match.shape)}"
        )
    _, h, w = query.shape
    q = F.normalize(query.float().flatten(1), dim=0)  # [C, hw]
    m = F.normalize(match.float().flatten(1), dim=0)
    sim = (q.T @ m).clamp(-1.0, 1.0).cpu()  # [hw query, hw match]
    q2m, q_idx = sim.max(dim=1)
    m2q, m_idx = sim.max(dim=0)
    mutual = []
    back = m_idx.tolist()
    for qi, mi in enumerate(q_idx.tolist()):
        if back[mi] == qi:
            mutual.append(((qi // w, qi % w), (mi // w, mi % w), float(q2m[qi])))
    mutual.sort(key=lambda t: -t[2])

    def rowcol(idx: torch.Tensor) -> np.ndarray:
        flat = idx.numpy()
        return np.stack([flat // w, flat % w], axis=-1).reshape(h, w, 2)

    return Correspondence(
        q2m.reshape(h, w).numpy().astype(np.float32),
        m2q.reshape(h, w).numpy().astype(np.float32),
        rowcol(q_idx),
        rowcol(m_idx),
        mutual,
    )


def _spread(mutual: list[tuple[tuple[int, int], tuple[int, int], float]], limit: int, separation: int) -> list:
    """The strongest mutual pairs, skipping any within ``separation`` cells (either end) of one already kept."""
    kept: list[tuple[tuple[int, int], tuple[int, int], float]] = []
    for pair in mutual:
        if len(kept) >= limit:
            break
        near = any(
            max(abs(pair[0][0] - k[0][0]), abs(pair[0][1] - k[0][1])) < separation
            or max(abs(pair[1][0] - k[1][0]), abs(pair[1][1] - k[1][1])) < separation
            for k in kept
        )
        if not near:
            kept.append(pair)
    return kept


def _median_offset(corr: Correspondence) -> list[float]:
    """Median (rows, cols) from each query position to its mutual best match: where the shared content moved."""
    if not corr.mutual:
        return [0.0, 0.0]
    moves = np.array([(m[0] - q[0], m[1] - q[1]) for q, m, _ in corr.mutual], dtype=np.float64)
    return [float(v) for v in np.median(moves, axis=0)]


# -- drawing ---------------------------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font at ``size`` px (scalable since Pillow 10.1; the fixed bitmap font before)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: Any) -> float:
    return draw.textlength(text, font=font)


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: Any, width: float) -> str:
    """``text``, shortened in the middle with an ellipsis until it fits ``width`` px (paths keep their ends)."""
    if _text_width(draw, text, font) <= width:
        return text
    keep = len(text)
    while keep > 1:
        keep -= 1
        head = (keep + 1) // 2
        tail = keep - head
        short = text[:head] + "…" + (text[-tail:] if tail else "")
        if _text_width(draw, short, font) <= width:
            return short
    return "…"


def _fit_image(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[Image.Image, tuple[int, int]]:
    """``image`` scaled (aspect kept) to fit ``box``, and the top-left corner that centres it there."""
    left, top, right, bottom = box
    bw, bh = right - left, bottom - top
    scale = min(bw / image.width, bh / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    fitted = image.resize(size, Image.Resampling.LANCZOS)
    return fitted, (left + (bw - size[0]) // 2, top + (bh - size[1]) // 2)


def _paste_tile(canvas: Image.Image, image: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Draw the tile background and ``image`` fitted in ``box``; return the image's own rectangle."""
    ImageDraw.Draw(canvas).rectangle(box, fill=TILE_BACKGROUND)
    fitted, (x, y) = _fit_image(image, box)
    canvas.paste(fitted, (x, y))
    return x, y, x + fitted.width, y + fitted.height


def _caption(canvas: Image.Image, box: tuple[int, int, int, int], first: str, second: str = "") -> None:
    """Two caption lines under the tile ``box``: a dark headline and a grey detail (both fitted to the width)."""
    draw = ImageDraw.Draw(canvas)
    left, _, right, bottom = box
    width = right - left
    draw.text((left, bottom + 4), _fit_text(draw, first, _font(14), width), fill=INK, font=_font(14))
    if second:
        draw.text((left, bottom + 23), _fit_text(draw, second, _font(13), width), fill=MUTED, font=_font(13))


def _colour_map(values: np.ndarray) -> np.ndarray:
    """Values in 0..1 → uint8 RGB through the viridis stops."""
    pos = np.clip(values, 0.0, 1.0) * (len(_VIRIDIS) - 1)
    low = np.floor(pos).astype(int).clip(0, len(_VIRIDIS) - 2)
    frac = (pos - low)[..., None]
    rgb = _VIRIDIS[low] * (1.0 - frac) + _VIRIDIS[low + 1] * frac
    return (rgb + 0.5).astype(np.uint8)


def _heat_overlay(image: Image.Image, heat: np.ndarray) -> Image.Image:
    """``image`` desaturated, with ``heat`` (grid of cosines) upsampled smoothly over it as a translucent map."""
    lo, hi = HEAT_RANGE
    grid = Image.fromarray(((heat - lo) / (hi - lo)).clip(0.0, 1.0).astype(np.float32), mode="F")
    smooth = np.asarray(grid.resize(image.size, Image.Resampling.BICUBIC), dtype=np.float32)
    colours = _colour_map(smooth).astype(np.float32)
    grey = np.asarray(image.convert("L").convert("RGB"), dtype=np.float32)
    # Mostly grey and flattened towards mid-grey: the colours are the heat map, the image only places it.
    base = 0.7 * (0.3 * np.asarray(image, dtype=np.float32) + 0.7 * grey) + 0.3 * 128.0
    out = (1.0 - HEAT_ALPHA) * base + HEAT_ALPHA * colours
    return Image.fromarray(out.clip(0, 255).round().astype(np.uint8))


def _colour_bar(canvas: Image.Image, left: int, top: int, width: int, mean: float) -> None:
    """A one-line legend of a heat map: the colour ramp between its cosine range, and the map's mean."""
    draw = ImageDraw.Draw(canvas)
    lo, hi = HEAT_RANGE
    font = _font(12)
    draw.text((left, top), f"{lo:g}", fill=MUTED, font=font)
    x0 = left + int(_text_width(draw, f"{lo:g}", font)) + 4
    ramp = _colour_map(np.linspace(0.0, 1.0, width)[None, :].repeat(10, 0))
    canvas.paste(Image.fromarray(ramp), (x0, top + 3))
    text = f"{hi:g} best cosine, mean {mean:.2f}"
    draw.text((x0 + width + 4, top), text, fill=MUTED, font=font)


def _title(canvas: Image.Image, first: str, second: str) -> None:
    draw = ImageDraw.Draw(canvas)
    width = PANEL_WIDTH - 2 * MARGIN
    draw.text((MARGIN, MARGIN), _fit_text(draw, first, _font(20), width), fill=INK, font=_font(20))
    draw.text((MARGIN, MARGIN + 30), _fit_text(draw, second, _font(14), width), fill=MUTED, font=_font(14))


def _draw_layer_chart(canvas: Image.Image, layers: list[dict]) -> None:
    """Row 2 for style: horizontal bars, two per layer, over the whole row (tile and caption areas)."""
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = cell_box(1, 0, span=COLUMNS)
    bottom += CAPTION_HEIGHT
    draw.rectangle((left, top, right, bottom), fill=(248, 248, 248))
    draw.text(
        (left + 10, top + 8),
        "Which VGG19 layers' style statistics agree: cosine similarity of query and match per layer (1 = same)",
        fill=INK,
        font=_font(15),
    )
    label_w, legend_w = 170, 250
    x0, x1 = left + label_w, right - legend_w - 70  # the bars' 0 and 1
    chart_top, chart_bottom = top + 38, bottom - 26
    row_h = (chart_bottom - chart_top) / len(layers)
    bar_h = min(16, int(row_h / 2) - 3)

    def x_of(value: float) -> float:
        return x0 + max(0.0, min(1.0, value)) * (x1 - x0)

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):  # vertical grid lines with their values under the chart
        x = x_of(tick)
        draw.line([(x, chart_top), (x, chart_bottom)], fill=(215, 215, 215), width=1)
        text = f"{tick:g}"
        draw.text((x - _text_width(draw, text, _font(12)) / 2, chart_bottom + 4), text, fill=MUTED, font=_font(12))

    best = _most_agreeing(layers)
    for i, row in enumerate(layers):
        y = chart_top + i * row_h + (row_h - 2 * bar_h - 2) / 2
        name = row["layer"]
        strong = name == best
        if strong:  # a pale band behind the layer that agrees most, beyond what unrelated images share
            draw.rectangle(
                (left + 4, chart_top + i * row_h + 1, x1 + 60, chart_top + (i + 1) * row_h - 1), fill=(255, 243, 196)
            )
        draw.text((left + 10, y - 1), name, fill=INK, font=_font(15))
        meaning = LAYER_MEANING.get(name, "")
        draw.text((left + 10, y + bar_h + 2), meaning, fill=INK if strong else MUTED, font=_font(13))
        typical = TYPICAL_UNRELATED_LAYERS.get(name)
        for j, (key, colour) in enumerate((("mean_std_cosine", MEAN_STD_COLOUR), ("gram_cosine", GRAM_COLOUR))):
            value = row[key]
            yb = y + j * (bar_h + 2)
            draw.rectangle((x0, yb, x_of(value), yb + bar_h), fill=colour)
            end = x_of(value)
            if typical is not None:
                xt = x_of(typical[j])
                draw.line([(xt, yb - 2), (xt, yb + bar_h + 2)], fill=INK, width=2)
                end = max(end, xt)
            draw.text((end + 6, yb + (bar_h - 13) / 2 - 1), f"{value:.3f}", fill=INK, font=_font(12))
        if strong:
            draw.text(
                (left + 10 + _text_width(draw, name, _font(15)) + 8, y + 1), "agrees most", fill=INK, font=_font(12)
            )

    lx, ly = right - legend_w, chart_top + 4
    for text, colour in (("channel mean & std (AdaIN)", MEAN_STD_COLOUR), ("Gram matrix (Gatys)", GRAM_COLOUR)):
        draw.rectangle((lx, ly + 2, lx + 22, ly + 14), fill=colour)
        draw.text((lx + 30, ly), text, fill=INK, font=_font(13))
        ly += 24
    draw.line([(lx + 11, ly), (lx + 11, ly + 16)], fill=INK, width=2)
    draw.text((lx + 30, ly), "typical for unrelated images", fill=INK, font=_font(13))
    ly += 36
    for line in (
        "Bars past the black mark: the two",
        "images agree there more than",
        "unrelated images usually do.",
        "Shallow layers: colour, fine texture;",
        "deep layers: larger patterns.",
    ):
        draw.text((lx, ly), line, fill=MUTED, font=_font(13))
        ly += 18


def _most_agreeing(layers: list[dict]) -> str:
    """The layer whose statistics agree most relative to unrelated images: the largest mean of the two cosines'
    shares of the way from the typical unrelated value to 1."""

    def lift(row: dict) -> float:
        typical = TYPICAL_UNRELATED_LAYERS.get(row["layer"], (0.0, 0.0))
        values = (row["mean_std_cosine"], row["gram_cosine"])
        return sum((v - t) / (1.0 - t) for v, t in zip(values, typical, strict=True)) / 2.0

    return max(layers, key=lift)["layer"]


def _grid_point(rect: tuple[int, int, int, int], grid: tuple[int, int], cell: tuple[int, int]) -> tuple[float, float]:
    """Centre of grid ``cell`` (row, col) inside the displayed image ``rect``."""
    left, top, right, bottom = rect
    h, w = grid
    return left + (cell[1] + 0.5) / w * (right - left), top + (cell[0] + 0.5) / h * (bottom - top)


def _arc(p: tuple[float, float], q: tuple[float, float], bulge: float) -> list[tuple[float, float]]:
    """Points of a gentle quadratic arc from ``p`` to ``q``, raised by ``bulge`` × its length: pairs on one row
    then cross instead of lying on top of each other."""
    (x0, y0), (x1, y1) = p, q
    length = float(np.hypot(x1 - x0, y1 - y0))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - bulge * length
    t = np.linspace(0.0, 1.0, 24)[:, None]
    pts = (1 - t) ** 2 * np.array([x0, y0]) + 2 * (1 - t) * t * np.array([cx, cy]) + t**2 * np.array([x1, y1])
    return [(float(x), float(y)) for x, y in pts]


def _draw_correspondence(canvas: Image.Image, query: Image.Image, match: Image.Image, corr: Correspondence) -> list:
    """Row 2 for content: the two heat maps, then both images joined by their strongest mutual matches."""
    q_box, m_box = cell_box(1, 0), cell_box(1, 1)
    _paste_tile(canvas, _heat_overlay(query, corr.query_to_match), q_box)
    _paste_tile(canvas, _heat_overlay(match, corr.match_to_query), m_box)
    _caption(canvas, q_box, "Query: bright = also in the match")
    _caption(canvas, m_box, "Match: bright = also in the query")
    _colour_bar(canvas, q_box[0], q_box[3] + 24, 60, float(corr.query_to_match.mean()))
    _colour_bar(canvas, m_box[0], m_box[3] + 24, 60, float(corr.match_to_query.mean()))

    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = cell_box(1, 2, span=2)
    half = (right - left - GAP) // 2
    faded = [Image.blend(im, Image.new("RGB", im.size, (255, 255, 255)), 0.3) for im in (query, match)]
    q_rect = _paste_tile(canvas, faded[0], (left, top, left + half, bottom))
    m_rect = _paste_tile(canvas, faded[1], (right - half, top, right, bottom))
    strong = [pair for pair in corr.mutual if pair[2] >= LINE_MIN_COSINE]
    lines = _spread(strong, MAX_LINES, MIN_SEPARATION)
    for i, (qc, mc, _) in enumerate(lines):
        colour = _LINE_COLOURS[i % len(_LINE_COLOURS)]
        points = _arc(_grid_point(q_rect, corr.grid, qc), _grid_point(m_rect, corr.grid, mc), 0.08)
        draw.line(points, fill=(255, 255, 255), width=5, joint="curve")
        draw.line(points, fill=colour, width=3, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=colour, outline=(255, 255, 255), width=2)
    if lines:
        first = f"The {len(lines)} strongest matching spots: query (left), match (right)"
        second = f"joined spots are each other's best match in content, cosine at least {LINE_MIN_COSINE:g}"
    else:
        first = "No strongly matching spots: query (left), match (right)"
        second = f"no two spots are each other's best match in content with cosine {LINE_MIN_COSINE:g} or more"
    _caption(canvas, (left, top, right, bottom), first, second)
    return lines


# -- the panel -------------------------------------------------------------------------------------------------
def render_explanation(
    query: Media,
    match: Media,
    *,
    space_kind: SpaceKind,
    query_label: str = "query",
    match_label: str = "match",
    size: int = 256,
    method: str = "auto",
) -> tuple[bytes, dict]:
    """Why ``match`` matches ``query`` by ``space_kind``: a PNG panel and the JSON-ready numbers behind it.

    Args:
        query, match: decoded media; a video is explained by its middle sampled frame.
        space_kind: ``"style"`` (row 2: per-layer agreement of VGG statistics) or ``"content"`` (row 2: heat
            maps of where the two images correspond).
        query_label, match_label: shown in the title and captions (long ones are shortened in the middle).
        size: side in pixels both images are resized to for VGG19 (aspect not kept, as in the spaces); at least
            32. The transfer renders at the Magenta transformer's 384 px long side.
        method: the transfer method of the cross-renderings: ``auto`` (:func:`auto_explain_method`, the
            fastest whose quality holds in the README's transfer table) or one of :data:`EXPLAIN_METHODS`.

    Returns:
        ``(png, numbers)``: the PNG bytes (``PANEL_WIDTH`` × ``PANEL_HEIGHT``, RGB) and a dict with
        ``space_kind``, ``query``, ``match`` (the labels), ``similarity`` (``space``, ``cosine``), ``frames``,
        ``transfer``, ``size``, ``timings_ms`` and, for style, ``layers``
        (``[{"layer", "mean_std_cosine", "gram_cosine"}]``) or, for content, ``correspondence``
        (``grid`` [h, w], ``query_to_match`` and ``match_to_query`` h × w maps of best cosines, ``mean``,
        ``matches``: the drawn mutual best matches). Every cosine lies in [-1, 1].
    """
    if space_kind not in ("style", "content"):
        raise ValueError(f"space_kind must be 'style' or 'content', got {space_kind!r}")
    method = auto_explain_method() if method == "auto" else method
    if method not in EXPLAIN_METHODS:
        raise ValueError(f"method must be auto or one of {', '.join(EXPLAIN_METHODS)}, got {method!r}")
    if not isinstance(size, int) or size < 32:
        raise ValueError(f"size must be an integer of at least 32 pixels (VGG19 reaches relu5_1 at 1/16), got {size}")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    models, timings["load"] = _models()
    q_img, q_index = middle_frame(query)
    m_img, m_index = middle_frame(match)

    tick = time.perf_counter()
    x = images_to_tensor([q_img, m_img], size).to(models.device)
    with torch.inference_mode():
        feats = models.encoder(x)
        spec = resolve(space_kind)
        vectors = F.normalize(vgg_feature_fn(spec)(feats).float(), dim=1)
        overall = _cosine(vectors[0], vectors[1])
        numbers: dict[str, Any] = {
            "space_kind": space_kind,
            "query": query_label,
            "match": match_label,
            "similarity": {"space": spec.name, "cosine": overall},
        }
        if space_kind == "style":
            numbers["layers"] = layer_agreement(feats)
            corr = None
        else:
            content = instance_normalize(feats[CORRESPONDENCE_LAYER])
            corr = correspond(content[0], content[1])
    timings["vgg"] = (time.perf_counter() - tick) * 1000.0

    tick = time.perf_counter()
    styles = models.predictor.predict([q_img, m_img])
    style_vector_cosine = _cosine(torch.from_numpy(styles[0]), torch.from_numpy(styles[1]))
    if method == "ghiasi":
        q_in_m = models.transformer.stylize(q_img, styles[1])
        m_in_q = models.transformer.stylize(m_img, styles[0])
    else:
        q_in_m = transfer(method, q_img, m_img, size=TRANSFORM_SIZE)
        m_in_q = transfer(method, m_img, q_img, size=TRANSFORM_SIZE)
    timings["transfer"] = (time.perf_counter() - tick) * 1000.0
    method_caption = METHOD_CAPTIONS[method]

    tick = time.perf_counter()
    canvas = Image.new("RGB", (PANEL_WIDTH, PANEL_HEIGHT), BACKGROUND)
    similar = f"{overall:.3f}"
    typical = TYPICAL_SPACE_COSINE.get(spec.name)
    if typical is not None:
        shared = "same style" if space_kind == "style" else "same content"
        similar += f" (typical: unrelated {typical[0]:.2f}, {shared} {typical[1]:.2f})"
    _title(
        canvas,
        f"Why “{match_label}” matches “{query_label}” in {space_kind}",
        f"{space_kind.capitalize()} similarity in space '{spec.name}' (cosine, 1 = identical): {similar}",
    )
    tiles = (
        (q_img, "Query", query_label),
        (m_img, "Match", match_label),
        (q_in_m, "Query's content in the match's style", method_caption),
        (m_in_q, "Match's content in the query's style", method_caption),
    )
    for column, (image, headline, detail) in enumerate(tiles):
        box = cell_box(0, column)
        _paste_tile(canvas, image, box)
        _caption(canvas, box, headline, detail)
    if corr is None:
        _draw_layer_chart(canvas, numbers["layers"])
    else:
        lines = _draw_correspondence(canvas, q_img, m_img, corr)
        numbers["correspondence"] = {
            "layer": CORRESPONDENCE_LAYER,
            "grid": list(corr.grid),
            "query_to_match": np.round(corr.query_to_match, 4).tolist(),
            "match_to_query": np.round(corr.match_to_query, 4).tolist(),
            "mean": corr.mean,
            "median_offset": _median_offset(corr),
            "matches": [{"query": list(qc), "match": list(mc), "cosine": round(c, 4)} for qc, mc, c in lines],
        }
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=False)
    timings["draw"] = (time.perf_counter() - tick) * 1000.0
    timings["total"] = (time.perf_counter() - start) * 1000.0

    numbers["frames"] = {
        "query": {"kind": query.kind, "index": q_index, "time": float(query.times[q_index]) if query.times else 0.0},
        "match": {"kind": match.kind, "index": m_index, "time": float(match.times[m_index]) if match.times else 0.0},
    }
    numbers["transfer"] = {"method": method, "size": TRANSFORM_SIZE, "style_vector_cosine": style_vector_cosine}
    numbers["size"] = size
    numbers["timings_ms"] = {k: round(v, 1) for k, v in timings.items()}
    return buffer.getvalue(), numbers
