"""What the CLI prints for hostile file names (issue 6): one line per item, no terminal escape reaching the terminal,
no UnicodeEncodeError on an ASCII stdout, and ``--json`` keeping the exact strings.

A file name can hold a newline, a tab, an ESC (``\\x1b[2J`` clears the screen, ``\\x1b]0;...\\x07`` retitles the
window) or bytes that are not UTF-8; the CLI's own output holds arrows and dashes. Human output shows the
control characters as Python escapes (``styledex.textout.shown``); an encoding that cannot take a character gets
its backslash escape; ``--json`` stays valid JSON with ``\\uXXXX`` escapes where stdout is ASCII.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from styledex.textout import shown

from helpers.cli import run_inprocess, run_subprocess
from helpers.media import make_image

# A newline (splits a line), ESC + "clear screen", a tab; and for a broken file, an OSC "set window title".
HOSTILE_NAME = "line\nbreak\x1b[2Jclear\ttab.png"
HOSTILE_SHOWN = "line\\nbreak\\x1b[2Jclear\\ttab.png"
BROKEN_NAME = "broken\x1b]0;owned\x07.jpg"
BROKEN_SHOWN = "broken\\x1b]0;owned\\x07.jpg"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain name.png", "plain name.png"),
        ("café ☕ 絵.png", "café ☕ 絵.png"),  # printable non-ASCII is left alone
        (HOSTILE_NAME, HOSTILE_SHOWN),
        ("cr\rdel\x7fcsi\x9b.png", "cr\\rdel\\x7fcsi\\x9b.png"),  # C1 CSI (\x9b) drives some terminals too
        ("rtl\u202eevil\u2028.png", "rtl\\u202eevil\\u2028.png"),  # bidi override, line separator
        (os.fsdecode(b"caf\xe9.png"), "caf\\xe9.png"),  # an undecodable byte: the byte, as \xNN
    ],
)
def test_shown_escapes_exactly_the_unprintable(text: str, expected: str) -> None:
    assert shown(text) == expected
    assert shown(Path("/x") / text) == "/x/" + expected


@pytest.fixture
def hostile_catalog(tiny_config: Path, tmp_path: Path) -> tuple[Path, Path, dict[str, int]]:
    """A catalog of three tiny images, one named HOSTILE_NAME, plus a failed BROKEN_NAME: (catalog, media, ids)."""
    media = tmp_path / "media"
    media.mkdir()
    for seed, name in enumerate(("a.png", "b.png", HOSTILE_NAME)):
        make_image(media / name, size=(32, 32), seed=seed, pattern="noise")
    (media / BROKEN_NAME).write_bytes(b"not a jpeg")
    catalog = tmp_path / "catalog"
    run = run_inprocess("--config", tiny_config, "add", media, "--catalog", catalog)
    assert run.rc == 0, run.err
    head, *failures = run.out.splitlines()  # two lines: no name split one in two
    assert head.startswith("added 3, skipped 0 (already in catalog), failed 1 in ")
    reason = "not a decodable image: expected a JPEG, PNG, WebP, BMP, TIFF or GIF header, got b'not a jpeg'"
    assert failures == [f"  failed: {media}/{BROKEN_SHOWN}: {reason}"]
    listing = run_inprocess("list", "--catalog", catalog, "--json").json()
    return catalog, media, {Path(item["path"]).name: item["id"] for item in listing}


def test_list_shows_control_characters_escaped_and_json_keeps_the_true_path(
    hostile_catalog: tuple[Path, Path, dict[str, int]],
) -> None:
    catalog, media, ids = hostile_catalog
    run = run_inprocess("list", "--catalog", catalog)
    assert run.rc == 0 and run.err == ""
    assert "\x1b" not in run.out and "\t" not in run.out and "\x07" not in run.out
    lines = run.out.splitlines()
    assert len(lines) == 4 + 1  # one line per item and the count: the newline in the name split nothing
    assert lines[-1] == "4 item(s)"
    assert f"{ids[HOSTILE_NAME]:>6}  ok     image  {media}/{HOSTILE_SHOWN}" in lines
    broken = f"{ids[BROKEN_NAME]:>6}  failed -      {media}/{BROKEN_SHOWN}  (not a decodable image: expected "
    assert [line for line in lines if line.startswith(broken)] != []

    # --json: the exact path, newline and escape sequence included, which names the file on disk.
    items = {item["id"]: item for item in run_inprocess("list", "--catalog", catalog, "--json").json()}
    assert items[ids[HOSTILE_NAME]]["path"] == str(media / HOSTILE_NAME)
    assert Path(items[ids[HOSTILE_NAME]]["path"]).is_file()
    assert items[ids[BROKEN_NAME]]["path"] == str(media / BROKEN_NAME)


def test_search_output_and_errors_escape_file_names(hostile_catalog: tuple[Path, Path, dict[str, int]]) -> None:
    catalog, media, ids = hostile_catalog
    run = run_inprocess("search", "--catalog", catalog, "--id", ids["a.png"], "-k", "2")
    assert run.rc == 0 and run.err == ""
    lines = run.out.splitlines()
    assert len(lines) == 1 + 2 and "\x1b" not in run.out
    assert [line for line in lines[1:] if line.endswith(f"{media}/{HOSTILE_SHOWN}")] != []

    run = run_inprocess("search", "--catalog", catalog, "--file", media / HOSTILE_NAME, "-k", "1")
    assert run.rc == 0 and run.err == ""
    head, hit = run.out.splitlines()
    assert head == f"query {media}/{HOSTILE_SHOWN} — space style"
    assert hit.endswith(f"#{ids[HOSTILE_NAME]:<6} {media}/{HOSTILE_SHOWN}")  # itself, first

    # A user error naming the path: one escaped line on stderr.
    run = run_inprocess("search", "--catalog", catalog, "--file", media / ("gone\x1b[2J\n.png"))
    assert (run.rc, run.out) == (2, "")
    assert run.err == f"styledex: error: no such file: {media}/gone\\x1b[2J\\n.png\n"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def test_an_ascii_stdout_gets_escapes_not_a_crash(tiny_config: Path, tmp_path: Path) -> None:
    """add, list and search in real processes with PYTHONIOENCODING=ascii: a non-ASCII name (added), a
    non-UTF-8 name (failed), and the CLI's own arrow and dash."""
    media = tmp_path / "media"
    media.mkdir()
    make_image(media / "a.png", size=(32, 32), seed=1, pattern="noise")
    make_image(media / "café.png", size=(32, 32), seed=2, pattern="checker")
    latin1 = os.fsencode(media) + b"/caf\xe9_latin1.png"
    try:
        make_image(os.fsdecode(latin1), size=(32, 32), seed=3, pattern="gradient")
    except OSError as exc:  # some file systems (ZFS with utf8only, some macOS volumes) refuse the name
        pytest.skip(f"this file system refuses a non-UTF-8 file name: {exc.strerror}")
    catalog = tmp_path / "catalog"
    ascii_out = _env(PYTHONIOENCODING="ascii")

    run = run_subprocess("--config", tiny_config, "add", media, "--catalog", catalog, env=ascii_out)
    assert (run.rc, run.err_besides_progress) == (0, ""), run.err
    head, failure = run.out.splitlines()
    assert head.startswith("added 2, skipped 0 (already in catalog), failed 1 in ")
    assert head.endswith(f"frames/s) \\u2192 {catalog}")  # the arrow, escaped
    assert failure == (
        f"  failed: {media}/caf\\xe9_latin1.png: file name is not valid UTF-8 (caf\\xe9_latin1.png): "
        "rename the file to add it"
    )

    run = run_subprocess("list", "--catalog", catalog, env=ascii_out)
    assert (run.rc, run.err) == (0, "")
    lines = run.out.splitlines()
    assert len(lines) == 3 + 1 and all(line.isascii() for line in lines)
    assert [line for line in lines if line.endswith(f"  ok     image  {media}/caf\\xe9.png")] != []

    # --json on an ASCII stdout: valid JSON whose strings are exact (\u00e9 escapes, not \xe9).
    run = run_subprocess("list", "--catalog", catalog, "--json", env=ascii_out)
    assert (run.rc, run.err) == (0, "") and run.out.isascii()
    paths = {item["path"]: item["status"] for item in json.loads(run.out)}
    assert paths[str(media / "café.png")] == "ok"
    assert paths[f"{media}/caf\\xe9_latin1.png"] == "failed"  # the catalog keeps the name as \xNN text

    ids = {Path(item["path"]).name: item["id"] for item in json.loads(run.out)}
    run = run_subprocess("search", "--catalog", catalog, "--id", ids["a.png"], "-k", "1", env=ascii_out)
    assert (run.rc, run.err) == (0, "")
    head, hit = run.out.splitlines()
    assert head == f"query #{ids['a.png']} {media}/a.png \\u2014 space style"  # the em dash, escaped
    assert hit.endswith(f"#{ids['café.png']:<6} {media}/caf\\xe9.png")

    # The C locale without UTF-8 mode: stdout is ASCII too.
    run = run_subprocess("list", "--catalog", catalog, env=_env(LC_ALL="C", LANG="C", PYTHONUTF8="0"))
    assert (run.rc, run.err) == (0, "")
    assert run.out.splitlines() == lines


def test_a_non_utf8_query_name_prints_under_utf8_stdout(tiny_config: Path, tmp_path: Path) -> None:
    """``search --file`` with a name that is not UTF-8: the name is a surrogate-escaped str, which a strict
    UTF-8 stdout refused (UnicodeEncodeError) before the CLI escaped it; shown as \\xNN, the byte."""
    image = make_image(tmp_path / "a.png", size=(32, 32), seed=1, pattern="noise")
    catalog = tmp_path / "catalog"
    assert run_inprocess("--config", tiny_config, "add", image, "--catalog", catalog, "--quiet").rc == 0
    query = os.fsdecode(os.fsencode(tmp_path) + b"/query_\xff.png")
    try:
        Path(query).write_bytes(image.read_bytes())
    except OSError as exc:
        pytest.skip(f"this file system refuses a non-UTF-8 file name: {exc.strerror}")
    run = run_subprocess("search", "--catalog", catalog, "--file", query, "-k", "1", env=_env(PYTHONIOENCODING="utf-8"))
    assert (run.rc, run.err) == (0, ""), run.err
    head, hit = run.out.splitlines()
    assert head == f"query {tmp_path}/query_\\xff.png — space style"
    assert hit.endswith(f"#1      {image}")
