"""Turn RGB images into unit vectors in every requested space, with one VGG19 forward per batch."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .spaces import SpaceSpec, SpaceUnavailable, resolve, unavailable_reason, vgg_feature_fn
from .vgg import VGG19Encoder, shared_encoder, weights_fingerprint


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; or an explicit torch device string."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


PRECISIONS = ("auto", "fp32", "bf16")


@cache
def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX-512 BF16 or AMX), read from /proc/cpuinfo's flags.

    Without it, bf16 convolutions are emulated: on this project's AVX2 machine bf16 VGG19 measured ~10x slower
    than fp32, so ``auto`` stays in fp32 there."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def use_bf16(device: torch.device, precision: str = "auto") -> bool:
    """Whether the VGG forward runs under bf16 autocast: ``bf16``/``fp32`` force it; ``auto`` = on CUDA, or on a
    CPU with native bf16 (:func:`cpu_supports_bf16`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_supports_bf16())


def images_to_tensor(
    images: Sequence[Image.Image], size: int, device: torch.device | str = "cpu", *, on_device: bool | None = None
) -> torch.Tensor:
    """RGB PIL images → [B, 3, size, size] float32 in 0..1 on ``device`` (bicubic resize, aspect not kept).

    ``on_device`` (default: when ``device`` is CUDA) uploads each image as uint8 at its own size and resizes it
    there (bicubic with antialiasing, as PIL does when shrinking; values agree with PIL's to ~1/255): measured on
    an H100, PIL's resize of a batch took ~10x longer than VGG19's forward pass on it, so the GPU sat idle.
    """
    dev = torch.device(device)
    if on_device is None:
        on_device = dev.type == "cuda"
    if not on_device:
        arrays = [np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)) for im in images]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0).to(dev)
    out = torch.empty(len(images), 3, size, size, device=dev)
    for i, im in enumerate(images):
        pixels = torch.from_numpy(np.array(im.convert("RGB"))).to(dev).permute(2, 0, 1).unsqueeze(0).float()
        out[i] = F.interpolate(pixels, size=(size, size), mode="bicubic", antialias=True, align_corners=False)[0]
    return out.clamp_(0.0, 255.0).div_(255.0)


class Embedder:
    """Embeds images into the given spaces.

    ``embed(images)`` → ``{space: float32 array [n, dim]}``, each row L2-normalized. VGG spaces share one forward
    pass per batch; the ``predictor`` space runs the Magenta ONNX network beside it. ``precision`` (see
    :func:`use_bf16`): with ``auto`` the forward runs under bf16 autocast on CUDA and on CPUs with native bf16, in
    fp32 elsewhere; the statistics are computed in fp32 either way. Precision is not part of a space's fingerprint:
    bf16 and fp32 vectors of one image agree to cosine > 0.99 (tests/models/test_embed.py), so a catalog may mix them.
    ``threads``: intra-op threads of the ONNX predictor's session; torch's process-wide thread count is the entry
    point's to set (:func:`styledex.embed.runtime.configure_threads`), not a constructor's.
    """

    def __init__(
        self,
        spaces: Sequence[str],
        *,
        image_size: int = 256,
        batch_size: int = 8,
        device: str = "auto",
        threads: int | None = None,
        precision: str = "auto",
    ) -> None:
        self.specs: list[SpaceSpec] = [resolve(name) for name in dict.fromkeys(spaces)]
        for spec in self.specs:
            reason = unavailable_reason(spec)
            if reason is not None:
                raise SpaceUnavailable(reason)
        self.image_size = image_size
        self.batch_size = batch_size
        self.device = pick_device(device)
        self.bf16 = use_bf16(self.device, precision)
        self._vgg_specs = [s for s in self.specs if s.source == "vgg"]
        self._fns = {s.name: vgg_feature_fn(s) for s in self._vgg_specs}
        self._encoder: VGG19Encoder | None = None
        self._predictor = None
        self._threads = threads

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def fingerprints(self) -> dict[str, str]:
        """Space name → fingerprint of weights + parameters (+ the input size, which changes the vectors)."""
        out = {}
        for spec in self.specs:
            if spec.source == "vgg":
                weights = f"vgg:{weights_fingerprint()}:{self.image_size}"
            elif spec.source == "cin":
                from .cin_predictor import predictor_fingerprint

                weights = f"cin-predictor:{predictor_fingerprint()}"  # its input side is fixed by the weights
            else:
                weights = "magenta-onnx"
            out[spec.name] = spec.fingerprint(weights)
        return out

    def _vgg(self) -> VGG19Encoder:
        if self._encoder is None:
            layers = sorted({layer for s in self._vgg_specs for layer in s.layers})
            self._encoder = shared_encoder(layers, self.device)
            if self.device.type == "cuda":
                self._encoder = self._encoder.to(memory_format=torch.channels_last)
        return self._encoder

    def _predictor_net(self):  # noqa: ANN202 - the ONNX wrapper's type lives in onnx_nets
        if self._predictor is None:
            from .onnx_nets import MagentaPredictor

            self._predictor = MagentaPredictor(threads=self._threads)
        return self._predictor

    def embed(self, images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        out: dict[str, list[np.ndarray]] = {s.name: [] for s in self.specs}
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            for name, vectors in self._embed_batch(batch).items():
                out[name].append(vectors)
        return {
            s.name: np.concatenate(out[s.name]) if out[s.name] else np.zeros((0, s.dim), np.float32) for s in self.specs
        }

    def _embed_batch(self, images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        result: dict[str, np.ndarray] = {}
        if self._vgg_specs:
            x = images_to_tensor(images, self.image_size, self.device)
            autocast = (
                torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
            )
            with torch.inference_mode():
                if self.device.type == "cuda":
                    x = x.contiguous(memory_format=torch.channels_last)
                with autocast:
                    feats = self._vgg()(x)
                # The statistics run outside autocast: under it their matrix products would round to bf16.
                for spec in self._vgg_specs:
                    vectors = F.normalize(self._fns[spec.name](feats).float(), dim=1)
                    result[spec.name] = vectors.cpu().numpy()
        for spec in self.specs:
            if spec.source == "predictor":
                raw = torch.from_numpy(self._predictor_net().predict(list(images)))
                result[spec.name] = F.normalize(raw.float(), dim=1).numpy()
            elif spec.source == "cin":
                from .cin_predictor import predict_gamma_beta, search_vectors

                result[spec.name] = search_vectors(predict_gamma_beta(list(images), device=self.device)).numpy()
        for spec in self.specs:
            if result[spec.name].shape[1] != spec.dim:
                got = result[spec.name].shape[1]
                raise RuntimeError(f"space '{spec.name}' produced dim {got}, expected {spec.dim}")
        return result


def aggregate_frames(frame_vectors: np.ndarray) -> np.ndarray:
    """Video-level vector from per-frame unit vectors [F, dim]: their mean, re-normalized → [dim]."""
    mean = frame_vectors.astype(np.float64).mean(axis=0)
    norm = np.linalg.norm(mean)
    return (mean / norm if norm > 0 else mean).astype(np.float32)
