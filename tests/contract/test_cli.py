"""End-to-end facts about the ``styledex`` command (issue 2's CLI contract and its bad-input rules).

Most calls go through ``styledex.cli.main`` in this process (no 3 s interpreter + torch start-up per call); the
exit-code and no-traceback facts that depend on a real process are checked with a subprocess.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from styledex.catalog import Catalog
from styledex.search import Searcher

from helpers.catalogs import SESSION_VIDEO_FRAMES, TINY_CONFIG, TinyCatalog
from helpers.cli import one_line_error
from helpers.media import make_audio_only_mp4, make_bomb_png, make_image, make_shapes, make_truncated

CATALOG_SPACES = ("content", "adain", "gram")


def _search(cli, catalog: Path, *args) -> object:
    run = cli("search", "--catalog", catalog, *map(str, args), "--json")
    assert run.rc == 0, run.err
    return run.json()


def _check_hits(hits: list[dict], known_ids: set[int]) -> None:
    for hit in hits:
        assert isinstance(hit["id"], int) and hit["id"] in known_ids
        assert isinstance(hit["path"], str) and Path(hit["path"]).is_file()
        assert isinstance(hit["score"], float)
        assert -1.0001 <= hit["score"] <= 1.0001
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert len({hit["id"] for hit in hits}) == len(hits)


# -- add + list ---------------------------------------------------------------------------------------------
def test_add_folder_then_list_matches_the_contract(tiny_catalog: TinyCatalog) -> None:
    summary = tiny_catalog.summary
    assert (summary["added"], summary["skipped"], summary["failed"]) == (9, 0, 0)
    assert summary["failures"] == []
    assert sorted(summary["ids"]) == sorted(tiny_catalog.ids.values())

    items = tiny_catalog.items
    assert len(items) == 9  # notes.txt in the folder is not media and is not walked
    assert [item["id"] for item in items] == sorted(item["id"] for item in items)
    for item in items:
        assert isinstance(item["id"], int)
        assert isinstance(item["path"], str) and Path(item["path"]).is_absolute() and Path(item["path"]).is_file()
        assert item["kind"] in ("image", "video")
        assert item["status"] == "ok"
        assert item["error"] is None
        assert len(item["sha256"]) == 64
        assert item["size"] == Path(item["path"]).stat().st_size
    kinds = [item["kind"] for item in items]
    assert kinds.count("image") == 8 and kinds.count("video") == 1

    (video,) = [item for item in items if item["kind"] == "video"]
    assert video["id"] == tiny_catalog.ids["video"]
    assert video["frames"] == SESSION_VIDEO_FRAMES  # --frames wins over the config's 3
    assert video["duration"] == pytest.approx(2.0, abs=0.2)  # 24 frames at 12 fps
    # The subfolder was walked recursively.
    assert str(tiny_catalog.paths["sub_checker"].absolute()) in {item["path"] for item in items}


def test_list_filters_and_human_output(cli, tiny_catalog: TinyCatalog) -> None:
    videos = cli("list", "--catalog", tiny_catalog.directory, "--kind", "video", "--json").json()
    assert [v["id"] for v in videos] == [tiny_catalog.ids["video"]]
    assert cli("list", "--catalog", tiny_catalog.directory, "--status", "failed", "--json").json() == []

    run = cli("list", "--catalog", tiny_catalog.directory)
    assert run.rc == 0 and run.err == ""
    lines = run.out.splitlines()
    assert lines[-1] == "9 item(s)"
    for name, path in tiny_catalog.paths.items():
        (line,) = [line for line in lines if line.endswith(str(path.absolute()))]
        assert line.split()[0] == str(tiny_catalog.ids[name])
        assert " ok " in line
        assert (" video " in line) == (name == "video")


# -- search -------------------------------------------------------------------------------------------------
def test_search_by_id_excludes_the_query_and_sorts_by_score(cli, tiny_catalog: TinyCatalog) -> None:
    all_ids = set(tiny_catalog.ids.values())
    query = tiny_catalog.ids["noise"]
    result = _search(cli, tiny_catalog.directory, "--id", query, "--space", "content", "-k", 3)
    assert list(result) == [str(query)]
    hits = result[str(query)]
    assert len(hits) == 3
    assert query not in {hit["id"] for hit in hits}
    _check_hits(hits, all_ids)

    # k larger than the catalog: everything but the query.
    big = _search(cli, tiny_catalog.directory, "--id", query, "--space", "gram", "-k", 50)[str(query)]
    assert {hit["id"] for hit in big} == all_ids - {query}
    _check_hits(big, all_ids)

    # Several ids: one key each, each excluding only itself.
    other = tiny_catalog.ids["checker"]
    both = _search(cli, tiny_catalog.directory, "--id", query, other, "--space", "adain", "-k", 8)
    assert set(both) == {str(query), str(other)}
    assert {hit["id"] for hit in both[str(other)]} == all_ids - {other}
    assert {hit["id"] for hit in both[str(query)]} == all_ids - {query}


def test_search_by_file_returns_a_list_with_the_same_file_first(cli, tiny_catalog: TinyCatalog) -> None:
    all_ids = set(tiny_catalog.ids.values())
    for space in CATALOG_SPACES:
        hits = _search(cli, tiny_catalog.directory, "--file", tiny_catalog.paths["A"], "--space", space, "-k", 4)
        assert isinstance(hits, list) and len(hits) == 4
        _check_hits(hits, all_ids)
        # The file is in the catalog: its own vector is the best match, at cosine ~1.
        assert hits[0]["id"] == tiny_catalog.ids["A"]
        assert hits[0]["score"] == pytest.approx(1.0, abs=1e-3)
        assert hits[1]["score"] < 0.999


def test_content_search_finds_the_restyled_original_before_the_same_style(cli, tiny_catalog: TinyCatalog) -> None:
    """A_restyled shares content with A and style with B_restyled: content search must rank A above B_restyled.

    Holds at image_size 64 with a wide margin (measured over 20 random shape drawings: cos(A', A) 0.51..0.73,
    cos(A', B') -0.01..0.41).
    """
    ids = tiny_catalog.ids
    hits = _search(cli, tiny_catalog.directory, "--id", ids["A_restyled"], "--space", "content", "-k", 8)
    order = [hit["id"] for hit in hits[str(ids["A_restyled"])]]
    assert order.index(ids["A"]) < order.index(ids["B_restyled"])
    scores = {hit["id"]: hit["score"] for hit in hits[str(ids["A_restyled"])]}
    assert scores[ids["A"]] - scores[ids["B_restyled"]] > 0.05

    # The same from a file that is not in the catalog (the query path embeds it on the fly).
    file_hits = _search(cli, tiny_catalog.directory, "--file", tiny_catalog.paths["A_restyled"], "--space", "content",
                        "-k", 8)  # fmt: skip
    file_order = [hit["id"] for hit in file_hits if hit["id"] != ids["A_restyled"]]
    assert file_order.index(ids["A"]) < file_order.index(ids["B_restyled"])


def test_spaces_json_and_aliases(cli, tiny_catalog: TinyCatalog) -> None:
    rows = cli("spaces", "--catalog", tiny_catalog.directory, "--json").json()
    by_name = {row["name"]: row for row in rows}
    assert {"content", "gram", "adain", "predictor"} <= set(by_name)
    for row in rows:
        assert isinstance(row["name"], str)
        assert row["kind"] in ("style", "content")
        assert isinstance(row["dim"], int) and row["dim"] > 0
    assert by_name["content"]["kind"] == "content"
    assert by_name["adain"]["kind"] == by_name["gram"]["kind"] == by_name["predictor"]["kind"] == "style"
    assert by_name["adain"]["dim"] == 2944
    assert by_name["gram"]["dim"] <= 4096
    assert by_name["predictor"]["dim"] == 100
    for name in CATALOG_SPACES:
        assert by_name[name]["in_catalog"] is True and by_name[name]["count"] == 9
    assert by_name["predictor"]["in_catalog"] is False

    # Each alias names exactly one space, of its own kind.
    for alias in ("style", "content"):
        (target,) = [row for row in rows if alias in row["aliases"]]
        assert target["kind"] == alias
    style_target = next(row["name"] for row in rows if "style" in row["aliases"])
    assert style_target in CATALOG_SPACES

    # `--space style` is exactly a search in the space that spaces --json shows as its target.
    query = tiny_catalog.ids["gradient"]
    via_alias = _search(cli, tiny_catalog.directory, "--id", query, "--space", "style", "-k", 5)
    via_name = _search(cli, tiny_catalog.directory, "--id", query, "--space", style_target, "-k", 5)
    assert via_alias == via_name
    # A style search lists the content cosine beside the style one (styledex.lowering lowers the query's subject).
    assert set(via_alias[str(query)][0]["scores"]) == {style_target, "content"}

    # Human output: one line per space with its kind and dim.
    run = cli("spaces", "--catalog", tiny_catalog.directory)
    assert run.rc == 0
    assert "adain" in run.out and "2944-d" in run.out and "9 items" in run.out


def test_mixed_space_search_carries_per_space_scores(cli, tiny_catalog: TinyCatalog) -> None:
    ids = tiny_catalog.ids
    query = ids["checker"]
    mixed = _search(cli, tiny_catalog.directory, "--id", query, "--space", "style:0.5,content:0.5", "-k", 8)
    hits = mixed[str(query)]
    assert len(hits) == 8 and query not in {hit["id"] for hit in hits}
    _check_hits(hits, set(ids.values()))

    style_name = next(
        row["name"]
        for row in cli("spaces", "--catalog", tiny_catalog.directory, "--json").json()
        if "style" in row["aliases"]
    )
    singles = {
        space: {  # each space's own cosine (a style search also lists content: it lowers the query's subject)
            hit["id"]: hit["scores"][space]
            for hit in _search(cli, tiny_catalog.directory, "--id", query, "--space", space, "-k", 8)[str(query)]
        }
        for space in (style_name, "content")
    }
    for hit in hits:
        assert set(hit["scores"]) == {style_name, "content"}
        # Each per-space score is that space's own cosine; the fused score is their weighted mean.
        for space, score in hit["scores"].items():
            assert score == pytest.approx(singles[space][hit["id"]], abs=1e-4)
        assert hit["score"] == pytest.approx(0.5 * hit["scores"][style_name] + 0.5 * hit["scores"]["content"],
                                             abs=1e-4)  # fmt: skip


def test_video_results_say_which_frame_matched(cli, tiny_catalog: TinyCatalog) -> None:
    ids = tiny_catalog.ids
    video = next(item for item in tiny_catalog.items if item["kind"] == "video")
    for space in CATALOG_SPACES:
        hits = _search(cli, tiny_catalog.directory, "--id", ids["gradient"], "--space", space, "-k", 8)
        for hit in hits[str(ids["gradient"])]:
            if hit["id"] == ids["video"]:
                assert hit["kind"] == "video"
                assert isinstance(hit["frame"], int) and 0 <= hit["frame"] < SESSION_VIDEO_FRAMES
                assert isinstance(hit["time"], float) and 0.0 <= hit["time"] <= video["duration"]
            else:
                assert hit["kind"] == "image"
                assert "frame" not in hit and "time" not in hit
        assert ids["video"] in {hit["id"] for hit in hits[str(ids["gradient"])]}

    # The clip itself as a query file: it is its own best match, and the result names a sampled frame.
    hits = _search(cli, tiny_catalog.directory, "--file", tiny_catalog.paths["video"], "--space", "gram", "-k", 2)
    assert hits[0]["id"] == ids["video"]
    assert hits[0]["score"] > 0.99
    assert 0 <= hits[0]["frame"] < SESSION_VIDEO_FRAMES


def test_search_human_output(cli, tiny_catalog: TinyCatalog) -> None:
    ids = tiny_catalog.ids
    run = cli("search", "--catalog", tiny_catalog.directory, "--id", ids["A"], "--space", "content", "-k", 8)
    assert run.rc == 0 and run.err == ""
    lines = run.out.splitlines()
    assert lines[0] == f"query #{ids['A']} {tiny_catalog.paths['A'].absolute()} — space content"
    assert len(lines) == 1 + 8
    assert any(str(tiny_catalog.paths["A_restyled"].absolute()) in line for line in lines[1:])
    assert not any(line.endswith(str(tiny_catalog.paths["A"].absolute())) for line in lines[1:])
    (video_line,) = [line for line in lines if "clip.mp4" in line]
    assert " frame " in video_line and "s" in video_line.split("@")[-1]
    assert lines[1].split()[0] == "1."


# -- re-adding, duplicates, removal -----------------------------------------------------------------------------
def test_readding_skips_everything_and_a_renamed_copy_is_a_duplicate(
    cli, tiny_catalog: TinyCatalog, catalog_copy: Path, tmp_path: Path
) -> None:
    again = cli("--config", tiny_catalog.config, "add", tiny_catalog.media, "--catalog", catalog_copy, "--json")
    assert again.rc == 0, again.err
    summary = again.json()
    assert (summary["added"], summary["skipped"], summary["failed"]) == (0, 9, 0)
    items = cli("list", "--catalog", catalog_copy, "--json").json()
    assert len(items) == 9
    assert len({item["path"] for item in items}) == 9

    dup_dir = tmp_path / "dups"
    dup_dir.mkdir()
    shutil.copy(tiny_catalog.paths["A"], dup_dir / "same_pixels_other_name.png")
    shutil.copy(tiny_catalog.paths["A"], dup_dir / "and_again.png")  # two copies in one batch: both skipped
    run = cli("--config", tiny_catalog.config, "add", dup_dir, "--catalog", catalog_copy)
    assert run.rc == 0, run.err
    assert "added 0, skipped 2" in run.out and "failed 0" in run.out
    paths = {item["path"] for item in cli("list", "--catalog", catalog_copy, "--json").json()}
    assert len(paths) == 9
    assert not any("same_pixels" in p or "and_again" in p for p in paths)


def test_remove_takes_the_item_out_of_the_list_and_every_index(
    cli, tiny_catalog: TinyCatalog, catalog_copy: Path
) -> None:
    ids = tiny_catalog.ids
    gone = ids["A"]
    run = cli("remove", gone, "--catalog", catalog_copy)
    assert run.rc == 0, run.err
    assert run.out.strip() == "removed 1 item(s)"

    items = cli("list", "--catalog", catalog_copy, "--json").json()
    assert gone not in {item["id"] for item in items} and len(items) == 8
    for space in CATALOG_SPACES:
        hits = _search(cli, catalog_copy, "--id", ids["A_restyled"], "--space", space, "-k", 50)
        assert {hit["id"] for hit in hits[str(ids["A_restyled"])]} == set(ids.values()) - {gone, ids["A_restyled"]}
        file_hits = _search(cli, catalog_copy, "--file", tiny_catalog.paths["A"], "--space", space, "-k", 50)
        assert gone not in {hit["id"] for hit in file_hits}
    with Catalog.open(catalog_copy) as catalog:
        searcher = Searcher(catalog)
        for space in CATALOG_SPACES:
            index = searcher.index(space)
            assert len(index) == 8 and gone not in index
    one_line_error(cli("search", "--catalog", catalog_copy, "--id", gone, "--space", "content", "--json"))

    # Unknown ids are an error (exit 2, one line, nothing removed); a repeated id counts once.
    run = cli("remove", 999999, "--catalog", catalog_copy)
    assert run.rc == 2 and len(run.err_lines) == 1 and "999999" in run.err and "nothing removed" in run.err
    other = ids["noise"]
    run = cli("remove", other, other, 999999, "--catalog", catalog_copy)
    assert run.rc == 2 and "999999" in run.err
    run = cli("remove", other, other, "--catalog", catalog_copy, "--json")
    assert run.json() == {"removed": [other]}
    assert len(cli("list", "--catalog", catalog_copy, "--json").json()) == 7

    # The removed file can be added again (its hash is no longer in the catalog), under a new id.
    again = cli("--config", tiny_catalog.config, "add", tiny_catalog.paths["A"], "--catalog", catalog_copy, "--json")
    assert again.json()["added"] == 1 and again.json()["ids"][0] > max(ids.values())


# -- catalog location ------------------------------------------------------------------------------------------
def test_catalog_defaults_to_the_environment_variable(
    cli, tiny_catalog: TinyCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STYLEDEX_CATALOG", str(tiny_catalog.directory))
    assert len(cli("list", "--json").json()) == 9
    assert (
        _search(cli, tiny_catalog.directory, "--id", tiny_catalog.ids["A"], "-k", 2)
        == cli("search", "--id", tiny_catalog.ids["A"], "-k", 2, "--json").json()
    )

    # add creates the catalog where the variable points, not in ./catalog.
    target = tmp_path / "from_env"
    monkeypatch.setenv("STYLEDEX_CATALOG", str(target))
    run = cli("--config", tiny_catalog.config, "add", tiny_catalog.paths["noise"], "--json")
    assert run.rc == 0, run.err
    assert run.json()["added"] == 1
    assert (target / "catalog.sqlite").is_file()
    assert not (tmp_path / "catalog").exists()

    # --catalog beats the variable.
    assert len(cli("list", "--catalog", tiny_catalog.directory, "--json").json()) == 9

    # Neither given: ./catalog, which does not exist here.
    monkeypatch.delenv("STYLEDEX_CATALOG")
    line = one_line_error(cli("list", "--json"))
    assert "catalog" in line


# -- bad input ----------------------------------------------------------------------------------------------
def test_bad_files_fail_one_by_one_and_the_rest_is_added(cli, tiny_config: Path, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    good_png = make_image(folder / "good.png", seed=11, pattern="checker")
    good_jpg = make_image(folder / "good.jpg", size=(96, 96), seed=12, pattern="noise")
    bad = {
        "empty.jpg": (folder / "empty.jpg"),
        "truncated.jpg": make_truncated(good_jpg, folder / "truncated.jpg", keep_fraction=0.4),
        "text.jpg": folder / "text.jpg",
        "bomb.png": make_bomb_png(folder / "bomb.png"),
        "audio.mp4": make_audio_only_mp4(folder / "audio.mp4"),
    }
    bad["empty.jpg"].write_bytes(b"")
    bad["text.jpg"].write_text("this is a text file, not a JPEG\nwith two lines\n")
    catalog = tmp_path / "catalog"

    run = cli("--config", tiny_config, "add", folder, "--catalog", catalog, "--json")
    assert run.rc == 0, run.err
    summary = run.json()
    assert (summary["added"], summary["skipped"], summary["failed"]) == (2, 0, 5)
    failures = {Path(f["path"]).name: f["error"] for f in summary["failures"]}
    assert set(failures) == set(bad)
    for error in failures.values():
        assert isinstance(error, str) and error.strip() and "\n" not in error and "Traceback" not in error
    assert "empty" in failures["empty.jpg"] or "0 bytes" in failures["empty.jpg"]
    assert "limit" in failures["bomb.png"] or "too large" in failures["bomb.png"]
    assert "video stream" in failures["audio.mp4"]

    items = cli("list", "--catalog", catalog, "--json").json()
    assert len(items) == 7
    by_name = {Path(item["path"]).name: item for item in items}
    for name in bad:
        assert by_name[name]["status"] == "failed"
        assert by_name[name]["error"] == failures[name]
    for good in (good_png, good_jpg):
        assert by_name[good.name]["status"] == "ok" and by_name[good.name]["error"] is None
    with Catalog.open(catalog) as cat:
        searcher = Searcher(cat)
        assert all(len(searcher.index(space)) == 2 for space in CATALOG_SPACES)

    # Again with --strict and human output: the good files are skipped, the bad ones fail again → exit 1.
    strict = cli("--config", tiny_config, "add", folder, "--catalog", catalog, "--strict")
    assert strict.rc == 1
    assert "added 0, skipped 2" in strict.out and "failed 5" in strict.out
    for name in bad:
        (line,) = [line for line in strict.out.splitlines() if line.strip().startswith(f"failed: {folder / name}")]
        assert failures[name] in line
    # Retried failures replace their old rows instead of piling up.
    items = cli("list", "--catalog", catalog, "--json").json()
    assert len(items) == 7 and len({item["path"] for item in items}) == 7

    # --strict with nothing failing exits 0.
    assert cli("--config", tiny_config, "add", good_png, "--catalog", catalog, "--strict", "--quiet").rc == 0


def test_pixel_limit_comes_from_the_config(cli, tmp_path: Path) -> None:
    config = tmp_path / "small_limit.yaml"
    config.write_text(TINY_CONFIG.replace("media: {frames: 3}", "media: {frames: 3, max_pixels: 1000}"))
    image = make_image(tmp_path / "small.png", size=(64, 48))  # 3072 px: over 1000
    run = cli("--config", config, "add", image, "--catalog", tmp_path / "catalog", "--json")
    assert run.rc == 0
    summary = run.json()
    assert (summary["added"], summary["failed"]) == (0, 1)
    assert "limit" in summary["failures"][0]["error"]


def test_missing_path_is_a_one_line_error_in_a_real_process(cli_proc, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    good = make_image(tmp_path / "good.png")
    run = cli_proc("add", good, tmp_path / "no_such_file.png", "--catalog", catalog)
    line = one_line_error(run)
    assert "no_such_file.png" in line
    assert not catalog.exists()  # nothing was added, not even the good file


def test_unreadable_manifests_are_one_line_errors(cli, tiny_config: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 this is not a parquet file \x00\x01\x02" * 10)
    no_path = tmp_path / "no_path.csv"
    no_path.write_text("file,artist\na.png,x\n")
    binary_csv = tmp_path / "binary.csv"
    binary_csv.write_bytes(bytes(range(256)) * 4)
    for manifest in (garbage, no_path, binary_csv):
        catalog = tmp_path / f"catalog_{manifest.stem}"
        line = one_line_error(cli("--config", tiny_config, "add", manifest, "--catalog", catalog))
        assert manifest.name in line
        assert not catalog.exists()
    assert "path" in one_line_error(cli("--config", tiny_config, "add", no_path, "--catalog", tmp_path / "c"))


def test_manifest_columns_become_metadata(cli, tiny_config: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    make_shapes(folder / "one.png", seed=21)
    make_shapes(folder / "two.png", seed=22)
    make_shapes(folder / "three.png", seed=23)
    csv = tmp_path / "manifest.csv"
    csv.write_text("path,artist,year,note\npics/one.png,Ada,1901,first\npics/two.png,Bo,1902,\n")
    parquet = tmp_path / "manifest.parquet"
    pd.DataFrame({"path": [str(folder / "three.png")], "artist": ["Cy"], "year": [1903]}).to_parquet(parquet)
    catalog = tmp_path / "catalog"

    run = cli("--config", tiny_config, "add", csv, parquet, "--catalog", catalog, "--json")
    assert run.rc == 0, run.err
    assert run.json()["added"] == 3
    items = {Path(item["path"]).name: item for item in cli("list", "--catalog", catalog, "--json").json()}
    assert items["one.png"]["metadata"] == {"artist": "Ada", "year": 1901, "note": "first"}
    assert items["two.png"]["metadata"] == {"artist": "Bo", "year": 1902}  # a blank cell is left out
    assert items["three.png"]["metadata"] == {"artist": "Cy", "year": 1903}
    assert items["one.png"]["path"] == str((folder / "one.png").absolute())  # relative to the manifest

    hits = _search(cli, catalog, "--id", items["one.png"]["id"], "--space", "content", "-k", 2)
    assert {hit["metadata"]["artist"] for hit in hits[str(items["one.png"]["id"])]} == {"Bo", "Cy"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--space", "no_such_space", "--id", "{A}"], "no_such_space"),
        (["--space", "predictor", "--id", "{A}"], "predictor"),  # a real space, but not in this catalog
        (["--space", "style:abc", "--id", "{A}"], "style:abc"),
        (["--space", "content", "--id", "987654"], "987654"),
        (["--space", "content", "--id", "{A}", "-k", "0"], "-k"),
        (["--space", "content", "--file", "{missing}"], "no_such.png"),
        (["--space", "content", "--file", "{text}"], "cannot decode"),
    ],
)
def test_search_errors_are_one_line(cli, tiny_catalog: TinyCatalog, tmp_path: Path, args, needle) -> None:
    text = tmp_path / "text.png"
    text.write_text("not an image")
    values = {"A": tiny_catalog.ids["A"], "missing": tmp_path / "no_such.png", "text": text}
    args = [a.format(**values) for a in args]
    line = one_line_error(cli("search", "--catalog", tiny_catalog.directory, "--json", *args))
    assert needle in line


def test_missing_catalog_is_exit_2(cli, cli_proc, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    line = one_line_error(cli_proc("search", "--catalog", missing, "--space", "content", "--id", "1", "--json"))
    assert str(missing) in line
    one_line_error(cli("list", "--catalog", missing, "--json"))
    one_line_error(cli("remove", "1", "--catalog", missing))
    assert not missing.exists()  # reading never creates a catalog


def test_unusable_catalog_paths_and_arguments_are_one_line_errors(cli, tiny_config: Path, tmp_path: Path) -> None:
    image = make_image(tmp_path / "a.png")
    not_a_db = tmp_path / "garbage_catalog"
    not_a_db.mkdir()
    (not_a_db / "catalog.sqlite").write_text("this is not an SQLite database\n" * 100)
    assert "not a database" in one_line_error(cli("list", "--catalog", not_a_db, "--json"))
    one_line_error(cli("search", "--catalog", not_a_db, "--space", "content", "--id", "1"))
    one_line_error(cli("--config", tiny_config, "add", image, "--catalog", not_a_db))

    a_file = tmp_path / "plain_file"
    a_file.write_text("x")
    assert "not a directory" in one_line_error(cli("--config", tiny_config, "add", image, "--catalog", a_file))

    assert "--frames" in one_line_error(cli("add", image, "--frames", "0", "--catalog", tmp_path / "c"))
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("embed: {image_size: 5}\n")
    assert "image_size" in one_line_error(cli("--config", bad_config, "add", image, "--catalog", tmp_path / "c"))
    assert not (tmp_path / "c").exists()


def test_add_human_output_and_progress_lines_off_a_terminal(
    cli, cli_proc, tiny_config: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    make_image(folder / "a.png", seed=31)
    make_image(folder / "b.jpg", seed=32, pattern="gradient")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    catalog = tmp_path / "catalog"
    run = cli_proc("--config", tiny_config, "add", folder, "--catalog", catalog)
    assert run.rc == 0, run.err
    # stderr is a pipe: whole progress lines instead of a bar (the first at once, the last when done), nothing else
    assert run.err_lines == run.progress_lines and "\r" not in run.err
    assert run.progress_lines[0].startswith("styledex add: 0/3 item (0%) in 00:00, ")
    assert run.progress_lines[-1].startswith("styledex add: 3/3 item (100%) in ")
    lines = run.out.splitlines()
    assert lines[0].startswith("added 2, skipped 0 (already in catalog), failed 1")
    assert str(catalog) in lines[0]
    assert lines[1].strip().startswith(f"failed: {folder / 'broken.png'}:")
    assert len(lines) == 2

    quiet = cli("--config", tiny_config, "add", folder, "--catalog", catalog, "--quiet", "--strict")
    assert quiet.rc == 1 and quiet.out == "" and quiet.err == ""


def test_predictor_space_end_to_end(cli, tmp_path: Path) -> None:
    """The one test that runs the ONNX style predictor (batch 1, slower)."""
    config = tmp_path / "predictor.yaml"
    config.write_text("embed: {image_size: 64, spaces: [content, predictor]}\n")
    folder = tmp_path / "pics"
    folder.mkdir()
    for seed in range(3):
        make_shapes(folder / f"s{seed}.png", seed=40 + seed)
    catalog = tmp_path / "catalog"
    assert cli("--config", config, "add", folder, "--catalog", catalog, "--json").json()["added"] == 3
    rows = {row["name"]: row for row in cli("spaces", "--catalog", catalog, "--json").json()}
    assert rows["predictor"]["in_catalog"] and rows["predictor"]["count"] == 3
    assert not rows["adain"]["in_catalog"]
    hits = _search(cli, catalog, "--file", folder / "s0.png", "--space", "predictor", "-k", 3)
    assert [len(hits), hits[0]["path"]] == [3, str((folder / "s0.png").absolute())]
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-3)
    # A space this catalog lacks: a clear error, not a crash.
    line = one_line_error(cli("search", "--catalog", catalog, "--space", "gram", "--id", "1"))
    assert "not in this catalog" in line


def test_eval_and_bench_refuse_bad_counts_before_any_work(cli) -> None:
    run = cli("eval", "--index", "ivfpq", "--distractors", -1)
    assert run.rc == 2 and run.err_lines == [
        "styledex: error: expected --distractors >= 0 and --depth >= 1, got -1 and 100"
    ]
    run = cli("bench", "--part", "embed", "--rounds", 0)
    assert run.rc == 2 and run.err_lines == ["styledex: error: --rounds must be at least 1, got 0"]
    run = cli("eval", "--spaces", "style", "colour")
    assert run.rc == 2 and len(run.err_lines) == 1 and "unknown space 'colour'" in run.err_lines[0]
    run = cli("eval", "--parts", "old", "harder")
    assert run.rc == 2 and run.err_lines[-1].endswith("--parts: invalid choice: 'harder' (choose from 'old', 'hard')")


def test_precision_flag_overrides_the_config_and_bf16_stays_close(cli, tiny_config: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    for seed in range(2):
        make_shapes(folder / f"s{seed}.png", seed=60 + seed)
    vectors = {}
    for precision in ("fp32", "bf16"):
        catalog = tmp_path / precision
        run = cli("--config", tiny_config, "--precision", precision, "add", folder, "--catalog", catalog, "--json")
        assert run.json()["added"] == 2
        with Catalog.open(catalog) as opened:
            vectors[precision] = opened.load_vectors("adain", 2944)[1]
    rerun = cli("--config", tiny_config, "--precision", "fp32", "add", folder, "--catalog", tmp_path / "again")
    assert rerun.rc == 0
    with Catalog.open(tmp_path / "again") as opened:
        assert (opened.load_vectors("adain", 2944)[1] == vectors["fp32"]).all()  # fp32 is deterministic
    assert not (vectors["bf16"] == vectors["fp32"]).all()  # the flag reached the forward pass
    cosines = (vectors["bf16"] * vectors["fp32"]).sum(axis=1)
    assert cosines.min() > 0.9995
    run = cli("--precision", "fp16", "spaces")
    assert run.rc == 2 and "invalid choice: 'fp16'" in run.err
