"""The cached benchmark directory: where it lives, and :func:`build`, which reuses, resumes or rebuilds it.

A directory holds ``recipe.json`` (the stamp: the recipe and its fingerprint, written before any other file),
one folder of generated files per group (``grid/`` and ``video/``; the hard benchmark's ``filters/``, ``reframed/``,
``neural/``, ``video_hard/``), ``build.json`` (what was used, skipped and generated) and
``manifest.csv``, written last: a build whose manifest matches the plan and whose files all exist does no work; a
directory stamped with another fingerprint has its generated folders cleared first.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from styledex.progress import progress_bar

from .files import MANIFEST, read_manifest, write_json, write_manifest
from .plan import make_plan
from .recipe import FULL_RECIPE, HARD_RECIPE, VERSION, HardRecipe, Recipe
from .render import Renderer
from .renderers import BUILD_RECORD, renderer_digests

log = logging.getLogger("styledex.evaluation.benchdata")  # the benchmark's one logger, named for the package

# the only folders a rebuild ever deletes (a benchmark directory holds the ones of its recipe's groups)
_GENERATED_DIRS = ("grid", "video", "filters", "reframed", "neural", "video_hard")


@dataclass
class BuildReport:
    """What :func:`build` did: the benchmark directory, the files it generated now, and what it used."""

    path: Path
    generated: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # manifest rows per group
    groups: tuple[str, ...] = ()  # every group of the recipe, in order (a group whose sources are missing has no rows)
    used: list[str] = field(default_factory=list)  # sources found on this machine
    missing: list[str] = field(default_factory=list)  # sources skipped (not installed)
    skipped: bool = False  # True when the manifest was complete and nothing ran


def default_cache_dir(recipe: Recipe | HardRecipe = FULL_RECIPE) -> Path:
    """``$STYLEDEX_CACHE/bench-v1``, else ``~/.cache/styledex/bench-v1`` (the hard benchmark: ``hard-v1``); other
    recipes than the two defaults get a fingerprint suffix."""
    root = Path(os.environ["STYLEDEX_CACHE"]) if os.environ.get("STYLEDEX_CACHE") else Path.home() / ".cache/styledex"
    name = f"{recipe.prefix}-{VERSION}"
    if recipe not in (FULL_RECIPE, HARD_RECIPE):
        name += f"-{recipe.fingerprint()[:10]}"
    return root / name


def _prepare_dir(out: Path, fingerprint: str, force: bool) -> None:
    """Make ``out`` hold files of ``fingerprint`` only: clear generated folders built from another recipe."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / "recipe.json"
    old = None
    if stamp.is_file():
        try:
            old = json.loads(stamp.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            old = None
    elif any((out / d).exists() for d in _GENERATED_DIRS):
        # recipe.json is written before any file, so generated folders without it belong to someone else
        raise RuntimeError(f"{out} has benchmark folders ({', '.join(_GENERATED_DIRS)}) but no recipe.json: not a "
                           "styledex benchmark")
    if force or (old is not None and old != fingerprint):
        (out / MANIFEST).unlink(missing_ok=True)
        for d in _GENERATED_DIRS:
            shutil.rmtree(out / d, ignore_errors=True)
    for d in _GENERATED_DIRS:  # leftovers of an interrupted write
        for tmp in (out / d).glob(".*.tmp*") if (out / d).is_dir() else ():
            tmp.unlink(missing_ok=True)


def build(
    cache_dir: Path | None = None,
    *,
    recipe: Recipe | HardRecipe = FULL_RECIPE,
    force: bool = False,
    progress: bool = True,
) -> BuildReport:
    """Build (or resume, or reuse) the benchmark described by ``recipe``; see :func:`build_benchmark`."""
    t0 = time.perf_counter()
    out = (Path(cache_dir) if cache_dir is not None else default_cache_dir(recipe)).expanduser().resolve()
    fingerprint = recipe.fingerprint()
    plan = make_plan(recipe)
    rows = plan.rows(out)
    counts = dict(Counter(r["group"] for r in rows))
    report = BuildReport(out, used=plan.used, missing=plan.missing, counts=counts, groups=plan.groups)

    stamp = out / "recipe.json"
    if not force and stamp.is_file() and (out / MANIFEST).is_file():
        try:
            same = json.loads(stamp.read_text(encoding="utf-8")).get("fingerprint") == fingerprint
        except (OSError, ValueError):
            same = False
        if same and read_manifest(out / MANIFEST) == rows and all(Path(r["path"]).is_file() for r in rows):
            report.skipped = True
            report.seconds = time.perf_counter() - t0
            return report

    _prepare_dir(out, fingerprint, force)
    write_json(stamp, {"fingerprint": fingerprint, "version": VERSION, "recipe": dataclasses.asdict(recipe)})
    todo = [it for it in plan.items if not (out / it.rel).is_file()]
    if todo:
        renderer = Renderer(recipe)
        with progress_bar(total=len(todo), desc="benchmark data", unit="item", enabled=progress) as bar:
            for it in todo:
                renderer.render(it, out / it.rel)
                report.generated.append(out / it.rel)
                bar.update()
    report.seconds = time.perf_counter() - t0
    record: dict[str, object] = {
        "used": plan.used,
        "missing": plan.missing,
        "counts": report.counts,
        "generated": len(report.generated),
        "seconds": round(report.seconds, 1),
    }
    if isinstance(recipe, HardRecipe):  # which weights rendered its neural looks (renderers.stale_renderers)
        record["renderers"] = renderer_digests(recipe.neural)
    write_json(out / BUILD_RECORD, record)
    write_manifest(out / MANIFEST, rows, plan.columns)  # last: its presence means the build is complete
    if plan.missing:
        log.info("benchmark sources not on this machine, skipped: %s", ", ".join(plan.missing))
    return report


def build_benchmark(
    cache_dir: Path | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    recipe: Recipe | HardRecipe = FULL_RECIPE,
) -> Path:
    """Build the labeled benchmark once and return its directory (holding ``manifest.csv``).

    Args:
        cache_dir: the benchmark directory; default ``$STYLEDEX_CACHE/bench-v1``, else
            ``~/.cache/styledex/bench-v1`` (a non-default recipe gets a fingerprint suffix).
        force: regenerate everything.
        progress: show a tqdm progress bar over the items to generate.
        recipe: what to build (default: the full benchmark, about 3 minutes on 2 CPU cores; :data:`HARD_RECIPE`:
            its harder parts, in ``hard-v1``).

    Returns:
        The directory. ``manifest.csv`` has :data:`MANIFEST_COLUMNS`: ``path`` (absolute), ``kind``
        (image|video), ``group`` (grid|video|museum; hard: filters|reframed|neural|video_hard|museum), ``content``,
        ``style``, ``segment`` (video segment number, ``cut``, or empty) and ``title``; the hard benchmark's adds
        ``framing`` and ``heldout_op`` (:data:`~.plan.HARD_COLUMNS`).
    """
    return build(cache_dir, recipe=recipe, force=force, progress=progress).path
