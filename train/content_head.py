"""``styledex train content-head``: the learned content space (:class:`styledex.embed.heads.ContentHead`); the task
and its data are :mod:`styledex.train.heads`'s. Defaults: ``configs/train/content-head.yaml``."""

from __future__ import annotations

import torch
from pydantic import Field

from styledex.embed.heads import CONTENT_HEAD
from styledex.train.heads import HeadConfig
from styledex.train.loop import Task
from styledex.train.registry import trainer


class Config(HeadConfig):
    name: str = CONTENT_HEAD
    dim: int = Field(256, ge=8)


@trainer("content-head", config=Config)
def build(cfg: Config, device: torch.device, generator: torch.Generator, progress: bool = True) -> Task:
    from styledex.train.heads import build_head_task

    return build_head_task(cfg, device, generator, "content", progress=progress)
