"""Trainers for the transfer models no package ships weights for (``styledex train METHOD``).

Each trainer module defines ``Config`` (a :class:`~styledex.train.loop.TrainConfig` subclass whose defaults are
``configs/train/<method>.yaml``) and ``build(cfg, device, generator, progress=True) -> Task``, registered with
``@trainer("<method>", config=Config)`` (:mod:`styledex.train.registry`). :func:`train` loads the config,
applies overrides, builds the task and runs :func:`styledex.train.loop.run`.

This package imports ``styledex.embed`` (the models) and nothing from the core, ``index`` or ``serve``.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from styledex.train.loop import Result, TrainConfig, run, seed_everything, setup_device
from styledex.train.registry import TRAINERS


class TrainError(ValueError):
    """A training request a user can fix (unknown method, bad config, missing data)."""


def default_config_path(method: str) -> Path:
    return Path(str(importlib.resources.files("styledex.configs") / "train" / f"{method}.yaml"))


def load_train_config(method: str, path: Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """``configs/train/<method>.yaml``, then the YAML file ``path``, then ``overrides``, validated."""
    if method not in TRAINERS:
        raise TrainError(f"unknown trainer {method!r}; expected one of {', '.join(TRAINERS)}")
    spec = TRAINERS[method]
    values: dict[str, Any] = {}
    for source in (default_config_path(method), path):
        if source is None:
            continue
        if not Path(source).is_file():
            raise TrainError(f"no such config file: {source}")
        loaded = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise TrainError(f"{source}: expected a mapping of settings, got {type(loaded).__name__}")
        values.update(loaded)
    values.update(overrides or {})
    try:
        return spec.config(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TrainError(f"train config for {method}: {where}: {first['msg']}") from None


def train(method: str, cfg: TrainConfig, out_dir: Path, *, resume: bool = True, progress: bool = True) -> Result:
    """Build the ``method`` trainer's task for ``cfg`` and run it into ``out_dir``."""
    spec = TRAINERS[method]
    generator = seed_everything(cfg.seed)
    device = setup_device(cfg)
    task = spec.build(cfg, device, generator, progress=progress)  # progress: of a long preparation too
    task.generator = generator
    return run(task, cfg, out_dir, resume=resume, progress=progress, method=method)
