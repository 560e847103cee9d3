"""munit (embed/transfer/munit.py, train/munit.py, embed/munit_space.py): the content code is blind to what
instance norm removes and the style code is not; unpaired training lowers its reconstruction and cycle losses and
resumes exactly; ``--method munit`` renders one image in another's look with one-line errors; the two code spaces
embed images once the network ships, and say how to train it when it does not.

Tiny settings: 32-px crops of generated images (one domain, and the same images with a red cast as the other),
~1 min.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from styledex.embed.embedder import Embedder
from styledex.embed.spaces import SPACES, SpaceUnavailable, unavailable_reason
from styledex.embed.transfer import TransferError, transfer
from styledex.embed.transfer import weights as weights_mod
from styledex.embed.transfer.munit import Munit
from styledex.embed.transfer.weights import load_weights
from styledex.train import load_train_config, train

from helpers.media import make_image
from helpers.per_style import ship

TINY = {"image_size": 32, "load_side": 40, "batch_size": 2, "width": 8, "res_blocks": 1, "mlp_dim": 16,
        "style_downs": 3, "d_width": 4, "lr": 0.002, "d_lr": 0.001, "checkpoint_every": 1000, "seed": 0,
        "time_limit_s": None}  # fmt: skip


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    for folder in ("photos", "paintings"):
        (root / folder).mkdir()
    for i in range(3):
        photo = make_image(root / "photos" / f"p{i}.png", size=(44, 40), seed=i, pattern="gradient")
        pixels = np.asarray(Image.open(photo).convert("RGB"), np.float32)
        pixels[..., 0] = 255 - 0.3 * (255 - pixels[..., 0])  # the "painting" look: a strong red cast
        Image.fromarray(pixels.astype(np.uint8)).save(root / "paintings" / f"q{i}.png")
    return {"root": root, "photo": root / "photos" / "p1.png", "painting": root / "paintings" / "q1.png"}


def _train(out: Path, media: dict[str, Path], **overrides: object):
    cfg = load_train_config("munit", overrides={**TINY, "content": [str(media["root"] / "photos")],
                                                "style": [str(media["root"] / "paintings")], **overrides})  # fmt: skip
    return train("munit", cfg, out, resume=True, progress=False)


@pytest.fixture(scope="module")
def run(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    return _train(tmp_path_factory.mktemp("munit"), media, steps=80)


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Munit:
    """An untrained MUNIT shipped as ``munit.pt`` (width 16, two downsamplings, 8-d codes: the registered spaces'
    dimensions 256 and 16); untrained, every style code renders differently, which the plumbing tests need."""
    torch.manual_seed(0)
    net = Munit(width=16, downs=2, res_blocks=1, style_dim=8, mlp_dim=16, style_downs=3).eval()
    torch.save({"state": {"net": net.state_dict()}, "meta": net.spec}, tmp_path / "munit.pt")
    ship(tmp_path, monkeypatch, {})
    return net


def test_the_content_code_ignores_a_brightness_shift_and_the_style_code_does_not() -> None:
    torch.manual_seed(0)
    net = Munit(width=8, downs=2, res_blocks=1, style_dim=8, mlp_dim=16, style_downs=3).photo.eval()
    image = torch.rand(1, 3, 32, 32) * 0.5
    with torch.no_grad():
        # instance norm after the first conv removes any per-channel constant; a shift of the input is one
        torch.testing.assert_close(net.content(image + 0.3), net.content(image), atol=1e-4, rtol=1e-4)
        assert (net.style(image + 0.3) - net.style(image)).abs().max() > 1e-3
        codes = net.content(image)
        assert codes.shape == (1, 32, 8, 8)
        # the decoder reads the style code: two codes, two renderings of one content code
        a, b = net.decoder(codes, torch.zeros(1, 8)), net.decoder(codes, torch.ones(1, 8))
        assert a.shape == (1, 3, 32, 32) and float(a.min()) >= 0 and float(a.max()) <= 1
        assert (a - b).abs().mean() > 1e-3


def test_unpaired_training_lowers_reconstruction_and_cycle_losses(run) -> None:
    for key in ("image", "cycle"):
        first, last = (np.mean([row[key] for row in rows]) for rows in (run.history[:10], run.history[-10:]))
        assert last < 0.7 * first, key
    state, meta = load_weights(run.weights)
    assert list(state) == ["net"] and meta["width"] == 8 and meta["style_dim"] == 8 and meta["paintings"] == 3
    assert run.record["heldout_photos"] >= 4 and 0 < run.record["heldout_mean_change"] < 1


def test_a_resumed_munit_run_continues_exactly(media: dict[str, Path], tmp_path: Path) -> None:
    full = _train(tmp_path / "full", media, steps=4, checkpoint_every=2)
    _train(tmp_path / "cut", media, steps=2, checkpoint_every=2)
    resumed = _train(tmp_path / "cut", media, steps=4, checkpoint_every=2)  # drawn style codes and judges restored
    for key in ("total", "judges", "style"):
        np.testing.assert_allclose([r[key] for r in resumed.history], [r[key] for r in full.history], rtol=1e-4)


def _tensor(img: Image.Image, size: tuple[int, int], pad: tuple[int, int]) -> torch.Tensor:
    """``img`` resized to ``size`` [1, 3, h, w] in 0..1, reflection-padded by ``pad`` (right, bottom)."""
    x = np.asarray(img.convert("RGB").resize(size, Image.Resampling.LANCZOS), np.float32) / 255
    return torch.nn.functional.pad(torch.from_numpy(x).permute(2, 0, 1)[None], (0, pad[0], 0, pad[1]), mode="reflect")


def test_transfer_renders_in_the_style_images_code_with_one_line_errors(shipped: Munit, media) -> None:
    photo, painting = Image.open(media["photo"]), Image.open(media["painting"])
    blue = Image.new("RGB", (40, 40), (0, 0, 255))
    out = transfer("munit", photo, [painting, blue], size=37, style_size=40, weights="0.75,0.25")
    assert out.size == (37, 34)  # the photo's aspect ratio at the asked long side (the network pads to 8)
    # what it is: the photo encoder's content code decoded by the painting decoder with the style images' codes,
    # mixed by the weights
    with torch.no_grad():
        code = shipped.photo.content(_tensor(photo, (37, 34), (3, 6)))
        style = (0.75 * shipped.painting.style(_tensor(painting, (40, 36), (0, 4)))
                 + 0.25 * shipped.painting.style(_tensor(blue, (40, 40), (0, 0))))  # fmt: skip
        expected = shipped.painting.decoder(code, style)[0, :, :34, :37].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(np.asarray(out, np.float32) / 255, expected, atol=1 / 255)
    for kwargs, message in (({"style": None}, "needs at least one --style IMAGE"),
                            ({"style": painting, "style_name": "x"}, "has no named styles")):  # fmt: skip
        with pytest.raises(TransferError, match=message) as err:
            transfer("munit", photo, size=32, **kwargs)
        assert "\n" not in str(err.value)


def test_the_code_spaces_embed_unit_vectors_once_the_network_ships(shipped: Munit, media) -> None:
    embedder = Embedder(["munit_style", "munit_content", "adain"], image_size=32)
    images = [Image.open(media["photo"]).convert("RGB"), Image.open(media["painting"]).convert("RGB")]
    vectors = embedder.embed(images)
    for name in ("munit_style", "munit_content"):
        assert vectors[name].shape == (2, SPACES[name].dim)
        np.testing.assert_allclose(np.linalg.norm(vectors[name], axis=1), 1, atol=1e-5)
    # the fingerprint follows the weights: another file, another fingerprint
    before = embedder.fingerprints()["munit_style"]
    path = weights_mod.WEIGHTS_DIR / "munit.pt"
    state = torch.load(path, weights_only=True)
    state["meta"]["retrained"] = True
    torch.save(state, path)
    assert Embedder(["munit_style"], image_size=32).fingerprints()["munit_style"] != before


def test_without_weights_the_spaces_and_method_name_the_training_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", tmp_path)
    assert unavailable_reason(SPACES["munit_content"]) == (
        "space 'munit_content' needs the trained MUNIT: run `styledex train munit` and ship munit.pt")
    with pytest.raises(SpaceUnavailable, match="styledex train munit"):
        Embedder(["munit_style"])
    with pytest.raises(TransferError, match="needs trained weights") as err:
        transfer("munit", Image.new("RGB", (32, 32)), Image.new("RGB", (32, 32)), size=32)
    assert "\n" not in str(err.value)
