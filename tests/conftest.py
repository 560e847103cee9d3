"""Fixtures shared by every folder of tests: the CLI runners, a cheap config, and one tiny catalog built once.

The session catalog (8 small images + 1 small video, helpers.catalogs.build_tiny_catalog) is built once with the
real VGG19 and is read-only; a test that mutates a catalog takes a copy (``catalog_copy``) or builds its own.
Helpers live in the ``helpers`` package (``tests/helpers``, on the path through pyproject.toml's ``pythonpath``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers.catalogs import TINY_CONFIG, TinyCatalog, build_tiny_catalog
from helpers.cli import Run, run_inprocess, run_subprocess


@pytest.fixture(scope="session")
def cli() -> Callable[..., Run]:
    return run_inprocess


@pytest.fixture(scope="session")
def cli_proc() -> Callable[..., Run]:
    return run_subprocess


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    # POST /items {"paths": [...]} may add from this session's temporary folders (serve.ingest_roots; none by
    # default): every test builds its media under them.
    roots = json.dumps([str(tmp_path_factory.getbasetemp())])
    path.write_text(f"{TINY_CONFIG}serve: {{ingest_roots: {roots}}}\n")
    return path


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory: pytest.TempPathFactory, tiny_config: Path) -> TinyCatalog:
    """The session catalog (see helpers.catalogs.build_tiny_catalog), added once with the CLI."""
    return build_tiny_catalog(tmp_path_factory.mktemp("session"), tiny_config)


@pytest.fixture
def catalog_copy(tiny_catalog: TinyCatalog, tmp_path: Path) -> Path:
    """A private copy of the session catalog, for tests that write to it."""
    target = tmp_path / "catalog_copy"
    shutil.copytree(tiny_catalog.directory, target)
    return target
