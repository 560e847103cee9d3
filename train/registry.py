"""The trainers as data (``styledex train METHOD``): each trainer module declares itself with :func:`trainer` on its
``build``; the registry imports those modules (:data:`TRAINER_MODULES`) on the first lookup, not before.

This module imports ``styledex.embed`` and nothing else of styledex.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from styledex.embed.lazy_registry import LazyRegistry

if TYPE_CHECKING:  # the loop imports torch; the registry itself stays light
    from styledex.train.loop import Task, TrainConfig

__all__ = ["TRAINERS", "TRAINER_MODULES", "Trainer", "trainer"]


@dataclass(frozen=True)
class Trainer:
    """One trainer.

    Args:
        name: the ``styledex train`` METHOD.
        config: its settings (a :class:`~styledex.train.loop.TrainConfig` subclass whose defaults are
            ``configs/train/<name>.yaml``).
        build: ``build(cfg, device, generator, progress=True) -> Task``, the task :func:`styledex.train.loop.run`
            runs; ``progress``: whether a long preparation (building a training set) reports progress (`--quiet`).
        module: the module that declares it.
    """

    name: str
    config: type[TrainConfig]
    build: Callable[..., Task]
    module: str


# Every module that declares a trainer, in the order error messages list them.
TRAINER_MODULES = tuple(
    f"styledex.train.{name}"
    for name in (
        "johnson", "adain", "wct", "stylebank", "pix2pix", "cyclegan", "munit", "mixgan", "cin_predictor", "style_head",
        "content_head",
    )
)
TRAINERS: LazyRegistry[Trainer] = LazyRegistry("trainer", TRAINER_MODULES)

BuildFn = TypeVar("BuildFn", bound=Callable[..., Any])


def trainer(name: str, *, config: type[TrainConfig]) -> Callable[[BuildFn], BuildFn]:
    """Register the decorated ``build`` as the trainer ``name`` with settings ``config``; the module must be in
    :data:`TRAINER_MODULES`. The function is returned unchanged."""

    def register(build: BuildFn) -> BuildFn:
        TRAINERS.register(name, Trainer(name, config, build, build.__module__), build.__module__)
        return build

    return register
