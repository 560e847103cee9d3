"""Drawing an explanation panel with Pillow: the 4 × 2 grid of tiles, the title, the captions and row 2's charts.

Only drawing: the numbers come in computed (``styledex.embed.explain_stats``; the one choice made here is which
mutual matches are drawn, :func:`draw_correspondence`), and ``styledex.serve.explain`` decides what goes where.

Layout (pixels): a two-line title over a grid of ``ROWS`` × ``COLUMNS`` square tiles of side ``TILE``, each with
two caption lines under it; :func:`cell_box` gives a tile's rectangle. Images are fitted inside their tile,
aspect kept.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from styledex.embed.explain_stats import (
    TYPICAL_UNRELATED_LAYERS,
    Correspondence,
    LayerAgreement,
    MutualMatch,
    most_agreeing,
    select_matches,
)

__all__ = [
    "CAPTION_HEIGHT",
    "COLUMNS",
    "GAP",
    "HEAT_RANGE",
    "LINE_MIN_COSINE",
    "MARGIN",
    "MAX_LINES",
    "MIN_SEPARATION",
    "PANEL_HEIGHT",
    "PANEL_WIDTH",
    "ROWS",
    "TILE",
    "TITLE_HEIGHT",
    "caption",
    "cell_box",
    "draw_correspondence",
    "draw_layer_chart",
    "draw_title",
    "new_canvas",
    "paste_tile",
    "png_bytes",
]

Box = tuple[int, int, int, int]  # (left, top, right, bottom), pixels

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


def cell_box(row: int, column: int, span: int = 1) -> Box:
    """(left, top, right, bottom) of the tile at ``row``, ``column`` (0-based), ``span`` tiles wide.

    The caption area (``CAPTION_HEIGHT`` high) lies directly under the box.
    """
    if not (0 <= row < ROWS and column >= 0 and column + span <= COLUMNS and span >= 1):
        raise ValueError(f"no tile at row {row}, column {column}, span {span} in a {COLUMNS}×{ROWS} grid")
    left = MARGIN + column * (TILE + GAP)
    top = MARGIN + TITLE_HEIGHT + row * (TILE + CAPTION_HEIGHT + GAP)
    return left, top, left + span * TILE + (span - 1) * GAP, top + TILE


def new_canvas() -> Image.Image:
    """An empty panel: RGB, ``PANEL_WIDTH`` × ``PANEL_HEIGHT``, white."""
    return Image.new("RGB", (PANEL_WIDTH, PANEL_HEIGHT), BACKGROUND)


def png_bytes(canvas: Image.Image) -> bytes:
    """``canvas`` encoded as PNG (RGB, ``optimize=False``)."""
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


# -- text and tiles ---------------------------------------------------------------------------------------------
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


def _fit_image(image: Image.Image, box: Box) -> tuple[Image.Image, tuple[int, int]]:
    """``image`` scaled (aspect kept) to fit ``box``, and the top-left corner that centres it there."""
    left, top, right, bottom = box
    bw, bh = right - left, bottom - top
    scale = min(bw / image.width, bh / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    fitted = image.resize(size, Image.Resampling.LANCZOS)
    return fitted, (left + (bw - size[0]) // 2, top + (bh - size[1]) // 2)


def paste_tile(canvas: Image.Image, image: Image.Image, box: Box) -> Box:
    """Draw the tile background and ``image`` fitted in ``box``; return the image's own rectangle."""
    ImageDraw.Draw(canvas).rectangle(box, fill=TILE_BACKGROUND)
    fitted, (x, y) = _fit_image(image, box)
    canvas.paste(fitted, (x, y))
    return x, y, x + fitted.width, y + fitted.height


def caption(canvas: Image.Image, box: Box, first: str, second: str = "") -> None:
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


def draw_title(canvas: Image.Image, first: str, second: str) -> None:
    """The two title lines above the grid: ``first`` large and dark, ``second`` smaller and grey (both fitted)."""
    draw = ImageDraw.Draw(canvas)
    width = PANEL_WIDTH - 2 * MARGIN
    draw.text((MARGIN, MARGIN), _fit_text(draw, first, _font(20), width), fill=INK, font=_font(20))
    draw.text((MARGIN, MARGIN + 30), _fit_text(draw, second, _font(14), width), fill=MUTED, font=_font(14))


def draw_layer_chart(canvas: Image.Image, layers: Sequence[LayerAgreement]) -> None:
    """Row 2 for style: horizontal bars, two per layer, over the whole row (tile and caption areas).

    Each bar is one of ``layers``' cosines on a 0…1 axis, with a black mark at what unrelated images typically
    score there; the layer that agrees most beyond that (:func:`most_agreeing`) is highlighted.
    """
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

    best = most_agreeing(layers, TYPICAL_UNRELATED_LAYERS)
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


def _grid_point(rect: Box, grid: tuple[int, int], cell: tuple[int, int]) -> tuple[float, float]:
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


def draw_correspondence(
    canvas: Image.Image, query: Image.Image, match: Image.Image, corr: Correspondence
) -> list[MutualMatch]:
    """Row 2 for content: the two heat maps, then both images joined by their strongest mutual matches.

    Returns the matches drawn (:func:`select_matches` with ``LINE_MIN_COSINE``, ``MAX_LINES``,
    ``MIN_SEPARATION``), strongest first, for the numbers to report exactly what the panel shows.
    """
    q_box, m_box = cell_box(1, 0), cell_box(1, 1)
    paste_tile(canvas, _heat_overlay(query, corr.query_to_match), q_box)
    paste_tile(canvas, _heat_overlay(match, corr.match_to_query), m_box)
    caption(canvas, q_box, "Query: bright = also in the match")
    caption(canvas, m_box, "Match: bright = also in the query")
    _colour_bar(canvas, q_box[0], q_box[3] + 24, 60, float(corr.query_to_match.mean()))
    _colour_bar(canvas, m_box[0], m_box[3] + 24, 60, float(corr.match_to_query.mean()))

    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = cell_box(1, 2, span=2)
    half = (right - left - GAP) // 2
    faded = [Image.blend(im, Image.new("RGB", im.size, (255, 255, 255)), 0.3) for im in (query, match)]
    q_rect = paste_tile(canvas, faded[0], (left, top, left + half, bottom))
    m_rect = paste_tile(canvas, faded[1], (right - half, top, right, bottom))
    lines = select_matches(corr.mutual, min_cosine=LINE_MIN_COSINE, limit=MAX_LINES, separation=MIN_SEPARATION)
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
    caption(canvas, (left, top, right, bottom), first, second)
    return lines
