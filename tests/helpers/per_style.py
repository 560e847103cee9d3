"""What every per-style transfer method (johnson, pix2pix, cyclegan) must do once a network ships."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
from PIL import Image

from styledex.embed.transfer import TransferError
from styledex.embed.transfer import weights as weights_mod
from styledex.embed.transfer.imaging import fit_long_side
from styledex.embed.transfer.registry import METHODS


def ship(folder: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, Path]) -> None:
    """Point the shipped-weights folder (and its ``styles/``) at ``folder`` and copy ``files`` (name there →
    source) into it, as ``scripts/ship_weights.py`` would ship a run."""
    (folder / "styles").mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        shutil.copy(source, folder / name)
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", folder)
    monkeypatch.setattr(weights_mod, "STYLES_DIR", folder / "styles")


def check_per_style_method(method: str, look: str, photo: Image.Image, style_image: Path) -> None:
    """``method`` with one shipped network for ``look``: available, listed with ``style_image``, rendering at the
    asked size (also one its network must pad to), and one-line errors for a style image, an unknown look, none."""
    spec = METHODS[method]
    stylize = importlib.import_module(spec.module).stylize
    assert spec.is_available() and spec.kind == "per-style"
    assert spec.styles() == [{"name": look, "style_image": str(style_image)}]
    for size in (32, 37):
        assert stylize(photo, [], look, size).size == fit_long_side(photo, size).size
    for call, message in (((photo, [photo], look, 32), f"per-style.*{look}"),
                          ((photo, [], "nope", 32), f"no style 'nope'; trained: {look}"),
                          ((photo, [], None, 32), "needs --style-name")):  # fmt: skip
        with pytest.raises(TransferError, match=message) as err:
            stylize(*call)
        assert "\n" not in str(err.value)
