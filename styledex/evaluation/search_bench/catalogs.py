"""Synthetic catalogs: a real SQLite catalog of fake image rows whose vectors come from `SyntheticVectors`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from styledex.catalog import Catalog, ItemRecord, SpaceVectors
from styledex.config import IndexConfig
from styledex.embed.embedder import Embedder
from styledex.search import embed_meta
from styledex.space_indexes import SpaceIndexes

from .synthetic import SyntheticVectors

BENCH_SPACES = ("adain",)


def build_synthetic_catalog(
    directory: Path,
    items: int,
    *,
    seed: int = 0,
    spaces: Sequence[str] = BENCH_SPACES,
    kind: str = "clustered",
    batch: int = 2000,
    views: Mapping[str, Mapping[int, np.ndarray]] | None = None,
) -> Catalog:
    """A catalog of ``items`` fake image rows with `SyntheticVectors` in ``spaces`` (item i has row i - 1 of each
    space's generator: catalog ids start at 1). No index is built. ``views``: {space: {row: region views [V, dim]}}
    stored with those rows' items (what `add` stores for a content item; `.views.bench_regions`)."""
    views = views or {}
    catalog = Catalog.open(directory, create=True)
    meta = embed_meta(Embedder(list(spaces)))
    generators = {space: SyntheticVectors.for_space(space, seed=seed, kind=kind) for space in spaces}
    with catalog.writing():
        catalog.set_meta("embed", meta)
        for start in range(0, items, batch):
            stop = min(items, start + batch)
            vectors = {space: gen.rows(start, stop) for space, gen in generators.items()}
            records = [
                ItemRecord(
                    path=f"/synthetic/{start + i}.jpg", status="ok", kind="image", sha256=f"{start + i:064x}",
                    vectors={s: SpaceVectors(vectors[s][i], views=views.get(s, {}).get(start + i)) for s in spaces},
                )
                for i in range(stop - start)
            ]  # fmt: skip
            catalog.write_batch(records)
    return catalog


def bench_indexes(catalog: Catalog) -> SpaceIndexes:
    """The open indexes of a bench catalog. The bench builds every index it measures itself (``replace``); the
    default settings would only choose a rebuild, which a catalog the bench does not write to never needs."""
    return SpaceIndexes.of(catalog, IndexConfig())
