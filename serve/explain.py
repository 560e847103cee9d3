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

A video is explained by its middle sampled frame. Models are loaded once per process (``explain_models``: a lazy
module-level cache behind a lock): VGG19 on CUDA when available, else CPU; onnxruntime picks its own provider.

This module runs the models and puts the panel together; the parts live apart:
``styledex.embed.explain_stats`` computes the numbers (pure functions of the feature maps),
``styledex.serve.explain_panel`` draws, ``styledex.serve.explain_models`` holds the model cache.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from styledex.embed.embedder import images_to_tensor
from styledex.embed.explain_stats import (
    CORRESPONDENCE_LAYER,
    TYPICAL_SPACE_COSINE,
    Correspondence,
    LayerAgreement,
    MutualMatch,
    content_correspondence,
    correspond,
    cosine,
    layer_agreement,
    median_offset,
    space_cosine,
)
from styledex.embed.onnx_nets import TRANSFORM_SIZE
from styledex.embed.spaces import resolve
from styledex.embed.transfer import transfer
from styledex.embed.vgg import PIXELS
from styledex.media import Media

from .explain_models import ExplainModels
from .explain_models import explain_models as _models  # the name tests reach the cache by: explain._models()
from .explain_panel import (
    CAPTION_HEIGHT,
    COLUMNS,
    GAP,
    HEAT_RANGE,
    LINE_MIN_COSINE,
    MARGIN,
    PANEL_HEIGHT,
    PANEL_WIDTH,
    ROWS,
    TILE,
    TITLE_HEIGHT,
    caption,
    cell_box,
    draw_correspondence,
    draw_layer_chart,
    draw_title,
    new_canvas,
    paste_tile,
    png_bytes,
)

# The names callers and tests import from here; the layout and the numbers are re-exported from where they live.
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


# -- transfer methods for the cross-renderings ------------------------------------------------------------------
# Arbitrary-style methods that take one style image and render in about a second or less (gatys takes minutes).
EXPLAIN_METHODS = ("ghiasi", "adain", "wct", "cin", "munit", "mixgan")
# `auto`: of the methods that render at an interactive speed (≤ 0.5 s per 256-px image), the one that moves a photo
# furthest toward its style image by the transfer table's yardsticks (README, "Quality and speed";
# styledex.evaluation.transfer_yardsticks): ghiasi, median VGG-statistics ratio 0.63 (2 of 4 pairs ≤ 0.6), 100 ms.
# cin through its style predictor, the default before, barely tints (0.80, 0 of 4); adain 0.64 (1 of 4) at 311 ms;
# wct renders best (0.54, 3 of 4) but takes 1.2-1.4 s at 256 px and 6 s at 512. ghiasi's network is pretrained and
# always installed, so `auto` needs no fallback.
DEFAULT_EXPLAIN_METHOD = "ghiasi"


def auto_explain_method() -> str:
    """The method ``auto`` stands for: :data:`DEFAULT_EXPLAIN_METHOD`."""
    return DEFAULT_EXPLAIN_METHOD


METHOD_CAPTIONS = {
    "ghiasi": "Magenta arbitrary style transfer",
    "adain": "AdaIN (VGG19 relu4_1, trained decoder)",
    "wct": "WCT (whitening and colouring, 5 levels)",
    "cin": "26-style CIN with the fitted style predictor",
    "munit": "MUNIT (content code decoded with the other's style code)",
    "mixgan": "MIXGAN (the trained style domain nearest the other)",
}


# -- the panel -------------------------------------------------------------------------------------------------
def middle_frame(media: Media) -> tuple[Image.Image, int]:
    """The frame that stands for ``media`` (an image's only frame, a video's middle one) and its index."""
    if not media.frames:
        raise ValueError(f"a {media.kind} with no frames cannot be explained; expected at least one decoded frame")
    index = len(media.frames) // 2
    return media.frames[index].convert("RGB"), index


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
    layers: list[LayerAgreement] | None = None
    corr: Correspondence | None = None
    with torch.inference_mode():
        feats = models.encoder(x)
        feats[PIXELS] = x  # the style head reads the pixels' colour statistics too (as Embedder.vgg_features)
        spec = resolve(space_kind)
        overall = space_cosine(feats, spec)
        if space_kind == "style":
            layers = layer_agreement(feats)
        else:
            corr = content_correspondence(feats, CORRESPONDENCE_LAYER)
    timings["vgg"] = (time.perf_counter() - tick) * 1000.0

    tick = time.perf_counter()
    q_in_m, m_in_q, style_vector_cosine = _cross_renderings(models, method, q_img, m_img)
    timings["transfer"] = (time.perf_counter() - tick) * 1000.0
    method_caption = METHOD_CAPTIONS[method]

    tick = time.perf_counter()
    canvas = new_canvas()
    draw_title(canvas, *_title_lines(space_kind, spec.name, overall, query_label, match_label))
    tiles = (
        (q_img, "Query", query_label),
        (m_img, "Match", match_label),
        (q_in_m, "Query's content in the match's style", method_caption),
        (m_in_q, "Match's content in the query's style", method_caption),
    )
    for column, (image, headline, detail) in enumerate(tiles):
        box = cell_box(0, column)
        paste_tile(canvas, image, box)
        caption(canvas, box, headline, detail)
    lines: list[MutualMatch] = []
    if layers is not None:
        draw_layer_chart(canvas, layers)
    if corr is not None:
        lines = draw_correspondence(canvas, q_img, m_img, corr)
    png = png_bytes(canvas)
    timings["draw"] = (time.perf_counter() - tick) * 1000.0
    timings["total"] = (time.perf_counter() - start) * 1000.0

    # Key order is the JSON's order: the question, the score, the row-2 numbers, then how they were made.
    numbers: dict[str, Any] = {
        "space_kind": space_kind,
        "query": query_label,
        "match": match_label,
        "similarity": {"space": spec.name, "cosine": overall},
    }
    if layers is not None:
        numbers["layers"] = layers
    if corr is not None:
        numbers["correspondence"] = _correspondence_numbers(corr, lines)
    numbers["frames"] = {"query": _frame_numbers(query, q_index), "match": _frame_numbers(match, m_index)}
    numbers["transfer"] = {"method": method, "size": TRANSFORM_SIZE, "style_vector_cosine": style_vector_cosine}
    numbers["size"] = size
    numbers["timings_ms"] = {k: round(v, 1) for k, v in timings.items()}
    return png, numbers


def _cross_renderings(
    models: ExplainModels, method: str, query: Image.Image, match: Image.Image
) -> tuple[Image.Image, Image.Image, float]:
    """(query in the match's style, match in the query's style, cosine of their Magenta style vectors).

    The Magenta style vectors (100-d) are predicted whatever the method: their cosine is reported for every
    panel. The renderings come from ``method`` at ``TRANSFORM_SIZE`` px.
    """
    styles = models.predictor.predict([query, match])
    style_vector_cosine = cosine(torch.from_numpy(styles[0]), torch.from_numpy(styles[1]))
    if method == "ghiasi":  # the predicted vectors are ghiasi's input: reuse them rather than predict again
        q_in_m = models.transformer.stylize(query, styles[1])
        m_in_q = models.transformer.stylize(match, styles[0])
    else:
        q_in_m = transfer(method, query, match, size=TRANSFORM_SIZE)
        m_in_q = transfer(method, match, query, size=TRANSFORM_SIZE)
    return q_in_m, m_in_q, style_vector_cosine


def _title_lines(
    space_kind: SpaceKind, space: str, overall: float, query_label: str, match_label: str
) -> tuple[str, str]:
    """The panel's two title lines: the question, then the score in ``space`` beside its typical values."""
    similar = f"{overall:.3f}"
    typical = TYPICAL_SPACE_COSINE.get(space)
    if typical is not None:
        shared = "same style" if space_kind == "style" else "same content"
        similar += f" (typical: unrelated {typical[0]:.2f}, {shared} {typical[1]:.2f})"
    return (
        f"Why “{match_label}” matches “{query_label}” in {space_kind}",
        f"{space_kind.capitalize()} similarity in space '{space}' (cosine, 1 = identical): {similar}",
    )


def _correspondence_numbers(corr: Correspondence, lines: list[MutualMatch]) -> dict[str, Any]:
    """The JSON of a content explanation's row 2: maps rounded to 4 digits, ``matches`` = the drawn ``lines``."""
    return {
        "layer": CORRESPONDENCE_LAYER,
        "grid": list(corr.grid),
        "query_to_match": np.round(corr.query_to_match, 4).tolist(),
        "match_to_query": np.round(corr.match_to_query, 4).tolist(),
        "mean": corr.mean,
        "median_offset": median_offset(corr),
        "matches": [{"query": list(qc), "match": list(mc), "cosine": round(c, 4)} for qc, mc, c in lines],
    }


def _frame_numbers(media: Media, index: int) -> dict[str, Any]:
    """Which frame of ``media`` was explained: its kind, index and time in seconds (0 for an image)."""
    return {"kind": media.kind, "index": index, "time": float(media.times[index]) if media.times else 0.0}
