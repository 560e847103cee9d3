"""The CIN network's torch port, its γ/β anchors, the style predictor trainer, the ``cin`` space and transfer.

The predictor is trained once per module on tiny generated images (a few steps), and "shipped" by pointing the
weights folder at that run's output with monkeypatch; nothing here needs the real shipped weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import styledex.embed.transfer.weights as weights_mod
from styledex.embed.cin_net import (
    GAMMA_BETA_DIM,
    LAYERS,
    _initializers,
    anchor_gamma_beta,
    cin_net,
    mixture_gamma_beta,
    split_gamma_beta,
)
from styledex.embed.cin_predictor import (
    TRAIN_COMMAND,
    anchor_vectors,
    load_predictor,
    predict_gamma_beta,
    search_vectors,
)
from styledex.embed.embedder import Embedder
from styledex.embed.onnx_nets import CIN26
from styledex.embed.spaces import SPACES, SpaceUnavailable, available_spaces
from styledex.embed.transfer import TransferError, transfer
from styledex.search import anchor_query


def _random_image(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(8):
        x, y = (int(v) for v in rng.integers(0, min(size), 2))
        r = int(rng.integers(3, 12))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return img


# -- the torch port ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def onnx_cin() -> CIN26:
    return CIN26(threads=1)


@pytest.mark.parametrize("style", [7, "mix"])
def test_torch_port_matches_onnxruntime(onnx_cin: CIN26, style: int | str) -> None:
    weights = CIN26.weights(7) if style == 7 else CIN26.weights(np.eye(26)[3] * 0.3 + np.eye(26)[20] * 0.7)
    x = np.asarray(_random_image(1, (48, 40)), dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    names = [i.name for i in onnx_cin.session.get_inputs()]
    reference = onnx_cin.session.run(None, {names[0]: x, names[1]: weights})[0]
    with torch.no_grad():
        ours = cin_net()(torch.from_numpy(x), mixture_gamma_beta(weights)).numpy()
    assert ours.shape == reference.shape == (1, 3, 40, 48)
    # Measured 8e-6: the ONNX file holds float32 weights, so the port agrees to float rounding.
    assert np.abs(ours - reference).max() < 1e-3


def test_port_pads_any_size_and_batches() -> None:
    table = anchor_gamma_beta()
    x = torch.rand(2, 3, 30, 37, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = cin_net().stylize_padded(x, table[[2, 9]])
        single = cin_net().stylize_padded(x[1:], table[9])
    assert y.shape == (2, 3, 30, 37) and y.min() >= 0 and y.max() <= 1
    torch.testing.assert_close(y[1:], single, atol=1e-5, rtol=0)


def test_anchor_table_layout_and_mixtures() -> None:
    table = anchor_gamma_beta()
    assert table.shape == (26, GAMMA_BETA_DIM) == (26, 990)
    torch.testing.assert_close(mixture_gamma_beta(np.eye(26)[5]), table[5])
    mix = np.eye(26)[3] * 0.25 + np.eye(26)[7] * 0.75
    torch.testing.assert_close(mixture_gamma_beta(mix), 0.25 * table[3] + 0.75 * table[7])
    parts = split_gamma_beta(table[11:12])
    init = _initializers()
    for layer in (LAYERS[0], "res.3.1", LAYERS[-1]):
        np.testing.assert_array_equal(parts[layer][0][0].numpy(), init[f"{layer}.norm.gamma"][11])
        np.testing.assert_array_equal(parts[layer][1][0].numpy(), init[f"{layer}.norm.beta"][11])


# -- anchors as queries ----------------------------------------------------------------------------------------
def test_anchor_query_is_the_normalized_anchor_row() -> None:
    query = anchor_query("7")["cin"]
    assert query.shape == (990,) and query.dtype == np.float32
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(query, search_vectors(anchor_gamma_beta()[7:8])[0].numpy(), atol=1e-6)
    mix = anchor_query("3:0.5, 7:0.5")["cin"]
    np.testing.assert_allclose(mix, anchor_vectors(0.5 * np.eye(26)[3] + 0.5 * np.eye(26)[7]), atol=1e-6)
    # the 26 anchors are distinct directions: none is another's nearest copy
    vectors = search_vectors(anchor_gamma_beta()).numpy()
    sims = vectors @ vectors.T
    assert (sims[~np.eye(26, dtype=bool)] < 0.99).all()


@pytest.mark.parametrize("text", ["26", "x", "3:-1", ""])
def test_unknown_anchor_is_a_one_line_error(text: str) -> None:
    with pytest.raises(ValueError, match="unknown anchor") as info:
        anchor_query(text)
    assert "\n" not in str(info.value)


# -- without the predictor's weights -----------------------------------------------------------------------------
@pytest.fixture
def no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", tmp_path)
    return tmp_path


def test_cin_space_is_listed_but_needs_the_predictor(no_weights: Path) -> None:
    assert SPACES["cin"].dim == 990 and SPACES["cin"].kind == "style"
    assert "cin" not in available_spaces()
    assert SPACES["cin"].describe()["available"] is False
    with pytest.raises(SpaceUnavailable, match=TRAIN_COMMAND) as info:
        Embedder(["adain", "cin"])
    assert "\n" not in str(info.value)


def test_transfer_with_a_style_image_needs_the_predictor(no_weights: Path) -> None:
    content, style = _random_image(2, (40, 32)), _random_image(3, (40, 40))
    with pytest.raises(TransferError, match=TRAIN_COMMAND):
        transfer("cin", content, style=style, size=32)
    with pytest.raises(TransferError, match="not both"):
        transfer("cin", content, style=style, style_name="7", size=32)
    # the named styles keep working without it (the ONNX network)
    assert transfer("cin", content, style_name="3:0.5,7:0.5", size=32).size == (32, 26)


# -- the trained predictor ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """A predictor trained a few steps on tiny generated images: (weight file, per-step total losses)."""
    from styledex.train import load_train_config, train

    root = tmp_path_factory.mktemp("cin_train")
    # One 32-px image per source and 32-px crops: every batch is the same pair up to flips, so the loss curve
    # is smooth enough for a few steps to show the descent.
    for kind, seed in (("content", 10), ("style", 20)):
        (root / kind).mkdir()
        _random_image(seed, (32, 32)).save(root / kind / "0.png")
    overrides = {
        "steps": 8, "batch_size": 2, "image_size": 32, "load_side": 32, "lr": 1e-3, "checkpoint_every": 100,
        "content": [str(root / "content")], "style": [str(root / "style")], "device": "cpu", "threads": 1,
    }  # fmt: skip
    cfg = load_train_config("cin-predictor", overrides=overrides)
    result = train("cin-predictor", cfg, root / "run", resume=False, progress=False)
    return result.weights, [row["total"] for row in result.history]


def test_trainer_lowers_the_loss(trained: tuple[Path, list[float]]) -> None:
    path, totals = trained
    assert path.name == "cin_predictor.pt" and path.with_suffix(".json").is_file()
    assert np.isfinite(totals).all()
    assert np.mean(totals[-2:]) < 0.8 * totals[0], totals


def test_predictor_output_and_cin_space(
    trained: tuple[Path, list[float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = trained
    net, meta = load_predictor(path)
    assert meta["architecture"]["bottleneck"] == 100 and meta["input_side"] == 32
    images = [_random_image(30, (50, 40)), _random_image(31, (40, 64))]
    gamma_beta = predict_gamma_beta(images, path=path)
    assert gamma_beta.shape == (2, 990) and torch.isfinite(gamma_beta).all()

    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", path.parent)  # "ship" the test run's weights
    assert "cin" in available_spaces()
    embedder = Embedder(["cin"], image_size=64)
    vectors = embedder.embed(images)["cin"]
    assert vectors.shape == (2, 990) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors, search_vectors(gamma_beta).numpy(), atol=1e-5)
    assert len(embedder.fingerprints()["cin"]) == 16


def test_transfer_with_style_images_and_strength(
    trained: tuple[Path, list[float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = trained
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", path.parent)
    content = _random_image(40, (44, 36))
    styles = [_random_image(41, (40, 40)), _random_image(42, (48, 40))]
    out = transfer("cin", content, style=styles, size=44, weights="0.3,0.7", device="cpu")
    assert out.size == (44, 36) and out.mode == "RGB"
    # strength 0 renders the content's own predicted γ/β whatever the style
    own = [transfer("cin", content, style=s, size=44, strength=0.0, device="cpu") for s in styles]
    np.testing.assert_array_equal(np.asarray(own[0]), np.asarray(own[1]))
    with pytest.raises(TransferError, match="strength"):
        transfer("cin", content, style=styles[0], size=44, strength=1.5)
