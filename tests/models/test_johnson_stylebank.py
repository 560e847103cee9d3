"""The two trained per-style methods: johnson (one transform network per style) and stylebank (a filter bank).

Tiny settings throughout: 32-px crops of a few generated images, slim networks, tens of steps. The trained
weights are not shipped here: ``stylize(..., model=PATH)`` runs a weight file directly, and the registry tests
point ``embed/weights`` at a temporary folder (monkeypatch).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from styledex.embed.transfer import TransferError, johnson, stylebank
from styledex.embed.transfer import weights as weights_mod
from styledex.embed.transfer.imaging import fit_long_side
from styledex.embed.transfer.registry import METHODS
from styledex.embed.transfer.weights import load_weights
from styledex.train import TrainError, load_train_config, train

from helpers.media import make_image
from helpers.per_style import check_per_style_method, ship

TINY = {"image_size": 32, "load_side": 32, "batch_size": 2, "width": 4, "lr": 0.01, "checkpoint_every": 1000,
        "style_size": 48, "seed": 0}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    (root / "content").mkdir()
    make_image(root / "content" / "c0.png", size=(40, 36), seed=1, pattern="checker")
    make_image(root / "content" / "c1.png", size=(36, 44), seed=2, pattern="gradient")
    return {
        "content": root / "content",
        "a": make_image(root / "a.png", size=(48, 40), seed=3, pattern="noise"),
        "b": make_image(root / "b.png", size=(40, 40), seed=4, pattern="checker"),
        "c": make_image(root / "c.png", size=(40, 48), seed=5, pattern="gradient"),
        "photo": make_image(root / "photo.png", size=(48, 40), seed=6, pattern="gradient"),
    }


def _train(method: str, out: Path, **overrides: object):
    cfg = load_train_config(method, overrides={**TINY, **overrides})
    return train(method, cfg, out, resume=False, progress=False)


@pytest.fixture(scope="module")
def johnson_run(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    return _train("johnson", tmp_path_factory.mktemp("johnson"), content=[str(media["content"])],
                  style_images=[str(media["a"])], name="dots", steps=30, res_blocks=1)


@pytest.fixture(scope="module")
def bank_run(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    return _train("stylebank", tmp_path_factory.mktemp("bank"), content=[str(media["content"])],
                  style_images=[str(media["a"]), str(media["b"])], steps=30)


def _early_late(values: list[float]) -> tuple[float, float]:
    k = max(3, len(values) // 4)
    return float(np.mean(values[:k])), float(np.mean(values[-k:]))


# -- johnson ------------------------------------------------------------------------------------------------
def test_johnson_loss_goes_down(johnson_run) -> None:
    early, late = _early_late([row["total"] for row in johnson_run.history])
    assert late < 0.5 * early


def test_johnson_export_and_stylize_size(johnson_run, media: dict[str, Path]) -> None:
    state, meta = load_weights(johnson_run.weights)
    assert johnson_run.weights.name == "johnson_dots.pt"
    assert meta["name"] == "dots" and meta["style_image"] == "styles/dots.jpg"
    assert meta["channels"] == [4, 8, 16] and meta["res_blocks"] == 1
    photo = Image.open(media["photo"])
    for size in (40, 37):  # 37: not a multiple of 4, the network pads and crops back
        out = johnson.stylize(photo, [], None, size, model=str(johnson_run.weights))
        assert out.size == fit_long_side(photo, size).size


def test_johnson_task_carries_style_jpeg(media: dict[str, Path]) -> None:
    from styledex.train.johnson import build

    big = media["a"].parent / "big.png"
    make_image(big, size=(700, 300), seed=9, pattern="gradient")
    cfg = load_train_config("johnson", overrides={**TINY, "content": [str(media["content"])],
                                                  "style_images": [str(big)], "name": "big"})
    task = build(cfg, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert task.name == "johnson_big"
    img = Image.open(io.BytesIO(task.files["big.jpg"]))
    assert img.format == "JPEG" and img.size == (512, 219)


@pytest.mark.parametrize("styles", [[], ["x.png", "y.png"]])
def test_johnson_needs_exactly_one_style(styles: list[str], media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="exactly one"):
        _train("johnson", tmp_path, content=[str(media["content"])], style_images=styles, steps=1)


def test_missing_style_image_is_a_train_error(media: dict[str, Path], tmp_path: Path) -> None:
    for method in ("johnson", "stylebank"):
        with pytest.raises(TrainError, match="no such style image") as err:
            _train(method, tmp_path / method, content=[str(media["content"])],
                   style_images=[str(tmp_path / "absent.jpg")], steps=1)
        assert "\n" not in str(err.value)


def test_johnson_registry_and_bad_requests(johnson_run, media: dict[str, Path], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ship(tmp_path, monkeypatch, {"johnson_dots.pt": johnson_run.weights, "styles/dots.jpg": media["a"]})
    check_per_style_method("johnson", "dots", Image.open(media["photo"]), tmp_path / "styles" / "dots.jpg")


# -- stylebank ----------------------------------------------------------------------------------------------
def test_stylebank_loss_goes_down(bank_run) -> None:
    # every third step (i % 3 == 2, row step % 3 == 0) is the auto-encoder step; compare the stylizing steps
    rows = [row for row in bank_run.history if row["step"] % 3 != 0]
    early, late = _early_late([row["total"] for row in rows])
    assert late < 0.5 * early
    early_id, late_id = _early_late([row["identity"] for row in bank_run.history])
    assert late_id < early_id


def test_stylebank_export_mixtures_and_masks(bank_run, media: dict[str, Path]) -> None:
    state, meta = load_weights(bank_run.weights)
    assert [s["name"] for s in meta["styles"]] == ["a", "b"]
    assert [s["style_image"] for s in meta["styles"]] == ["styles/a.jpg", "styles/b.jpg"]
    assert set(state) == {"encoder", "bank", "decoder"}
    photo = Image.open(media["photo"])
    model = str(bank_run.weights)

    def run(name: str, **kw: object) -> np.ndarray:
        out = stylebank.stylize(photo, [], name, 37, model=model, **kw)
        assert out.size == fit_long_side(photo, 37).size
        return np.asarray(out)

    a, b = run("a"), run("b")
    assert not np.array_equal(a, b)
    assert np.array_equal(run("a:1,b:0"), a)
    assert np.array_equal(run("a,b", weights="1,0"), a)
    white, black = Image.new("L", (10, 10), 255), Image.new("L", (10, 10), 0)
    assert np.array_equal(run("a,b", masks=[white, black]), a)
    assert np.array_equal(run("a,b", masks=[black, white]), b)
    half = Image.new("L", (48, 40), 0)
    half.paste(255, (0, 0, 24, 40))  # left half: a, right half: b
    mixed = run("a,b", masks=[half, Image.eval(half, lambda v: 255 - v)])
    # the decoder's instance norm and receptive field mix the regions, so no pixel-wise equality here
    assert not np.array_equal(mixed, a) and not np.array_equal(mixed, b)


def test_stylebank_bad_requests(bank_run, media: dict[str, Path]) -> None:
    photo = Image.open(media["photo"])
    model = str(bank_run.weights)
    with pytest.raises(TransferError, match="no style 'z'; trained: a, b"):
        stylebank.stylize(photo, [], "z", 32, model=model)
    with pytest.raises(TransferError, match="1 masks for 2 styles"):
        stylebank.stylize(photo, [], "a,b", 32, model=model, masks=[Image.new("L", (8, 8), 255)])
    with pytest.raises(TransferError, match="per-style"):
        stylebank.stylize(photo, [photo], "a", 32, model=model)
    with pytest.raises(TransferError, match="2 weights for 1 styles"):
        stylebank.stylize(photo, [], "a", 32, model=model, weights="0.5,0.5")


def test_stylebank_add_style_keeps_the_base(bank_run, media: dict[str, Path], tmp_path: Path) -> None:
    added = _train("stylebank", tmp_path, content=[str(media["content"])], style_images=[str(media["c"])],
                   base=str(bank_run.weights), steps=2)
    base_state, base_meta = load_weights(bank_run.weights)
    new_state, new_meta = load_weights(added.weights)
    assert [s["name"] for s in new_meta["styles"]] == ["a", "b", "c"]
    for part in ("encoder", "decoder"):
        assert base_state[part].keys() == new_state[part].keys()
        assert all(torch.equal(base_state[part][k], new_state[part][k]) for k in base_state[part])
    assert all(torch.equal(v, new_state["bank"][k]) for k, v in base_state["bank"].items())
    assert any(k.startswith("2.") for k in new_state["bank"])
    out = stylebank.stylize(Image.open(media["photo"]), [], "c", 32, model=str(added.weights))
    assert out.size == fit_long_side(Image.open(media["photo"]), 32).size
    with pytest.raises(TrainError, match="already has style"):
        _train("stylebank", tmp_path / "clash", content=[str(media["content"])], style_images=[str(media["a"])],
               base=str(bank_run.weights), steps=1)


def test_stylebank_registry(bank_run, media: dict[str, Path], tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "styles").mkdir()
    shutil.copy(bank_run.weights, tmp_path / "stylebank.pt")
    shutil.copy(bank_run.weights.with_suffix(".json"), tmp_path / "stylebank.json")
    shutil.copy(media["a"], tmp_path / "styles" / "a.jpg")
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", tmp_path)
    spec = METHODS["stylebank"]
    assert spec.is_available()
    assert spec.styles() == [{"name": "a", "style_image": str(tmp_path / "styles" / "a.jpg")},
                             {"name": "b", "style_image": None}]
    assert stylebank.stylize(Image.open(media["photo"]), [], "b", 32).size[0] == 32
