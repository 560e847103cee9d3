"""A style search lowers the query's own subject in other looks (styledex.lowering), by the CLI and over HTTP.

In the session catalog (real VGG19 at 64 px; ``style`` names ``adain`` there), ``A_restyled`` is ``A``'s drawing in
another look: the content space says "same subject" (cosine above the threshold), so a style search by ``A`` must
lower it by the configured weight, and ``--same-subject`` / ``same_subject=true`` must rank by style alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from styledex.config import load_config
from styledex.serve.app import create_app

from helpers.catalogs import TinyCatalog
from helpers.http import ok_json

WEIGHT, ABOVE = 2.0, 0.5  # the packaged defaults (configs/default.yaml search.subject)


def _search(cli, catalog: TinyCatalog, query: int, *args: str) -> list[dict[str, Any]]:
    everything = str(len(catalog.ids) - 1)
    run = cli("search", "--catalog", catalog.directory, "--id", str(query), "-k", everything, *args, "--json")
    assert run.rc == 0, run.err
    return run.json()[str(query)]


def test_a_style_search_lowers_the_querys_own_subject_and_says_by_how_much(cli, tiny_catalog: TinyCatalog) -> None:
    ids = tiny_catalog.ids
    lowered = _search(cli, tiny_catalog, ids["A"], "--space", "style")
    plain = _search(cli, tiny_catalog, ids["A"], "--space", "style", "--same-subject")
    assert {hit["id"] for hit in lowered} == {hit["id"] for hit in plain}  # re-ranked, nothing dropped
    for hit in plain:
        assert set(hit["scores"]) == {"adain"} and hit["score"] == hit["scores"]["adain"]
    for hit in lowered:
        style, content = hit["scores"]["adain"], hit["scores"]["content"]
        assert hit["score"] == pytest.approx(style - WEIGHT * max(0.0, content - ABOVE), abs=2e-6)
    assert [hit["score"] for hit in lowered] == sorted((hit["score"] for hit in lowered), reverse=True)
    # The same style cosines either way: only the ranking score differs.
    assert {h["id"]: h["scores"]["adain"] for h in lowered} == {h["id"]: h["score"] for h in plain}
    restyled = next(hit for hit in lowered if hit["id"] == ids["A_restyled"])
    assert restyled["scores"]["content"] > ABOVE  # the test's premise: the content space calls it A's subject
    def rank(hits: list[dict[str, Any]]) -> int:
        return [hit["id"] for hit in hits].index(ids["A_restyled"])

    assert rank(lowered) > rank(plain)


def test_a_mix_of_style_spaces_is_lowered_from_its_fused_score(cli, tiny_catalog: TinyCatalog) -> None:
    query = tiny_catalog.ids["A"]
    lowered = _search(cli, tiny_catalog, query, "--space", "adain:0.5,gram:0.5")
    plain = _search(cli, tiny_catalog, query, "--space", "adain:0.5,gram:0.5", "--same-subject")
    fused = {hit["id"]: hit["score"] for hit in plain}
    for hit in lowered:
        assert set(hit["scores"]) == {"adain", "gram", "content"}
        style = fused[hit["id"]]
        expected = style if style >= 0.99 else style - WEIGHT * max(0.0, hit["scores"]["content"] - ABOVE)
        assert hit["score"] == pytest.approx(expected, abs=2e-6)
    assert [hit["score"] for hit in lowered] == sorted((hit["score"] for hit in lowered), reverse=True)


@pytest.mark.parametrize("space", ["content", "style:0.5,content:0.5"])
def test_content_searches_and_mixes_are_not_lowered(cli, tiny_catalog: TinyCatalog, space: str) -> None:
    # Not by subject; and not by look either: this catalog has no style_head (tests/contract/test_look_search.py).
    query = tiny_catalog.ids["A"]
    default = _search(cli, tiny_catalog, query, "--space", space)
    assert default == _search(cli, tiny_catalog, query, "--space", space, "--same-subject")
    expected = {"content"} if space == "content" else {"adain", "content"}
    assert all(set(hit["scores"]) == expected for hit in default)


def test_the_api_lowers_as_the_cli_does(cli, tiny_catalog: TinyCatalog) -> None:
    query, k = tiny_catalog.ids["A"], len(tiny_catalog.ids) - 1
    app = create_app(tiny_catalog.directory, config=load_config(tiny_catalog.config), token=None)
    with TestClient(app) as client:
        for flag, extra in (([], {}), (["--same-subject"], {"same_subject": "true"})):
            expected = _search(cli, tiny_catalog, query, "--space", "style", *flag)
            got = ok_json(client.get(f"/items/{query}/similar", params={"space": "style", "k": k, **extra}))
            assert [(h["id"], h["score"], h["scores"]) for h in got["results"]] == [
                (h["id"], h["score"], h["scores"]) for h in expected
            ]
