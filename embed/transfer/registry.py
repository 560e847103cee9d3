"""The transfer methods as data: name, kind, whether usable now, weights and styles (``styledex models``).

Each method module declares its method with :func:`transfer_method` on its ``stylize``; the registry imports those
modules (:data:`METHOD_MODULES`) on the first lookup, so importing it loads no model code.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from styledex.embed.lazy_registry import LazyRegistry

# The key of a rendered image's ``info`` under which a method says what it chose on the caller's behalf (one line,
# for people: mixgan's "nearest trained look: starry"); `styledex transfer` prints it after the file it wrote.
CHOICE_NOTE = "styledex_choice"


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


# Every module that declares a method (with @transfer_method on its stylize), in the order `styledex models` lists
# them. They are imported on the first lookup, not here: importing the registry stays free of torch.
METHOD_MODULES = tuple(
    f"styledex.embed.transfer.{name}"
    for name in ("gatys", "johnson", "cin", "ghiasi", "adain", "wct", "stylebank", "pix2pix", "cyclegan", "munit",
                 "mixgan")
)
METHODS: LazyRegistry[MethodSpec] = LazyRegistry("transfer method", METHOD_MODULES)

StylizeFn = TypeVar("StylizeFn", bound=Callable[..., Any])


def transfer_method(
    name: str,
    *,
    kind: str,
    description: str,
    available: bool | Callable[[], bool] = True,
    weights: Callable[[], str | None] = lambda: None,
    styles: Callable[[], list[dict[str, str | None]]] = list,
    train: str | None = None,
    extra: dict[str, Callable[[], Any]] | None = None,
) -> Callable[[StylizeFn], StylizeFn]:
    """Register the decorated ``stylize`` of a method module as the method ``name`` (fields: :class:`MethodSpec`).

    The module must be in :data:`METHOD_MODULES`; the function is returned unchanged.
    """

    def register(stylize: StylizeFn) -> StylizeFn:
        if stylize.__name__ != "stylize":  # transfer() and MethodSpec.options() look the method up by this name
            raise TypeError(f"@transfer_method({name!r}) decorates a module's stylize, not {stylize.__name__}")
        spec = MethodSpec(name, kind, available, description, module=stylize.__module__, weights=weights,
                          styles=styles, train=train, extra=dict(extra or {}))
        METHODS.register(name, spec, stylize.__module__)
        return stylize

    return register


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
