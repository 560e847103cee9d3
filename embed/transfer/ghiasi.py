"""``ghiasi``: arbitrary stylization with the pretrained Magenta style predictor and transformer (Ghiasi et al.
2017), see :func:`styledex.embed.transfer.pretrained.ghiasi`.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from styledex.embed.onnx_nets import PREDICT_MODEL, TRANSFORM_MODEL, model_path
from styledex.embed.transfer.pretrained import ghiasi
from styledex.embed.transfer.registry import TransferError, transfer_method


@transfer_method(
    "ghiasi",
    kind="arbitrary",
    description="Ghiasi et al. 2017: the pretrained Magenta style predictor + transformer, any style image",
    weights=lambda: str(model_path(TRANSFORM_MODEL)),
    extra={"predictor_weights": lambda: str(model_path(PREDICT_MODEL))},
)
def stylize(
    content: Image.Image,
    styles: Sequence[Image.Image],
    style_name: str | None,
    size: int,
    *,
    strength: float = 1.0,
    weights: str | Sequence[float] | None = None,
) -> Image.Image:
    """``content`` in the mixture of ``styles`` (by ``weights``), ``strength`` 0..1 of the way from its own style."""
    if style_name is not None:
        raise TransferError("method 'ghiasi' has no named styles; give --style IMAGE")
    return ghiasi(content, styles, size, strength=strength, weights=weights)
