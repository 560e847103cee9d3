"""The throughput benchmark's building blocks on tiny inputs (figures themselves live in the README)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from styledex.config import load_config
from styledex.evaluation.embed_bench import add_rate, bare_forward_rate, format_embed_table
from styledex.media import decode

from helpers.media import make_image, make_video


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
    assert "| image | 32 | x | fp32 | 2 | 1.00 | 2.00 | 0.50 | 0.50 | – | – |" in table


def test_embed_bench_times_bf16_only_where_it_is_native_against_one_fp32_reference(tmp_path: Path, monkeypatch) -> None:
    import styledex.embed.embedder as embedder_mod
    from styledex.evaluation.embed_bench import _measure_case, bench_precisions

    config = load_config()
    cpu = config.model_copy(update={"embed": config.embed.model_copy(update={"device": "cpu"})})
    monkeypatch.setattr(embedder_mod, "cpu_supports_bf16", lambda: False)
    assert bench_precisions(cpu) == ["fp32"]
    monkeypatch.setattr(embedder_mod, "cpu_supports_bf16", lambda: True)
    assert bench_precisions(cpu) == ["fp32", "bf16"]
    forced = cpu.model_copy(update={"embed": cpu.embed.model_copy(update={"precision": "fp32"})})
    assert bench_precisions(forced) == ["fp32"]

    paths = [str(make_image(tmp_path / f"{i}.png", size=(40, 32), seed=i)) for i in range(2)]
    images = [decode(p).frames[0] for p in paths]
    small = cpu.model_copy(update={"embed": cpu.embed.model_copy(update={"image_size": 32, "batch_size": 2})})
    rows = _measure_case("image", "VGG spaces", images, paths, ["adain"], small, ["fp32", "bf16"])
    assert [rows[p]["precision"] for p in ("fp32", "bf16")] == ["fp32", "bf16"]
    assert rows["fp32"]["bare_fp32_per_s"] == rows["bf16"]["bare_fp32_per_s"]  # one reference for both
    for row in rows.values():
        assert row["frames"] == 2
        assert row["ratio"] == pytest.approx(row["add_per_s"] / row["bare_fp32_per_s"], rel=0.01)
        assert row["ratio_channels_last"] == pytest.approx(row["add_per_s"] / row["bare_channels_last_per_s"], rel=0.01)


def test_search_bench_reports_three_ways_per_index_type(tmp_path: Path) -> None:
    from styledex.evaluation.search_bench import format_search_table, plot_search_report, run_search_bench

    # predictor (100-d) keeps ivfpq's training cheap; the bench's default space is adain (2944-d).
    # auto: what the policy gives a default catalog of 300 items (flat), named in the row.
    report = run_search_bench(items=300, queries=20, k=5, space="predictor", index_types=("flat", "ivfpq", "auto"))
    rows = report["search"]
    assert [(r["index"], r["via"]) for r in rows] == [
        (index, via) for index in ("flat", "ivfpq", "auto: flat") for via in ("faiss", "inprocess", "http")
    ]
    for row in rows:
        assert row["items"] == 300 and row["space"] == "predictor" and row["vectors"] == "clustered"
        assert 0 < row["p50_ms"] <= row["p99_ms"] and row["bytes_per_item"] > 0 and row["build_seconds"] >= 0
        assert 0 <= row["recall_at_10"] <= 1
    assert all(r["recall_at_10"] == 1.0 for r in rows if r["index"] == "flat")
    assert format_search_table(report).count("| 300 | predictor | clustered | flat |") == 3
    assert plot_search_report(report, tmp_path / "plot.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("space", "items", "expected"),
    [("style_head", 1_000_000, ("hnsw", 0)), ("adain", 1_000_000, ("ivfpq", None)), ("predictor", 300, ("flat", None)),
     ("content", 1_000_000, ("hnsw", 0))],
)
def test_the_auto_variant_builds_what_the_policy_gives_a_default_catalog(space, items, expected) -> None:
    from styledex.config import load_config
    from styledex.embed.spaces import resolve
    from styledex.evaluation.search_bench.indexes import index_choice
    from styledex.index.policy import choose_index

    index = load_config(None).index
    policy = choose_index(
        items, resolve(space).dim, index.memory_budget_mb * 2**20, flat_max_items=index.flat_max_items,
        ivfpq_min_items=index.ivfpq_min_items, **resolve(space).index_hints(),
    )  # fmt: skip
    bench = index_choice("auto", space, items)
    assert (bench.index_type, bench.params) == (policy.index_type, policy.params)
    assert (bench.index_type, bench.params.get("sq8")) == expected
    assert bench.params.get("pca", 0) == (256 if space == "content" else 0)  # content's graph over its components


def test_search_bench_above_catalog_size_measures_the_same_index(monkeypatch: pytest.MonkeyPatch) -> None:
    # Above CATALOG_MAX_ITEMS the vectors stream from a memmap (1M x 2944-d does not fit in memory beside the
    # rest); the index built and the answers must be those of the in-memory path, over HTTP through a real
    # catalog too, and without HTTP from the memmap alone.
    import styledex.evaluation.search_bench as search_bench

    kwargs = dict(items=300, queries=20, k=5, space="predictor", index_types=("flat", "ivfpq"))
    in_memory = search_bench.run_search_bench(**kwargs)["search"]
    monkeypatch.setattr(search_bench, "CATALOG_MAX_ITEMS", 100)
    streamed = search_bench.run_search_bench(**kwargs)["search"]
    memmap_only = search_bench.run_search_bench(**kwargs, http=False)["search"]
    assert [(r["index"], r["via"]) for r in streamed] == [
        (index, via) for index in ("flat", "ivfpq") for via in ("faiss", "inprocess", "http")
    ]
    assert [(r["index"], r["via"]) for r in memmap_only] == [
        (index, via) for index in ("flat", "ivfpq") for via in ("faiss", "inprocess")
    ]
    assert all("memmap" in r["note"] for r in memmap_only) and not any("note" in r for r in streamed)

    def figures(rows: list[dict]) -> dict:
        return {(r["index"], r["via"]): (r["recall_at_10"], r["params"], r["bytes_per_item"]) for r in rows}

    want = figures(in_memory)
    assert figures(streamed) == want
    assert figures(memmap_only) == {key: value for key, value in want.items() if key[1] != "http"}
    assert all(r["recall_at_10"] == 1.0 for r in streamed if r["index"] == "flat")


def test_content_queries_in_the_search_bench_ask_with_twelve_views_through_every_way(tmp_path: Path) -> None:
    import styledex.evaluation.search_bench as search_bench
    from styledex.catalog import Catalog
    from styledex.embed.content_views import query_views
    from styledex.evaluation.search_bench.views import bench_regions, exact_best_of_views, views_of_queries
    from styledex.search import Searcher

    # The helpers: regions are other pictures of the row's subject (nearer their row than the typical item), and the
    # exact answer is the top k by the best view, as brute force over every row says.
    gen = search_bench.SyntheticVectors.for_space("content")
    whole = gen.rows(0, 3000)
    rows = np.array([3, 1500, 2999])
    regions = bench_regions("content", gen, rows)
    assert regions.shape == (3, 5, 2048) and bench_regions("adain", gen, rows) is None
    own = np.einsum("qvd,qd->qv", regions, whole[rows])
    assert (own > np.median(regions @ whole.T, axis=2)).all()
    views = views_of_queries(whole[rows], regions)
    assert views.shape == (3, 12, 2048)
    np.testing.assert_array_equal(views[1], query_views(whole[1500], regions[1]))
    best = np.einsum("qvd,nd->qnv", views, whole).max(axis=2)
    best[np.arange(3), rows] = -np.inf
    got = exact_best_of_views(lambda: iter([(0, whole)]), views, rows, 10)
    assert [sorted(g) for g in got.tolist()] == [sorted(w) for w in np.argsort(-best, axis=1)[:, :10].tolist()]

    # The bench: exact search through styledex finds exactly that answer (recall 1.0 in-process and through FAISS's
    # own ranks), the graph over 256 components nearly all of it; every row says its queries had twelve views.
    report = search_bench.run_search_bench(items=600, queries=10, k=5, space="content",
                                           index_types=("flat", "hnsw-pca"))  # fmt: skip
    rows_by = {(r["index"], r["via"]): r for r in report["search"]}
    assert {r["views"] for r in report["search"]} == {12}
    assert rows_by["flat", "inprocess"]["recall_at_10"] == 1.0 and rows_by["flat", "faiss"]["recall_at_10"] == 1.0
    assert rows_by["hnsw-pca", "inprocess"]["recall_at_10"] >= 0.9
    assert rows_by["hnsw-pca", "inprocess"]["params"]["pca"] == 256

    # The catalog the server answers from holds the query items' regions, so its query has twelve views too.
    catalog = search_bench.build_synthetic_catalog(tmp_path / "c", 50, spaces=["content"],
                                                   views={"content": {4: regions[0]}})  # fmt: skip
    try:
        query = Searcher(catalog).query_vectors_for_item(5, ["content"])  # row 4 is item 5
        assert query["content@views"].shape == (12, 2048)
        np.testing.assert_allclose(query["content@views"][2:7], regions[0], atol=1e-3)  # stored as float16
    finally:
        catalog.close()
    assert Catalog.open(tmp_path / "c").item_views(6, "content", 2048) is None


def test_search_bench_skips_an_index_whose_copies_would_not_fit_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # 300 predictor vectors as flat: 300 x (4 x 100 + 8) B = 122,400 B per copy; with HTTP the server holds a second.
    import styledex.evaluation.search_bench as search_bench

    monkeypatch.setattr(search_bench, "CATALOG_MAX_ITEMS", 100)
    monkeypatch.setattr(search_bench, "_available_memory_bytes", lambda: 200_000)
    lines: list[str] = []
    kwargs = dict(items=300, queries=10, k=5, space="predictor", index_types=("flat",), progress=lines.append)
    assert search_bench.run_search_bench(**kwargs)["search"] == []
    assert any("flat: skipped, 2 copies need" in line for line in lines)
    alone = search_bench.run_search_bench(**kwargs, http=False)
    assert [r["via"] for r in alone["search"]] == ["faiss", "inprocess"]
    assert alone["search_setup"]["build_threads"] == os.cpu_count()


def test_fit_profile_recovers_the_generator_it_describes() -> None:
    from styledex.evaluation.search_bench import SPACE_PROFILES, SyntheticVectors, fit_profile

    for space, dim in (("adain", 2944), ("content", 2048)):
        truth = SPACE_PROFILES[space]
        fitted = fit_profile(SyntheticVectors(dim, truth).rows(0, 4000))
        assert fitted.mean_norm == pytest.approx(truth.mean_norm, abs=0.01)
        assert fitted.alpha == pytest.approx(truth.alpha, abs=0.05)
        assert fitted.noise_share == pytest.approx(truth.noise_share, abs=0.01)


def test_synthetic_vectors_are_unit_reproducible_by_row_and_exact_topk_is_exact() -> None:
    from styledex.evaluation.search_bench import SyntheticVectors, exact_topk

    gen = SyntheticVectors.for_space("predictor", seed=3)
    whole = gen.rows(0, 2 * gen.CHUNK + 10)
    np.testing.assert_allclose(np.linalg.norm(whole, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(gen.rows(gen.CHUNK - 5, gen.CHUNK + 5), whole[gen.CHUNK - 5 : gen.CHUNK + 5])
    # Clustered vectors share a mean direction (real style vectors do: mean cosine ~0.9 for adain).
    assert float((whole[:500] @ whole[:500].T).mean()) > 0.2
    rows = np.array([0, 7, 42])
    got = exact_topk(lambda: gen.chunks(whole.shape[0]), whole[rows], rows, 4)
    scores = whole[rows] @ whole.T
    scores[np.arange(3), rows] = -np.inf
    want = np.argsort(-scores, axis=1)[:, :4]
    assert [sorted(g) for g in got.tolist()] == [sorted(w) for w in want.tolist()]


def test_levers_table_names_each_baseline() -> None:
    from styledex.evaluation.levers_bench import _row, format_levers_table

    rows = [
        _row("threads", "1", 1.5, "images/s", 0.5, "2 threads"),
        _row("frame sampling", "seek to each target", 0.25, "s", 14.6, "decode every frame (3.65 s)"),
    ]
    table = format_levers_table({"device": "cpu", "threads": 2, "size": 256, "images": 16, "levers": rows})
    assert "| threads | 1 | 1.50 images/s | 0.50 | 2 threads | – |" in table
    assert "| frame sampling | seek to each target | 0.25 s | 14.60 | decode every frame (3.65 s) | – |" in table
