"""The CIN style predictor: style image → the 990 γ/β of the 26-style CIN network (:mod:`.cin_net`).

Ghiasi et al. (2017) train a style-prediction network jointly with a conditional-instance-norm transformer;
here the transformer is the pretrained 26-style network, kept frozen, and only the predictor is trained
(``styledex train cin-predictor``, weights shipped as ``embed/weights/cin_predictor.pt``). Its input is
cheap on a CPU: the per-channel mean and standard deviation of the frozen VGG19's relu1_1…relu4_1 maps of the
style image (1920 values), standardized with constants measured on the training paintings, then an MLP with
Ghiasi's 100-d bottleneck. The output is ``anchor mean + anchor std ⊙ delta``: the 26 styles' average γ/β plus
a learned offset in units of how much each γ/β varies across the 26 styles (the last layer starts near zero, so
training starts from the average style).

The same vectors make the ``cin`` embedding space (:func:`search_vectors`): γ/β minus the anchors' mean,
divided by the anchors' std (each of the 990 values counts by how far it is from the average style relative to
the spread of the 26 learned styles), then L2-normalized. The 26 pretrained styles themselves are points of the
space (:func:`anchor_vectors`), usable as queries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .cin_net import GAMMA_BETA_DIM, anchor_gamma_beta
from .model_cache import MODELS
from .stats import mean_std
from .vgg import LAYER_CHANNELS, shared_encoder

__all__ = [
    "INPUT_DIM",
    "PREDICTOR_LAYERS",
    "TRAIN_COMMAND",
    "WEIGHTS_NAME",
    "CINStylePredictor",
    "PredictorMissing",
    "anchor_vectors",
    "load_predictor",
    "predict_gamma_beta",
    "predictor_fingerprint",
    "predictor_path",
    "search_vectors",
    "style_statistics",
]

PREDICTOR_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
INPUT_DIM = 2 * sum(LAYER_CHANNELS[layer] for layer in PREDICTOR_LAYERS)  # 1920
WEIGHTS_NAME = "cin_predictor"
TRAIN_COMMAND = "styledex train cin-predictor"
DEFAULT_INPUT_SIDE = 160  # the training crops' scale: paintings loaded at a short side of 160 px
# VGG statistics are on the 0..255 (Caffe) scale; over the training paintings the least varying one has std 2.8.
# A statistic that varies less than 1 carries no style worth amplifying (and a tiny pool would blow it up).
INPUT_STD_FLOOR = 1.0
ANCHOR_STD_FLOOR = 1e-3  # no γ/β of the 26 styles is this constant (smallest std 0.10); guards the division


class PredictorMissing(FileNotFoundError):
    """The predictor's weight file is not shipped; the message names the command that trains it."""


@cache
def _anchor_stats() -> tuple[torch.Tensor, torch.Tensor]:
    """(mean [990], std [990]) of the 26 styles' γ/β (population std, floored)."""
    table = anchor_gamma_beta()
    return table.mean(0), table.std(0, unbiased=False).clamp_min(ANCHOR_STD_FLOOR)


def style_statistics(features: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The predictor's input from VGG19 features: per layer of :data:`PREDICTOR_LAYERS`, channel means then
    stds (:func:`~styledex.embed.stats.mean_std`, fp32), concatenated: [B, 1920]."""
    parts = []
    for layer in PREDICTOR_LAYERS:
        mean, std = mean_std(features[layer])
        parts += [mean, std]
    return torch.cat(parts, dim=1)


def search_vectors(gamma_beta: torch.Tensor) -> torch.Tensor:
    """γ/β [B, 990] → unit vectors [B, 990] of the ``cin`` space: (γβ − anchor mean) / anchor std, L2-normalized.

    The exact average of the 26 styles maps to the zero vector (F.normalize leaves it zero).
    """
    mean, std = _anchor_stats()
    centred = (gamma_beta.float() - mean.to(gamma_beta.device)) / std.to(gamma_beta.device)
    return F.normalize(centred, dim=-1)


def anchor_vectors(weights: np.ndarray | torch.Tensor) -> np.ndarray:
    """The ``cin``-space unit vector [990] float32 of a mixture ``weights`` [26] of the pretrained styles."""
    w = torch.as_tensor(np.asarray(weights, dtype=np.float32)).reshape(1, -1)
    return search_vectors(w @ anchor_gamma_beta())[0].numpy()


class CINStylePredictor(nn.Module):
    """Style statistics [B, 1920] (:func:`style_statistics`) → γ/β [B, 990] of :class:`~.cin_net.CINNet`.

    Layers: standardize (buffers ``in_mean``/``in_std``, set by the trainer from the training paintings) →
    Linear(1920, hidden) → ReLU → Linear(hidden, bottleneck) (linear: Ghiasi's 100-d style embedding) →
    Linear(bottleneck, 990) = delta → anchor mean + anchor std ⊙ delta.
    """

    def __init__(self, hidden: int = 512, bottleneck: int = 100) -> None:
        super().__init__()
        self.hidden, self.bottleneck = hidden, bottleneck
        self.register_buffer("in_mean", torch.zeros(INPUT_DIM))
        self.register_buffer("in_std", torch.ones(INPUT_DIM))
        mean, std = _anchor_stats()
        # Derived from the ONNX file every time, never saved: the shipped weights stay valid offsets from it.
        self.register_buffer("anchor_mean", mean.clone(), persistent=False)
        self.register_buffer("anchor_std", std.clone(), persistent=False)
        self.encode = nn.Sequential(nn.Linear(INPUT_DIM, hidden), nn.ReLU(), nn.Linear(hidden, bottleneck))
        self.head = nn.Linear(bottleneck, GAMMA_BETA_DIM)
        with torch.no_grad():  # start near the average style: a small but non-zero head keeps gradients flowing
            self.head.weight.mul_(0.01)
            self.head.bias.zero_()

    def set_input_normalization(self, stats: torch.Tensor) -> None:
        """Standardize inputs with the mean/std over rows of ``stats`` [N, 1920] (std floored at INPUT_STD_FLOOR)."""
        with torch.no_grad():
            self.in_mean.copy_(stats.float().mean(0))
            self.in_std.copy_(stats.float().std(0, unbiased=False).clamp_min(INPUT_STD_FLOOR))

    def delta(self, stats: torch.Tensor) -> torch.Tensor:
        """The offset from the average style in anchor-std units [B, 990]."""
        return self.head(self.encode((stats.float() - self.in_mean) / self.in_std))

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.anchor_mean + self.anchor_std * self.delta(stats)

    def spec(self) -> dict[str, Any]:
        """The architecture, for the weight file's meta (plain JSON types)."""
        return {
            "input": f"VGG19 per-channel mean and std at {', '.join(PREDICTOR_LAYERS)} ({INPUT_DIM} values)",
            "input_dim": INPUT_DIM,
            "layers": list(PREDICTOR_LAYERS),
            "hidden": self.hidden,
            "bottleneck": self.bottleneck,
            "output_dim": GAMMA_BETA_DIM,
            "output": "26-style anchor mean + anchor std * delta (γ/β layout: styledex.embed.cin_net)",
        }


# -- the shipped predictor -----------------------------------------------------------------------------------


def predictor_path() -> Path | None:
    """``embed/weights/cin_predictor.pt`` when shipped."""
    from .transfer.weights import shipped

    return shipped(WEIGHTS_NAME)


def _require_path(path: Path | str | None) -> Path:
    found = Path(path) if path is not None else predictor_path()
    if found is None or not found.is_file():
        raise PredictorMissing(f"the cin style predictor is not trained yet: run `{TRAIN_COMMAND}` and ship "
                               f"its {WEIGHTS_NAME}.pt in embed/weights/")
    return found


def predictor_fingerprint(path: Path | str | None = None) -> str:
    """16 hex digits of the weight file's SHA-256 (:class:`PredictorMissing` when there is none)."""
    from .transfer.weights import file_digest

    return file_digest(_require_path(path))


def _load(path: str, device: str) -> tuple[CINStylePredictor, dict[str, Any]]:
    from .transfer.weights import load_weights

    state, meta = load_weights(path)
    arch = meta.get("architecture", {})
    net = CINStylePredictor(int(arch.get("hidden", 512)), int(arch.get("bottleneck", 100)))
    net.load_state_dict(state["predictor"])
    return net.to(device).eval().requires_grad_(False), meta


def load_predictor(
    path: Path | str | None = None, device: torch.device | str = "cpu"
) -> tuple[CINStylePredictor, dict[str, Any]]:
    """(predictor, meta) from ``path`` (default: the shipped file), cached per file and device."""
    found = _require_path(path)
    where, dev = str(found), str(device)
    # The modification time is part of the key: a retrained file is loaded again.
    return MODELS.get_or_load(("cin_predictor", where, found.stat().st_mtime_ns, dev), lambda: _load(where, dev))


def _centre_square(img: Image.Image, side: int) -> np.ndarray:
    """RGB image → (side, side, 3) float32 0..1: short side resized to ``side`` (Lanczos), centre square."""
    img = img.convert("RGB")
    scale = side / min(img.size)
    w, h = max(side, round(img.width * scale)), max(side, round(img.height * scale))
    img = img.resize((w, h), Image.Resampling.LANCZOS)
    left, top = (w - side) // 2, (h - side) // 2
    return np.asarray(img.crop((left, top, left + side, top + side)), dtype=np.float32) / 255.0


def predict_gamma_beta(
    images: Sequence[Image.Image],
    *,
    device: torch.device | str = "cpu",
    path: Path | str | None = None,
) -> torch.Tensor:
    """γ/β [n, 990] (float32, CPU) of ``images`` with the shipped predictor.

    Each image is seen as in training: short side resized to the run's ``load_side`` (meta ``input_side``,
    default 160 px), centre square, VGG19 statistics, predictor. Raises :class:`PredictorMissing` when the
    weights are not shipped.
    """
    net, meta = load_predictor(path, device)
    if not len(images):
        return torch.zeros(0, GAMMA_BETA_DIM)
    side = int(meta.get("input_side", DEFAULT_INPUT_SIDE))
    x = torch.from_numpy(np.stack([_centre_square(im, side) for im in images])).permute(0, 3, 1, 2)
    with torch.inference_mode():
        feats = shared_encoder(PREDICTOR_LAYERS, device)(x.to(device))
        return net(style_statistics(feats)).float().cpu()
