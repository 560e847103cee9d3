"""Neural style transfer: ``transfer(method, content, style, style_name, size, **options)`` and the method registry.

Every method lives in its own module of this package with a ``stylize(content, styles, style_name, size,
**options) -> Image`` function (see :data:`~styledex.embed.transfer.registry.METHODS` for the list and
``styledex models``). Methods whose weights styledex trains are available once the weight file is shipped.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from PIL import Image

from styledex.embed.transfer.registry import (
    CHOICE_NOTE,
    METHODS,
    MethodSpec,
    TransferError,
    get_method,
    list_models,
)

__all__ = ["CHOICE_NOTE", "METHODS", "MethodSpec", "TransferError", "get_method", "list_models", "transfer"]


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
        method: a name of :data:`METHODS` (``styledex models``).
        style: a style image, or several (mixed by ``weights="0.5,0.5"`` where the method interpolates).
        style_name: a named style of a per-style or multi-style method (``cin``: ``"7"`` or ``"3:0.5,7:0.5"``).
        options: per method, the keyword arguments its ``stylize`` accepts (:attr:`MethodSpec.options`).

    Raises :class:`TransferError` for a request the caller can fix. A method that chose something on the
    caller's behalf says what in the returned image's ``info[CHOICE_NOTE]`` (mixgan: the trained look nearest a
    style image); `styledex transfer` prints it.
    """
    spec = get_method(method)
    if size < 16:
        raise TransferError(f"size must be at least 16 px, got {size}")
    styles = [] if style is None else [style] if isinstance(style, Image.Image) else list(style)
    extra = sorted(set(options) - set(spec.options()))
    if extra:
        raise TransferError(f"method {method!r} does not take option(s) {', '.join(extra)}")
    module = importlib.import_module(spec.module)
    return module.stylize(content, styles, style_name, size, **options)
