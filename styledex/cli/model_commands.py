"""The style-transfer commands: transfer (render a content image in a style), train (the models no package
ships) and models (every method, its styles and weights)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from styledex.config import Config
from styledex.extras import require_extra
from styledex.textout import shown

from .output import UserError, print_json


def _read_image(path: str, config: Config) -> Any:
    from styledex.media import MediaError, decode_image

    if not Path(path).is_file():
        raise UserError(f"no such file: {path}")
    try:
        return decode_image(path, max_pixels=config.media.max_pixels).frames[0]
    except MediaError as exc:
        raise UserError(f"cannot decode {path}: {exc}") from None


def cmd_transfer(args: argparse.Namespace, config: Config) -> int:
    import time

    from styledex.embed.transfer import CHOICE_NOTE, TransferError, get_method, transfer

    try:
        get_method(args.method)
    except TransferError as exc:
        raise UserError(str(exc)) from None
    size = args.size if args.size is not None else (256 if args.method == "gatys" else 512)
    if size < 16:
        raise UserError(f"--size must be at least 16, got {size}")
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UserError(f"no such directory for -o: {out.parent}")
    options = {
        key: value
        for key, value in (
            ("strength", args.strength),
            ("weights", args.weights),
            ("alpha", args.alpha),
            ("steps", args.steps),
            ("optimizer", args.optimizer),
            ("content_weight", args.content_weight),
            ("style_weight", args.style_weight),
            ("tv_weight", args.tv_weight),
            ("lr", args.lr),
            ("preserve_color", args.preserve_color),
            ("device", args.device),
        )
        if value is not None
    }
    if args.mask:
        options["masks"] = [_read_image(path, config).convert("L") for path in args.mask]
    if args.coarse_style:
        options["coarse_style"] = _read_image(args.coarse_style, config)
    for item in args.option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--option expects KEY=VALUE, got {item!r}")
        options[key.replace("-", "_")] = yaml.safe_load(value)
    if args.method == "gatys":
        from styledex.progress import progress_bar

        options["progress"] = False if args.quiet else lambda steps: progress_bar(steps, desc="gatys", unit="step")
    content = _read_image(args.content, config)
    styles = [_read_image(path, config) for path in args.style or []]
    start = time.perf_counter()
    try:
        image = transfer(args.method, content, styles or None, args.style_name, size, **options)
    except TransferError as exc:
        raise UserError(str(exc)) from None
    seconds = time.perf_counter() - start
    try:
        image.save(out)
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot write {out}: {exc}") from None
    if not args.quiet:
        choice = image.info.get(CHOICE_NOTE)  # what the method chose for the caller (styledex.embed.transfer)
        said = f"; {choice}" if choice else ""
        print(f"{args.method}: wrote {shown(out)} ({image.width}×{image.height}) in {seconds:.1f} s{said}")
    return 0


def cmd_train(args: argparse.Namespace, config: Config) -> int:
    require_extra("data", "train")
    from styledex.train import TrainError, load_train_config, train
    from styledex.train.data import DataError

    overrides: dict[str, Any] = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.replace("-", "_")] = yaml.safe_load(value)
    for key in ("steps", "batch_size", "image_size", "seed", "device"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.style:
        for path in args.style:
            if not Path(path).exists():
                raise UserError(f"no such style image: {path}")
        overrides["style_images"] = args.style
    if args.name:
        overrides["name"] = args.name
    try:
        cfg = load_train_config(args.method, Path(args.train_config) if args.train_config else None, overrides)
        out = Path(args.out) if args.out else Path("runs") / args.method / (args.name or "default")
        result = train(args.method, cfg, out, resume=not args.no_resume, progress=not args.quiet)
    except (TrainError, DataError) as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print_json({"weights": str(result.weights), **result.record})
    elif not args.quiet:
        first, last = result.record["first_losses"].get("total"), result.record["final_losses"].get("total")
        steps = result.record.get("steps", cfg.steps)  # fewer than asked when the time budget stopped the run
        budget = " (stopped by its time limit)" if result.record.get("stopped_by_time_limit") else ""
        print(f"{args.method}: {steps} steps{budget} in {result.record['train_seconds']:.0f} s, loss {first:.4g} → "
              f"{last:.4g}; weights {shown(result.weights)}, curve {shown(result.out_dir / 'loss.png')}")
    return 0


def cmd_models(args: argparse.Namespace, config: Config) -> int:
    from styledex.embed.transfer import list_models

    rows = list_models()
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        state = "available" if row["available"] else f"needs training ({row['train']})"
        styles = f", {len(row['styles'])} named styles" if row["styles"] else ""
        print(f"{row['method']:<10} {row['kind']:<13} {state}{styles}\n    {row['description']}")
        if row["weights"]:
            print(f"    weights: {shown(row['weights'])}")
    return 0

