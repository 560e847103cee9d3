"""torch's process-wide thread count: set by the entry points (CLI commands that embed, the server's start) from
``embed.threads`` through styledex.embed.runtime.configure_threads, never by constructing an Embedder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml

from styledex.config import load_config
from styledex.embed.embedder import Embedder
from styledex.embed.runtime import configure_threads

from helpers.catalogs import TinyCatalog


@pytest.fixture
def other_threads() -> Iterator[int]:
    """A thread count other than the current one; the current one is restored afterwards."""
    before = torch.get_num_threads()
    yield 1 if before != 1 else 2
    torch.set_num_threads(before)


def test_configure_threads_sets_the_count_and_none_keeps_it(other_threads: int) -> None:
    configure_threads(other_threads)
    assert torch.get_num_threads() == other_threads
    configure_threads(None)
    assert torch.get_num_threads() == other_threads


def test_constructing_an_embedder_leaves_the_thread_count_alone(other_threads: int) -> None:
    before = torch.get_num_threads()
    embedder = Embedder(["adain"], image_size=64, device="cpu", threads=other_threads)
    assert torch.get_num_threads() == before
    assert embedder.names == ["adain"]


def _config_with_threads(tiny_catalog: TinyCatalog, tmp_path: Path, threads: int) -> Path:
    settings = yaml.safe_load(tiny_catalog.config.read_text())
    settings["embed"]["threads"] = threads
    path = tmp_path / "threads.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def test_the_entry_points_apply_embed_threads(tiny_catalog: TinyCatalog, tmp_path: Path, cli,
                                              other_threads: int) -> None:
    from fastapi.testclient import TestClient

    from styledex.serve.app import create_app

    config_path = _config_with_threads(tiny_catalog, tmp_path, other_threads)
    before = torch.get_num_threads()
    with TestClient(create_app(tiny_catalog.directory, config=load_config(config_path), token=None)):
        assert torch.get_num_threads() == other_threads
    torch.set_num_threads(before)
    run = cli("--config", config_path, "search", "--catalog", tiny_catalog.directory, "--id",
              tiny_catalog.ids["A"], "--json")
    assert run.rc == 0, run.err
    assert torch.get_num_threads() == other_threads
