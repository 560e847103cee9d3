"""mixgan (embed/transfer/mixgan.py, train/mixgan.py): the conditional norms blend their domains' γ/β exactly; the
mixture decoder reads the content decoder's features; training lowers the reconstruction and moves the mixtures
towards each style domain's colours, and resumes exactly; ``--method mixgan`` renders a trained domain by name
or by the nearest style image, with one-line errors.

Tiny settings: 32-px crops of generated photos, two striped style images (red and white, blue and white), ~1 min.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from styledex.embed.transfer import CHOICE_NOTE, TransferError, transfer
from styledex.embed.transfer.mixgan import ConditionalInstanceNorm, Mixgan, load_network
from styledex.embed.transfer.registry import METHODS
from styledex.embed.transfer.weights import load_weights
from styledex.train import TrainError, load_train_config, train

from helpers.cli import run_inprocess
from helpers.media import make_image
from helpers.per_style import ship

TINY = {"image_size": 32, "load_side": 40, "batch_size": 4, "width": 8, "z_channels": 4, "d_width": 8,
        "style_size": 48, "lr": 0.002, "d_lr": 0.001, "checkpoint_every": 1000, "seed": 0, "time_limit_s": None,
        "content_weight": 0.0}  # fmt: skip
COLOURS = ("red", "blue")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    (root / "photos").mkdir()
    for i in range(3):
        make_image(root / "photos" / f"p{i}.png", size=(44, 40), seed=i, pattern="gradient")
    styles = {}
    stripes = np.repeat((np.arange(64) // 3 % 2 * 255).astype(np.uint8)[:, None], 64, 1)  # 3-px rows, 0 / 255
    for channel, name in ((0, "red"), (2, "blue")):
        # one channel full, the other two striped: red (or blue) and white rows. A PatchGAN sees a colour through
        # the pattern it colours (its instance norms would blind it to a flat one)
        pixels = np.repeat(stripes[..., None], 3, 2)
        pixels[..., channel] = 255
        Image.fromarray(pixels).save(styles.setdefault(name, root / f"{name}.png"))
    return {"root": root, "photo": root / "photos" / "p1.png", **styles}


def _train(out: Path, media: dict[str, Path], **overrides: object):
    cfg = load_train_config("mixgan", overrides={**TINY, "content": [str(media["root"] / "photos")],
                                                 "style_images": [str(media["red"]), str(media["blue"])],
                                                 **overrides})  # fmt: skip
    return train("mixgan", cfg, out, resume=True, progress=False)


@pytest.fixture(scope="module")
def run(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    return _train(tmp_path_factory.mktemp("mixgan"), media, steps=150)


def test_conditional_instance_norm_blends_its_domains_scale_and_shift() -> None:
    norm = ConditionalInstanceNorm(3, 2)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]]))
        norm.bias.copy_(torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 2.0]]))
    x = torch.randn(1, 3, 5, 5)
    normalized = F.instance_norm(x)
    for mix, gamma, beta in (([1.0, 0.0], [1.0, 2.0, 3.0], [0.0, 1.0, 0.0]),
                             ([0.25, 0.75], [0.625, 0.875, 1.125], [-0.75, 0.25, 1.5])):  # fmt: skip
        expected = normalized * torch.tensor(gamma)[None, :, None, None] + torch.tensor(beta)[None, :, None, None]
        torch.testing.assert_close(norm(x, torch.tensor([mix])), expected)


def test_the_mixture_decoder_reads_the_content_decoders_features() -> None:
    torch.manual_seed(0)
    net = Mixgan(width=8, z_channels=4, domain_count=2).eval()
    z = torch.randn(1, 4, 8, 8)
    mix = net.one_hot(torch.tensor([0]))
    content, features = net.content_decoder(z)
    assert content.shape == (1, 3, 32, 32) and [f.shape[1:] for f in features] == [(32, 8, 8), (16, 16, 16),
                                                                                   (8, 32, 32)]  # fmt: skip
    with torch.no_grad():
        base = net.mixture_decoder(z, features, mix)
        for level in range(3):  # each scale's content features reach the mixture
            changed = [f + (1.0 if i == level else 0.0) * torch.randn_like(f) for i, f in enumerate(features)]
            assert (net.mixture_decoder(z, changed, mix) - base).abs().mean() > 1e-3, level
    assert net.generate(2, net.one_hot(torch.tensor([0, 1])), 16).shape == (2, 3, 16, 16)


def _mean_rgb(images: torch.Tensor) -> torch.Tensor:
    return images.mean(dim=(0, 2, 3))


def test_training_rebuilds_photos_and_moves_each_domain_towards_its_colour(run, media) -> None:
    first, last = (np.mean([row["reconstruction"] for row in rows]) for rows in (run.history[:10], run.history[-10:]))
    assert last < 0.7 * first
    state, meta = load_weights(run.weights)
    assert list(state) == ["net"] and [d["name"] for d in meta["domains"]] == ["red", "blue"]
    assert (run.weights.parent / "red.jpg").is_file() and (run.weights.parent / "blue.jpg").is_file()
    assert run.record["heldout_photos"] >= 4 and 0 < run.record["heldout_mean_change"] < 1
    net, _ = load_network(run.weights)
    photo = torch.from_numpy(np.asarray(Image.open(media["photo"]).convert("RGB").resize((32, 32)), np.float32))
    x = (photo / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        red, blue = (_mean_rgb(net(x, net.one_hot(torch.tensor([k])))) for k in (0, 1))
    # the patch discriminator of each domain saw only that colour: its mixtures lean to it
    assert float(red[0] - red[2]) > float(blue[0] - blue[2]) + 0.1, (red, blue)


def test_a_resumed_mixgan_run_continues_exactly(media: dict[str, Path], tmp_path: Path) -> None:
    full = _train(tmp_path / "full", media, steps=4, checkpoint_every=2)
    _train(tmp_path / "cut", media, steps=2, checkpoint_every=2)
    resumed = _train(tmp_path / "cut", media, steps=4, checkpoint_every=2)  # prior codes and judges restored
    for key in ("total", "judges_patch", "judges_latent"):
        np.testing.assert_allclose([r[key] for r in resumed.history], [r[key] for r in full.history], rtol=1e-4)


def test_training_needs_a_style_image(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="at least one --style IMAGE") as err:
        _train(tmp_path, media, steps=1, style_images=[])
    assert "\n" not in str(err.value)


def test_transfer_by_name_or_by_nearest_style_image_with_one_line_errors(
    run, media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = tmp_path / "weights"
    ship(shipped, monkeypatch, {"mixgan.pt": run.weights, "mixgan.json": run.weights.with_suffix(".json")})
    for name in ("red", "blue"):
        (shipped / "styles" / f"{name}.jpg").write_bytes((run.weights.parent / f"{name}.jpg").read_bytes())
    spec = METHODS["mixgan"]
    assert spec.is_available() and spec.kind == "per-style"
    assert spec.styles() == [{"name": n, "style_image": str(shipped / "styles" / f"{n}.jpg")} for n in COLOURS]
    photo = Image.open(media["photo"])
    by_name = {n: np.asarray(transfer("mixgan", photo, style_name=n, size=37)) for n in COLOURS}
    assert by_name["red"].shape == (34, 37, 3)  # the photo's aspect ratio at the asked long side
    assert np.abs(by_name["red"].astype(int) - by_name["blue"]).mean() > 1
    # a style image selects the trained domain it is nearest to: each domain's own image, its own rendering
    for name in COLOURS:
        picked = transfer("mixgan", photo, Image.open(media[name]), size=37)
        np.testing.assert_array_equal(np.asarray(picked), by_name[name])
        assert picked.info[CHOICE_NOTE] == f"nearest trained look: {name}"  # and it says which it took
        assert CHOICE_NOTE not in transfer("mixgan", photo, style_name=name, size=37).info  # asked by name: no choice
    # The CLI prints that choice after the file it wrote.
    said = run_inprocess("transfer", "--method", "mixgan", "--content", media["photo"], "--style", media["red"],
                         "--size", "37", "-o", tmp_path / "out.png")  # fmt: skip
    assert said.rc == 0, said.err
    assert said.out.strip().endswith("; nearest trained look: red")
    half = np.asarray(transfer("mixgan", photo, style_name="red:0.5,blue:0.5", size=37), np.float32)
    assert np.abs(half - by_name["red"]).mean() > 0.5 and np.abs(half - by_name["blue"]).mean() > 0.5
    errors = (({}, "needs --style IMAGE or --style-name"),
              ({"style_name": "green"}, "mixgan has no style 'green'; trained: red, blue"),
              ({"style": photo, "style_name": "red"}, "either --style IMAGE or --style-name"))  # fmt: skip
    for kwargs, message in errors:
        with pytest.raises(TransferError, match=message) as err:
            transfer("mixgan", photo, size=32, **kwargs)
        assert "\n" not in str(err.value)
