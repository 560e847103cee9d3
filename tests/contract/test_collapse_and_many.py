"""Near-duplicate folding (``search --collapse``, ``collapse=true``) and queries by several items at once (``search
--together``, ``GET /similar?ids=``, ``POST /search`` with several uploads and ``ids``), by the CLI and over HTTP.

A private copy of the session catalog (real VGG19 at 64 px) gets ``A``'s twin: the same picture re-encoded as a JPEG,
a near-duplicate of ``A`` (same look, same subject); ``A_restyled`` is A's subject in another look and must never
fold with it. The API must answer what the CLI answers.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from styledex.config import load_config
from styledex.serve.app import create_app

from helpers.catalogs import TinyCatalog
from helpers.cli import one_line_error
from helpers.http import error_detail, ok_json

FOLDED = ("style", "content", "style:0.5,content:0.5")  # folding is the same whatever the ranking space


@dataclass
class Twins:
    directory: Path
    ids: dict[str, int]  # the session catalog's names, plus "twin"
    paths: dict[str, Path]
    client: TestClient


@pytest.fixture(scope="module")
def twins(tiny_catalog: TinyCatalog, tmp_path_factory: pytest.TempPathFactory, cli) -> Iterator[Twins]:
    root = tmp_path_factory.mktemp("twins")
    directory = root / "catalog"
    shutil.copytree(tiny_catalog.directory, directory)
    twin = root / "A_twin.jpg"
    Image.open(tiny_catalog.paths["A"]).convert("RGB").save(twin, quality=90)  # a re-encode
    run = cli("--config", tiny_catalog.config, "add", twin, "--catalog", directory, "--json")
    assert run.rc == 0, run.err
    ids = {**tiny_catalog.ids, "twin": run.json()["ids"][0]}
    app = create_app(directory, config=load_config(tiny_catalog.config), token=None)
    with TestClient(app) as client:
        yield Twins(directory, ids, {**tiny_catalog.paths, "twin": twin}, client)


def _search(cli, twins: Twins, *args: Any) -> Any:
    run = cli("search", "--catalog", twins.directory, *map(str, args), "--json")
    assert run.rc == 0, run.err
    return run.json()


def _listed(hits: list[dict[str, Any]]) -> list[int]:
    """Every id a folded result list names: results and the duplicates they absorbed."""
    return [hit["id"] for hit in hits] + [i for hit in hits for i in hit["duplicates"]]


# -- collapse -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("space", FOLDED)
def test_a_reencoded_twin_folds_into_its_original_and_k_results_still_come_back(cli, twins: Twins, space) -> None:
    ids, query = twins.ids, twins.ids["noise"]
    everything = len(ids) - 1  # the query is never a result
    plain = _search(cli, twins, "--id", query, "--space", space, "-k", everything)[str(query)]
    assert {ids["A"], ids["twin"]} <= {hit["id"] for hit in plain}
    folded = _search(cli, twins, "--id", query, "--space", space, "-k", everything - 1, "--collapse")[str(query)]
    assert len(folded) == everything - 1  # one fewer item to show, every other one shown
    (pair,) = [hit for hit in folded if hit["id"] in (ids["A"], ids["twin"])]
    assert pair["duplicates"] == [ids["A"] if pair["id"] == ids["twin"] else ids["twin"]]
    assert all(hit["duplicates"] == [] for hit in folded if hit is not pair)  # A_restyled: another look
    assert sorted(_listed(folded)) == sorted(hit["id"] for hit in plain)  # nothing lost, nothing invented
    # Ranking is unchanged by folding: the kept results in their unfolded order.
    kept = [hit["id"] for hit in folded]
    assert kept == [hit["id"] for hit in plain if hit["id"] in kept]


def test_the_querys_near_duplicates_are_dropped_and_text_output_names_the_folded(cli, twins: Twins) -> None:
    ids = twins.ids
    plain = _search(cli, twins, "--id", ids["A"], "--space", "style", "-k", 3)[str(ids["A"])]
    assert plain[0]["id"] == ids["twin"] and plain[0]["score"] > 0.99
    folded = _search(cli, twins, "--id", ids["A"], "--space", "style", "-k", 3, "--collapse")[str(ids["A"])]
    assert ids["twin"] not in _listed(folded) and len(folded) == 3
    # Thresholds given on the command line: above the twin's cosines, nothing folds.
    strict = _search(cli, twins, "--id", ids["A"], "--space", "style", "-k", 3, "--collapse", "style:1,content:1")
    assert [hit["id"] for hit in strict[str(ids["A"])]] == [hit["id"] for hit in plain]

    run = cli("search", "--catalog", twins.directory, "--id", ids["noise"], "--space", "content", "-k", 9,
              "--collapse")  # fmt: skip
    assert run.rc == 0, run.err
    notes = [line.strip() for line in run.out.splitlines() if "near-duplicate" in line]
    assert notes in (["+1 near-duplicate(s): #" + str(ids["twin"])], ["+1 near-duplicate(s): #" + str(ids["A"])])


def test_the_api_folds_as_the_cli_does(cli, twins: Twins) -> None:
    client, query = twins.client, twins.ids["noise"]
    for space in FOLDED:
        params = {"space": space, "k": 6, "collapse": "true"}
        api = ok_json(client.get(f"/items/{query}/similar", params=params))["results"]
        assert api == _search(cli, twins, "--id", query, "--space", space, "-k", 6, "--collapse")[str(query)]
    strict = {"collapse": "true", "collapse_style": 1, "collapse_content": 1, "k": 9}
    assert all(hit["duplicates"] == [] for hit in ok_json(client.get(f"/items/{query}/similar", params=strict))[
        "results"])  # fmt: skip
    # An upload of A finds A's pair as a query near-duplicate: both are dropped.
    upload = {"file": ("A.png", twins.paths["A"].read_bytes(), "image/png")}
    results = ok_json(client.post("/search", files=upload, data={"collapse": "true", "k": "5"}))["results"]
    assert not {twins.ids["A"], twins.ids["twin"]} & set(_listed(results)) and len(results) == 5


# -- more like these ---------------------------------------------------------------------------------------
def test_several_ids_and_files_make_one_query_the_api_agrees(cli, twins: Twins) -> None:
    ids, client = twins.ids, twins.client
    together = _search(cli, twins, "--id", ids["A"], "--id", ids["checker"], "--together", "--space", "content",
                       "-k", 20)  # fmt: skip
    assert isinstance(together, list) and len(together) == len(ids) - 2
    assert not {ids["A"], ids["checker"]} & {hit["id"] for hit in together}
    # Not the same as either item's own search: the query is their mean.
    alone = _search(cli, twins, "--id", ids["A"], "--space", "content", "-k", 20)[str(ids["A"])]
    assert [hit["score"] for hit in together] != [hit["score"] for hit in alone if hit["id"] != ids["checker"]]
    api = ok_json(client.get("/similar", params={"ids": f"{ids['A']},{ids['checker']}", "space": "content",
                                                 "k": 20}))["results"]  # fmt: skip
    assert api == together

    # A file (searched, not added) and an id together, as one upload with ids.
    file_query = _search(cli, twins, "--file", twins.paths["noise"], "--id", ids["gradient"], "--together",
                         "--space", "style:0.5,content:0.5", "-k", 4)  # fmt: skip
    assert ids["gradient"] not in {hit["id"] for hit in file_query}
    upload = {"file": ("noise.jpg", twins.paths["noise"].read_bytes(), "image/jpeg")}
    data = {"ids": str(ids["gradient"]), "space": "style:0.5,content:0.5", "k": "4"}
    api = ok_json(client.post("/search", files=upload, data=data))["results"]
    assert [hit["id"] for hit in api] == [hit["id"] for hit in file_query]
    assert [hit["score"] for hit in api] == pytest.approx([hit["score"] for hit in file_query], abs=1e-4)
    # Two uploads of one picture: their mean is that picture, which finds itself first.
    two = [("file", ("a.png", twins.paths["A"].read_bytes(), "image/png"))] * 2
    best = ok_json(client.post("/search", files=two, data={"space": "content", "k": "1"}))["results"][0]
    assert best["id"] in (ids["A"], ids["twin"]) and best["score"] == pytest.approx(1.0, abs=2e-3)


def test_bad_queries_are_one_line_errors(cli, twins: Twins) -> None:
    directory, ids = twins.directory, twins.ids
    line = one_line_error(cli("search", "--catalog", directory, "--id", ids["A"], "--id", "987654", "--together"))
    assert "987654" in line
    assert "needs a query" in one_line_error(cli("search", "--catalog", directory))
    line = one_line_error(cli("search", "--catalog", directory, "--id", ids["A"], "--file", twins.paths["A"]))
    assert "--together" in line
    line = one_line_error(cli("search", "--catalog", directory, "--id", ids["A"], "--collapse", "style:2"))
    assert line.startswith("styledex: error: --collapse: expected style:COSINE,content:COSINE")

    client = twins.client
    assert "999999" in error_detail(client.get("/similar", params={"ids": f"{ids['A']},999999"}), 404)
    error_detail(client.get("/similar"), 422)
    error_detail(client.get("/similar", params={"ids": "1,,2"}), 422)
    error_detail(client.get("/similar", params={"ids": "9" * 30}), 422)  # past the largest rowid
    detail = error_detail(client.get(f"/items/{ids['A']}/similar", params={"collapse_style": 0.9}), 422)
    assert "collapse=true" in detail
    upload = {"file": ("a.png", twins.paths["A"].read_bytes(), "image/png")}
    error_detail(client.post("/search", files=upload, data={"ids": "999999"}), 404)
