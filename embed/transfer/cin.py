"""``cin``: the pretrained 26-style conditional-instance-norm network (Dumoulin et al. 2017).

Two ways to pick the style:

- ``--style-name``: one of the 26 learned styles (``"7"``) or a mixture (``"3:0.5,7:0.5"``), rendered by the ONNX
  network (:func:`styledex.embed.transfer.pretrained.cin`);
- ``--style IMAGE`` (once the style predictor is trained: ``styledex train cin-predictor``): γ/β predicted from
  each style image (:mod:`styledex.embed.cin_predictor`), mixed by ``weights``, rendered by the torch port
  (:mod:`styledex.embed.cin_net`, CUDA when available).

``strength`` (0..1, needs the predictor) moves γ/β from the content image's own predicted γ/β (0) to the
style's (1), as Ghiasi et al. do with their style vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from styledex.embed.cin_net import cin_net, mixture_gamma_beta
from styledex.embed.cin_predictor import WEIGHTS_NAME as PREDICTOR_WEIGHTS
from styledex.embed.cin_predictor import PredictorMissing, predict_gamma_beta
from styledex.embed.onnx_nets import CIN_MODEL, NUM_CIN_STYLES, model_path
from styledex.embed.transfer.imaging import fit_long_side, pick_device, to_image, to_tensor
from styledex.embed.transfer.pretrained import cin, parse_mixture, parse_weights
from styledex.embed.transfer.registry import TransferError, transfer_method
from styledex.embed.transfer.weights import shipped_file


def _predict(images: Sequence[Image.Image], device: torch.device) -> torch.Tensor:
    try:
        return predict_gamma_beta(images, device=device)
    except PredictorMissing as exc:
        raise TransferError(f"method 'cin' with --style IMAGE or strength < 1: {exc}") from None


def _named_styles() -> list[dict[str, str | None]]:
    """The 26 pretrained styles, named by their index (no style images ship with the network)."""
    return [{"name": str(i), "style_image": None} for i in range(NUM_CIN_STYLES)]


@transfer_method(
    "cin",
    kind="multi-style",
    description="Dumoulin et al. 2017: the pretrained 26-style conditional-instance-norm network; mixtures by weight; "
    "any --style IMAGE through the trained style predictor (cin_predictor.pt; else named styles only)",
    weights=lambda: str(model_path(CIN_MODEL)),
    styles=_named_styles,
    train="styledex train cin-predictor",
    extra={"predictor_weights": lambda: shipped_file(PREDICTOR_WEIGHTS)},
)
def stylize(
    content: Image.Image,
    styles: Sequence[Image.Image],
    style_name: str | None,
    size: int,
    *,
    weights: str | Sequence[float] | None = None,
    strength: float = 1.0,
    device: str | None = None,
) -> Image.Image:
    """``content`` at ``size`` long side in a CIN style: ``style_name`` (``"7"``, ``"3:0.5,7:0.5"``) or the γ/β
    predicted from ``styles`` (mixed by ``weights``, default equal); ``strength`` 0..1 from the content's own
    γ/β to the style's. ``device``: ``cpu``/``cuda`` for the torch port (default: CUDA when available).
    """
    if styles and style_name is not None:
        raise TransferError("method 'cin' takes either --style IMAGE or --style-name, not both")
    if not styles and style_name is None:
        raise TransferError("method 'cin' needs --style-name (0..25 or a mixture such as 3:0.5,7:0.5) or --style IMAGE")
    if weights is not None and not styles:
        raise TransferError("--weights mixes --style images; with --style-name write the mixture as 3:0.5,7:0.5")
    strength = float(strength)
    if not 0.0 <= strength <= 1.0:
        raise TransferError(f"strength must be in 0..1, got {strength}")
    image = content.convert("RGB")
    if not styles and strength == 1.0:
        return cin(image, style_name, size)  # the ONNX network, exactly as before the predictor existed
    dev = pick_device(device)
    if styles:
        w = torch.from_numpy(parse_weights(weights, len(styles)))
        gamma_beta = w @ _predict(list(styles), dev)
    else:
        gamma_beta = mixture_gamma_beta(parse_mixture(style_name))  # type: ignore[arg-type]
    if strength < 1.0:
        gamma_beta = strength * gamma_beta + (1.0 - strength) * _predict([image], dev)[0]
    x = to_tensor(fit_long_side(image, size))[None].to(dev)
    with torch.inference_mode():
        y = cin_net(dev).stylize_padded(x, gamma_beta.to(dev))
    return to_image(y[0].float().cpu())

