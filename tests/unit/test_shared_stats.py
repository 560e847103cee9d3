"""One forward's per-channel statistics, shared by the spaces that read them (embed/stats.py shared_mean_std)."""

from __future__ import annotations

import torch


def test_shared_mean_std_computes_once_per_map_and_forgets_it_with_the_map() -> None:
    from styledex.embed import stats

    torch.manual_seed(0)
    maps = torch.rand(2, 8, 5, 5)
    first = stats.shared_mean_std(maps)
    assert stats.shared_mean_std(maps) is first  # the adain and style_head spaces read one forward's maps
    torch.testing.assert_close(first, stats.mean_std(maps))
    copy = maps.clone()  # equal values, another map: computed anew
    assert stats.shared_mean_std(copy) is not first
    key = id(maps)
    del maps, first
    assert key not in stats._SHARED_MEAN_STD
