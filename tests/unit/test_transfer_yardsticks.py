"""The transfer yardsticks (styledex.evaluation.transfer_yardsticks): analytic values on made-up pictures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from styledex.evaluation.transfer_yardsticks import YARDSTICKS, distance, ratios, styles_apart, yardstick_vectors

from helpers.media import make_image, make_shapes


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Image.Image]:
    root = tmp_path_factory.mktemp("yardsticks")
    made = {
        "photo": make_shapes(root / "photo.png", seed=4),
        "style": make_image(root / "style.png", seed=1, pattern="noise"),
        "other": make_image(root / "other.png", seed=3, pattern="checker"),
    }
    return {name: Image.open(path).convert("RGB") for name, path in made.items()}


def test_the_photo_itself_scores_one_and_the_style_image_zero(pictures) -> None:
    photo, style = pictures["photo"], pictures["style"]
    assert ratios(photo, style, photo) == pytest.approx(dict.fromkeys(YARDSTICKS, 1.0))
    assert ratios(photo, style, style) == pytest.approx(dict.fromkeys(YARDSTICKS, 0.0))


def test_colour_is_the_total_variation_of_the_rgb_histograms() -> None:
    red = Image.new("RGB", (32, 32), (250, 0, 0))
    blue = Image.new("RGB", (32, 32), (0, 0, 250))
    half = Image.new("RGB", (32, 32), (250, 0, 0))
    half.paste(blue.crop((0, 0, 32, 16)), (0, 0))
    v = {name: yardstick_vectors(img)["colour"] for name, img in (("red", red), ("blue", blue), ("half", half))}
    assert v["red"].sum() == pytest.approx(1.0) and len(v["red"]) == 512
    assert distance("colour", v["red"], v["blue"]) == pytest.approx(1.0)
    assert distance("colour", v["red"], v["half"]) == pytest.approx(0.5)


def test_vgg_statistics_are_one_unit_block_per_layer(pictures) -> None:
    stats = yardstick_vectors(pictures["photo"])["vgg_stats"]
    assert stats.shape == (2 * (64 + 128 + 256 + 512 + 512),)
    assert float(stats @ stats) == pytest.approx(5.0)


def test_styles_apart_is_zero_for_one_look_and_one_for_the_style_images_themselves(pictures) -> None:
    styles = [pictures["style"], pictures["other"]]
    assert styles_apart([pictures["photo"], pictures["photo"]], styles) == pytest.approx(0.0)
    assert styles_apart(styles, styles) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="2 styles"):
        styles_apart([pictures["photo"]], styles[:1])
    assert np.isfinite(styles_apart([pictures["photo"], pictures["style"]], styles))
