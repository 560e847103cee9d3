"""Search a catalog by item id or by file, in one space or a weighted mix: the composition CLI and HTTP share.

Scores are cosine similarities (every space stores unit vectors). A mix such as ``style:0.7,content:0.3`` scores
each candidate by Σ wₛ·cosₛ / Σ wₛ, with the exact cosine in every space of the mix (candidates are the union of
each space's top results, re-scored from the stored vectors), so no space's score is approximated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from styledex.catalog import Catalog, CatalogError
from styledex.embed.embedder import Embedder, aggregate_frames
from styledex.embed.spaces import SpaceSpec, resolve
from styledex.index import SpaceIndex, parse_mix
from styledex.media import Media


@dataclass(frozen=True)
class CatalogSpaces:
    """The embedding settings a catalog was built with (stored in its meta table at creation)."""

    spaces: dict[str, str]  # name → fingerprint
    image_size: int

    @classmethod
    def of(cls, catalog: Catalog) -> CatalogSpaces:
        stored = catalog.get_meta("embed")
        if stored is None:
            raise CatalogError(f"catalog {catalog.directory} has no embedding settings yet (nothing was added)")
        return cls(dict(stored["spaces"]), int(stored["image_size"]))

    def embedder(self, **kwargs: Any) -> Embedder:
        return Embedder(list(self.spaces), image_size=self.image_size, **kwargs)


def parse_space_mix(text: str, available: Sequence[str]) -> dict[str, float]:
    """``adain``, ``style`` or ``style:0.7,content:0.3`` → {real space name: weight}; unknown names → ValueError."""
    weights: dict[str, float] = {}
    for name, weight in parse_mix(text).items():
        spec = resolve(name)
        if spec.name not in available:
            raise ValueError(f"space '{spec.name}' is not in this catalog; it has {', '.join(available)}")
        weights[spec.name] = weights.get(spec.name, 0.0) + weight
    return weights


class Searcher:
    """Searches one catalog. Opens (or rebuilds) each space's index on first use."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.settings = CatalogSpaces.of(catalog)
        self._embedder: Embedder | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self.settings.embedder()
        return self._embedder

    def spec(self, space: str) -> SpaceSpec:
        return resolve(space)

    def index(self, space: str) -> SpaceIndex:
        spec = resolve(space)
        return self.catalog.index(
            spec.name, dim=spec.dim, fingerprint=self.settings.spaces[spec.name], metric=spec.metric
        )

    # -- queries -----------------------------------------------------------------------------------------------
    def query_vectors_for_item(self, item_id: int, spaces: Sequence[str]) -> dict[str, np.ndarray]:
        out = {}
        for space in spaces:
            vector = self.catalog.item_vector(item_id, space)
            if vector is None:
                raise KeyError(item_id)
            out[space] = vector
        return out

    def query_vectors_for_media(self, media: Media) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed(media.frames)
        if media.kind == "video":
            return {space: aggregate_frames(matrix) for space, matrix in vectors.items()}
        return {space: matrix[0] for space, matrix in vectors.items()}

    def search(
        self, queries: dict[str, np.ndarray], weights: dict[str, float], k: int, exclude: Sequence[int] = ()
    ) -> list[dict[str, Any]]:
        """Best-first results for one query given as {space: unit vector}; ``exclude`` ids never returned."""
        if len(weights) == 1:
            (space,) = weights
            hits = self.index(space).search(queries[space][None, :], k, exclude=[set(exclude)])[0]
            scored = [(item_id, score, {space: score}) for item_id, score in hits]
        else:
            candidates: set[int] = set()
            for space in weights:
                hits = self.index(space).search(queries[space][None, :], 4 * k, exclude=[set(exclude)])[0]
                candidates.update(item_id for item_id, _ in hits)
            scored = []
            total = sum(weights.values())
            for item_id in candidates:
                per_space = {s: float(self.index(s).reconstruct(item_id) @ queries[s]) for s in weights}
                fused = sum(weights[s] * per_space[s] for s in weights) / total
                scored.append((item_id, fused, per_space))
            scored.sort(key=lambda t: (-t[1], t[0]))
            scored = scored[:k]
        return [self._result(item_id, score, per_space, queries, weights) for item_id, score, per_space in scored]

    def _result(
        self,
        item_id: int,
        score: float,
        per_space: dict[str, float],
        queries: dict[str, np.ndarray],
        weights: dict[str, float],
    ) -> dict[str, Any]:
        item = self.catalog.item(item_id) or {}
        result: dict[str, Any] = {
            "id": item_id,
            "path": item.get("path"),
            "kind": item.get("kind"),
            "score": round(float(score), 6),
            "scores": {s: round(v, 6) for s, v in per_space.items()},
            "metadata": item.get("metadata", {}),
        }
        if item.get("kind") == "video":
            # Which sampled frame matched best: the frame whose vectors agree most with the query, by the same
            # weighting as the item score.
            best = None
            for space, weight in weights.items():
                times, frames = self.catalog.frame_vectors(item_id, space)
                if len(times):
                    sims = frames @ queries[space]
                    best = weight * sims if best is None else best + weight * sims
            if best is not None:
                frame = int(np.argmax(best))
                result["frame"] = frame
                result["time"] = round(float(times[frame]), 3)
        return result
