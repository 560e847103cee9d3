"""The hard benchmark records which weights rendered its neural looks, and eval names the methods whose shipped
weights changed since (styledex.evaluation.benchdata.renderers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import styledex.embed.transfer as transfer
from styledex.evaluation.benchdata.renderers import BUILD_RECORD, renderer_digests, stale_renderers

NEURAL = (("johnson", "a", ""), ("johnson", "b", ""), ("adain", "wheat", "paintings/wheat.jpg"), ("cin", "3", ""))


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake `styledex models` rows over weight files in a temporary folder."""
    folder = tmp_path / "weights"
    folder.mkdir()
    for name in ("johnson_a.pt", "johnson_b.pt", "adain_decoder.pt", "cin.onnx", "cin_predictor.pt"):
        (folder / name).write_bytes(name.encode())
    rows = [
        {"method": "johnson", "weights": str(folder)},  # per-style: one file per style in the folder
        {"method": "adain", "weights": str(folder / "adain_decoder.pt")},
        {"method": "cin", "weights": str(folder / "cin.onnx"), "predictor_weights": str(folder / "cin_predictor.pt")},
    ]
    monkeypatch.setattr(transfer, "list_models", lambda: rows)
    return folder


def _record(bench: Path, renderers: object) -> None:
    bench.mkdir(exist_ok=True)
    (bench / BUILD_RECORD).write_text(json.dumps({"counts": {}, "renderers": renderers}))


def test_a_retrained_network_makes_only_its_own_looks_stale(weights: Path, tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    _record(bench, renderer_digests(NEURAL))
    assert stale_renderers(bench, NEURAL) == []
    (weights / "johnson_b.pt").write_bytes(b"retrained, a different size")
    assert stale_renderers(bench, NEURAL) == ["johnson"]


def test_a_named_cin_style_does_not_depend_on_the_style_predictor(weights: Path, tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    _record(bench, renderer_digests(NEURAL))
    (weights / "cin_predictor.pt").write_bytes(b"retrained predictor")
    assert stale_renderers(bench, NEURAL) == []  # "cin:3" renders through the ONNX network only
    (weights / "cin.onnx").write_bytes(b"another release of the package")
    assert stale_renderers(bench, NEURAL) == ["cin"]


def test_a_build_without_the_record_is_unknown_not_fresh(weights: Path, tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    _record(bench, None)
    assert stale_renderers(bench, NEURAL) is None
    assert stale_renderers(tmp_path / "nothing_here", NEURAL) is None
