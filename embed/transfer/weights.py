"""The weights styledex trains and ships (``embed/weights/``, installed as package data).

Each ``<name>.pt`` is ``{"state": {module: state_dict}, "meta": {...}}`` (fp16 tensors unless recorded otherwise)
with ``<name>.json`` beside it: the config, data, steps and losses of the run that made it (``styledex train``).
Style images the per-style models were trained on are in ``embed/weights/styles/``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import torch

from styledex.embed.model_cache import MODELS
from styledex.embed.transfer.registry import TransferError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
STYLES_DIR = WEIGHTS_DIR / "styles"


def shipped(name: str) -> Path | None:
    """``embed/weights/<name>.pt`` when it exists."""
    path = WEIGHTS_DIR / f"{name}.pt"
    return path if path.is_file() else None


def shipped_file(name: str) -> str | None:
    """:func:`shipped` as a string, for ``styledex models`` (``None`` when not shipped)."""
    path = shipped(name)
    return str(path) if path else None


def shipped_with_prefix(prefix: str) -> list[Path]:
    """Every shipped weight file whose stem starts with ``prefix`` (``johnson_`` → one per trained style)."""
    return sorted(WEIGHTS_DIR.glob(f"{prefix}*.pt"))


def recorded_styles(name: str, key: str) -> list[dict[str, str | None]]:
    """``[{"name", "style_image"}]`` of the styles the shipped ``<name>.pt`` names under ``key`` of its record
    (``<name>.json`` beside it; the weight file's meta without one), no weights loaded: each ``style_image`` (a
    path relative to the weights folder, ``styles/<file>``) resolved, None when that file is missing; [] when
    nothing ships. Stylebank's bank (``styles``) and MIXGAN's domains (``domains``)."""
    import json

    path = shipped(name)
    if path is None:
        return []
    record = path.with_suffix(".json")
    meta = json.loads(record.read_text()) if record.is_file() else load_weights(path)[1]
    out: list[dict[str, str | None]] = []
    for style in meta.get(key, []):
        image = WEIGHTS_DIR / style["style_image"] if style.get("style_image") else None
        out.append({"name": style["name"], "style_image": str(image) if image and image.is_file() else None})
    return out


def file_digest(path: Path | str) -> str:
    """16 hex digits of the SHA-256 of the file ``path`` (a weight file: part of a space's fingerprint), read once
    per (path, modification time, size): a retrained file gets a new digest, an unchanged one is not read again."""
    stat = Path(path).stat()
    return _digest(str(path), stat.st_mtime_ns, stat.st_size)


@cache
def _digest(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _to_float(state: Any) -> Any:
    if isinstance(state, dict):
        return {k: _to_float(v) for k, v in state.items()}
    if isinstance(state, torch.Tensor) and state.is_floating_point():
        return state.float()
    return state


def load_weights(path: Path | str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state, meta) of a weight file written by ``styledex train``, tensors as float32 on the CPU."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise ValueError(f"cannot read weights {path}: {exc}") from None
    if not isinstance(blob, dict) or "state" not in blob:
        raise ValueError(f"{path} is not a styledex weight file (expected keys 'state' and 'meta')")
    return _to_float(blob["state"]), blob.get("meta", {})


def load_model(
    path: Path | str,
    device: torch.device | str,
    build: Callable[[dict[str, Any], dict[str, Any]], torch.nn.Module],
    kind: str,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``build(state, meta)`` of the weight file ``path``, in eval mode on ``device``, and its meta.

    Cached per (file, modification time, device), so a service loads each network once and a retrained file is
    picked up. A missing or foreign file is a one-line :class:`TransferError` naming ``kind``.
    """
    path = Path(path)
    try:
        key = ("transfer", str(path.resolve()), path.stat().st_mtime_ns, str(device))
    except OSError:
        raise TransferError(f"no such {kind} weight file: {path}") from None

    def load() -> tuple[torch.nn.Module, dict[str, Any]]:
        try:
            state, meta = load_weights(path)
            net = build(state, meta)
        except (ValueError, KeyError, RuntimeError, TypeError) as exc:
            raise TransferError(f"{path} is not a {kind} weight file: {str(exc).splitlines()[0]}") from None
        return net.to(device).eval().requires_grad_(False), meta

    return MODELS.get_or_load(key, load)
