"""The fake embedder the pipeline and search tests use (helpers.fake_embedder) keeps the Embedder's contract: float32
unit rows of each space's dim, the same for the same pixels; its numbers are the documented ones."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from styledex.embed.spaces import resolve

from helpers.fake_embedder import BIAS, FakeEmbedder


def _noise(seed: int, size: tuple[int, int] = (20, 12)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_rows_are_float32_unit_vectors_of_each_space_and_repeatable() -> None:
    embedder = FakeEmbedder(["content", "predictor", "gram"])
    images = [_noise(0), _noise(1), _noise(0).convert("L")]
    out = embedder.embed(images)
    assert list(out) == ["content", "predictor", "gram"] and embedder.calls == [3]
    for space, rows in out.items():
        assert rows.dtype == np.float32 and rows.shape == (3, resolve(space).dim)
        assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)
        assert np.array_equal(rows, FakeEmbedder(["content", "predictor", "gram"]).embed(images)[space])
        assert not np.array_equal(rows[0], rows[1])
    assert {s: a.shape for s, a in embedder.embed([]).items()} == {"content": (0, 2048), "predictor": (0, 100),
                                                                    "gram": (0, resolve("gram").dim)}  # fmt: skip
    assert embedder.fingerprints() != FakeEmbedder(["content", "predictor", "gram"], image_size=64).fingerprints()


def test_a_solid_colour_gives_the_stated_vectors_and_a_mirror_moves_only_the_layout() -> None:
    r, g, b = 255, 51, 102
    solid = Image.new("RGB", (8, 6), (r, g, b))
    out = FakeEmbedder().embed([solid])
    colour = np.array([r, g, b]) / 255.0 - 0.5
    content = np.concatenate([np.tile(colour, 4), [BIAS]])  # four equal cells
    palette = np.concatenate([colour, [-0.5, -0.5, -0.5], [BIAS]])  # no spread: std 0
    for space, want in (("content", content), ("predictor", palette)):
        assert np.allclose(out[space][0, : len(want)], want / np.linalg.norm(want), atol=1e-6)
        assert not out[space][0, len(want) :].any()

    image = _noise(5)
    mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    a, m = FakeEmbedder().embed([image]), FakeEmbedder().embed([mirrored])
    assert np.allclose(a["predictor"], m["predictor"], rtol=0, atol=1e-7)  # the palette ignores where pixels are
    assert float(a["content"][0] @ m["content"][0]) < 1 - 1e-4  # the layout does not
    with pytest.raises(ValueError, match="unknown space"):
        FakeEmbedder(["made-up"])
