"""``styledex bench``: ``add`` throughput next to a bare fp32 VGG19 forward on the same inputs, in the same run.

Absolute times drift on a shared machine; the ratio ``add / bare`` is the figure to quote. The bare forward is
VGG19 up to relu5_1 on tensors already decoded and resized (no I/O, no statistics, no writes), batch 8, fp32.
``add`` is timed in fp32 and, where the device has native bf16 (CUDA, or a CPU with AVX-512 BF16 / AMX), under
bf16 autocast too, each against the same fp32 reference.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from styledex.catalog import Catalog
from styledex.config import Config, IndexConfig
from styledex.embed.embedder import Embedder, pick_device, use_bf16
from styledex.evaluation.benchdata import build_benchmark
from styledex.evaluation.throughput import bare_forward_rate
from styledex.media import decode
from styledex.pipeline import Source, add_sources
from styledex.search import embed_meta
from styledex.space_indexes import SpaceIndexes


def add_rate(paths: list[str], config: Config, spaces: list[str], size: int) -> tuple[float, int]:
    """(frames per second, frames) of ``add`` into a fresh catalog: hash, decode, embed, write, index."""
    embedder = Embedder(spaces, image_size=size, batch_size=config.embed.batch_size, device=config.embed.device,
                        precision=config.embed.precision, aspect=config.embed.aspect)
    embedder.embed(decode(paths[0], frames=1, max_side=64).frames)  # warm-up: model loading is not throughput
    with (
        tempfile.TemporaryDirectory() as tmp,
        Catalog.open(Path(tmp) / "catalog", create=True) as catalog,
        catalog.writing(),
    ):
        catalog.set_meta("embed", embed_meta(embedder))
        indexes = SpaceIndexes(catalog, IndexConfig())  # as `styledex add` builds them (CatalogSession.indexes)
        summary = add_sources(indexes, [Source(p) for p in paths], config, embedder, progress=False)
    return summary.frames / summary.seconds, summary.frames


def bench_precisions(config: Config) -> list[str]:
    """The precisions the embed bench times ``add`` at: fp32 always, and bf16 where ``embed.precision`` resolves
    to it on this device (CUDA, or a CPU with native bf16: emulated bf16 is ~100x slower and not worth a row)."""
    device = pick_device(config.embed.device)
    return ["fp32", "bf16"] if use_bf16(device, config.embed.precision) else ["fp32"]


def run_embed_bench(
    config: Config, *, images: int = 24, videos: int = 4, sizes: tuple[int, ...] = (256, 512), rounds: int = 1
) -> dict:
    """Measure images/s and video frames/s of ``add`` beside the bare fp32 forward, per input size and precision.

    rounds: how many times each case is measured; a row gives the median ratio over the rounds (and the rates of
    that round), so one burst of load from another process on a shared machine cannot set the figure alone.
    """
    bench = build_benchmark(progress=False)
    manifest = pd.read_csv(bench / "manifest.csv")
    image_paths = list(manifest.loc[manifest["group"] == "museum", "path"][:images])
    video_paths = list(manifest.loc[manifest["group"] == "video", "path"][:videos])
    precisions = bench_precisions(config)
    rows: list[dict[str, Any]] = []
    for size in sizes:
        cfg = config.model_copy(update={"embed": config.embed.model_copy(update={"image_size": size})})
        decoded = [decode(p, max_side=config.media.max_side).frames[0] for p in image_paths]
        frames_list = [f for p in video_paths for f in decode(p, frames=config.media.frames).frames]
        vgg_only = ["content", "gram", "adain"]
        cases = [
            ("image", "all spaces", decoded, image_paths, list(cfg.embed.spaces)),
            ("image", "VGG spaces", decoded, image_paths, vgg_only),
            ("video", "all spaces", frames_list, video_paths, list(cfg.embed.spaces)),
        ]
        for case in cases:
            measured = [_measure_case(*case, cfg, precisions) for _ in range(rounds)]
            for precision in precisions:
                runs = sorted((m[precision] for m in measured), key=lambda row: row["ratio"])
                median = runs[len(runs) // 2]
                rows.append(median | {"rounds": rounds, "ratios": [r["ratio"] for r in runs]})
    return {"device": str(pick_device(config.embed.device)), "threads": torch.get_num_threads(), "embed": rows}


def _measure_case(
    kind: str, spaces: str, images: list, paths: list[str], names: list[str], config: Config, precisions: list[str]
) -> dict[str, dict[str, Any]]:
    """One round of a case: ``add`` of ``paths`` at each precision, between two bare fp32 forwards on the same
    decoded ``images`` (averaged, so load drift on a shared machine hits add and its reference alike), then the
    bare forward in channels-last at each precision. Returns precision → row."""
    size, batch, device = config.embed.image_size, config.embed.batch_size, config.embed.device
    before = bare_forward_rate(images, size, batch, device)
    added = {}
    for precision in precisions:
        cfg = config.model_copy(update={"embed": config.embed.model_copy(update={"precision": precision})})
        added[precision] = add_rate(paths, cfg, names, size)
    after = bare_forward_rate(images, size, batch, device)
    rows = {}
    for precision, (rate, frames) in added.items():
        # add feeds VGG19 channels-last input (decoded HWC pixels, permuted without a copy), a lever the bare NCHW
        # forward does not use; the same forward in channels-last at add's precision shows what is left to gain.
        fast = bare_forward_rate(images, size, batch, device, bf16=precision == "bf16", channels_last=True)
        rows[precision] = _row(kind, size, spaces, rate, frames, (before + after) / 2) | {
            "precision": precision,
            "bare_channels_last_per_s": round(fast, 3),
            "ratio_channels_last": round(rate / fast, 3),
        }
    return rows


def _row(kind: str, size: int, spaces: str, rate: float, frames: int, bare: float) -> dict[str, Any]:
    return {
        "input": kind,
        "size": size,
        "spaces": spaces,
        "frames": frames,
        "add_per_s": round(rate, 3),
        "bare_fp32_per_s": round(bare, 3),
        "ratio": round(rate / bare, 3),
    }


def format_embed_table(report: dict[str, Any]) -> str:
    lines = [
        f"device {report['device']}, {report['threads']} threads\n",
        "| input | size | spaces | precision | frames | add (frames/s) | bare fp32 VGG19 (frames/s) | add / bare fp32 "
        "| ratios of all rounds | bare channels-last at add's precision (frames/s) | add / that |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["embed"]:
        ratios = ", ".join(f"{x:.2f}" for x in r.get("ratios", [r["ratio"]]))
        cl = r.get("bare_channels_last_per_s")
        cl_cells = f"{cl:.2f} | {r['ratio_channels_last']:.2f}" if cl is not None else "– | –"
        lines.append(
            f"| {r['input']} | {r['size']} | {r['spaces']} | {r.get('precision', 'fp32')} | {r['frames']} "
            f"| {r['add_per_s']:.2f} | {r['bare_fp32_per_s']:.2f} | {r['ratio']:.2f} | {ratios} | {cl_cells} |"
        )
    return "\n".join(lines)
