"""Facts about the explanation panels (serve/explain.py): layout, what each tile shows, and the numbers behind them.
The pure functions behind the numbers have their own fast tests: tests/unit/test_explain_stats.py.

Small images (96 px) and VGG at 128 px keep each render near half a second on 2 cores; renders shared by several
tests are made once per module.
"""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

from styledex.embed.onnx_nets import TRANSFORM_SIZE
from styledex.embed.vgg import STYLE_LAYERS
from styledex.media import Media
from styledex.serve import explain
from styledex.serve.explain import (
    CAPTION_HEIGHT,
    COLUMNS,
    GAP,
    LINE_MIN_COSINE,
    MARGIN,
    PANEL_HEIGHT,
    PANEL_WIDTH,
    ROWS,
    TILE,
    TITLE_HEIGHT,
    cell_box,
    render_explanation,
)

SIDE = 96  # test images are SIDE × SIDE
VGG_SIZE = 128  # relu5_1 grid 8 × 8
SHIFT = SIDE // 4  # the content test's horizontal roll, pixels: VGG_SIZE / 16 / 4 = 2 grid cells


# -- test media ---------------------------------------------------------------------------------------------
def scene(seed: int, size: int = SIDE) -> Image.Image:
    """A colour gradient with ten outlined circles and squares: layout VGG can find again after a shift."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    background = np.stack([x * 200 + 30, y * 180 + 40, (1 - x) * 150 + 60], axis=-1)
    img = Image.fromarray(background.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(10):
        cx, cy = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(5, 16))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([cx - r, cy - r, cx + r, cy + r], fill=colour, outline=(0, 0, 0))
    return img


def noise(seed: int, size: int = SIDE) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def recolour(img: Image.Image) -> Image.Image:
    """A colour-only restyle: invert, rotate the channels, squeeze two of them (the layout is untouched)."""
    arr = (255.0 - np.asarray(img, np.float64))[..., [2, 0, 1]] * np.array([0.6, 1.0, 0.4]) + np.array([60, 0, 120])
    return Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8))


def roll(img: Image.Image, pixels: int) -> Image.Image:
    """``img`` rolled right by ``pixels`` (left when negative), wrapping around."""
    return Image.fromarray(np.roll(np.asarray(img), pixels, axis=1))


def as_image(img: Image.Image) -> Media:
    return Media("image", [img], [0.0], img.width, img.height, None)


def as_video(frames: list[Image.Image], fps: float = 4.0) -> Media:
    times = [i / fps for i in range(len(frames))]
    return Media("video", frames, times, frames[0].width, frames[0].height, len(frames) / fps)


def decode(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    img.load()
    return img


def mad(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference on 0..255 of two same-size RGB images."""
    return float(np.abs(np.asarray(a.convert("RGB"), np.float32) - np.asarray(b.convert("RGB"), np.float32)).mean())


def in_range(value: float) -> bool:
    return isinstance(value, float) and -1.0 <= value <= 1.0


# -- renders shared by several tests ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def style_pair() -> tuple[bytes, dict]:
    return render_explanation(
        as_image(scene(1)), as_image(scene(2)), space_kind="style", query_label="A", match_label="B", size=VGG_SIZE
    )


@pytest.fixture(scope="module")
def content_pair() -> tuple[bytes, dict]:
    return render_explanation(
        as_image(scene(1)), as_image(roll(scene(1), SHIFT)), space_kind="content", query_label="A", size=VGG_SIZE
    )


# -- layout ---------------------------------------------------------------------------------------------------
def test_layout_constants_add_up() -> None:
    assert (COLUMNS, ROWS) == (4, 2)
    assert PANEL_WIDTH == 2 * MARGIN + COLUMNS * TILE + (COLUMNS - 1) * GAP
    assert PANEL_HEIGHT == 2 * MARGIN + TITLE_HEIGHT + ROWS * (TILE + CAPTION_HEIGHT) + (ROWS - 1) * GAP
    assert cell_box(0, 0) == (MARGIN, MARGIN + TITLE_HEIGHT, MARGIN + TILE, MARGIN + TITLE_HEIGHT + TILE)
    right, bottom = cell_box(ROWS - 1, COLUMNS - 1)[2:]
    assert (right + MARGIN, bottom + CAPTION_HEIGHT + MARGIN) == (PANEL_WIDTH, PANEL_HEIGHT)
    assert cell_box(1, 0, span=COLUMNS)[2] == right  # a full-row cell ends where the last tile does
    for bad in ((2, 0, 1), (0, 4, 1), (0, 3, 2), (-1, 0, 1), (0, 0, 0)):
        with pytest.raises(ValueError, match="no tile"):
            cell_box(*bad)


@pytest.mark.parametrize("which", ["style_pair", "content_pair"])
def test_png_decodes_with_the_stated_size(which: str, request: pytest.FixtureRequest) -> None:
    png, numbers = request.getfixturevalue(which)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = decode(png)
    assert img.format == "PNG" and img.mode == "RGB"
    assert img.size == (PANEL_WIDTH, PANEL_HEIGHT)
    json.dumps(numbers)  # JSON-ready as it is


def test_first_row_shows_query_match_and_both_transfers() -> None:
    """Tile 1 is the query, tile 2 the match, tile 3 the query in the match's style, tile 4 the reverse (ghiasi)."""
    png, _ = render_explanation(as_image(scene(1)), as_image(scene(2)), space_kind="style", query_label="A",
                                match_label="B", size=VGG_SIZE, method="ghiasi")
    panel = decode(png)
    query, match = scene(1), scene(2)
    tiles = [panel.crop(cell_box(0, column)) for column in range(COLUMNS)]
    expect_q, expect_m = (im.resize((TILE, TILE), Image.Resampling.LANCZOS) for im in (query, match))
    assert mad(tiles[0], expect_q) < 1.0 and mad(tiles[1], expect_m) < 1.0
    assert mad(tiles[0], expect_m) > 20.0  # the two scenes differ, so the check above can tell them apart

    models, _ = explain._models()
    v_query, v_match = models.predictor.predict([query, match])
    q_in_m = models.transformer.stylize(query, v_match).resize((TILE, TILE), Image.Resampling.LANCZOS)
    m_in_q = models.transformer.stylize(match, v_query).resize((TILE, TILE), Image.Resampling.LANCZOS)
    assert mad(tiles[2], q_in_m) < 1.0 and mad(tiles[3], m_in_q) < 1.0
    assert mad(tiles[2], m_in_q) > 5.0


# -- JSON -----------------------------------------------------------------------------------------------------
def test_style_numbers_have_the_stated_keys_and_ranges(style_pair: tuple[bytes, dict]) -> None:
    numbers = style_pair[1]
    assert numbers["space_kind"] == "style" and (numbers["query"], numbers["match"]) == ("A", "B")
    assert "correspondence" not in numbers
    assert [row["layer"] for row in numbers["layers"]] == list(STYLE_LAYERS)
    for row in numbers["layers"]:
        assert set(row) == {"layer", "mean_std_cosine", "gram_cosine"}
        assert in_range(row["mean_std_cosine"]) and in_range(row["gram_cosine"])
    assert numbers["similarity"]["space"] == "style_head" and in_range(numbers["similarity"]["cosine"])
    assert numbers["transfer"]["method"] == explain.auto_explain_method()
    assert numbers["transfer"]["size"] == TRANSFORM_SIZE
    assert in_range(numbers["transfer"]["style_vector_cosine"])
    assert numbers["size"] == VGG_SIZE
    assert {"load", "vgg", "transfer", "draw", "total"} <= set(numbers["timings_ms"])
    assert all(v >= 0 for v in numbers["timings_ms"].values())


def test_content_numbers_have_the_stated_keys_and_ranges(content_pair: tuple[bytes, dict]) -> None:
    numbers = content_pair[1]
    assert numbers["space_kind"] == "content" and (numbers["query"], numbers["match"]) == ("A", "match")
    assert "layers" not in numbers
    corr = numbers["correspondence"]
    h, w = corr["grid"]
    assert (h, w) == (VGG_SIZE // 16, VGG_SIZE // 16)  # relu5_1 is 1/16 of the input
    for key in ("query_to_match", "match_to_query"):
        grid = np.array(corr[key])
        assert grid.shape == (h, w)
        assert ((grid >= -1.0) & (grid <= 1.0)).all()
    assert in_range(corr["mean"])
    assert corr["mean"] == pytest.approx(
        (np.mean(corr["query_to_match"]) + np.mean(corr["match_to_query"])) / 2, abs=1e-3
    )
    assert numbers["similarity"]["space"] == "content" and in_range(numbers["similarity"]["cosine"])
    assert corr["matches"], "a shifted copy has strong mutual matches to draw"
    for m in corr["matches"]:
        assert 0 <= m["query"][0] < h and 0 <= m["query"][1] < w and 0 <= m["match"][0] < h and 0 <= m["match"][1] < w
        assert LINE_MIN_COSINE <= m["cosine"] <= 1.0


# -- style: facts -----------------------------------------------------------------------------------------------
def test_identical_images_agree_at_every_layer() -> None:
    img = scene(3)
    _, numbers = render_explanation(as_image(img), as_image(img.copy()), space_kind="style", size=VGG_SIZE)
    for row in numbers["layers"]:
        assert row["mean_std_cosine"] == pytest.approx(1.0, abs=1e-5), row
        assert row["gram_cosine"] == pytest.approx(1.0, abs=1e-5), row
    assert numbers["similarity"]["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert numbers["transfer"]["style_vector_cosine"] == pytest.approx(1.0, abs=1e-5)


def test_a_colour_change_lowers_agreement_at_relu1_1() -> None:
    img = scene(3)
    _, numbers = render_explanation(as_image(img), as_image(recolour(img)), space_kind="style", size=VGG_SIZE)
    first = numbers["layers"][0]
    assert first["layer"] == "relu1_1"
    # identical images score 1 (test above); the recoloured copy clearly less at the colour layer
    assert first["mean_std_cosine"] < 0.98
    assert first["gram_cosine"] < 0.95
    assert numbers["similarity"]["cosine"] < 0.99


# -- content: facts ---------------------------------------------------------------------------------------------
def test_a_shifted_copy_corresponds_more_than_noise_and_the_right_way(content_pair: tuple[bytes, dict]) -> None:
    shifted = content_pair[1]["correspondence"]
    _, unrelated = render_explanation(as_image(scene(1)), as_image(noise(9)), space_kind="content", size=VGG_SIZE)
    assert shifted["mean"] > unrelated["correspondence"]["mean"] + 0.2
    cells = SHIFT * VGG_SIZE / SIDE / 16  # the roll in relu5_1 grid cells: 2
    dy, dx = shifted["median_offset"]
    assert dy == pytest.approx(0.0, abs=0.5) and dx == pytest.approx(cells, abs=0.5)
    # on average (over the drawn matches, wrapping around the roll) the match sits to the right of the query
    w = shifted["grid"][1]
    moves = [((m["match"][1] - m["query"][1] + w // 2) % w) - w // 2 for m in shifted["matches"]]
    assert np.mean(moves) > cells / 2

    _, left = render_explanation(
        as_image(scene(1)), as_image(roll(scene(1), -SHIFT)), space_kind="content", size=VGG_SIZE
    )
    assert left["correspondence"]["median_offset"][1] == pytest.approx(-cells, abs=0.5)


# -- videos, errors, model cache --------------------------------------------------------------------------------
def test_a_video_is_explained_by_its_middle_frame() -> None:
    """Frames (noise, scene, noise): only the middle one is identical to the image it is compared with."""
    img = scene(4)
    video = as_video([noise(1), img.copy(), noise(2)])
    png, numbers = render_explanation(video, as_image(img), space_kind="style", size=VGG_SIZE)
    assert decode(png).size == (PANEL_WIDTH, PANEL_HEIGHT)
    assert numbers["frames"]["query"] == {"kind": "video", "index": 1, "time": 0.25}
    assert numbers["frames"]["match"] == {"kind": "image", "index": 0, "time": 0.0}
    for row in numbers["layers"]:
        assert row["mean_std_cosine"] == pytest.approx(1.0, abs=1e-5)
    tile = decode(png).crop(cell_box(0, 0))
    assert mad(tile, img.resize((TILE, TILE), Image.Resampling.LANCZOS)) < 1.0

    # an even count: the later of the two middle frames (index len // 2), here as the match
    video4 = as_video([noise(1), noise(2), img.copy(), noise(3)])
    _, numbers4 = render_explanation(as_image(img), video4, space_kind="content", size=VGG_SIZE)
    assert numbers4["frames"]["match"]["index"] == 2
    assert numbers4["correspondence"]["mean"] == pytest.approx(1.0, abs=1e-4)


def test_bad_arguments_name_what_was_expected() -> None:
    img = as_image(scene(1))
    with pytest.raises(ValueError, match="space_kind must be 'style' or 'content'"):
        render_explanation(img, img, space_kind="colour")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 32"):
        render_explanation(img, img, space_kind="style", size=16)
    empty = Media("video", [], [], 64, 48, 1.0)
    with pytest.raises(ValueError, match="no frames"):
        render_explanation(empty, img, space_kind="style")


def test_models_are_loaded_once_per_process() -> None:
    first, _ = explain._models()
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(explain._models()[0])) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(models is first for models in seen) and len(seen) == 4
    assert explain._models()[1] == 0.0  # no loading time once cached


def test_explain_method_is_selectable_and_validated(tmp_path) -> None:
    """``method`` picks the cross-rendering's transfer; unknown names fail with the allowed list, and an untrained
    method fails with a message naming its train command (a TransferError, which the service answers with 422)."""
    from styledex.embed.transfer import TransferError, get_method

    q = as_image(Image.new("RGB", (64, 48), (200, 40, 40)))
    m = as_image(Image.new("RGB", (48, 64), (40, 40, 200)))
    with pytest.raises(ValueError, match="method must be auto or one of"):
        explain.render_explanation(q, m, space_kind="style", method="gatys")
    _, auto = explain.render_explanation(q, m, space_kind="style", size=32)
    assert auto["transfer"]["method"] == explain.auto_explain_method()
    for name in ("adain", "wct"):
        try:
            get_method(name)
        except TransferError:
            with pytest.raises(TransferError, match="styledex train"):
                explain.render_explanation(q, m, space_kind="style", size=32, method=name)
        else:
            _, numbers = explain.render_explanation(q, m, space_kind="style", size=32, method=name)
            assert numbers["transfer"]["method"] == name


def test_auto_method_is_ghiasi_whatever_weights_ship(monkeypatch, tmp_path):
    import styledex.embed.transfer.weights as weights_mod

    assert explain.auto_explain_method() == "ghiasi"
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", tmp_path)  # no trained weights at all: the pretrained network
    assert explain.auto_explain_method() == "ghiasi"


def test_the_names_callers_import_from_serve_explain_stay_there() -> None:
    """The numbers live in styledex.embed.explain_stats and the layout in styledex.serve.explain_panel;
    styledex.serve.explain still offers every name it did, as the same objects."""
    from styledex.embed import explain_stats
    from styledex.serve import explain_panel

    assert all(hasattr(explain, name) for name in explain.__all__)
    for name in ("correspond", "layer_agreement", "Correspondence", "CORRESPONDENCE_LAYER"):
        assert getattr(explain, name) is getattr(explain_stats, name)
    for name in ("cell_box", "PANEL_WIDTH", "PANEL_HEIGHT", "HEAT_RANGE", "LINE_MIN_COSINE"):
        assert getattr(explain, name) is getattr(explain_panel, name)
