"""The embedder with kept aspect ratios and the learned heads on the real VGG19 (small images, seconds): squashed
catalogs keep their fingerprints, a batch of mixed sizes gives each image the vector it gets alone, and a head
space computes exactly head(inputs(VGG19(image)))."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from styledex.embed import heads
from styledex.embed.embedder import Embedder
from styledex.embed.heads import ContentHead, StyleHead, content_head_inputs, style_head_inputs
from styledex.embed.model_cache import MODELS
from styledex.embed.spaces import SPACES
from styledex.embed.vgg import weights_fingerprint
from styledex.search import CatalogSpaces


def _image(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_squashed_embedders_keep_the_fingerprints_catalogs_were_built_with() -> None:
    squash = Embedder(["adain", "content"], image_size=64, aspect="squash", device="cpu").fingerprints()
    keep = Embedder(["adain", "content"], image_size=64, aspect="keep", device="cpu").fingerprints()
    for name in ("adain", "content"):
        assert squash[name] == SPACES[name].fingerprint(f"vgg:{weights_fingerprint()}:64")
        assert keep[name] != squash[name]


def test_a_catalog_without_an_aspect_setting_was_embedded_squashed() -> None:
    class Meta:
        def get_meta(self, key: str) -> dict:
            return {"spaces": {"adain": "x"}, "image_size": 256}

    assert CatalogSpaces.of(Meta()).aspect == "squash"  # type: ignore[arg-type]


def test_square_images_embed_the_same_either_way() -> None:
    img = _image(80, 80, 0)
    a = Embedder(["adain"], image_size=64, aspect="keep", device="cpu", precision="fp32").embed([img])["adain"]
    b = Embedder(["adain"], image_size=64, aspect="squash", device="cpu", precision="fp32").embed([img])["adain"]
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_mixed_batch_gives_each_image_its_own_vector() -> None:
    embedder = Embedder(["adain", "content"], image_size=64, aspect="keep", device="cpu", precision="fp32")
    images = [_image(128, 64, 1), _image(64, 64, 2), _image(120, 60, 3), _image(60, 100, 4)]
    together = embedder.embed(images)
    for i, img in enumerate(images):
        alone = embedder.embed([img])
        for space in ("adain", "content"):
            np.testing.assert_allclose(together[space][i], alone[space][0], atol=1e-5)
    wide = embedder.embed([_image(128, 64, 1)])["adain"][0]
    squashed = Embedder(["adain"], image_size=64, aspect="squash", device="cpu", precision="fp32")
    assert float(wide @ squashed.embed([_image(128, 64, 1)])["adain"][0]) < 1 - 1e-4  # not stretched any more


@pytest.fixture
def shipped_heads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Randomly initialized heads saved as the trainer exports them (the style head with a painting member, as
    scripts/fit_whitening.py adds it), in a temporary weights folder."""
    torch.manual_seed(0)
    monkeypatch.setattr(heads, "WEIGHTS_DIR", tmp_path)
    style = StyleHead(dim=128, hidden=32, members=3)
    whitening = heads.StatsWhitening(32)
    whitening.fit(torch.rand(200, heads.STYLE_STATS_DIM), shrinkage=0.003)
    style.attach_paintings(whitening, 0.7)
    for name, head in ((heads.STYLE_HEAD, style), (heads.CONTENT_HEAD, ContentHead(256, 32, 24))):
        state = {k: v.half() for k, v in head.state_dict().items()}
        meta = {"dim": 128, "hidden": 32, "members": 3, "painting_dim": 32} if name == heads.STYLE_HEAD else {
            "dim": 256, "hidden": 32, "reduced": 24,
        }  # fmt: skip
        torch.save({"state": {"head": state}, "meta": meta}, tmp_path / f"{name}.pt")
    MODELS.clear()
    yield tmp_path
    MODELS.clear()


def test_head_spaces_compute_the_head_over_the_shared_forward(shipped_heads: Path) -> None:
    img = _image(96, 64, 5)
    embedder = Embedder(["style_head", "content_head"], image_size=64, device="cpu", precision="fp32")
    out = embedder.embed([img])
    with torch.inference_mode():
        feats = embedder.vgg_features([img])
        style = heads.load_head(heads.STYLE_HEAD)(style_head_inputs(feats))
        content = heads.load_head(heads.CONTENT_HEAD)(content_head_inputs(feats))
    np.testing.assert_allclose(out["style_head"][0], style[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(out["content_head"][0], content[0].numpy(), atol=1e-5)
    assert out["style_head"].shape == (1, 416) and out["content_head"].shape == (1, 256)  # 3 members × 128 + 32


def test_a_retrained_head_changes_its_space_fingerprint(shipped_heads: Path) -> None:
    before = Embedder(["style_head", "adain"], image_size=64, device="cpu").fingerprints()
    path = shipped_heads / "style_head.pt"
    saved = torch.load(path, weights_only=True)
    saved["state"]["head"]["members.0.0.bias"] += 1
    torch.save(saved, path)
    after = Embedder(["style_head", "adain"], image_size=64, device="cpu").fingerprints()
    assert after["style_head"] != before["style_head"] and after["adain"] == before["adain"]


def test_a_style_head_without_its_painting_member_is_refused_with_the_fix(shipped_heads: Path) -> None:
    torch.save({"state": {"head": StyleHead(dim=128, hidden=32, members=3).state_dict()},
                "meta": {"dim": 128, "hidden": 32, "members": 3}}, shipped_heads / "style_head.pt")  # fmt: skip
    MODELS.clear()
    embedder = Embedder(["style_head"], image_size=64, device="cpu", precision="fp32")
    with pytest.raises(ValueError, match=r"gives 384-d vectors, its space expects 416: run `styledex train "
                                         r"style-head; python scripts/fit_whitening.py`"):  # fmt: skip
        embedder.embed([_image(64, 64, 0)])
