"""``styledex train style-head``: the learned style space (:class:`styledex.embed.heads.StyleHead`); the task and
its data are :mod:`styledex.train.heads`'s. Defaults: ``configs/train/style-head.yaml``."""

from __future__ import annotations

import torch

from styledex.embed.heads import STYLE_HEAD
from styledex.train.heads import HeadConfig
from styledex.train.loop import Task
from styledex.train.registry import trainer


class Config(HeadConfig):
    name: str = STYLE_HEAD


@trainer("style-head", config=Config)
def build(cfg: Config, device: torch.device, generator: torch.Generator, progress: bool = True) -> Task:
    from styledex.train.heads import build_head_task

    return build_head_task(cfg, device, generator, "style", progress=progress)
