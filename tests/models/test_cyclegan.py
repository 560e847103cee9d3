"""cyclegan (embed/transfer/cyclegan.py, train/cyclegan.py): unpaired training lowers its cycle and identity
losses, ships only the photo → look generator, names as its style image the shipped painting nearest the painting
domain, resumes exactly with its judges' optimizer, and its per-style errors are one line.

Tiny settings: 32-px crops of generated images (one domain, and the same images with a red cast as the other),
slim networks, ~1 min.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from styledex.embed.transfer import weights as weights_mod
from styledex.embed.transfer.weights import load_weights
from styledex.train import load_train_config, train
from styledex.train.cyclegan import representative_style

from helpers.media import make_image
from helpers.per_style import check_per_style_method, ship

TINY = {"image_size": 32, "load_side": 40, "batch_size": 2, "width": 4, "res_blocks": 1, "d_width": 4, "lr": 0.002,
        "d_lr": 0.001, "checkpoint_every": 1000, "seed": 0, "time_limit_s": None}  # fmt: skip


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    for folder in ("photos", "paintings", "styles"):
        (root / folder).mkdir()
    for i in range(3):  # smooth images: slim networks cannot carry pixel noise through their 1/4-size middle
        photo = make_image(root / "photos" / f"p{i}.png", size=(44, 40), seed=i, pattern="gradient")
        pixels = np.asarray(Image.open(photo).convert("RGB"), np.float32)
        pixels[..., 0] = 255 - 0.3 * (255 - pixels[..., 0])  # the "painting" look: a strong red cast
        Image.fromarray(pixels.astype(np.uint8)).save(root / "paintings" / f"q{i}.png")
    Image.open(root / "paintings" / "q1.png").save(root / "styles" / "reddish.jpg")
    make_image(root / "styles" / "other.jpg", size=(40, 40), seed=8, pattern="checker")
    return {"root": root, "photo": root / "photos" / "p1.png"}


def _train(out: Path, media: dict[str, Path], **overrides: object):
    cfg = load_train_config("cyclegan", overrides={**TINY, "content": [str(media["root"] / "photos")],
                                                   "style": [str(media["root"] / "paintings")], "name": "red",
                                                   **overrides})  # fmt: skip
    return train("cyclegan", cfg, out, resume=True, progress=False)


@pytest.fixture(scope="module")
def run(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(weights_mod, "STYLES_DIR", media["root"] / "styles")
        return _train(tmp_path_factory.mktemp("cyclegan"), media, steps=120)


def test_unpaired_training_lowers_the_cycle_and_identity_losses(run) -> None:
    for key in ("cycle", "identity"):
        first, last = (np.mean([row[key] for row in rows]) for rows in (run.history[:15], run.history[-15:]))
        assert last < 0.65 * first, key


def test_only_the_photo_to_look_generator_ships_with_the_nearest_painting_as_its_style_image(run) -> None:
    state, meta = load_weights(run.weights)
    assert run.weights.name == "cyclegan_red.pt" and list(state) == ["net"]
    assert meta["channels"] == [4, 8, 16] and meta["res_blocks"] == 1 and meta["paintings"] == 3
    # the domain's mean look is the red cast: of the two shipped images, the red one
    assert meta["style_image"] == "styles/reddish.jpg" and run.record["heldout_photos"] >= 4


def test_representative_style_is_the_shipped_image_nearest_the_domain_mean(
    media: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weights_mod, "STYLES_DIR", media["root"] / "styles")
    checker = Image.open(media["root"] / "styles" / "other.jpg").convert("RGB")
    name, distance = representative_style([checker, checker], torch.device("cpu"))
    assert name == "styles/other.jpg" and distance < 1e-3  # the domain is that very image


def test_a_resumed_cyclegan_run_continues_exactly(
    media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weights_mod, "STYLES_DIR", media["root"] / "styles")
    full = _train(tmp_path / "full", media, steps=6, checkpoint_every=3)
    _train(tmp_path / "cut", media, steps=3, checkpoint_every=3)
    resumed = _train(tmp_path / "cut", media, steps=6, checkpoint_every=3)  # the judges' optimizer restored too
    for key in ("total", "judges"):
        np.testing.assert_allclose([r[key] for r in resumed.history], [r[key] for r in full.history], rtol=1e-4)


def test_registry_lists_the_look_with_its_style_image_and_bad_requests_are_one_line(
    run, media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the record names the style image (the domain's nearest painting), not styles/<look>.jpg
    ship(tmp_path, monkeypatch, {"cyclegan_red.pt": run.weights, "cyclegan_red.json": run.out_dir / "cyclegan_red.json",
                                 "styles/reddish.jpg": media["root"] / "styles" / "reddish.jpg"})
    check_per_style_method("cyclegan", "red", Image.open(media["photo"]), tmp_path / "styles" / "reddish.jpg")


def test_flat_crops_are_drawn_again(tmp_path: Path) -> None:
    """A flat crop (a black frame) through both generators gave NaN gradients: the sampler draws it again."""
    from styledex.train.cyclegan import varied_crops
    from styledex.train.data import CropSampler

    flat = Image.new("RGB", (40, 40), (0, 0, 0))
    varied = Image.open(make_image(tmp_path / "v.png", size=(40, 40), seed=1, pattern="gradient")).convert("RGB")
    sampler = CropSampler([flat, varied], 32, torch.Generator().manual_seed(0))
    assert min(float(crop.std()) for crop in sampler.sample(16)) < 0.01  # the pool does yield flat crops
    crops = varied_crops(sampler, 16)
    assert crops.shape == (16, 3, 32, 32) and min(float(crop.std()) for crop in crops) >= 0.01
