"""The space registry: each space registered beside its definition, once, in the order ``styledex spaces`` lists."""

from __future__ import annotations

import pytest
import torch

from styledex.embed import spaces
from styledex.embed.spaces import SPACES, SpaceSpec, register_space, vgg_feature_fn


def test_the_registry_lists_every_space_once_in_order_and_vgg_spaces_have_features() -> None:
    assert list(SPACES) == ["content", "gram", "adain", "predictor", "cin", "style_head", "content_head"]
    features = {layer: torch.rand(2, channels, 4, 4) for layer, channels in spaces.LAYER_CHANNELS.items()}
    for name in ("content", "gram", "adain"):
        assert vgg_feature_fn(SPACES[name])(features).shape == (2, SPACES[name].dim)
    for name in ("predictor", "cin"):  # their vectors come from their own networks
        with pytest.raises(ValueError, match="not computed from VGG features"):
            vgg_feature_fn(SPACES[name])


def test_a_name_twice_or_features_for_a_non_vgg_space_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spaces, "SPACES", dict(SPACES))
    with pytest.raises(ValueError, match="registered twice"):
        register_space(SPACES["adain"])
    other = SpaceSpec(name="made_up", kind="style", dim=3, source="predictor", description="", preprocessing="")
    with pytest.raises(ValueError, match="not computed from VGG features"):
        register_space(other)(lambda spec: lambda feats: feats)
