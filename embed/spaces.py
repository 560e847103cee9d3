"""The registry of embedding spaces: each one a named, versioned function from images to unit vectors.

Every space declares its kind (``style`` or ``content``), dimension, metric and preprocessing, and a fingerprint
of the weights and parameters it depends on; an index built with one fingerprint refuses vectors of another.
All vectors are L2-normalized float32, so the inner product is the cosine similarity (metric ``ip``).

Measured on ``styledex eval``'s grid (10 photos × 11 styles, VGG19 at 256×256; README has the full table):
- ``content``: instance-normalized relu5_1 (per-channel mean and std removed: the AdaIN view of style), average
  pooled to a 2×2 grid to keep coarse layout. A global average of the same map is mostly style (on that grid a
  global average of relu4_2 finds the same style at P@5 0.99 and the same content at 0.01).
- ``gram``: Gram matrices at relu1_1…relu5_1 after a fixed random orthonormal projection of each layer's channels
  (a sketch P G Pᵀ of the full Gram; no data needed to fit it), upper triangles, L2 per layer.
- ``adain``: per-channel mean and std at relu1_1…relu5_1, 2944 dims, L2 per layer.
- both style spaces weight relu5_1 by half (``STYLE_LAYER_WEIGHTS``): with equal weights its content-laden
  statistics pulled restyled video clips of the same source together (video style P@5 0.92 → 0.99).
- ``predictor``: the Magenta style-prediction network's 100-d vector (Ghiasi et al. 2017).
- ``munit_style`` / ``munit_content``: the style and content codes of styledex's trained MUNIT (Huang et al.
  2018; :mod:`.munit_space`), usable once ``embed/weights/munit.pt`` is shipped (``styledex train munit``).
- ``cin``: the 990 γ/β of the pretrained 26-style CIN network (Dumoulin et al. 2017) that styledex's trained
  style predictor assigns to the image (:mod:`.cin_predictor`), minus the 26 styles' mean γ/β, divided by their
  std, L2-normalized; the 26 styles (and their mixtures) are queries of the same space (``--anchor``). Usable
  once ``embed/weights/cin_predictor.pt`` is shipped (``styledex train cin-predictor``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from .stats import (
    blockwise_on_cpu,
    channels_last_blocks,
    gram_matrix,
    instance_normalize,
    shared_mean_std,
    upper_triangle,
)
from .vgg import LAYER_CHANNELS, STYLE_LAYERS

Kind = Literal["style", "content"]

# Feature dict (layer name → [B, C, H, W]) → vectors [B, dim]; not yet normalized.
VggFeatureFn = Callable[[Mapping[str, torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class SpaceSpec:
    """A named embedding space.

    ``source`` says which network feeds it: ``vgg`` (one shared VGG19 forward for all VGG spaces),
    ``predictor`` (the Magenta ONNX style predictor), ``cin`` (styledex's trained CIN style predictor, its own
    VGG19 forward at its training scale) or ``munit`` (styledex's trained MUNIT encoders,
    :mod:`.munit_space`). ``layers`` are the VGG layers it reads. Two hints for the index policy
    (``styledex.index.policy.choose_index``, passed by :meth:`index_hints`): ``pq_subvector_dims``, the smallest PQ
    sub-vector, in dimensions per code byte, of an ivfpq index of this space (None: the policy's default, 8);
    ``graph_dims``, the principal components an hnsw graph of this space may be built over when its whole vectors
    do not fit the memory budget (candidates re-scored with the exact vectors; None: never reduced).
    """

    name: str
    kind: Kind
    dim: int
    source: Literal["vgg", "predictor", "cin", "munit"]
    description: str
    preprocessing: str
    params: Mapping[str, object] = field(default_factory=dict)
    layers: tuple[str, ...] = ()
    metric: Literal["ip", "l2"] = "ip"
    pq_subvector_dims: int | None = None
    graph_dims: int | None = None

    def index_hints(self) -> dict[str, int | None]:
        """What this space tells the index policy: keyword arguments of ``choose_index``."""
        return {"pq_subvector_dims": self.pq_subvector_dims, "graph_dims": self.graph_dims}

    def fingerprint(self, weights: str) -> str:
        """16 hex digits identifying the weights (``weights``: a digest of the weight file) and parameters."""
        payload = json.dumps(
            {"name": self.name, "dim": self.dim, "params": self.params, "layers": self.layers, "w": weights},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def describe(self) -> dict[str, object]:
        """JSON-ready description (what ``styledex spaces --json`` prints, before catalog counts)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "dim": self.dim,
            "metric": self.metric,
            "source": self.source,
            "description": self.description,
            "preprocessing": self.preprocessing,
            "params": dict(self.params),
            "available": unavailable_reason(self) is None,
        }


VGG_PREPROCESSING = (
    "RGB resized (bicubic) to about image_size² pixels keeping the aspect ratio (clamped to 1:2..2:1; config "
    "embed.aspect: squash resizes to image_size × image_size instead), 0..1, VGG19 (Oxford weights)"
)

GRAM_CHANNELS = (32, 40, 40, 40, 40)  # per style layer; 528 + 4 × 820 = 3808 dims ≤ 4096
GRAM_SEED = 20170101
# Per-layer weights after each layer's block is L2-normalized (Gatys et al. weight the style loss per layer too).
# relu5_1 at half weight: its statistics carry the most content (measured: `styledex eval`, README).
STYLE_LAYER_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.5)


def _gram_dim(channels: tuple[int, ...]) -> int:
    return sum(c * (c + 1) // 2 for c in channels)


# The registry: each space registered where it is defined, in the order `styledex spaces` lists them. A space fed
# by the shared VGG19 forward decorates the builder of its feature function; the others register their spec alone
# (their vectors come from their own networks: embed/onnx_nets.py, embed/cin_predictor.py).
SPACES: dict[str, SpaceSpec] = {}
_VGG_FEATURE_BUILDERS: dict[str, Callable[[SpaceSpec], VggFeatureFn]] = {}
Builder = Callable[[SpaceSpec], VggFeatureFn]


def register_space(spec: SpaceSpec) -> Callable[[Builder], Builder]:
    """Add ``spec`` to :data:`SPACES`; as a decorator, also record the function that builds its VGG feature
    function (``spec`` → features → raw vectors [B, dim]). A name registered twice is a ValueError."""
    if spec.name in SPACES:
        raise ValueError(f"space {spec.name!r} is registered twice")
    SPACES[spec.name] = spec

    def decorate(build: Builder) -> Builder:
        if spec.source != "vgg":
            raise ValueError(f"space {spec.name!r} is not computed from VGG features")
        _VGG_FEATURE_BUILDERS[spec.name] = build
        return build

    return decorate


class SpaceUnavailable(ValueError):
    """A space whose weights are not shipped; the one-line message names the command that trains them."""


def unavailable_reason(spec: SpaceSpec) -> str | None:
    """Why ``spec`` cannot embed images here (one line), or ``None`` when it can."""
    head = spec.params.get("head")
    if head:
        from .heads import TRAIN_COMMANDS, head_path

        if head_path(str(head)) is None:
            return f"space '{spec.name}' needs its trained head: run `{TRAIN_COMMANDS[str(head)]}` and ship {head}.pt"
    if spec.source == "munit":
        from .munit_space import missing_reason

        return missing_reason(spec.name)
    if spec.source == "cin":
        from .cin_predictor import TRAIN_COMMAND, WEIGHTS_NAME, predictor_path

        if predictor_path() is None:
            return (f"space 'cin' needs the trained cin style predictor: run `{TRAIN_COMMAND}` and ship its "
                    f"{WEIGHTS_NAME}.pt in embed/weights/")
    return None


def available_spaces() -> list[str]:
    """The names of the spaces that can embed images now (every space but those whose weights are missing)."""
    return [name for name, spec in SPACES.items() if unavailable_reason(spec) is None]

# The best space of each kind, chosen with `styledex eval` (README, "The learned heads": style_head leads adain on
# every held-out part but neural looks, by 0.013, and three of 37 held-out artists' paintings).
ALIASES: dict[str, str] = {"style": "style_head", "content": "content"}
# Where a catalog lacks an alias's space (made before style_head was a default space, or configured without it),
# the alias names the first of these it holds: what it named before.
ALIAS_FALLBACKS: dict[str, tuple[str, ...]] = {"style": ("adain",)}


def resolve(name: str) -> SpaceSpec:
    """A space by name or alias (``style``, ``content``); unknown → ValueError naming the known ones."""
    real = ALIASES.get(name, name)
    if real not in SPACES:
        # An alias may share its space's name (``content``): each name once, and where an alias points.
        known = ", ".join(sorted(set(SPACES) | set(ALIASES)))
        pointers = ", ".join(f"{alias} = {target}" for alias, target in sorted(ALIASES.items()) if alias != target)
        raise ValueError(f"unknown space '{name}'; expected one of {known}" + (f" ({pointers})" if pointers else ""))
    return SPACES[real]


def resolve_in(name: str, available: Sequence[str]) -> SpaceSpec:
    """:func:`resolve` for a catalog holding the spaces ``available``: an alias whose space it lacks names its
    fallback (:data:`ALIAS_FALLBACKS`) when the catalog holds that. The caller reports a space still missing."""
    spec = resolve(name)
    if spec.name not in available:
        fallback = next((f for f in ALIAS_FALLBACKS.get(name, ()) if f in available), None)
        if fallback is not None:
            return SPACES[fallback]
    return spec


def _projections(spec: SpaceSpec) -> list[torch.Tensor]:
    """Fixed random orthonormal projections [k, C] per style layer, from a seeded generator (reproducible)."""
    gen = torch.Generator().manual_seed(int(spec.params["seed"]))  # type: ignore[call-overload]
    out = []
    for layer, k in zip(spec.layers, spec.params["channels"], strict=True):  # type: ignore[call-overload]
        q, _ = torch.linalg.qr(torch.randn(LAYER_CHANNELS[layer], k, generator=gen, dtype=torch.float64))
        out.append(q.T.float().contiguous())
    return out


def content_vectors(features: Mapping[str, torch.Tensor], layer: str = "relu5_1", grid: int = 2) -> torch.Tensor:
    """Style-free content: instance-normalized ``layer`` pooled to grid×grid. [B, C·grid²]."""
    normalized = instance_normalize(features[layer])
    return F.adaptive_avg_pool2d(normalized, grid).flatten(1)


def adain_vectors(
    features: Mapping[str, torch.Tensor],
    layers: tuple[str, ...] = STYLE_LAYERS,
    weights: tuple[float, ...] = STYLE_LAYER_WEIGHTS,
) -> torch.Tensor:
    """Per layer, (mean, std) concatenated, L2-normalized and weighted: [B, 2·ΣC] (2944 for relu1_1…relu5_1).

    Without the per-layer normalization the deep layers' larger activations would dominate the cosine.
    """
    parts = []
    for layer, weight in zip(layers, weights, strict=True):
        mean, std = shared_mean_std(features[layer])
        parts.append(F.normalize(torch.cat([mean, std], dim=1), dim=1) * weight)
    return torch.cat(parts, dim=1)


class GramProjector:
    """Computes the ``gram`` space: per layer, Gram of the projected channels, upper triangle, L2-normalized."""

    def __init__(self, spec: SpaceSpec) -> None:
        self.layers = spec.layers
        self.weights = tuple(spec.params["layer_weights"])  # type: ignore[call-overload]
        self.projections = _projections(spec)

    def __call__(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        for layer, proj, weight in zip(self.layers, self.projections, self.weights, strict=True):
            f = features[layer]
            parts.append(F.normalize(upper_triangle(projected_gram(f, proj.to(f.device))), dim=1) * weight)
        return torch.cat(parts, dim=1)


def projected_gram(features: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """Gram matrix (÷ H·W) of the channels projected by ``projection`` [k, C]: [B, C, H, W] → [B, k, k], fp32.

    A channels-last map on the CPU (what VGG19 returns there for channels-last input) is read a block of positions
    at a time as fp32 rows [n, C] (:func:`channels_last_blocks`), projected and accumulated: the map (bf16 under
    autocast) is never converted whole. Per 256-px image for the five layers: 27 ms for an einsum over the strided
    NCHW view, 18 ms for one matmul over all rows, 7 ms blockwise (fp32 maps) and 24 → 8 ms from bf16 maps.
    """
    if not blockwise_on_cpu(features):
        return gram_matrix(torch.einsum("kc,bchw->bkhw", projection, features.float()))
    b, _, h, w = features.shape
    k = projection.shape[0]
    out = torch.zeros(b, k, k, device=features.device)
    for i, block in channels_last_blocks(features):
        projected = block @ projection.T  # [n, k]
        out[i] += projected.T @ projected
    return out / (h * w)


def vgg_feature_fn(spec: SpaceSpec) -> VggFeatureFn:
    """The function that turns shared VGG features into this space's raw vectors."""
    build = _VGG_FEATURE_BUILDERS.get(spec.name)
    if build is None:
        raise ValueError(f"space '{spec.name}' is not computed from VGG features")
    return build(spec)


@register_space(
    SpaceSpec(
        name="content",
        kind="content",
        dim=LAYER_CHANNELS["relu5_1"] * 4,
        source="vgg",
        description="relu5_1 with per-channel mean/std removed (instance norm), average-pooled to 2×2",
        preprocessing=VGG_PREPROCESSING,
        params={"layer": "relu5_1", "grid": 2},
        layers=("relu5_1",),
        # At 1M items its float32 graph (~8.5 KB/item) is over the 2 GiB budget; over 256 principal components
        # (~1.3 KB/item) it is not. Fitted on half of the eval catalogs' 1338 items and their views (real vectors),
        # 256 components kept 0.998 of each held-out twelve-view query's exact top 10 among 30 candidates per view,
        # 128 0.992 (scripts/graph_dims_probe.py); at 1M synthetic items 256 beat 128 at every ef_search (README).
        graph_dims=256,
    )
)
def _content_features(spec: SpaceSpec) -> VggFeatureFn:
    return lambda feats: content_vectors(feats, str(spec.params["layer"]), int(spec.params["grid"]))  # type: ignore[call-overload]


@register_space(
    SpaceSpec(
        name="gram",
        kind="style",
        dim=_gram_dim(GRAM_CHANNELS),
        source="vgg",
        description="Gram matrices (÷HW) at relu1_1…relu5_1 of randomly projected channels, L2 per layer",
        preprocessing=VGG_PREPROCESSING,
        params={"channels": GRAM_CHANNELS, "seed": GRAM_SEED, "layer_weights": STYLE_LAYER_WEIGHTS},
        layers=STYLE_LAYERS,
    )
)
def _gram_features(spec: SpaceSpec) -> VggFeatureFn:
    return GramProjector(spec)


@register_space(
    SpaceSpec(
        name="adain",
        kind="style",
        dim=2 * sum(LAYER_CHANNELS[layer] for layer in STYLE_LAYERS),
        source="vgg",
        description="per-channel mean and std at relu1_1…relu5_1 (Huang & Belongie), L2 per layer",
        preprocessing=VGG_PREPROCESSING,
        params={"eps": 1e-5, "layer_weights": STYLE_LAYER_WEIGHTS},
        layers=STYLE_LAYERS,
    )
)
def _adain_features(spec: SpaceSpec) -> VggFeatureFn:
    weights = tuple(spec.params["layer_weights"])  # type: ignore[call-overload]
    return lambda feats: adain_vectors(feats, spec.layers, weights)


register_space(
    SpaceSpec(
        name="predictor",
        kind="style",
        dim=100,
        source="predictor",
        description="Ghiasi et al. style-prediction vector (pretrained Magenta network, int8 ONNX)",
        preprocessing="RGB centre square resized to 256×256, 0..1",
        # Finer PQ sub-vectors for spaces whose variance is spread over all their dimensions, measured with
        # `styledex eval --index ivfpq` (the 320 benchmark items among 100k fitted distractors, P@5 of an exact
        # search at the same depth minus the index's): predictor lost 0.17 video style P@5 at 10-d sub-vectors,
        # 0.03 at 4-d, 0.006 at 2-d; adain, gram and content lost nothing at the policy's default 8-d.
        pq_subvector_dims=2,
    )
)

register_space(
    SpaceSpec(
        name="cin",
        kind="style",
        dim=990,
        source="cin",
        description="γ/β of the 26-style CIN network predicted from the image (styledex train cin-predictor), "
        "z-scored by the 26 styles' γ/β, L2; the 26 styles are queries (--anchor)",
        preprocessing="RGB short side resized to the predictor's input side (160), centre square, 0..1, "
        "VGG19 relu1_1…relu4_1 mean/std",
        params={"normalization": "anchor-zscore-l2"},
        layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
        pq_subvector_dims=3,  # measured as predictor's: 0.03 P@5 lost at 9-d and 6-d sub-vectors, 0.012 at 3-d
    )
)


@register_space(
    SpaceSpec(
        name="style_head",
        kind="style",
        dim=416,
        source="vgg",
        description="learned style head: three bagged MLPs over relu1_1…relu5_1 channel mean/std and the pixels' "
        "colour and grain statistics, trained contrastively on looks applied to many contents "
        "(styledex train style-head), and a painting member: those channel statistics whitened as in adain_white "
        "(python scripts/fit_whitening.py)",
        preprocessing=VGG_PREPROCESSING,
        params={"head": "style_head"},
        layers=STYLE_LAYERS,
    )
)
def _style_head_features(spec: SpaceSpec) -> VggFeatureFn:
    from .heads import STYLE_HEAD, style_head_inputs

    return _head_features(STYLE_HEAD, style_head_inputs, spec.dim)


def _head_features(head: str, inputs: VggFeatureFn, dim: int) -> VggFeatureFn:
    """A learned head's space: ``inputs`` of the shared forward's features through the shipped head ``head``,
    whose vectors must have the space's ``dim`` (a style head fresh from ``styledex train style-head`` lacks its
    painting member until ``python scripts/fit_whitening.py`` adds it)."""
    from .heads import TRAIN_COMMANDS, load_head

    def features(feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x = inputs(feats)
        out = load_head(head, x.device)(x)
        if out.shape[1] != dim:
            raise ValueError(f"the shipped {head} gives {out.shape[1]}-d vectors, its space expects {dim}: "
                             f"run `{TRAIN_COMMANDS[head]}`")  # fmt: skip
        return out

    return features


@register_space(
    SpaceSpec(
        name="adain_white",
        kind="style",
        dim=128,
        source="vgg",
        description="relu1_1…relu5_1 channel mean/std, whitened (with shrinkage) along 128 directions fitted on "
        "the training paintings (no labels; python scripts/fit_whitening.py)",
        preprocessing=VGG_PREPROCESSING,
        params={"head": "adain_white"},
        layers=STYLE_LAYERS,
    )
)
def _adain_white_features(spec: SpaceSpec) -> VggFeatureFn:
    from .heads import WHITENED, adain_statistics

    return _head_features(WHITENED, adain_statistics, spec.dim)


@register_space(
    SpaceSpec(
        name="content_head",
        kind="content",
        dim=256,
        source="vgg",
        description="learned content head: 1×1 conv + generalized-mean pooling over instance-normalized "
        "relu4_1/relu5_1, trained contrastively on contents under many looks and framings "
        "(styledex train content-head)",
        preprocessing=VGG_PREPROCESSING,
        params={"head": "content_head"},
        layers=("relu4_1", "relu5_1"),
    )
)
def _content_head_features(spec: SpaceSpec) -> VggFeatureFn:
    from .heads import CONTENT_HEAD, content_head_inputs

    return _head_features(CONTENT_HEAD, content_head_inputs, spec.dim)


# MUNIT's codes (the shipped network's width 16, two downsamplings, 8-d style codes: embed/munit_space.py checks).
register_space(
    SpaceSpec(
        name="munit_style",
        kind="style",
        dim=16,
        source="munit",
        description="MUNIT style codes of the photo and the painting domain's style encoders, concatenated, L2 "
        "(styledex train munit)",
        preprocessing="RGB resized to long side 128 keeping the aspect ratio, 0..1",
        params={"network": "munit", "code": "style"},
    )
)
register_space(
    SpaceSpec(
        name="munit_content",
        kind="content",
        dim=256,
        source="munit",
        description="MUNIT content code (photo domain encoder: instance-normalized residual blocks), average-pooled "
        "to 2×2, L2 (styledex train munit)",
        preprocessing="RGB resized to long side 128 keeping the aspect ratio, 0..1",
        params={"network": "munit", "code": "content", "grid": 2},
    )
)
