"""Shared fixtures for the CLI and crash tests: a cheap config, CLI runners, and one tiny catalog built once.

The real VGG19 runs on CPU, so everything here is made cheap: 64-px VGG input, three VGG spaces (no ONNX
predictor), 3 frames per video. The session catalog (8 small images + 1 small video) is built once and is
read-only; a test that mutates a catalog takes a copy (``catalog_copy``) or builds its own.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures import make_image, make_video
from PIL import Image, ImageDraw, ImageFilter

TINY_CONFIG = """\
embed: {image_size: 64, spaces: [content, adain, gram]}
media: {frames: 3}
catalog: {items_per_batch: 4}
"""

# "styledex add: 3/8 item (38%) in 00:04, 0.75 item/s, 00:07 left" (styledex.progress, stderr not a terminal)
PROGRESS_LINE = re.compile(r"^[\w ]+: \d+(/\d+)? \w+( \(\d+%\))? in [\d:]+, ")

SESSION_VIDEO_FRAMES = 4  # passed as --frames to the session `add`, overriding the config's 3


# -- running the CLI ----------------------------------------------------------------------------------------
@dataclass
class Run:
    """What one CLI invocation left: exit code, stdout, stderr."""

    rc: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def progress_lines(self) -> list[str]:
        """The stderr lines that report progress (styledex.progress writes them where stderr is not a terminal)."""
        return [line for line in self.err_lines if PROGRESS_LINE.match(line)]

    @property
    def error_lines(self) -> list[str]:
        """The stderr lines that are not progress: a user error is exactly one of them."""
        return [line for line in self.err_lines if not PROGRESS_LINE.match(line)]

    @property
    def err_besides_progress(self) -> str:
        """stderr less its progress lines: where a traceback or a warning would show."""
        return "".join(line for line in self.err.splitlines(keepends=True) if not PROGRESS_LINE.match(line))


def run_inprocess(*args: str | os.PathLike[str]) -> Run:
    """``styledex ARGS`` through ``styledex.cli.main`` in this process (no interpreter + torch start-up)."""
    from styledex.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            rc = exc.code if isinstance(exc.code, int) else 1
    return Run(int(rc), out.getvalue(), err.getvalue())


def cli_command(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "styledex.cli", *map(str, args)]


def run_subprocess(*args: str | os.PathLike[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """``styledex ARGS`` in a fresh interpreter: the real exit code, stdout and stderr (about 3 s of start-up)."""
    proc = subprocess.run(
        cli_command(*args), capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def cli() -> Callable[..., Run]:
    return run_inprocess


@pytest.fixture(scope="session")
def cli_proc() -> Callable[..., Run]:
    return run_subprocess


# -- media --------------------------------------------------------------------------------------------------
def make_shapes(path: Path, seed: int, size: int = 96) -> Path:
    """A flat background with six filled circles and squares: clear layout, the kind of content VGG sees."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (size, size), tuple(int(x) for x in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(8, 30))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x - r, y - r, x + r, y + r], fill=colour)
    img.save(path)
    return path


def restyle(src: Path, dst: Path) -> Path:
    """A strong colour-only restyle: blur, invert, swap channels, then a per-channel affine map."""
    arr = np.asarray(Image.open(src).convert("RGB").filter(ImageFilter.GaussianBlur(1.5))).astype(np.float64)
    arr = (255.0 - arr)[..., [2, 0, 1]] * np.array([0.6, 1.0, 0.4]) + np.array([60.0, 0.0, 120.0])
    Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8)).save(dst)
    return dst


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    # POST /items {"paths": [...]} may add from this session's temporary folders (serve.ingest_roots; none by
    # default): every test builds its media under them.
    roots = json.dumps([str(tmp_path_factory.getbasetemp())])
    path.write_text(f"{TINY_CONFIG}serve: {{ingest_roots: {roots}}}\n")
    return path


@dataclass
class TinyCatalog:
    """The session catalog: its directory, the media folder it was built from, and what `add` reported."""

    directory: Path
    media: Path
    config: Path
    summary: dict[str, Any]
    items: list[dict[str, Any]]
    paths: dict[str, Path] = field(default_factory=dict)  # short name → file
    ids: dict[str, int] = field(default_factory=dict)  # short name → item id


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory: pytest.TempPathFactory, tiny_config: Path) -> TinyCatalog:
    """8 images (5 formats, one in a subfolder) and one 24-frame video, added once with ``--frames 4``.

    ``A`` and ``B`` are shape drawings; ``A_restyled`` is A after a strong colour restyle and ``B_restyled`` is
    B after the same restyle (B itself is not in the catalog): same style as A_restyled, other content.
    """
    root = tmp_path_factory.mktemp("session")
    media = root / "media"
    (media / "sub").mkdir(parents=True)
    paths: dict[str, Path] = {}
    paths["A"] = make_shapes(media / "A.png", seed=4)
    b = make_shapes(root / "B.png", seed=5)  # outside the media folder: only its restyle is added
    paths["A_restyled"] = restyle(paths["A"], media / "A_restyled.png")
    paths["B_restyled"] = restyle(b, media / "B_restyled.png")
    paths["noise"] = make_image(media / "noise.jpg", seed=1, pattern="noise")
    paths["gradient"] = make_image(media / "gradient.webp", seed=2, pattern="gradient")
    paths["checker"] = make_image(media / "checker.bmp", seed=3, pattern="checker")
    paths["sub_checker"] = make_image(media / "sub" / "checker2.png", seed=7, pattern="checker")
    paths["gif"] = make_image(media / "sub" / "anim.gif", seed=8, pattern="gradient")
    paths["video"] = make_video(media / "sub" / "clip.mp4", n_frames=24, size=(64, 48), fps=12, seed=9)
    (media / "notes.txt").write_text("not media: a folder walk must ignore this")

    directory = root / "catalog"
    run = run_inprocess(
        "--config", tiny_config, "add", media, "--catalog", directory, "--frames", SESSION_VIDEO_FRAMES, "--json"
    )
    assert run.rc == 0, run.err
    summary = run.json()
    listing = run_inprocess("list", "--catalog", directory, "--json")
    assert listing.rc == 0, listing.err
    items = listing.json()
    by_path = {item["path"]: item["id"] for item in items}
    ids = {name: by_path[str(path.absolute())] for name, path in paths.items()}
    return TinyCatalog(directory, media, tiny_config, summary, items, paths, ids)


@pytest.fixture
def catalog_copy(tiny_catalog: TinyCatalog, tmp_path: Path) -> Path:
    """A private copy of the session catalog, for tests that write to it."""
    target = tmp_path / "catalog_copy"
    shutil.copytree(tiny_catalog.directory, target)
    return target
