"""The learned heads' parts without VGG19: the contrastive loss against hand-computed values, the heads' shapes and
invariances, the aspect-kept input sizes, the balanced training design and the retrieval report on handmade
vectors. Seconds in all."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from styledex.embed import heads
from styledex.embed.embedder import crop_to_aspect, input_size
from styledex.embed.heads import ContentHead, GeM, StyleHead
from styledex.embed.spaces import SPACES, unavailable_reason
from styledex.train.head_data import Content, DataRecipe, look_effect, plan, reframe
from styledex.train.heads import BatchSampler, HeadConfig, augment_map, retrieval_report, supcon_loss
from styledex.train.looks import NAMED_LOOKS, random_look


def test_supcon_loss_matches_the_hand_computed_value() -> None:
    # Two classes, each pair identical, the classes orthogonal; τ = 1. Each anchor sees its positive at cos 1 and
    # two negatives at cos 0: loss = −log(e / (e + 2)).
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    loss = supcon_loss(z, torch.tensor([0, 0, 1, 1]), temperature=1.0)
    assert loss.item() == pytest.approx(-math.log(math.e / (math.e + 2)), rel=1e-6)


def test_supcon_loss_is_lower_when_positives_are_closer_and_ignores_anchors_without_positives() -> None:
    labels = torch.tensor([0, 0, 1, 1, 2])  # item 4 has no positive: it only serves as a negative
    good = torch.nn.functional.normalize(torch.tensor([[1, 0.1], [1, 0], [0, 1], [0.1, 1], [-1, -1.0]]), dim=1)
    bad = torch.nn.functional.normalize(torch.tensor([[1, 0.1], [0, 1], [1, 0], [0.1, 1], [-1, -1.0]]), dim=1)
    assert supcon_loss(good, labels, 0.1) < supcon_loss(bad, labels, 0.1)
    perm = torch.tensor([3, 0, 4, 2, 1])
    assert supcon_loss(good[perm], labels[perm], 0.1).item() == pytest.approx(supcon_loss(good, labels, 0.1).item())


def test_a_style_ensemble_scores_the_mean_of_its_members_cosines() -> None:
    torch.manual_seed(0)
    head = StyleHead(dim=8, hidden=16, members=3).eval()
    a, b = torch.rand(2, heads.STYLE_INPUT_DIM), torch.rand(2, heads.STYLE_INPUT_DIM)
    with torch.no_grad():
        za, zb = head(a), head(b)
        members = [float(head.member(m, a)[0] @ head.member(m, b)[0]) for m in range(3)]
    assert za.shape == (2, 24)
    assert torch.allclose(za.norm(dim=1), torch.ones(2), atol=1e-5)
    assert float(za[0] @ zb[0]) == pytest.approx(sum(members) / 3, abs=1e-5)


def test_heads_give_unit_vectors_of_their_dimension() -> None:
    style = StyleHead(dim=32, hidden=64).eval()
    content = ContentHead(dim=48, hidden=64).eval()
    with torch.no_grad():
        s = style(torch.rand(5, heads.STYLE_INPUT_DIM))
        c = content(torch.randn(3, heads.CONTENT_INPUT_CHANNELS, 7, 9))
    assert s.shape == (5, 32) and c.shape == (3, 48)
    assert torch.allclose(s.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(c.norm(dim=1), torch.ones(3), atol=1e-5)


def test_content_head_ignores_where_things_are() -> None:
    # 1×1 convolution then pooling over all positions: a mirrored or shuffled map gives the same vector, which is
    # why a mirrored frame keeps its subject in this space.
    head = ContentHead(dim=16, hidden=32, reduced=24).eval()
    head.fit_reduction([torch.randn(heads.CONTENT_INPUT_CHANNELS, 6, 8) for _ in range(4)])
    maps = torch.randn(1, heads.CONTENT_INPUT_CHANNELS, 6, 8)
    with torch.no_grad():
        base = head(maps)
        assert torch.allclose(head(maps.flip(-1)), base, atol=1e-5)
        reduced = head.reduce(maps)  # [1, 24, 3, 4]: the learned part ignores where each position is
        shuffled = reduced.flatten(2)[:, :, torch.randperm(12)].reshape(reduced.shape)
        assert torch.allclose(head.head(shuffled), base, atol=1e-5)


def test_the_content_heads_fixed_projection_keeps_the_principal_directions() -> None:
    # Positions spread along 3 directions only: the 3 kept directions span them, so projecting back loses nothing.
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(heads.CONTENT_INPUT_CHANNELS, 3, generator=gen))[0]
    maps = [(basis @ torch.randn(3, 8 * 8, generator=gen)).reshape(-1, 8, 8) + 2.0 for _ in range(6)]
    head = ContentHead(dim=8, hidden=8, reduced=3)
    head.fit_reduction(maps)
    pooled = torch.nn.functional.avg_pool2d(maps[0][None], 2)
    back = (
        torch.einsum("rc,brhw->bchw", head.reduce_basis, head.reduce(maps[0][None])) + head.reduce_mean[:, None, None]
    )
    assert torch.allclose(back, pooled, atol=1e-4)
    assert torch.allclose(head.reduce_basis @ head.reduce_basis.T, torch.eye(3), atol=1e-5)


def test_gem_is_the_average_at_p1_and_tends_to_the_maximum() -> None:
    x = torch.tensor([[[[1.0, 2.0], [3.0, 10.0]]]])
    assert GeM(p=1.0)(x).item() == pytest.approx(4.0)
    assert GeM(p=50.0)(x).item() == pytest.approx(10.0 * 0.25 ** (1 / 50), rel=1e-4)


def test_style_head_standardizes_its_inputs_with_fitted_constants() -> None:
    head = StyleHead(dim=8, hidden=16)
    inputs = torch.randn(100, heads.STYLE_INPUT_DIM) * 3 + 5
    head.fit_standardization(inputs)
    standardized = (inputs - head.input_mean) / head.input_std
    assert standardized.mean(0).abs().max() < 1e-4
    assert (standardized.std(0) - 1).abs().max() < 1e-4


@pytest.mark.parametrize(("size", "expected"), [((512, 512), (256, 256)), ((300, 300), (256, 256))])
def test_square_images_get_the_square_input_either_way(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert input_size(*size, 256, "keep") == expected == input_size(*size, 256, "squash")


def test_kept_aspect_spends_the_same_pixels_as_the_square() -> None:
    w, h = input_size(1920, 1080, 256, "keep")
    assert w % 16 == 0 and h % 16 == 0
    assert w / h == pytest.approx(16 / 9, rel=0.05)
    assert w * h == pytest.approx(256 * 256, rel=0.05)
    assert input_size(1080, 1920, 256, "keep") == (h, w)
    assert input_size(5000, 1000, 256, "keep") == input_size(2000, 1000, 256, "keep")  # clamped to 2:1


def test_crop_to_aspect_cuts_the_long_side_around_the_centre() -> None:
    img = Image.new("RGB", (500, 100))
    assert crop_to_aspect(img).size == (200, 100)
    assert crop_to_aspect(Image.new("RGB", (100, 150))).size == (100, 150)
    with pytest.raises(ValueError, match="aspect must be one of keep, squash"):
        input_size(10, 10, 256, "stretch")


def test_a_head_space_is_unavailable_until_its_weights_ship(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heads, "WEIGHTS_DIR", tmp_path)
    reason = unavailable_reason(SPACES["style_head"])
    assert reason is not None and "styledex train style-head" in reason
    (tmp_path / "style_head.pt").write_bytes(b"x")
    assert unavailable_reason(SPACES["style_head"]) is None


def _contents(n: int) -> list[Content]:
    return [Content(f"photo:p{i}", Path(f"/nonexistent/p{i}.jpg")) for i in range(n)]


def test_the_training_design_is_balanced_and_uses_no_benchmark_look() -> None:
    recipe = DataRecipe(looks_per_content=4, contents_per_look=4, cin_looks=2, magenta_looks=0, painting_crops=0)
    items = plan(recipe, _contents(12))
    per_look: dict[str, set[str]] = {}
    per_content: dict[str, set[str]] = {}
    for item in items:
        per_look.setdefault(item.style, set()).add(item.content.label)
        per_content.setdefault(item.content.label, set()).add(item.style)
    assert len(items) == 48  # 12 contents × 4 looks, every slot dealt
    assert {len(v) for v in per_look.values()} == {4} and {len(v) for v in per_content.values()} == {4}
    named = {tuple((s.op, tuple(sorted(s.params.items()))) for s in look.steps) for look in NAMED_LOOKS}
    for item in items:
        if item.look["kind"] == "filter":
            steps = tuple((op, tuple(sorted(params.items()))) for op, params in item.look["look"]["steps"])
            assert steps not in named
    assert plan(recipe, _contents(12)) == items  # deterministic from the seed


def test_unidentified_painters_are_not_a_style_group() -> None:
    paintings = [Content(f"painting:{i}", Path(f"/x/{i}.jpg"), "Unidentified artist") for i in range(3)]
    paintings += [Content(f"painting:{i}", Path(f"/x/{i}.jpg"), "Jan Steen") for i in (7, 8)]
    recipe = DataRecipe(looks_per_content=2, contents_per_look=2, cin_looks=0, magenta_looks=0, painting_crops=1)
    crops = [item for item in plan(recipe, paintings) if item.look["kind"] == "none"]
    # Jan Steen's two works are one style; each other crop is a label of its own (a negative, never a positive)
    assert sorted(item.style for item in crops) == [
        "artist:Jan Steen", "artist:Jan Steen", "painting:0/crop0", "painting:1/crop0", "painting:2/crop0",
    ]  # fmt: skip
    more = plan(recipe.model_copy(update={"painting_crops": 3}), paintings)
    lone = [item.style for item in more if item.look["kind"] == "none" and item.content.label == "painting:0"]
    assert len(lone) == len(set(lone)) == 3


def test_random_looks_are_visible() -> None:
    rng = np.random.default_rng(3)
    effects = [look_effect(random_look(rng)) for _ in range(50)]
    assert min(effects) >= 0.0 and np.mean(np.array(effects) > 0.03) > 0.7  # most change the card visibly
    items = plan(DataRecipe(looks_per_content=3, contents_per_look=3, cin_looks=0, magenta_looks=0,
                            painting_crops=0), _contents(9))  # fmt: skip
    from styledex.train.head_data import MIN_LOOK_EFFECT, _look_from_dict

    assert all(look_effect(_look_from_dict(item.look["look"])) >= MIN_LOOK_EFFECT for item in items)


def test_reframings_change_what_is_where_not_the_size() -> None:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8))
    rng = np.random.default_rng(1)
    assert np.array_equal(np.asarray(reframe(img, "mirror", rng)), np.asarray(ImageOps.mirror(img)))
    for framing in ("crop", "zoom", "rotate"):  # a region of the picture, resized back to its size
        out = reframe(img, framing, rng)
        assert out.size == img.size and not np.array_equal(np.asarray(out), np.asarray(img))
    assert reframe(img, "none", rng) is img


def test_augmented_maps_keep_at_least_the_asked_fraction() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 10, 20)
    for _ in range(20):
        out = augment_map(x, 0.7, gen)
        assert out.shape[0] == 4 and 7 <= out.shape[1] <= 10 and 14 <= out.shape[2] <= 20


def test_retrieval_report_on_a_space_that_answers_the_style_question() -> None:
    # 3 contents × 3 looks; the vector is the look's direction plus a whisper of the content's.
    rng = np.random.default_rng(0)
    look_dirs, content_dirs = rng.standard_normal((3, 16)), rng.standard_normal((3, 16))
    rows, content, style = [], [], []
    for c in range(3):
        for s in range(3):
            rows.append(look_dirs[s] + 0.05 * content_dirs[c])
            content.append(f"c{c}")
            style.append(f"s{s}")
    vectors = torch.nn.functional.normalize(torch.tensor(np.array(rows), dtype=torch.float32), dim=1)
    report = retrieval_report(vectors, content, style)
    assert report["style_p5"] == 1.0 and report["style_leak"] == 0.0
    # A content query has 2 relevant items; its top 2 are its look on the other two contents.
    assert report["content_p5"] == 0.0 and report["content_leak"] == 1.0


def test_batches_hold_both_kinds_of_hard_negative() -> None:
    class Data:
        content_labels = [f"c{i // 4}" for i in range(32)]  # 8 contents × 4 looks
        style_labels = [f"s{(i // 4 + i % 4) % 8}" for i in range(32)]

    cfg = HeadConfig(contents_per_batch=3, looks_per_item=2, extra_per_look=1)
    sampler = BatchSampler(Data(), np.arange(32), cfg, torch.Generator().manual_seed(0))  # type: ignore[arg-type]
    batch = sampler.sample()
    contents = [Data.content_labels[i] for i in batch]
    styles = [Data.style_labels[i] for i in batch]
    assert len(set(batch)) == len(batch)
    assert any(contents.count(c) >= 2 for c in contents)  # one content under several looks
    assert any(styles.count(s) >= 2 for s in styles)  # one look on several contents


def test_the_cache_is_named_by_the_planned_items_not_the_recipe_alone() -> None:
    # The training contents follow train/splits.py: one painting moved to the held-out side changes the items, and
    # chunks embedded from the old items must not be read back as the new ones (their labels would not match).
    from styledex.train.head_data import default_cache, plan_digest

    recipe = DataRecipe(looks_per_content=2, contents_per_look=2, cin_looks=0, magenta_looks=0, painting_crops=0)
    before, after = plan(recipe, _contents(6)), plan(recipe, _contents(6)[1:])
    assert plan_digest(before) == plan_digest(plan(recipe, _contents(6)))
    assert plan_digest(before) != plan_digest(after)
    assert default_cache(recipe, before) != default_cache(recipe, after)


def test_a_bagged_style_head_learns_looks_that_content_hides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through the trainer: 12 contents × 6 looks of synthetic statistics where the content's direction
    is 3x stronger than the look's. Raw, the statistics answer the content question; after training, each member
    answers the style question on the contents it held out (its own quarter of them)."""
    import styledex.train.heads as head_task
    from styledex.train import train
    from styledex.train.head_data import HeadData
    from styledex.train.style_head import Config

    rng = np.random.default_rng(0)
    look_dirs, content_dirs = rng.standard_normal((6, 3016)), rng.standard_normal((12, 3016))
    rows, contents, styles = [], [], []
    for c in range(12):
        for s in range(6):
            rows.append(look_dirs[s] + 3 * content_dirs[c] + 0.3 * rng.standard_normal(3016))
            contents.append(f"photo:c{c}")
            styles.append(f"look:{s}")
    inputs = torch.tensor(np.array(rows), dtype=torch.float32)
    data = HeadData(inputs, [], contents, styles, ["filter"] * len(rows), {"synthetic": True}, tmp_path)
    builds: list[dict] = []
    monkeypatch.setattr(head_task, "build", lambda *args, **kwargs: (builds.append(kwargs), data)[1])
    raw = retrieval_report(torch.nn.functional.normalize(inputs, dim=1), contents, styles)
    assert raw["style_p5"] < 0.3 and raw["content_p5"] == 1.0
    cfg = Config(steps=60, lr=0.003, dim=8, hidden=32, members=2, contents_per_batch=4, val_fraction=0.25)
    record = train("style-head", cfg, tmp_path / "run", progress=False).record  # as `styledex train --quiet`
    assert builds[0]["progress"] is False  # the training set's build is quiet too
    members = record["validation_members"]
    assert len(members) == 2 and all(m["style_p5"] > 0.9 for m in members)
    assert record["validation"]["style_p5"] == pytest.approx(np.mean([m["style_p5"] for m in members]), abs=1e-4)
    assert record["train_items"] == [54, 54] and record["members"] == 2
    splits = [head_task.split_rows(data, 0.25, seed) for seed in (0, 1)]
    assert not np.array_equal(splits[0][1], splits[1][1])  # each member holds out other contents


def test_the_whitening_gives_unit_variance_on_what_it_was_fitted_to(tmp_path: Path) -> None:
    torch.manual_seed(0)
    # correlated statistics: 3 strong directions and noise, around a non-zero mean
    mixing = torch.randn(3, heads.STYLE_STATS_DIM) * torch.tensor([[10.0], [3.0], [1.0]])
    inputs = torch.randn(500, 3) @ mixing + 0.01 * torch.randn(500, heads.STYLE_STATS_DIM) + 2.0
    head = heads.StatsWhitening(dim=4)
    kept = head.fit(inputs)
    assert kept[0] > kept[1] > kept[2] > 50 * kept[3]  # largest first; the fourth is noise
    white = head.whiten(inputs).double()
    torch.testing.assert_close(torch.cov(white.T), torch.eye(4, dtype=torch.float64), atol=1e-3, rtol=1e-3)
    torch.save({"state": {"head": head.state_dict()}, "meta": {"dim": 4}}, tmp_path / "w.pt")
    loaded = heads.build_head(heads.WHITENED, torch.load(tmp_path / "w.pt", weights_only=True))
    torch.testing.assert_close(loaded(inputs[:3]), head(inputs[:3]))
    assert torch.allclose(loaded(inputs[:3]).norm(dim=1), torch.ones(3), atol=1e-5)


def test_shrinkage_keeps_the_strong_directions_and_damps_the_faint_ones() -> None:
    torch.manual_seed(0)
    mixing = torch.randn(3, heads.STYLE_STATS_DIM) * torch.tensor([[10.0], [3.0], [1.0]])
    inputs = torch.randn(400, 3) @ mixing + 0.01 * torch.randn(400, heads.STYLE_STATS_DIM)
    plain, shrunk = heads.StatsWhitening(dim=4), heads.StatsWhitening(dim=4)
    kept = plain.fit(inputs)
    torch.testing.assert_close(shrunk.fit(inputs, shrinkage=0.01), kept)  # the same directions and variances
    total = float(torch.cov(inputs.double().T).trace())
    # each coordinate's variance becomes v / (v + 0.01 · total): ~1 for the strongest, ~0 for the noise direction
    expected = (kept.double() / (kept.double() + 0.01 * total)).float()
    variances = torch.var(shrunk.whiten(inputs).double(), dim=0).float()
    torch.testing.assert_close(variances, expected, rtol=1e-3, atol=1e-6)
    assert variances[0] > 0.95 and variances[3] < 1e-3


def test_the_painting_member_adds_its_weighted_cosine_to_the_learned_members(tmp_path: Path) -> None:
    torch.manual_seed(0)
    head = StyleHead(dim=8, hidden=16, members=2).eval()
    a, b = torch.rand(2, heads.STYLE_INPUT_DIM), torch.rand(2, heads.STYLE_INPUT_DIM)
    with torch.no_grad():
        learned = float(head(a)[0] @ head(b)[0])
        whitening = heads.StatsWhitening(dim=4)
        whitening.fit(torch.rand(50, heads.STYLE_STATS_DIM))
        painting = float(whitening(a[:, : heads.STYLE_STATS_DIM])[0] @ whitening(b[:, : heads.STYLE_STATS_DIM])[0])
        head.attach_paintings(whitening, weight=0.7)
        za, zb = head(a), head(b)
    assert za.shape == (2, 16 + 4)
    assert torch.allclose(za.norm(dim=1), torch.ones(2), atol=1e-5)
    assert float(za[0] @ zb[0]) == pytest.approx((learned + 0.49 * painting) / 1.49, abs=1e-5)
    # saved and loaded as the shipped file is: the member and its weight come back
    torch.save({"state": {"head": head.state_dict()}, "meta": {"dim": 8, "hidden": 16, "members": 2,
                                                               "painting_dim": 4}}, tmp_path / "h.pt")  # fmt: skip
    loaded = heads.build_head(heads.STYLE_HEAD, torch.load(tmp_path / "h.pt", weights_only=True))
    torch.testing.assert_close(loaded(a), za)
