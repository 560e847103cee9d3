"""The throughput benchmark's building blocks on tiny inputs (figures themselves live in the README)."""

from __future__ import annotations

from pathlib import Path

from fixtures import make_image, make_video

from styledex.benchmark import add_rate, bare_forward_rate, format_embed_table
from styledex.config import load_config
from styledex.media import decode


def test_add_rate_counts_every_image_and_video_frame(tmp_path: Path) -> None:
    paths = [str(make_image(tmp_path / f"{i}.png", size=(40, 32), seed=i)) for i in range(3)]
    paths.append(str(make_video(tmp_path / "clip.mp4", n_frames=12, size=(48, 32))))
    config = load_config()
    config = config.model_copy(update={"media": config.media.model_copy(update={"frames": 4})})
    rate, frames = add_rate(paths, config, ["content", "adain"], 32)
    assert frames == 3 + 4
    assert rate > 0


def test_bare_forward_rate_is_positive_and_table_has_ratio(tmp_path: Path) -> None:
    image = decode(make_image(tmp_path / "a.png", size=(40, 32))).frames[0]
    rate = bare_forward_rate([image, image], 32, batch_size=2, device="cpu")
    assert rate > 0
    row = {"input": "image", "size": 32, "spaces": "x", "frames": 2, "add_per_s": 1.0, "bare_fp32_per_s": 2.0,
           "ratio": 0.5}  # fmt: skip
    table = format_embed_table({"device": "cpu", "threads": 2, "embed": [row]})
    assert "| image | 32 | x | 2 | 1.00 | 2.00 | 0.50 |" in table


def test_search_bench_reports_three_ways_on_one_index() -> None:
    from styledex.search_bench import format_search_table, run_search_bench

    report = run_search_bench(items=300, queries=20, k=5)
    rows = report["search"]
    assert [r["via"] for r in rows] == ["faiss", "inprocess", "http"]
    for row in rows:
        assert row["items"] == 300 and row["space"] == "adain"
        assert 0 < row["p50_ms"] <= row["p99_ms"]
    assert format_search_table(report).count("| 300 | adain | flat |") == 3
