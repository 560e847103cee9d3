"""The transfer methods as data: name, kind, whether usable now, weights and styles (``styledex models``).

This module imports nothing from styledex outside ``styledex.embed``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class TransferError(ValueError):
    """A transfer request a user can fix (unknown method or style, missing style, untrained method)."""


@dataclass(frozen=True)
class MethodSpec:
    """One transfer method.

    Args:
        name: the ``--method`` value.
        kind: ``optimization`` (per image), ``arbitrary`` (any style image), ``multi-style`` (named styles).
        available: usable now; ``False`` for methods whose weights must be trained first.
        description: one line, for ``styledex models``.
        weights: the weight file's path (``None`` when there is none yet).
        styles: the named styles, ``[{"name", "style_image"}]`` (empty for arbitrary methods).
        train: the command that trains the weights, for methods that need it.
        extra: more fields of :meth:`as_dict`, computed on demand (ghiasi's second weight file).
    """

    name: str
    kind: str
    available: bool
    description: str
    weights: Callable[[], str | None] = lambda: None
    styles: Callable[[], list[dict[str, str | None]]] = list
    train: str | None = None
    extra: dict[str, Callable[[], Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.name,
            "kind": self.kind,
            "available": self.available,
            "styles": self.styles(),
            "weights": self.weights(),
            "description": self.description,
            "train": self.train,
            **{key: get() for key, get in self.extra.items()},
        }


def _onnx_path(name: str) -> str:
    from styledex.embed.onnx_nets import model_path

    return str(model_path(name))


def _vgg_path() -> str:
    from styledex.embed.vgg import weights_path

    return weights_path()


def _cin_styles() -> list[dict[str, str | None]]:
    from styledex.embed.onnx_nets import NUM_CIN_STYLES

    return [{"name": str(i), "style_image": None} for i in range(NUM_CIN_STYLES)]


def _untrained(name: str, kind: str, description: str) -> MethodSpec:
    return MethodSpec(name, kind, False, description, train=f"styledex train {name}")


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec(
            "gatys",
            "optimization",
            True,
            "Gatys et al. 2016: optimize the pixels on VGG19 (content relu4_2, Gram at relu1_1..relu5_1)",
            weights=_vgg_path,
        ),
        _untrained("johnson", "per-style", "Johnson et al. 2016: one feed-forward network per style"),
        MethodSpec(
            "cin",
            "multi-style",
            True,
            "Dumoulin et al. 2017: the pretrained 26-style conditional-instance-norm network; mixtures by weight",
            weights=lambda: _onnx_path("multistyle26.onnx"),
            styles=_cin_styles,
        ),
        MethodSpec(
            "ghiasi",
            "arbitrary",
            True,
            "Ghiasi et al. 2017: the pretrained Magenta style predictor + transformer, any style image",
            weights=lambda: _onnx_path("arbitrary_transform.onnx"),
            extra={"predictor_weights": lambda: _onnx_path("arbitrary_predict.onnx")},
        ),
        _untrained("adain", "arbitrary", "Huang & Belongie 2017: AdaIN at VGG19 relu4_1 with a trained decoder"),
        _untrained("wct", "arbitrary", "Li et al. 2017: whitening and colouring transforms with trained decoders"),
        _untrained("stylebank", "per-style", "Chen et al. 2017: a bank of per-style filters between encoder/decoder"),
    )
}


def get_method(name: str) -> MethodSpec:
    """The spec of ``name``; :class:`TransferError` for an unknown or not yet trained method."""
    spec = METHODS.get(name)
    if spec is None:
        raise TransferError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    if not spec.available:
        raise TransferError(f"method {name!r} needs trained weights ({spec.train}), not available yet")
    return spec


def list_models() -> list[dict[str, Any]]:
    """Every method as ``styledex models --json`` prints it."""
    return [spec.as_dict() for spec in METHODS.values()]
