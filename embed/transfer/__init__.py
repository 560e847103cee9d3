"""Neural style transfer: ``transfer(method, content, style, style_name, size, **options)`` and the method registry.

Methods available now: ``gatys`` (optimization on VGG19), ``ghiasi`` (pretrained Magenta networks), ``cin``
(pretrained 26-style network). The others (johnson, adain, wct, stylebank) need trained weights.

This package imports nothing from styledex outside ``styledex.embed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from styledex.embed.transfer.registry import METHODS, MethodSpec, TransferError, get_method, list_models

__all__ = ["METHODS", "MethodSpec", "TransferError", "get_method", "list_models", "transfer"]


def transfer(
    method: str,
    content: Image.Image,
    style: Image.Image | Sequence[Image.Image] | None = None,
    style_name: str | None = None,
    size: int = 512,
    **options: Any,
) -> Image.Image:
    """``content`` rendered in a style, long side ``size`` pixels.

    Args:
        method: ``gatys``, ``ghiasi`` or ``cin`` (see :data:`METHODS`).
        style: a style image (``ghiasi`` also takes several, mixed by ``weights="0.5,0.5"``).
        style_name: a named style of a multi-style method (``cin``: ``"7"`` or ``"3:0.5,7:0.5"``).
        options: per method: ``gatys``: see :func:`~styledex.embed.transfer.gatys.style_transfer`;
            ``ghiasi``: ``strength`` (0..1), ``weights``.

    Raises :class:`TransferError` for a request the caller can fix.
    """
    get_method(method)
    if size < 16:
        raise TransferError(f"size must be at least 16 px, got {size}")
    styles = [] if style is None else [style] if isinstance(style, Image.Image) else list(style)
    if method == "cin":
        if styles:
            raise TransferError(
                "method 'cin' takes --style-name (0..25 or a mixture 3:0.5,7:0.5); --style IMAGE needs the "
                "cin style predictor (styledex train cin-predictor), not available yet"
            )
        if style_name is None:
            raise TransferError("method 'cin' needs --style-name (0..25 or a mixture such as 3:0.5,7:0.5)")
        _no_options(method, options)
        from styledex.embed.transfer.pretrained import cin

        return cin(content, style_name, size)
    if style_name is not None:
        raise TransferError(f"method {method!r} has no named styles; give --style IMAGE")
    if method == "ghiasi":
        from styledex.embed.transfer.pretrained import ghiasi

        _no_options(method, options, {"strength", "weights"})
        return ghiasi(content, styles, size, **options)
    # gatys
    if len(styles) != 1:
        raise TransferError("method 'gatys' needs exactly one --style IMAGE")
    import inspect

    from styledex.embed.transfer.gatys import style_transfer

    params = inspect.signature(style_transfer).parameters
    _no_options(method, options, {name for name, p in params.items() if p.kind is p.KEYWORD_ONLY})
    return style_transfer(content, styles[0], size, **options).image


def _no_options(method: str, options: dict[str, Any], allowed: set[str] = frozenset()) -> None:
    extra = sorted(set(options) - set(allowed))
    if extra:
        raise TransferError(f"method {method!r} does not take option(s) {', '.join(extra)}")
