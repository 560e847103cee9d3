"""The space registry: each space registered beside its definition, once, in the order ``styledex spaces`` lists."""

from __future__ import annotations

import pytest
import torch

from styledex.embed import spaces
from styledex.embed.spaces import SPACES, SpaceSpec, register_space, vgg_feature_fn


def test_the_registry_lists_every_space_once_in_order_and_vgg_spaces_have_features() -> None:
    assert list(SPACES) == ["content", "gram", "adain", "predictor", "cin", "style_head", "adain_white", "content_head",
                           "munit_style", "munit_content"]
    features = {layer: torch.rand(2, channels, 4, 4) for layer, channels in spaces.LAYER_CHANNELS.items()}
    for name in ("content", "gram", "adain"):
        assert vgg_feature_fn(SPACES[name])(features).shape == (2, SPACES[name].dim)
    for name in ("predictor", "cin", "munit_style", "munit_content"):  # their vectors come from their own networks
        with pytest.raises(ValueError, match="not computed from VGG features"):
            vgg_feature_fn(SPACES[name])


def test_a_name_twice_or_features_for_a_non_vgg_space_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spaces, "SPACES", dict(SPACES))
    with pytest.raises(ValueError, match="registered twice"):
        register_space(SPACES["adain"])
    other = SpaceSpec(name="made_up", kind="style", dim=3, source="predictor", description="", preprocessing="")
    with pytest.raises(ValueError, match="not computed from VGG features"):
        register_space(other)(lambda spec: lambda feats: feats)


def test_the_style_alias_falls_back_to_adain_in_a_catalog_without_the_head() -> None:
    from styledex.embed.spaces import resolve, resolve_in

    assert resolve("style").name == "style_head"
    assert resolve_in("style", ["content", "adain", "style_head"]).name == "style_head"
    assert resolve_in("style", ["content", "gram", "adain"]).name == "adain"  # a catalog made before the head
    assert resolve_in("style", ["content", "gram"]).name == "style_head"  # no fallback held: the caller reports it
    assert resolve_in("gram", ["content"]).name == "gram"  # a space's own name never falls back
