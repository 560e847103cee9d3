"""A content search lowers the query's own look on other subjects (styledex.lowering), by the CLI and over HTTP.

A small catalog with ``style_head`` (real VGG19 at 64 px): ``A_restyled`` and ``B_restyled`` are two drawings in one
strong colour look. The config sets ``search.look.above`` to -1 so that every candidate short of the query's subject
(content cosine < 0.5) is lowered by its whole look cosine + 1: the formula is then checked on every result, and
``--same-look`` / ``same_look=true`` must rank by content alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from styledex.config import load_config
from styledex.serve.app import create_app

from helpers.cli import run_inprocess
from helpers.http import ok_json
from helpers.media import make_image, make_shapes, restyle

WEIGHT, ABOVE, SAME_SUBJECT = 1.0, -1.0, 0.5


@pytest.fixture(scope="module")
def look_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("look")
    media = root / "media"
    media.mkdir()
    a = make_shapes(media / "A.png", seed=4)
    b = make_shapes(root / "B.png", seed=5)
    restyle(a, media / "A_restyled.png")
    restyle(b, media / "B_restyled.png")
    for seed, pattern in ((1, "noise"), (2, "gradient"), (3, "checker")):
        make_image(media / f"{pattern}.png", seed=seed, pattern=pattern)
    config = root / "config.yaml"
    config.write_text(
        "embed: {image_size: 64, spaces: [content, style_head]}\n"
        f"search: {{look: {{weight: {WEIGHT}, above: {ABOVE}, same_subject: {SAME_SUBJECT}}}}}\n"
    )
    catalog = root / "catalog"
    run = run_inprocess("--config", config, "add", media, "--catalog", catalog, "--json")
    assert run.rc == 0, run.err
    listing = run_inprocess("list", "--catalog", catalog, "--json")
    ids = {Path(item["path"]).stem: item["id"] for item in listing.json()}
    return catalog, config, ids


def _search(catalog: Path, config: Path, query: int, *args: str) -> list[dict[str, Any]]:
    run = run_inprocess(
        "--config", config, "search", "--catalog", catalog, "--id", query, "--space", "content", "-k", 5, *args,
        "--json",
    )  # fmt: skip
    assert run.rc == 0, run.err
    return run.json()[str(query)]


def test_a_content_search_lowers_other_subjects_in_its_own_look_and_says_by_how_much(look_catalog) -> None:
    catalog, config, ids = look_catalog
    query = ids["A_restyled"]
    lowered = _search(catalog, config, query)
    plain = _search(catalog, config, query, "--same-look")
    assert {hit["id"] for hit in lowered} == {hit["id"] for hit in plain}  # re-ranked, nothing dropped
    for hit in plain:
        assert set(hit["scores"]) == {"content"} and hit["score"] == hit["scores"]["content"]
    lowered_any = False
    for hit in lowered:
        content, look = hit["scores"]["content"], hit["scores"]["style_head"]
        kept = content >= SAME_SUBJECT
        expected = content if kept else content - WEIGHT * max(0.0, look - ABOVE)
        assert hit["score"] == pytest.approx(expected, abs=2e-6)
        lowered_any |= not kept
    assert lowered_any  # the test's premise: some candidate is not the query's subject
    assert [hit["score"] for hit in lowered] == sorted((hit["score"] for hit in lowered), reverse=True)
    assert {h["id"]: h["scores"]["content"] for h in lowered} == {h["id"]: h["score"] for h in plain}
    # B_restyled shares the query's look and not its subject: the look counts against it.
    same_look = next(hit for hit in lowered if hit["id"] == ids["B_restyled"])
    others = [hit for hit in lowered if hit["id"] != ids["B_restyled"] and hit["scores"]["content"] < SAME_SUBJECT]
    assert all(same_look["scores"]["style_head"] > hit["scores"]["style_head"] for hit in others)


def test_a_style_search_there_is_not_lowered_by_look(look_catalog) -> None:
    catalog, config, ids = look_catalog
    run = run_inprocess(
        "--config", config, "search", "--catalog", catalog, "--id", ids["A"], "--space", "style", "--json"
    )  # fmt: skip
    assert run.rc == 0, run.err
    assert all("style_head" in hit["scores"] and "content" in hit["scores"] for hit in run.json()[str(ids["A"])])


def test_the_api_lowers_the_look_as_the_cli_does(look_catalog) -> None:
    catalog, config, ids = look_catalog
    query = ids["A_restyled"]
    app = create_app(catalog, config=load_config(config), token=None)
    with TestClient(app) as client:
        for flag, extra in (([], {}), (["--same-look"], {"same_look": "true"})):
            expected = _search(catalog, config, query, *flag)
            got = ok_json(client.get(f"/items/{query}/similar", params={"space": "content", "k": 5, **extra}))
            assert [(h["id"], h["score"], h["scores"]) for h in got["results"]] == [
                (h["id"], h["score"], h["scores"]) for h in expected
            ]
