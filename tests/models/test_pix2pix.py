"""pix2pix (embed/transfer/pix2pix.py, train/pix2pix.py): the U-Net keeps any input size, the PatchGAN scores
70×70 patches, the trainer learns a paired mapping it can then apply to photos it never saw, a resumed GAN run
(two optimizers) continues exactly, and the per-style errors are one line.

The teacher is replaced by colour inversion (a known mapping, no model); tiny settings: 32-px crops of generated
images, slim networks, ~1 min.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from styledex.embed.transfer import pix2pix
from styledex.embed.transfer.imaging import fit_long_side
from styledex.embed.transfer.weights import load_weights
from styledex.train import TrainError, load_train_config, train
from styledex.train import pix2pix as pix2pix_trainer
from styledex.train.gan import PatchDiscriminator

from helpers.media import make_image
from helpers.per_style import check_per_style_method, ship

TINY = {"image_size": 32, "load_side": 40, "batch_size": 4, "width": 8, "depth": 3, "d_width": 8, "lr": 0.005,
        "d_lr": 0.001, "checkpoint_every": 1000, "seed": 0, "time_limit_s": None}  # fmt: skip


def _inverted(method: str, photo: Image.Image, style: object, style_name: object = None, size: int = 0) -> Image.Image:
    """The stand-in teacher: the photo's colours inverted, at the photo's size."""
    return ImageOps.invert(photo.convert("RGB"))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    (root / "content").mkdir()
    for i, pattern in enumerate(("checker", "gradient", "noise", "gradient")):
        make_image(root / "content" / f"c{i}.png", size=(48 + 4 * i, 44), seed=i, pattern=pattern)
    return {"content": root / "content", "style": make_image(root / "style.png", size=(48, 40), seed=9),
            "photo": make_image(root / "photo.png", size=(50, 37), seed=7, pattern="gradient")}  # fmt: skip


def _train(out: Path, media: dict[str, Path], **overrides: object):
    cfg = load_train_config("pix2pix", overrides={**TINY, "content": [str(media["content"])],
                                                  "style_images": [str(media["style"])], "name": "negative",
                                                  **overrides})  # fmt: skip
    return train("pix2pix", cfg, out, resume=True, progress=False)


@pytest.fixture(scope="module")
def run(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pix2pix_trainer, "transfer", _inverted)
        return _train(tmp_path_factory.mktemp("p2p"), media, steps=200)


def test_the_generator_keeps_the_size_and_range_of_any_input() -> None:
    net = pix2pix.UNetGenerator(width=4, depth=3).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 24, 40))
    assert out.shape == (2, 3, 24, 40) and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    critic = PatchDiscriminator(width=4)
    assert critic(torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)).shape == (2, 1, 6, 10)  # H/8 - 2, W/8 - 2


def test_it_learns_the_paired_look_and_applies_it_to_photos_it_never_saw(run) -> None:
    first, last = (np.mean([row["l1"] for row in rows]) for rows in (run.history[:20], run.history[-20:]))
    assert last < 0.5 * first
    # held-out photos (scikit-image and friends) at 256 px: the output is near the teacher's, the photo far from it
    assert run.record["heldout_photos"] >= 4
    assert run.record["heldout_l1_to_teacher"] < 0.3 * run.record["heldout_photo_l1_to_teacher"]
    state, meta = load_weights(run.weights)
    assert run.weights.name == "pix2pix_negative.pt" and list(state) == ["net"]  # the critic is not shipped
    assert meta["name"] == "negative" and meta["style_image"] == "styles/negative.jpg" and meta["depth"] == 3
    assert (run.out_dir / "negative.jpg").is_file()


def test_stylize_pads_odd_sizes_and_crops_back(run, media: dict[str, Path]) -> None:
    photo = Image.open(media["photo"])
    for size in (50, 37):  # neither a multiple of 2**depth = 8
        out = pix2pix.stylize(photo, [], None, size, model=str(run.weights))
        assert out.size == fit_long_side(photo, size).size
    rendered = np.asarray(pix2pix.stylize(photo, [], None, 50, model=str(run.weights)), np.float32)
    inverted = 255 - np.asarray(photo.convert("RGB"), np.float32)
    assert np.abs(rendered - inverted).mean() < 0.3 * np.abs(np.asarray(photo, np.float32) - inverted).mean()


def test_a_resumed_gan_run_continues_exactly(media: dict[str, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(pix2pix_trainer, "transfer", _inverted)
    full = _train(tmp_path / "full", media, steps=8, checkpoint_every=4)
    _train(tmp_path / "cut", media, steps=4, checkpoint_every=4)
    resumed = _train(tmp_path / "cut", media, steps=8, checkpoint_every=4)  # the critic's optimizer restored too
    for key in ("total", "critic"):
        np.testing.assert_allclose([r[key] for r in resumed.history], [r[key] for r in full.history], rtol=1e-4)


def test_bad_settings_are_train_errors(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="exactly one"):
        _train(tmp_path / "a", media, style_images=[], steps=1)
    with pytest.raises(TrainError, match="multiple of 2\\*\\*depth = 16"):
        _train(tmp_path / "b", media, depth=4, image_size=40, steps=1)


def test_registry_lists_shipped_looks_and_bad_requests_are_one_line(run, media: dict[str, Path], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ship(tmp_path, monkeypatch, {"pix2pix_negative.pt": run.weights, "styles/negative.jpg": media["style"]})
    check_per_style_method("pix2pix", "negative", Image.open(media["photo"]), tmp_path / "styles" / "negative.jpg")
