"""Facts about style transfer (issue 4, first part): gatys, ghiasi and cin, the ``transfer`` and ``models`` commands.

Images are tiny (48–96 px) and optimizations a few steps, so the whole file runs in well under a minute on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from styledex.embed.stats import gram_matrix
from styledex.embed.transfer import TransferError, list_models, transfer
from styledex.embed.transfer.gatys import CONTENT_LAYER, style_transfer
from styledex.embed.transfer.pretrained import parse_mixture, parse_weights
from styledex.embed.vgg import STYLE_LAYERS

from helpers.cli import one_line_error
from helpers.media import make_shapes
from helpers.vgg import vgg_features


@pytest.fixture(scope="module")
def content(tmp_path_factory) -> Image.Image:
    path = make_shapes(tmp_path_factory.mktemp("transfer") / "content.png", seed=3, size=64)
    return Image.open(path).convert("RGB")


@pytest.fixture(scope="module")
def style() -> Image.Image:
    """Diagonal red/blue stripes with noise: a texture and palette far from the content's."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:64, :64]
    stripes = ((xx + yy) // 6) % 2
    arr = np.stack([200 * stripes + 30, 40 + 0 * stripes, 220 * (1 - stripes) + 20], -1).astype(np.float32)
    arr += rng.normal(0, 25, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _style_distance(a: Image.Image, b: Image.Image) -> float:
    fa, fb = vgg_features(a), vgg_features(b)
    return sum(
        float((gram_matrix(fa[n]) - gram_matrix(fb[n])).pow(2).mean() / gram_matrix(fb[n]).pow(2).mean())
        for n in STYLE_LAYERS
    )


def _content_distance(a: Image.Image, b: Image.Image) -> float:
    return float((vgg_features(a)[CONTENT_LAYER] - vgg_features(b)[CONTENT_LAYER]).pow(2).mean())


def _pixel_distance(a: Image.Image, b: Image.Image) -> float:
    b = b.resize(a.size)
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


# -- gatys ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("optimizer", "steps"), [("lbfgs", 6), ("adam", 20)])
def test_gatys_moves_style_and_keeps_content(content, style, optimizer, steps):
    result = style_transfer(content, style, 64, steps=steps, optimizer=optimizer, device="cpu")
    assert len(result.losses) == steps + 1
    assert result.losses[-1] < 0.9 * result.losses[0]
    out = result.image
    assert out.size == (64, 64)
    assert _style_distance(out, style) < 0.8 * _style_distance(content, style)
    assert _content_distance(out, content) < _content_distance(out, style)


def test_gatys_luminance_keeps_content_chroma(content, style):
    def chroma_gap(img: Image.Image) -> float:
        a = np.asarray(img.convert("YCbCr"), np.float32)[..., 1:]
        b = np.asarray(content.convert("YCbCr"), np.float32)[..., 1:]
        return float(np.abs(a - b).mean())

    options = {"steps": 10, "optimizer": "adam", "device": "cpu"}
    kept = style_transfer(content, style, 64, preserve_color="luminance", **options).image
    free = style_transfer(content, style, 64, **options).image
    assert chroma_gap(kept) < 1.5  # YCbCr round trip through RGB: rounding only
    assert chroma_gap(free) > chroma_gap(kept) + 4
    luma = np.asarray(kept.convert("L"), np.float32) - np.asarray(content.convert("L"), np.float32)
    assert np.abs(luma).mean() > 2  # the luminance did change


def test_gatys_rejects_bad_options(content, style):
    with pytest.raises(TransferError, match="optimizer"):
        style_transfer(content, style, 64, steps=1, optimizer="sgd")
    with pytest.raises(TransferError, match="preserve-color"):
        style_transfer(content, style, 64, steps=1, preserve_color="hsv")
    with pytest.raises(TransferError, match="does not take option"):
        transfer("gatys", content, style, size=64, bogus=1)


# -- cin ------------------------------------------------------------------------------------------------------
def test_mixture_parsing():
    w = parse_mixture("3:1,7:3")
    assert w.shape == (26,) and w[3] == pytest.approx(0.25) and w[7] == pytest.approx(0.75)
    assert parse_mixture("7")[7] == 1.0 and parse_mixture(5)[5] == 1.0
    assert parse_mixture("3:0.5, 3:0.5")[3] == 1.0
    for bad in ("26", "-1", "x", "3:-1", "3:0", "3:abc"):
        with pytest.raises(TransferError):
            parse_mixture(bad)
    assert parse_weights("1,3", 2).tolist() == [0.25, 0.75]
    for bad, n in (("1", 2), ("a,b", 2), ("0,0", 2), ("-1,2", 2)):
        with pytest.raises(TransferError):
            parse_weights(bad, n)


def test_cin_size_and_styles(content, monkeypatch, tmp_path):
    wide = content.resize((96, 64))
    a = transfer("cin", wide, style_name="3", size=90)
    b = transfer("cin", wide, style_name="7", size=90)
    mix = transfer("cin", wide, style_name="3:0.5,7:0.5", size=90)
    assert a.size == b.size == mix.size == (90, 60)
    assert _pixel_distance(a, b) > 5
    assert _pixel_distance(mix, a) < _pixel_distance(b, a)
    from styledex.embed.transfer import weights

    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)  # before the predictor ships: --style IMAGE is refused
    with pytest.raises(TransferError, match="cin-predictor"):
        transfer("cin", content, content, size=64)
    with pytest.raises(TransferError, match="unknown style name"):
        transfer("cin", content, style_name="99", size=64)


# -- ghiasi ---------------------------------------------------------------------------------------------------
def test_ghiasi_size_strength_and_interpolation(content, style):
    wide = content.resize((96, 64))
    full = transfer("ghiasi", wide, style, size=72)
    none = transfer("ghiasi", wide, style, size=72, strength=0.0)
    assert full.size == none.size == (72, 48)
    assert _pixel_distance(none, wide) < _pixel_distance(full, wide)
    other = content.transpose(Image.Transpose.ROTATE_90)
    half = transfer("ghiasi", wide, [style, other], size=72, weights="0.5,0.5")
    only = transfer("ghiasi", wide, [style, other], size=72, weights="1,0")
    assert half.size == (72, 48)
    assert _pixel_distance(only, full) < 1.0  # weight 1 on the first style = that style alone
    assert _pixel_distance(half, full) > 1.0
    with pytest.raises(TransferError, match="strength"):
        transfer("ghiasi", wide, style, size=72, strength=1.5)


@pytest.fixture
def nothing_shipped(monkeypatch, tmp_path):
    """The state of a checkout before any trained weights ship: an empty weights folder."""
    from styledex.embed.transfer import weights

    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path / "no-weights")


def test_untrained_and_unknown_methods(content, nothing_shipped):
    with pytest.raises(TransferError, match=r"method 'adain' needs trained weights \(styledex train adain\)"):
        transfer("adain", content, content)
    with pytest.raises(TransferError, match="unknown method"):
        transfer("picasso", content, content)


# -- CLI ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory, content, style) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("transfer_cli")
    paths = {"content": d / "content.png", "style": d / "style.png", "junk": d / "junk.png", "dir": d}
    content.resize((96, 64)).save(paths["content"])
    style.save(paths["style"])
    paths["junk"].write_bytes(b"not an image at all")
    return paths


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("cin", ["--style-name", "3:0.5,7:0.5"]),
        ("ghiasi", ["--style", "{style}", "--strength", "0.7"]),
        ("gatys", ["--style", "{style}", "--steps", "2", "--preserve-color", "luminance"]),
    ],
)
def test_cli_transfer_writes_png(cli, files, method, args):
    out = files["dir"] / f"{method}.png"
    args = [a.format(style=files["style"]) for a in args]
    run = cli("transfer", "--method", method, "--content", files["content"], *args, "--size", "60", "-o", out)
    assert run.rc == 0, run.err
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (60, 40)


def test_cli_bad_inputs(cli, cli_proc, files, nothing_shipped):
    c, s, out = files["content"], files["style"], files["dir"] / "bad.png"
    cases = {
        "no such file": ["--method", "ghiasi", "--content", files["dir"] / "missing.png", "--style", s],
        "cannot decode": ["--method", "ghiasi", "--content", c, "--style", files["junk"]],
        "unknown method": ["--method", "picasso", "--content", c, "--style", s],
        "unknown style name": ["--method", "cin", "--content", c, "--style-name", "42"],
        "cin-predictor": ["--method", "cin", "--content", c, "--style", s],
        "needs trained weights": ["--method", "wct", "--content", c, "--style", s],
    }
    for expected, args in cases.items():
        assert expected in one_line_error(cli("transfer", *args, "-o", out)), expected
    assert not out.exists()
    run = cli_proc("transfer", "--method", "ghiasi", "--content", c, "--style", files["junk"], "-o", out)
    assert "cannot decode" in one_line_error(run)


def test_cli_models_json(cli):
    run = cli("models", "--json")
    assert run.rc == 0, run.err
    rows = {row["method"]: row for row in run.json()}
    assert set(rows) == {"gatys", "johnson", "cin", "ghiasi", "adain", "wct", "stylebank", "pix2pix", "cyclegan",
                         "munit", "mixgan"}
    for row in rows.values():
        assert isinstance(row["styles"], list) and isinstance(row["available"], bool)
        assert row["weights"] is None or Path(row["weights"]).exists()
    assert [s["name"] for s in rows["cin"]["styles"]] == [str(i) for i in range(26)]
    assert all(s["style_image"] is None for s in rows["cin"]["styles"])
    assert rows["cin"]["weights"].endswith("multistyle26.onnx")
    assert rows["ghiasi"]["weights"].endswith(".onnx") and rows["ghiasi"]["styles"] == []
    assert Path(rows["ghiasi"]["predictor_weights"]).is_file()
    assert rows["gatys"]["weights"].endswith(".bin") and rows["gatys"]["styles"] == []
    for name in ("johnson", "stylebank", "pix2pix", "cyclegan", "mixgan"):  # per-style: each look names its style image
        if rows[name]["available"]:
            assert rows[name]["styles"] and all(Path(s["style_image"]).is_file() for s in rows[name]["styles"])
    assert rows == {row["method"]: row for row in list_models()}


def test_cli_models_before_training(cli, nothing_shipped):
    rows = {row["method"]: row for row in cli("models", "--json").json()}
    for name in ("johnson", "adain", "wct", "stylebank", "pix2pix", "cyclegan", "munit", "mixgan"):
        assert rows[name]["available"] is False and rows[name]["styles"] == [], name
    assert rows["adain"]["weights"] is None
    human = cli("models")
    assert human.rc == 0 and "needs training (styledex train adain)" in human.out
