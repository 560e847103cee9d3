"""adain and wct: the AdaIN and WCT operations, the decoders, both trainers on tiny images, and stylize().

The trainers run a few steps on generated 48-px images (32-px crops, slim decoders); their weight files then
stand in for the shipped ones by pointing ``embed/weights`` (``weights.WEIGHTS_DIR``) at a temporary folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from styledex.embed.stats import mean_std
from styledex.embed.transfer import TransferError, transfer
from styledex.embed.transfer import adain as adain_mod
from styledex.embed.transfer import wct as wct_mod
from styledex.embed.transfer import weights as weights_mod
from styledex.embed.transfer.decoder import DECODER_LAYERS, VGGDecoder, default_input_scale
from styledex.embed.transfer.weights import load_weights
from styledex.embed.vgg import LAYER_CHANNELS, shared_encoder
from styledex.train import load_train_config, train


def _shapes(path: Path, seed: int, size: int = 48) -> Path:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(5):
        x, y, r = (int(v) for v in rng.integers(0, size, 3))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse([x - r // 2, y - r // 2, x + r // 2, y + r // 2], fill=colour)
    img.save(path)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adain_wct_data")
    (root / "content").mkdir()
    (root / "style").mkdir()
    # one image per pool: the 6-step runs overfit it, so "the loss goes down" does not depend on the crops drawn
    _shapes(root / "content" / "c0.png", seed=0)
    _shapes(root / "style" / "s0.png", seed=10)
    _shapes(root / "s1.png", seed=11)
    return {"content": root / "content", "style": root / "style", "root": root}


def _tiny(data: dict[str, Path], **extra) -> dict:
    return {"content": [str(data["content"])], "style": [str(data["style"])], "image_size": 32, "load_side": 40,
            "batch_size": 2, "checkpoint_every": 1, "seed": 0, "decoder_width": 0.125, **extra}


def _train_twice(method: str, overrides: dict, out: Path):
    """3 steps, then the same config with 6 steps resumed from the checkpoint."""
    first = train(method, load_train_config(method, overrides={**overrides, "steps": 3}), out, progress=False)
    second = train(method, load_train_config(method, overrides={**overrides, "steps": 6}), out, progress=False)
    return first, second


def _check_run(first, second) -> None:
    assert len(first.history) == 3 and len(second.history) == 6
    assert second.history[:3] == first.history  # resumed at step 3, not restarted
    assert [row["step"] for row in second.history] == [1, 2, 3, 4, 5, 6]
    totals = [row["total"] for row in second.history]
    assert np.mean(totals[-2:]) < np.mean(totals[:2]), totals


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> dict:
    """Both trainers run (3 + 3 resumed steps); a weights folder holding their decoders plus untrained ones for
    the other WCT levels (stylize only needs the files' format)."""
    runs = tmp_path_factory.mktemp("adain_wct_runs")
    adain_runs = _train_twice("adain", _tiny(data, lr=3e-4), runs / "adain")
    wct_runs = _train_twice("wct", _tiny(data, layer="relu1_1", lr=3e-3), runs / "wct")
    shipped = runs / "shipped"
    shipped.mkdir()
    shutil.copy(adain_runs[1].weights, shipped / "adain_decoder.pt")
    shutil.copy(wct_runs[1].weights, shipped / "wct_decoder_relu1_1.pt")
    torch.manual_seed(0)
    for layer in ("relu2_1", "relu3_1", "relu4_1", "relu5_1"):
        dec = VGGDecoder(layer, 0.125)
        torch.save({"state": {"decoder": dec.state_dict()}, "meta": {"decoder": dec.spec()}},
                   shipped / f"wct_decoder_{layer}.pt")
    return {"adain": adain_runs, "wct": wct_runs, "shipped": shipped}


@pytest.fixture
def shipped(trained, monkeypatch) -> Path:
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", trained["shipped"])
    return trained["shipped"]


@pytest.fixture(scope="module")
def images(data) -> dict[str, Image.Image]:
    content = Image.open(data["content"] / "c0.png").convert("RGB").resize((60, 40))
    return {"content": content, "style": Image.open(data["style"] / "s0.png").convert("RGB"),
            "style2": Image.open(data["root"] / "s1.png").convert("RGB")}


# -- the operations -----------------------------------------------------------------------------------------
def test_adain_takes_the_style_statistics_and_alpha_zero_is_the_content():
    g = torch.Generator().manual_seed(0)
    content = torch.rand(2, 8, 10, 12, generator=g) * 3 + 1
    style = torch.randn(2, 8, 6, 7, generator=g) * torch.rand(1, 8, 1, 1, generator=g) * 5 + 2
    out = adain_mod.adain(content, style)
    (mo, so), (ms, ss) = mean_std(out), mean_std(style)
    assert torch.allclose(mo, ms, atol=1e-4) and torch.allclose(so, ss, atol=1e-3)
    assert torch.allclose(adain_mod.adain(content, style, alpha=0.0), content)
    half = adain_mod.adain(content, style, alpha=0.5)
    assert torch.allclose(half, 0.5 * out + 0.5 * content, atol=1e-5)


def test_masked_adain_regions():
    g = torch.Generator().manual_seed(1)
    content, s1, s2 = (torch.rand(1, 4, 8, 8, generator=g) * k for k in (1.0, 3.0, 7.0))
    everywhere = torch.ones(1, 8, 8)
    assert torch.allclose(adain_mod.masked_adain(content, [s1], everywhere), adain_mod.adain(content, s1), atol=1e-4)
    left = torch.zeros(8, 8)
    left[:, :4] = 1
    out = adain_mod.masked_adain(content, [s1, s2], torch.stack([left, 1 - left]))
    # each half gets its own style's statistics
    assert torch.allclose(mean_std(out[..., :4])[0], mean_std(s1)[0], atol=1e-4)
    assert torch.allclose(mean_std(out[..., 4:])[1], mean_std(s2)[1], atol=1e-3)
    masks = [Image.new("L", (16, 16), 255), Image.new("L", (16, 16), 0)]
    weights = adain_mod.region_weights(masks, 4, 5, torch.device("cpu"))
    assert weights.shape == (2, 4, 5) and torch.allclose(weights.sum(0), torch.ones(4, 5))
    black = adain_mod.region_weights([Image.new("L", (8, 8), 0)] * 2, 2, 2, torch.device("cpu"))
    assert torch.allclose(black, torch.full((2, 2, 2), 0.5))  # no region given: an even mixture


def test_whitening_and_colouring():
    g = torch.Generator().manual_seed(2)
    c, n = 6, 400
    content = torch.randn(c, c, generator=g, dtype=torch.float64) @ torch.randn(c, n, generator=g, dtype=torch.float64)
    style = torch.randn(c, c, generator=g, dtype=torch.float64) @ torch.randn(c, 300, generator=g, dtype=torch.float64)
    style = style + torch.arange(c, dtype=torch.float64)[:, None]
    white = wct_mod.whiten(content)
    _, cov_white = wct_mod.moments(white)
    assert torch.allclose(cov_white, torch.eye(c, dtype=torch.float64), atol=1e-8)
    coloured = wct_mod.colour(white, style)
    (mean_out, cov_out), (mean_s, cov_s) = wct_mod.moments(coloured), wct_mod.moments(style)
    assert torch.allclose(cov_out, cov_s, atol=1e-6 * cov_s.abs().max()) and torch.allclose(mean_out, mean_s)
    # the [1, C, H, W] wrapper: alpha 0 keeps the content; rank-deficient maps (4 positions, 6 channels) stay finite
    fc, fs = content.float().reshape(1, c, 20, 20), style.float().reshape(1, c, 15, 20)
    assert torch.allclose(wct_mod.wct(fc, [fs], alpha=0.0), fc, atol=1e-4)
    tiny = wct_mod.wct(fc[..., :2, :2], [fs], alpha=1.0)
    assert torch.isfinite(tiny).all()


def test_color_preservation_helpers():
    g = torch.Generator().manual_seed(3)
    content = torch.rand(3, 16, 16, generator=g) * 0.5 + 0.25
    style = (torch.rand(3, 16, 16, generator=g) * torch.tensor([0.2, 0.6, 0.3])[:, None, None]).clamp(0, 1)
    matched = adain_mod.match_color(style, content)
    xm, xc = matched.reshape(3, -1).double(), content.reshape(3, -1).double()
    assert torch.allclose(xm.mean(1), xc.mean(1), atol=0.02)
    assert torch.allclose(torch.cov(xm, correction=0), torch.cov(xc, correction=0), atol=3e-3)
    stylized = torch.rand(1, 3, 16, 16, generator=g) * 0.2 + 0.4
    kept = adain_mod._keep_chroma(stylized, content[None])
    assert torch.allclose(adain_mod.luminance(kept), adain_mod.luminance(stylized), atol=1e-5)
    # chroma (B − Y, R − Y) is the content's
    y_kept, y_content = adain_mod.luminance(kept), adain_mod.luminance(content[None])
    assert torch.allclose(kept[:, 0:1] - y_kept, content[None, 0:1] - y_content, atol=1e-5)
    assert torch.allclose(kept[:, 2:3] - y_kept, content[None, 2:3] - y_content, atol=1e-5)


def test_decoder_shapes_every_layer():
    encoder = shared_encoder(DECODER_LAYERS, "cpu")
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        feats = encoder(x)
        for layer in DECODER_LAYERS:
            assert feats[layer].shape[1] == LAYER_CHANNELS[layer]
            assert VGGDecoder(layer, 0.125)(feats[layer]).shape == x.shape, layer


# -- trainers -----------------------------------------------------------------------------------------------
def test_adain_trainer_learns_resumes_and_exports(trained):
    first, second = trained["adain"]
    _check_run(first, second)
    assert second.weights.name == "adain_decoder.pt"
    state, meta = load_weights(second.weights)
    assert meta["decoder"] == {"layer": "relu4_1", "width": 0.125, "input_scale": default_input_scale("relu4_1")}
    assert set(state["decoder"]) == set(VGGDecoder("relu4_1", 0.125).state_dict())
    assert {"content", "style"} <= set(second.history[0])
    assert isinstance(adain_mod.load_decoder(second.weights), VGGDecoder)


def test_wct_trainer_learns_resumes_and_exports(trained):
    first, second = trained["wct"]
    _check_run(first, second)
    assert second.weights.name == "wct_decoder_relu1_1.pt"
    state, meta = load_weights(second.weights)
    assert meta["decoder"] == {"layer": "relu1_1", "width": 0.125, "input_scale": default_input_scale("relu1_1")}
    assert meta["layer"] == "relu1_1"
    assert len(meta["sources"]) == 2  # photos and paintings: here the two generated folders
    assert {"pixel", "feature"} <= set(second.history[0])


def test_wct_config_rejects_unknown_layer():
    from styledex.train import TrainError

    with pytest.raises(TrainError, match="layer"):
        load_train_config("wct", overrides={"layer": "relu4_2"})


# -- stylize ------------------------------------------------------------------------------------------------
def test_adain_stylize_sizes_and_controls(shipped, images):
    c, s, s2 = images["content"], images["style"], images["style2"]
    out = transfer("adain", c, s, size=60)
    assert out.size == (60, 40)
    for options in ({"alpha": 0.5}, {"preserve_color": "histogram"}, {"preserve_color": "luminance"}):
        assert transfer("adain", c, s, size=60, **options).size == (60, 40), options
    only_first = transfer("adain", c, [s, s2], size=60, weights="1,0")
    assert np.abs(np.asarray(only_first, np.float32) - np.asarray(out, np.float32)).mean() < 1.0
    mask = Image.new("L", (60, 40), 0)
    mask.paste(255, (0, 0, 30, 40))
    other = Image.eval(mask, lambda v: 255 - v)
    assert transfer("adain", c, [s, s2], size=60, masks=[mask, other]).size == (60, 40)


def test_wct_stylize_sizes_and_controls(shipped, images):
    c, s, s2 = images["content"], images["style"], images["style2"]
    assert wct_mod.shipped_weights() == str(shipped / "wct_decoder_relu5_1.pt")  # all five present
    assert transfer("wct", c, s, size=60).size == (60, 40)
    assert transfer("wct", c, [s, s2], size=60, weights="0.3,0.7", levels="4,1").size == (60, 40)
    mask = Image.new("L", (10, 10), 255)
    assert transfer("wct", c, [s, s2], size=44, masks=[mask, Image.new("L", (10, 10), 0)], levels=[1]).size == (44, 29)


def test_bad_requests(shipped, images):
    c, s = images["content"], images["style"]
    cases = {
        "one mask per --style": ({"masks": [Image.new("L", (8, 8))] * 2}, [s]),
        "alpha must be in 0..1": ({"alpha": 1.5}, [s]),
        "needs at least one --style": ({}, []),
        "either --weights": ({"masks": [Image.new("L", (8, 8))], "weights": "1"}, [s]),
        "one value per style": ({"weights": "0.5,0.5"}, [s]),
    }
    for method in ("adain", "wct"):
        for expected, (options, styles) in cases.items():
            with pytest.raises(TransferError, match=expected):
                transfer(method, c, styles, size=32, **options)
        with pytest.raises(TransferError, match="no named styles"):
            transfer(method, c, s, style_name="x", size=32)
    with pytest.raises(TransferError, match="preserve-color"):
        transfer("adain", c, s, size=32, preserve_color="hue")
    with pytest.raises(TransferError, match="unknown WCT level"):
        transfer("wct", c, s, size=32, levels="6")


def test_unshipped_weights_say_to_train(tmp_path, monkeypatch, images):
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", tmp_path)
    c, s = images["content"], images["style"]
    with pytest.raises(TransferError, match=r"styledex train adain"):
        transfer("adain", c, s, size=32)
    with pytest.raises(TransferError, match=r"styledex train wct"):
        transfer("wct", c, s, size=32)
    with pytest.raises(TransferError, match=r"adain_decoder\.pt \(styledex train adain\)"):
        adain_mod.stylize(c, [s], None, 32)
    assert wct_mod.shipped_weights() is None
