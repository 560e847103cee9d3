"""The transfer methods as data: name, kind, whether usable now, weights and styles (``styledex models``).

This module imports nothing from styledex outside ``styledex.embed``.
"""

from __future__ import annotations

import importlib
import inspect
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
        kind: ``optimization`` (per image), ``arbitrary`` (any style image), ``multi-style`` (named styles),
            ``per-style`` (one trained model or filter bank entry per named style).
        available: usable now: ``True``, or a callable (a trained method is available once its weights ship).
        module: the module (``styledex.embed.transfer.<name>``) whose ``stylize`` implements the method.
        description: one line, for ``styledex models``.
        weights: the weight file's path (``None`` when there is none yet).
        styles: the named styles, ``[{"name", "style_image"}]`` (empty for arbitrary methods).
        train: the command that trains the weights, for methods that need it.
        extra: more fields of :meth:`as_dict`, computed on demand (ghiasi's second weight file).
    """

    name: str
    kind: str
    available: bool | Callable[[], bool]
    description: str
    module: str = ""
    weights: Callable[[], str | None] = lambda: None
    styles: Callable[[], list[dict[str, str | None]]] = list
    train: str | None = None
    extra: dict[str, Callable[[], Any]] = field(default_factory=dict)

    def is_available(self) -> bool:
        return bool(self.available() if callable(self.available) else self.available)

    def options(self) -> list[str]:
        """The keyword-only arguments of the method's ``stylize`` (its ``--option`` names)."""
        stylize = importlib.import_module(self.module).stylize
        return [n for n, p in inspect.signature(stylize).parameters.items() if p.kind is p.KEYWORD_ONLY]

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.name,
            "kind": self.kind,
            "available": self.is_available(),
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


def _shipped(name: str) -> Callable[[], bool]:
    def check() -> bool:
        from styledex.embed.transfer.weights import shipped

        return shipped(name) is not None

    return check


def _shipped_path(name: str) -> Callable[[], str | None]:
    def path() -> str | None:
        from styledex.embed.transfer.weights import shipped

        found = shipped(name)
        return str(found) if found else None

    return path


def _johnson_available() -> bool:
    from styledex.embed.transfer.weights import shipped_with_prefix

    return bool(shipped_with_prefix("johnson_"))


def _johnson_weights() -> str | None:
    """The weights folder when any johnson network ships (one ``johnson_<style>.pt`` per style)."""
    from styledex.embed.transfer.weights import WEIGHTS_DIR

    return str(WEIGHTS_DIR) if _johnson_available() else None


def _johnson_styles() -> list[dict[str, str | None]]:
    from styledex.embed.transfer.johnson import shipped_styles

    return shipped_styles()


def _stylebank_styles() -> list[dict[str, str | None]]:
    from styledex.embed.transfer.stylebank import shipped_styles

    return shipped_styles()


def _untrained(name: str, kind: str, description: str) -> MethodSpec:
    return MethodSpec(name, kind, False, description, module=f"styledex.embed.transfer.{name}",
                      train=f"styledex train {name}")


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec(
            "gatys",
            "optimization",
            True,
            "Gatys et al. 2016: optimize the pixels on VGG19 (content relu4_2, Gram at relu1_1..relu5_1); "
            "2017 controls: colour (luminance, histogram), spatial (--mask), scale (--coarse-style)",
            weights=_vgg_path,
            module="styledex.embed.transfer.gatys",
        ),
        MethodSpec(
            "johnson",
            "per-style",
            _johnson_available,
            "Johnson et al. 2016: one feed-forward network per style (instance norm, slim widths)",
            weights=_johnson_weights,
            styles=_johnson_styles,
            module="styledex.embed.transfer.johnson",
            train="styledex train johnson --style IMG --name NAME",
        ),
        MethodSpec(
            "cin",
            "multi-style",
            True,
            "Dumoulin et al. 2017: the pretrained 26-style conditional-instance-norm network; mixtures by weight; "
            "any --style IMAGE through the trained style predictor (cin_predictor.pt; else named styles only)",
            weights=lambda: _onnx_path("multistyle26.onnx"),
            styles=_cin_styles,
            module="styledex.embed.transfer.cin",
            train="styledex train cin-predictor",
            extra={"predictor_weights": _shipped_path("cin_predictor")},
        ),
        MethodSpec(
            "ghiasi",
            "arbitrary",
            True,
            "Ghiasi et al. 2017: the pretrained Magenta style predictor + transformer, any style image",
            weights=lambda: _onnx_path("arbitrary_transform.onnx"),
            extra={"predictor_weights": lambda: _onnx_path("arbitrary_predict.onnx")},
            module="styledex.embed.transfer.ghiasi",
        ),
        MethodSpec(
            "adain",
            "arbitrary",
            _shipped("adain_decoder"),
            "Huang & Belongie 2017: AdaIN at VGG19 relu4_1 with a trained decoder",
            weights=_shipped_path("adain_decoder"),
            module="styledex.embed.transfer.adain",
            train="styledex train adain",
        ),
        MethodSpec(
            "wct",
            "arbitrary",
            # available once all five level decoders ship: wct_decoder_relu{1,2,3,4,5}_1.pt
            lambda: importlib.import_module("styledex.embed.transfer.wct").shipped_weights() is not None,
            "Li et al. 2017: whitening and colouring transforms at relu5_1..relu1_1 with trained decoders",
            weights=lambda: importlib.import_module("styledex.embed.transfer.wct").shipped_weights(),
            extra={"decoder_weights": lambda: importlib.import_module("styledex.embed.transfer.wct").shipped_paths()},
            module="styledex.embed.transfer.wct",
            train="styledex train wct --set layer=reluK_1 for K=1..5",
        ),
        MethodSpec(
            "stylebank",
            "per-style",
            _shipped("stylebank"),
            "Chen et al. 2017: a bank of per-style filters between encoder/decoder; mixtures and masked regions",
            weights=_shipped_path("stylebank"),
            styles=_stylebank_styles,
            module="styledex.embed.transfer.stylebank",
            train="styledex train stylebank --style A.jpg --style B.jpg",
        ),
    )
}


def get_method(name: str) -> MethodSpec:
    """The spec of ``name``; :class:`TransferError` for an unknown or not yet trained method."""
    spec = METHODS.get(name)
    if spec is None:
        raise TransferError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    if not spec.is_available():
        raise TransferError(f"method {name!r} needs trained weights ({spec.train}), not available yet")
    return spec


def list_models() -> list[dict[str, Any]]:
    """Every method as ``styledex models --json`` prints it."""
    return [spec.as_dict() for spec in METHODS.values()]
