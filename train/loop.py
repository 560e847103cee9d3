"""The training loop every trainer shares: seed, device, autocast, progress, checkpoints, resume, loss curve,
export of fp16 weights with a record of how they were made.

A trainer builds a :class:`Task` (the modules to train and save, and a ``step`` that returns the losses of one
batch) and hands it to :func:`run`. The output folder then holds:

- ``checkpoint.pt``: modules, optimizer, step, RNG state and loss history, written atomically every
  ``checkpoint_every`` steps and at the end; a rerun with the same config resumes from it.
- ``loss.png``: the loss curves (total and each term, smoothed).
- ``<name>.pt`` and ``<name>.json``: the exported weights (fp16 unless ``export_dtype`` says otherwise) and the
  record (config, data sources, steps, final losses, seconds, device, torch version).
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from styledex.embed.transfer.imaging import pick_device
from styledex.progress import progress_bar


class TrainConfig(BaseModel):
    """Settings every trainer has; trainers subclass it with their own weights and sizes."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(4, ge=1)
    image_size: int = Field(128, ge=16, description="training crop side, pixels")
    load_side: int = Field(160, ge=16, description="images are shrunk to this short side before cropping")
    lr: float = Field(1e-3, gt=0)
    lr_decay: float = Field(0.0, ge=0, description="lr / (1 + lr_decay·step), as in AdaIN's reference")
    checkpoint_every: int = Field(100, ge=1)
    device: str = "auto"
    threads: int | None = Field(None, ge=1)
    content: list[str] = ["photos"]
    style: list[str] = ["paintings"]
    export_dtype: str = Field("float16", pattern="^(float16|float32)$")
    time_limit_s: float | None = Field(None, gt=0, description="stop early (and export) once training has run "
                                       "this many seconds; the record keeps the steps actually done")


# Settings a resumed run may change: how long it goes on.
RESUMABLE = ("steps", "time_limit_s")


@dataclass
class Task:
    """What :func:`run` trains.

    Args:
        name: the exported file's stem (``adain_decoder`` → ``adain_decoder.pt``).
        modules: saved in checkpoints and exported; their trainable parameters are optimized.
        step: ``step(i)`` → a dict of scalar losses for batch ``i``; ``"total"`` is minimized.
        meta: extra facts for the record and the weight file (style image names, layer, …): plain JSON types.
        export: the state to ship; default every module's state dict under its key.
        generator: the data sampler's generator, saved and restored with checkpoints.
        files: other files to write beside the weights at the end (the style image a model was trained on).
        validate: measured after training (modules in eval mode); its facts join the record.
        loop_modules: the modules whose parameters the loop's optimizer trains on ``"total"`` (default all); the
            others are trained by ``step`` itself (a GAN's discriminator, with its own loss and optimizer).
        inner_optimizers: the optimizers ``step`` steps itself, saved and restored with checkpoints.
        betas: Adam's betas for the loop's optimizer (GANs use (0.5, 0.999), as Radford et al. 2016 found).
    """

    name: str
    modules: dict[str, torch.nn.Module]
    step: Callable[[int], dict[str, torch.Tensor]]
    meta: dict[str, Any] = field(default_factory=dict)
    export: Callable[[], dict[str, Any]] | None = None
    generator: torch.Generator | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    validate: Callable[[], dict[str, Any]] | None = None
    loop_modules: tuple[str, ...] | None = None
    inner_optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class Result:
    out_dir: Path
    weights: Path
    record: dict[str, Any]
    history: list[dict[str, float]]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator (CPU) for data sampling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def setup_device(cfg: TrainConfig) -> torch.device:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    return pick_device(cfg.device)


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA; disabled on CPU (bf16 convolutions are far slower there, see README)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def describe_device(device: torch.device) -> str:
    """``cpu`` or ``cuda (NVIDIA H100 80GB HBM3)``: the record names the GPU a run used."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def plot_losses(history: list[dict[str, float]], path: Path, title: str) -> None:
    """Loss curves (log scale, a moving average over ~2% of the run) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for row in history for k in row if k != "step"}, key=lambda k: (k != "total", k))
    steps = np.array([row["step"] for row in history])
    window = max(1, len(history) // 50)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key in keys:
        values = np.array([row.get(key, np.nan) for row in history], dtype=float)
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, label=key, linewidth=2 if key == "total" else 1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (moving mean of {window})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _cast(state: Mapping[str, Any], dtype: torch.dtype) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, Mapping):
            out[key] = _cast(value, dtype)
        elif isinstance(value, torch.Tensor) and value.is_floating_point():
            out[key] = value.detach().to("cpu", dtype)
        else:
            out[key] = value
    return out


def _finite_step(total: torch.Tensor, optimizer: torch.optim.Optimizer) -> bool:
    """Whether the loss and every gradient the optimizer is about to apply are finite (one device sync). Checked
    element by element, not through a norm: a style loss's first gradients are large enough that their squared
    norm overflows float32 while every value is finite (and Adam takes them in its stride)."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    checks = [torch.isfinite(total.detach()).all(), *(torch.isfinite(g).all() for g in grads)]
    return bool(torch.stack(checks).all())


def run(task: Task, cfg: TrainConfig, out_dir: Path, *, resume: bool = True, progress: bool = True,
        method: str = "") -> Result:
    """Train ``task`` for ``cfg.steps`` steps; resume from ``out_dir/checkpoint.pt`` when it matches ``cfg``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    trained = task.modules if task.loop_modules is None else {k: task.modules[k] for k in task.loop_modules}
    params = [p for m in trained.values() for p in m.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: every parameter is frozen")
    optimizer = torch.optim.Adam(params, lr=cfg.lr, betas=task.betas)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 1.0 / (1.0 + cfg.lr_decay * i))
    history: list[dict[str, float]] = []
    start_step, seconds = 0, 0.0
    ckpt_path = out_dir / "checkpoint.pt"
    config_dump = cfg.model_dump()
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        changed = sorted(
            key for key in set(ckpt["config"]) | set(config_dump)
            if key not in RESUMABLE and ckpt["config"].get(key) != config_dump.get(key)
        )  # fmt: skip
        if changed:
            was = ", ".join(f"{key} {ckpt['config'].get(key)!r} -> {config_dump.get(key)!r}" for key in changed)
            raise ValueError(
                f"{ckpt_path} was written with another config ({was}); use a new --out or --no-resume"
            )
        for key, module in task.modules.items():
            module.load_state_dict(ckpt["modules"][key])
        optimizer.load_state_dict(ckpt["optimizer"])
        for key, inner in task.inner_optimizers.items():
            inner.load_state_dict(ckpt["inner_optimizers"][key])
        scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["torch_rng"])
        if ckpt.get("generator") is not None and task.generator is not None:
            task.generator.set_state(ckpt["generator"])
        history, start_step, seconds = ckpt["history"], ckpt["step"], ckpt["seconds"]

    def checkpoint(step: int) -> None:
        gen = task.generator
        _atomic_save(
            {
                "step": step,
                "config": config_dump,
                "modules": {k: m.state_dict() for k, m in task.modules.items()},
                "optimizer": optimizer.state_dict(),
                "inner_optimizers": {k: inner.state_dict() for k, inner in task.inner_optimizers.items()},
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "generator": gen.get_state() if gen is not None else None,
                "history": history,
                "seconds": seconds,
            },
            ckpt_path,
        )

    for module in task.modules.values():
        module.train()
    bar = progress_bar(range(start_step, cfg.steps), initial=start_step, total=cfg.steps, enabled=progress,
                       desc=f"train {task.name}", unit="step")
    done = cfg.steps
    for i in bar:
        if cfg.time_limit_s is not None and seconds >= cfg.time_limit_s:
            done = i
            break
        t0 = time.perf_counter()
        losses = task.step(i)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        # Checked before the update: a non-finite loss, or a finite one with an infinite gradient, would write NaN
        # into the weights, and the checkpoint kept must hold the last good ones.
        if not _finite_step(losses["total"], optimizer):
            checkpoint(i)
            raise FloatingPointError(
                f"loss or gradients became non-finite at step {i + 1} (loss {float(losses['total'].detach())}); "
                f"lower lr (the checkpoint of step {i}, before it, is kept)"
            )
        optimizer.step()
        scheduler.step()
        # reading the losses waits for the GPU, so the step's time is taken after it
        row = {"step": i + 1, **{k: float(v.detach()) for k, v in losses.items()}}
        seconds += time.perf_counter() - t0
        history.append(row)
        bar.set_postfix(loss=f"{row['total']:.4g}")
        if (i + 1) % cfg.checkpoint_every == 0:
            checkpoint(i + 1)
    bar.close()
    checkpoint(done)
    for module in task.modules.values():
        module.eval()
    plot_losses(history, out_dir / "loss.png", f"{method or task.name}: {done} steps")
    dtype = torch.float16 if cfg.export_dtype == "float16" else torch.float32
    state = task.export() if task.export else {k: m.state_dict() for k, m in task.modules.items()}
    meta = dict(task.meta)
    if task.validate is not None:
        meta.update(task.validate())
    weights = out_dir / f"{task.name}.pt"
    _atomic_save({"state": _cast(state, dtype), "meta": meta}, weights)
    tail = history[-max(1, len(history) // 20) :]
    record = {
        "method": method,
        "name": task.name,
        "config": config_dump,
        "steps": done,
        "stopped_by_time_limit": done < cfg.steps,
        "first_losses": {k: v for k, v in history[0].items() if k != "step"} if history else {},
        "final_losses": {k: float(np.mean([r[k] for r in tail])) for k in tail[0] if k != "step"} if tail else {},
        "train_seconds": round(seconds, 1),
        "device": describe_device(pick_device(cfg.device)),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "weights_dtype": cfg.export_dtype,
        **meta,
    }
    for file_name, data in task.files.items():
        (out_dir / file_name).write_bytes(data)
    (out_dir / f"{task.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return Result(out_dir, weights, record, history)
