"""The index policy (which index type a space gets), its config section, and `styledex reindex`."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import shutil
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from styledex.catalog import Catalog
from styledex.config import INDEX_PARAM_NAMES, ConfigError, IndexConfig, load_config
from styledex.embed.spaces import ALIASES, SPACES, SpaceSpec
from styledex.index import INDEX_TYPE_DEFAULTS
from styledex.index.policy import choose_index, estimate_bytes_per_item, ivfpq_m_choices, ivfpq_nlist
from styledex.search import Searcher
from styledex.space_indexes import index_from_vectors

from helpers.catalogs import build_vector_catalog
from helpers.cli import run_inprocess

GB2 = 2048 * 2**20


def _hint(space: str) -> int | None:
    """The space definition's index hint, as the catalog passes it to the policy."""
    return SPACES[space].pq_subvector_dims


pytestmark = pytest.mark.usefixtures("one_faiss_thread")  # FAISS k-means on one thread (tests/unit/conftest.py)


def test_auto_policy_boundaries() -> None:
    assert choose_index(0, 2944, GB2).index_type == "flat"
    assert choose_index(5_000, 2944, GB2).index_type == "flat"
    mid = choose_index(5_001, 2944, GB2)
    assert mid.index_type == "hnsw" and mid.params["sq8"] == 0
    # 180k float32 vectors of 2944 dims plus the graph (2.17 GB) do not fit 2 GiB: 8-bit storage does.
    assert choose_index(180_000, 2944, GB2).params == {"sq8": 1}
    # Below the flat threshold but over budget: not flat.
    assert choose_index(4_000, 2944, 10 * 2**20).index_type != "flat"
    big = choose_index(200_000, 2944, GB2)
    assert big.index_type == "ivfpq" and "200000 >= 200000 items and float32 hnsw does not fit" in big.reason
    # From ivfpq_min_items on, float32 hnsw still wins where it fits (100-d predictor: ~680 B/item, 3.2M in 2 GiB);
    # sq8 hnsw does not (990-d cin: ~4.2 KB/item float32, ~1.3 KB sq8).
    assert choose_index(1_000_000, 100, GB2, pq_subvector_dims=_hint("predictor")) == ("hnsw", {"sq8": 0}, mock.ANY)
    assert choose_index(3_500_000, 100, GB2, pq_subvector_dims=_hint("predictor")).index_type == "ivfpq"
    assert choose_index(400_000, 990, GB2, pq_subvector_dims=_hint("cin")).params == {"sq8": 0}
    assert choose_index(1_000_000, 990, GB2, pq_subvector_dims=_hint("cin")).index_type == "ivfpq"
    assert choose_index(190_000, 990, 300 * 2**20, pq_subvector_dims=_hint("cin")).params == {"sq8": 1}
    # Thresholds come from the caller (the config).
    assert choose_index(5_000, 2944, GB2, flat_max_items=4_999).index_type == "hnsw"


def test_ivfpq_parameters_fit_the_budget_at_one_million() -> None:
    choice = choose_index(1_000_000, 2944, GB2)
    assert choice.index_type == "ivfpq"
    params = choice.params
    assert params["nlist"] == 4000 and 2944 % params["m"] == 0 and params["m"] == 368
    assert 1 <= params["nprobe"] <= params["nlist"]
    assert estimate_bytes_per_item("ivfpq", 2944, 1_000_000, params | {"nbits": 8}) <= 2048
    # A tight budget gives fewer bytes per code.
    tight = choose_index(1_000_000, 2944, 300 * 2**20).params
    assert tight["m"] < 368 and estimate_bytes_per_item("ivfpq", 2944, 1_000_000, tight | {"nbits": 8}) <= 315
    # Overrides win.
    assert choose_index(1_000_000, 2944, GB2, overrides={"ivfpq": {"m": 92, "nprobe": 7}}).params["m"] == 92


def test_forced_policies_and_small_counts() -> None:
    assert choose_index(1_000_000, 100, GB2, policy="flat").index_type == "flat"
    forced = choose_index(3_000, 2944, GB2, policy="hnsw", overrides={"hnsw": {"ef_search": 99}})
    assert forced == ("hnsw", {"ef_search": 99}, "forced hnsw")
    small = choose_index(100, 2944, GB2, policy="ivfpq")
    assert small.index_type == "flat" and "cannot train ivfpq" in small.reason
    assert choose_index(3_000, 100, GB2, policy="ivfpq").params["nlist"] == 3_000 // 32
    with pytest.raises(ValueError, match="unknown index policy"):
        choose_index(10, 10, GB2, policy="ivf")


def test_nlist_and_m_rules() -> None:
    assert ivfpq_nlist(100_000) == 1265 and ivfpq_nlist(1_000_000) == 4000 and ivfpq_nlist(1_000) == 31
    assert ivfpq_nlist(10) == 1
    assert ivfpq_m_choices(2944)[0] == 368 and ivfpq_m_choices(2048)[0] == 256 and ivfpq_m_choices(4) == [1]
    assert all(2944 % m == 0 for m in ivfpq_m_choices(2944))


def test_config_names_match_the_index_types_and_bad_values_fail(tmp_path: Path) -> None:
    assert {name: set(names) for name, names in INDEX_PARAM_NAMES.items()} == {
        name: set(defaults) for name, defaults in INDEX_TYPE_DEFAULTS.items()
    }
    config = load_config()
    assert config.index.policy == "auto" and config.index.memory_budget_bytes == GB2
    for text, where in (
        ("index: {policy: ivf}\n", "index.policy"),
        ("index: {ivfpq: {nprobes: 3}}\n", "index.ivfpq"),
        ("index: {memory_budget_mb: 0}\n", "index.memory_budget_mb"),
    ):
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=where):
            load_config(path)


# -- reindex ----------------------------------------------------------------------------------------------------
SPACE = "predictor"  # 100-d: a real space, cheap enough for a test catalog of a few thousand items
DIM = 100


@pytest.fixture(scope="module")
def synthetic_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("reindex") / "catalog"
    build_vector_catalog(directory, 3000, (SPACE,)).close()
    return directory


def _top10(directory: Path, ids: list[int]) -> tuple[str, list[list[int]]]:
    with Catalog.open(directory) as catalog:
        searcher = Searcher(catalog)
        index = searcher.index(SPACE)
        results = []
        for item_id in ids:
            query = searcher.query_vectors_for_item(item_id, [SPACE])
            results.append([hit["id"] for hit in searcher.search(query, {SPACE: 1.0}, 10, exclude=[item_id])])
        return index.index_type, results


def test_reindex_changes_the_type_keeps_results_and_the_catalog_valid(synthetic_catalog: Path, tmp_path: Path) -> None:
    directory = tmp_path / "catalog"
    shutil.copytree(synthetic_catalog, directory)
    query_ids = list(range(1, 3001, 100))
    kind, exact = _top10(directory, query_ids)
    assert kind == "flat"  # auto at 3000 items

    run = run_inprocess("reindex", "--catalog", directory, "--index", "ivfpq", "--json")
    assert run.rc == 0, run.err
    (row,) = run.json()["reindex"]
    assert row["space"] == SPACE and row["index"] == "ivfpq" and row["count"] == 3000
    assert row["bytes_per_item"] > 0 and row["build_seconds"] >= 0 and "forced ivfpq" in row["reason"]
    manifest = json.loads((directory / "index" / SPACE / "manifest.json").read_text())
    assert manifest["index_type"] == "ivfpq" and manifest["policy"]["chosen_by"] == "ivfpq"
    assert manifest["policy"]["count"] == 3000

    kind, approx = _top10(directory, query_ids)
    assert kind == "ivfpq"  # opened from disk, not rebuilt
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.9

    # Still a working catalog: a removal reaches the ivfpq index, and a lost index is rebuilt with the
    # type reindex chose (stored in the catalog), not the default policy's.
    with Catalog.open(directory) as catalog, catalog.writing():
        searcher = Searcher(catalog)
        searcher.index(SPACE)
        catalog.remove([1, 2])
        assert 1 not in searcher.index(SPACE) and len(searcher.index(SPACE)) == 2998
    shutil.rmtree(directory / "index" / SPACE)
    with Catalog.open(directory) as catalog:
        rebuilt = Searcher(catalog).index(SPACE)
        assert rebuilt.index_type == "ivfpq" and len(rebuilt) == 2998

    run = run_inprocess("reindex", "--catalog", directory, "--index", "auto")
    assert run.rc == 0 and SPACE in run.out and "flat" in run.out
    assert _top10(directory, [101])[0] == "flat"


def test_reindex_bad_arguments_are_one_line_errors(synthetic_catalog: Path, tmp_path: Path) -> None:
    run = run_inprocess("reindex", "--catalog", synthetic_catalog, "--index", "ivf")
    assert run.rc == 2 and len(run.err_lines) == 1 and "--index must be one of" in run.err
    run = run_inprocess("reindex", "--catalog", synthetic_catalog, "--space", "gram")
    assert run.rc == 2 and len(run.err_lines) == 1 and "not in this catalog" in run.err
    run = run_inprocess("reindex", "--catalog", tmp_path / "none")
    assert run.rc == 2 and len(run.err_lines) == 1 and "no catalog" in run.err


def test_spaces_with_spread_variance_get_finer_pq_codes() -> None:
    # measured with `styledex eval --index ivfpq` (see SpaceSpec.pq_subvector_dims): 2-d sub-vectors for predictor, 3-d
    # for cin
    # (auto gives predictor float32 hnsw at 1M: ivfpq is forced where it would not be chosen)
    budget = 2048 * 2**20
    assert choose_index(1_000_000, 100, budget, policy="ivfpq", pq_subvector_dims=_hint("predictor")).params["m"] == 50
    assert choose_index(1_000_000, 990, budget, pq_subvector_dims=_hint("cin")).params["m"] == 330
    assert choose_index(1_000_000, 2944, budget, pq_subvector_dims=_hint("adain")).params["m"] == 368
    assert choose_index(1_000_000, 100, budget, policy="ivfpq").params["m"] == 10  # unnamed space: 8+ dims each
    # still within the budget's 2 KB per item at 1M
    for space, dim in (("predictor", 100), ("cin", 990)):
        choice = choose_index(1_000_000, dim, budget, policy="ivfpq", pq_subvector_dims=_hint(space))
        assert estimate_bytes_per_item("ivfpq", dim, 1_000_000, {"nbits": 8} | choice.params) < 500


def test_a_space_hinting_graph_dims_gets_a_reduced_hnsw_where_its_whole_vectors_do_not_fit() -> None:
    content = SPACES["content"].index_hints()
    assert content["graph_dims"] == 256
    # 200k: float32 hnsw fits (2048-d, ~8.5 KB/item in 10.7 KB): kept whole.
    assert choose_index(200_000, 2048, GB2, **content).params == {"sq8": 0}
    # 1M: neither float32 (~8.5 KB) nor sq8 (past ivfpq_min_items) fits 2.1 KB/item; 256 components do.
    million = choose_index(1_000_000, 2048, GB2, **content)
    assert million.index_type == "hnsw" and million.params == {"sq8": 0, "ef_search": 128, "pca": 256}
    assert "256 principal components" in million.reason and "re-scored" in million.reason
    estimate = estimate_bytes_per_item("hnsw", 2048, 1_000_000, million.params)
    assert 1_000_000 * estimate <= GB2
    # 4·256 vector bytes + 8·32 links + 24, and the PCA's matrices spread over the items (~17 B each).
    assert estimate == pytest.approx(4 * 256 + 8 * 32 + 24 + (2048 + 256 + 2) * 2048 * 4 / 1e6)
    assert estimate < 2048
    # Below ivfpq_min_items sq8 still comes first (near-exact, no re-ranking reads).
    assert choose_index(250_000, 2048, 600 * 2**20, ivfpq_min_items=300_000, **content).params == {"sq8": 1}
    # Too many even for the reduced graph (~1.3 KB/item: 1.6M in 2 GiB): ivfpq.
    assert choose_index(2_000_000, 2048, GB2, **content).index_type == "ivfpq"
    # A space without the hint (adain) keeps ivfpq at 1M; a hint not below dim is ignored.
    assert choose_index(1_000_000, 2944, GB2, **SPACES["adain"].index_hints()).index_type == "ivfpq"
    assert choose_index(1_000_000, 2048, GB2, graph_dims=2048).index_type == "ivfpq"
    # Config overrides of hnsw (ef_search) carry over into the reduced graph.
    tuned = choose_index(1_000_000, 2048, GB2, overrides={"hnsw": {"ef_search": 96}}, **content)
    assert tuned.params == {"sq8": 0, "ef_search": 96, "pca": 256}


def test_policy_knows_no_space_by_name(tmp_path: Path) -> None:
    """Per-space settings come from the caller (the space's definition): the policy holds no space names, so a made-up
    space with a real space's dimension and hints gets the same choice, and a new index takes its space's hint."""
    import styledex.index.policy as policy

    assert "space" not in inspect.signature(choose_index).parameters
    tree = ast.parse(inspect.getsource(policy))
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, documented) and node.body and isinstance(node.body[0], ast.Expr)
    }
    literals = {
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }  # fmt: skip
    assert not literals & (set(SPACES) | set(ALIASES))

    def choice(spec: SpaceSpec, count: int, forced: str) -> tuple[str, dict[str, int], str]:
        return choose_index(count, spec.dim, GB2, policy=forced, **spec.index_hints())

    for spec in SPACES.values():
        made_up = dataclasses.replace(spec, name="made-up")
        for count, forced in ((3_000, "auto"), (300_000, "auto"), (1_000_000, "auto"), (1_000_000, "ivfpq")):
            assert choice(made_up, count, forced) == choice(spec, count, forced)

    # A new index takes the hint from the space's definition: predictor's 2-d sub-vectors give m = 50 of its 100
    # dims; a space defined without one gets the policy's default 8-d (m = 10).
    vectors = np.random.default_rng(0).standard_normal((300, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, 301, dtype=np.int64)
    config = IndexConfig(policy="ivfpq", ivfpq={"nlist": 4})
    made_up = dataclasses.replace(SPACES[SPACE], name="made-up", pq_subvector_dims=None)
    m = {
        spec.name: index_from_vectors(tmp_path / spec.name, spec, "f", ids, vectors, 0, config).index_params["m"]
        for spec in (SPACES[SPACE], made_up)
    }
    assert m == {SPACE: 50, "made-up": 10}
