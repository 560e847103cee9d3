"""Search a catalog by item id or by file, in one space or a weighted mix: the composition CLI and HTTP share.

Scores are cosine similarities (every space stores unit vectors). A mix such as ``style:0.7,content:0.3`` scores
each candidate by Σ wₛ·cosₛ / Σ wₛ, with the exact cosine in every space of the mix (candidates are the union of
each space's top results, re-scored from the stored vectors), so no space's score is approximated.

Filters (an item kind, metadata equalities) are applied after ranking: the search over-fetches 4·k, keeps the
results that pass, and fetches 4× more while fewer than k passed and the index holds more, so a filter never
drops a result that would pass it (for a single space the filtered top k is exact).

Near-duplicates can be folded (:class:`Collapse`): two items are near-duplicates when their cosine reaches a
threshold in a style space *and* one in a content space (same look and same subject: the other segment of a clip in
the same look, a re-encode, a crop), so "the same subject in another look" is never folded in a content search, nor
"the same look on another subject" in a style search. Each space has its own threshold (``search.collapse`` in the
config): their cosines live on different scales (two unrelated images agree at ~0.9 in ``adain``, at ~0.1 in
``content``). Going down the ranking, an item that is a near-duplicate of a query item is dropped and one that is a
near-duplicate of a result already kept joins that result's ``duplicates``; folding over-fetches as filters do, so
k results still come back.

A search in style spaces (one, or a mix of them) lowers the query's own subject in other looks, one in content
spaces the query's own look on other subjects (:mod:`styledex.lowering`).

A query may be several items at once ("more like these"): its vector in each space is the normalized mean of the
items' unit vectors there, as a video's is of its frames' (:func:`mean_query`).

A content query asks with several views of itself (``styledex.embed.content_views``: its mirror image, its corners
and centre, and their mirrors; config ``search.reframe``): an item scores by its best cosine with any view, so a
mirrored, cropped or zoomed copy of the subject is found. The views travel in the query dict under
``views_key(space)`` as [V, dim] rows, the query's own vector first; in a mix that score is the space's cosine.

Also here, because the CLI and the HTTP service both need them: the embedder that writes to a catalog
(:func:`catalog_embedder`), removal (:func:`remove_items`) and the list of spaces (:func:`describe_spaces`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from styledex.catalog import Catalog, CatalogError
from styledex.catalog_records import metadata_text
from styledex.config import Config, IndexConfig
from styledex.embed.content_views import VIEW_SPACES, aggregate_views, query_views, views_key
from styledex.embed.embedder import Embedder, aggregate_frames
from styledex.embed.spaces import ALIASES, SPACES, SpaceSpec, SpaceUnavailable, resolve, resolve_in
from styledex.index import SpaceIndex, fused_score, parse_mix
from styledex.index.milvus_collection import MilvusCollection
from styledex.index.milvus_index import MilvusSpaceIndex
from styledex.lowering import Lowering, rank_lowered
from styledex.media import Media
from styledex.space_indexes import SpaceIndexes


@dataclass(frozen=True)
class CatalogSpaces:
    """The embedding settings a catalog was built with (stored in its meta table at creation)."""

    spaces: dict[str, str]  # name → fingerprint
    image_size: int
    aspect: str = "squash"  # catalogs made before the aspect setting were embedded squashed

    @classmethod
    def of(cls, catalog: Catalog) -> CatalogSpaces:
        stored = catalog.get_meta("embed")
        if stored is None:
            raise CatalogError(f"catalog {catalog.directory} has no embedding settings yet (nothing was added)")
        return cls(dict(stored["spaces"]), int(stored["image_size"]), str(stored.get("aspect", "squash")))

    def embedder(self, **kwargs: Any) -> Embedder:
        return Embedder(list(self.spaces), image_size=self.image_size, aspect=self.aspect, **kwargs)


def embed_meta(embedder: Embedder) -> dict[str, Any]:
    """What a catalog stores about the embedder that wrote it: each space's fingerprint, the input size and how
    the aspect ratio was handled (vectors of other settings are not comparable)."""
    return {"spaces": embedder.fingerprints(), "image_size": embedder.image_size, "aspect": embedder.aspect}


def catalog_embedder(catalog: Catalog, config: Config, *, factory: Callable[..., Embedder] = Embedder) -> Embedder:
    """The embedder for ``catalog``: the spaces and input size it was created with, so all its vectors stay
    comparable; batch size, device and threads from ``config``.

    A catalog with no settings yet takes ``config.embed``'s and stores them (call this under the write lock).
    Raises CatalogError when the current weights or parameters of a stored space differ from the catalog's.
    ``factory`` builds the embedder (``Embedder`` or a subclass) from the same arguments.
    """
    stored = catalog.get_meta("embed")
    spaces = config.embed.spaces if stored is None else list(stored["spaces"])
    image_size = config.embed.image_size if stored is None else int(stored["image_size"])
    aspect = config.embed.aspect if stored is None else str(stored.get("aspect", "squash"))
    try:
        embedder = factory(
            spaces,
            image_size=image_size,
            aspect=aspect,
            batch_size=config.embed.batch_size,
            device=config.embed.device,
            threads=config.embed.threads,
            precision=config.embed.precision,
        )
    except SpaceUnavailable as exc:  # a space whose weights are not shipped (cin before its predictor is trained)
        raise CatalogError(str(exc)) from None
    if stored is None:
        catalog.set_meta("embed", embed_meta(embedder))
        return embedder
    changed = [s for s, fp in embedder.fingerprints().items() if stored["spaces"].get(s) != fp]
    if changed:
        raise CatalogError(
            f"catalog {catalog.directory} was embedded with other weights or parameters for {', '.join(changed)}; "
            "add to a new catalog"
        )
    return embedder


def anchor_query(text: str) -> dict[str, np.ndarray]:
    """The query ``{"cin": unit vector [990]}`` of a named anchor: one of the 26 styles of the pretrained CIN
    network (``"7"``, as ``styledex transfer --method cin --style-name 7``) or a mixture (``"3:0.5,7:0.5"``, weights
    scaled to sum 1), normalized as the ``cin`` space's item vectors are (:func:`styledex.embed.cin_predictor.
    search_vectors`). Needs no trained predictor. ValueError (one line) for an unknown anchor.
    """
    from styledex.embed.cin_predictor import anchor_vectors
    from styledex.embed.transfer.pretrained import parse_mixture

    try:
        weights = parse_mixture(text.strip())
    except ValueError:
        expected = "a cin style 0..25 or a mixture such as 3:0.5,7:0.5"
        raise ValueError(f"unknown anchor {text!r}: expected {expected}") from None
    return {"cin": anchor_vectors(weights)}


def remove_items(indexes: SpaceIndexes, item_ids: Sequence[int]) -> list[int]:
    """Remove items from ``indexes.catalog`` (held for writing) and from every space's index; the ids that were
    there.

    The indexes are opened first, so the removal is saved into them on leaving ``catalog.writing()`` and the
    next reader loads them instead of rebuilding them from the raw vectors.
    """
    catalog = indexes.catalog
    if catalog.get_meta("embed") is not None:
        for name, fingerprint in CatalogSpaces.of(catalog).spaces.items():
            indexes.index(SPACES[name], fingerprint)
    return catalog.remove(item_ids)


def describe_spaces(catalog: Catalog | None) -> list[dict[str, Any]]:
    """Every registered space, as ``styledex spaces --json`` prints it and ``GET /spaces`` returns it.

    Each row is the space's description plus ``aliases`` (those that name it: in a catalog, as they resolve there,
    see :func:`~styledex.embed.spaces.resolve_in`) and ``in_catalog``; the spaces ``catalog`` holds also get their
    ``fingerprint`` and ``count`` (ok items with a vector in that space).
    """
    fingerprints: dict[str, str] = {}
    if catalog is not None:
        fingerprints = dict((catalog.get_meta("embed") or {}).get("spaces", {}))
    held = list(fingerprints)
    targets = {alias: resolve_in(alias, held).name if held else target for alias, target in ALIASES.items()}
    rows = []
    for name, spec in SPACES.items():
        row = spec.describe()
        row["aliases"] = [alias for alias, target in targets.items() if target == name]
        row["in_catalog"] = name in fingerprints
        if catalog is not None and name in fingerprints:
            row["fingerprint"] = fingerprints[name]
            row["count"] = catalog.vector_count(name)
        rows.append(row)
    return rows




@dataclass(frozen=True)
class ItemFilter:
    """Which results to keep: an item ``kind`` (image/video) and metadata equalities, all of which must hold.

    Metadata values compare as text: numbers as written (``1889``, and 1889.0 also as ``1889``: manifests read
    integer columns with gaps as floats), booleans as ``true``/``false``; a key the item lacks never matches.
    """

    kind: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()  # (key, value) pairs; a key given twice must hold both ways

    @classmethod
    def parse(cls, kind: str | None, where: Sequence[str] = ()) -> ItemFilter:
        """From ``kind`` and ``key:value`` strings; ValueError with a one-line reason on a malformed one."""
        if kind is not None and kind not in ("image", "video"):
            raise ValueError(f"kind must be image or video, got {kind!r}")
        metadata = []
        for entry in where:
            key, sep, value = entry.partition(":")
            if not sep or not key.strip():
                raise ValueError(f"expected where=key:value, got {entry!r}")
            metadata.append((key.strip(), value.strip()))
        return cls(kind, tuple(metadata))

    @property
    def empty(self) -> bool:
        return self.kind is None and not self.metadata

    def matches(self, item: Mapping[str, Any]) -> bool:
        if self.kind is not None and item.get("kind") != self.kind:
            return False
        meta = item.get("metadata") or {}
        return all(key in meta and metadata_text(meta[key]) == value for key, value in self.metadata)


def parse_space_mix(text: str, available: Sequence[str]) -> dict[str, float]:
    """``adain``, ``style`` or ``style:0.7,content:0.3`` → {real space name: weight}; unknown names → ValueError."""
    weights: dict[str, float] = {}
    for name, weight in parse_mix(text).items():
        spec = resolve_in(name, available)
        if spec.name not in available:
            raise ValueError(f"space '{spec.name}' is not in this catalog; it has {', '.join(available)}")
        weights[spec.name] = weights.get(spec.name, 0.0) + weight
    return weights


def mean_query(items: Sequence[Mapping[str, np.ndarray]], spaces: Sequence[str]) -> dict[str, np.ndarray]:
    """The query of several items at once ("more like these"): per space, the normalized mean of the items'
    unit vectors (each item: {space: [dim]}), as a video's vector is of its frames' → {space: unit [dim] float32}.
    One item's vectors are its own, unchanged. Views (``views_key(space)``: [V, dim]) are averaged view by view
    when every item has the same views; otherwise the query keeps its vector and that vector's mirror."""
    if len(items) == 1:
        return {key: items[0][key] for space in spaces for key in (space, views_key(space)) if key in items[0]}
    query = {space: aggregate_frames(np.stack([item[space] for item in items])) for space in spaces}
    for space in spaces:
        views = [item.get(views_key(space)) for item in items]
        if any(v is None for v in views):
            continue
        if len({v.shape for v in views}) == 1:
            query[views_key(space)] = aggregate_views(np.stack(views))
        else:
            query[views_key(space)] = query_views(query[space], None)
    return query


# The spaces the collapse thresholds (config search.collapse) were measured in (scripts/collapse_threshold.py): a
# threshold is a cosine of one space and means nothing in another, so these stay whatever the aliases name.
NEAR_DUPLICATE_SPACES = {"style": "adain", "content": "content"}


def near_duplicate_spaces(available: Sequence[str]) -> dict[str, str]:
    """Where near-duplicates are measured, for a catalog holding the spaces ``available``: {kind: space}, per kind
    (style, content) the space the thresholds were measured in (:data:`NEAR_DUPLICATE_SPACES`) when the catalog
    holds it, else the one its alias names, else the catalog's first space of that kind. Both kinds, so that
    folding needs the same look *and* the same subject."""
    chosen = {}
    for kind in ("style", "content"):
        of_kind = [name for name in available if name in SPACES and SPACES[name].kind == kind]
        preferred = [NEAR_DUPLICATE_SPACES[kind], ALIASES[kind]]
        if of_kind:
            chosen[kind] = next((name for name in preferred if name in of_kind), of_kind[0])
    return chosen


def parse_collapse(text: str) -> dict[str, float]:
    """``style:0.99,content:0.6`` (either part may be left out) → {"style": 0.99, "content": 0.6}: near-duplicate
    thresholds per kind of space, each a cosine in (0, 1]. ValueError with a one-line reason otherwise."""
    expected = f"expected style:COSINE,content:COSINE (each in (0, 1], either may be left out), got {text!r}"
    thresholds: dict[str, float] = {}
    for entry in text.split(","):
        kind, sep, value = (part.strip() for part in entry.partition(":"))
        if kind not in ("style", "content") or not sep or kind in thresholds:
            raise ValueError(expected)
        try:
            thresholds[kind] = float(value)
        except ValueError:
            raise ValueError(expected) from None
        if not 0 < thresholds[kind] <= 1:
            raise ValueError(expected)
    return thresholds


@dataclass(frozen=True)
class Collapse:
    """How a search folds near-duplicates: two items are near-duplicates when their cosine is ≥
    ``thresholds[space]`` in every space of ``thresholds`` (see :func:`near_duplicate_spaces`); ``query`` holds, per
    such space, the unit vectors of the query items [m, dim] (m = 0 for a query with no vectors there, such as a
    CIN anchor), whose near-duplicates are dropped from the results."""

    thresholds: dict[str, float]
    query: dict[str, np.ndarray]


def fold_near_duplicates(
    vectors: Mapping[str, np.ndarray], collapse: Collapse, limit: int | None = None
) -> list[tuple[int, list[int]]]:
    """Greedy folding of a best-first ranking of n items whose unit vectors are ``vectors`` (space → [n, dim],
    the spaces of ``collapse``): going down the ranking, a row that is a near-duplicate of a query item is
    dropped, one that is a near-duplicate of a row already kept joins the best-ranked such row, any other is kept.

    Returns (kept row, the rows folded into it in rank order), best first: at most ``limit`` kept rows (None: no
    limit); rows past the last kept one are still folded into the kept ones, so their lists are as complete as the
    ranking given. Cost O(n · kept · dim).
    """
    thresholds = collapse.thresholds
    if not thresholds:
        raise ValueError("no space to measure near-duplicates in")
    n = len(vectors[next(iter(thresholds))])
    near_query = np.zeros(n, bool)
    if all(len(collapse.query[space]) for space in thresholds):
        near_query = np.all([(vectors[space] @ collapse.query[space].T >= t).any(axis=1)
                             for space, t in thresholds.items()], axis=0)  # fmt: skip
    capacity = n if limit is None else min(n, limit)
    # The kept rows' vectors, filled as they are kept: each comparison reads a slice, no copy.
    kept = {space: np.empty((capacity, vectors[space].shape[1]), np.float32) for space in thresholds}
    groups: list[tuple[int, list[int]]] = []
    for row in range(n):
        if near_query[row]:
            continue
        close = np.ones(len(groups), bool)
        for space, threshold in thresholds.items():
            close &= kept[space][: len(groups)] @ vectors[space][row] >= threshold
        if close.any():
            groups[int(np.argmax(close))][1].append(row)  # the best-ranked kept row it duplicates
        elif len(groups) < capacity:
            for space in thresholds:
                kept[space][len(groups)] = vectors[space][row]
            groups.append((row, []))
    return groups


class Searcher:
    """Searches one catalog. Opens (or rebuilds) each space's index on first use, and again whenever the
    catalog's revision has moved (a write by this or another process), so new items show without a restart.

    ``embedder`` embeds query files (default: built from the catalog's settings on first use). ``indexes``: the
    open indexes of ``catalog`` with the caller's index settings (default: those following ``catalog`` with the
    packaged default settings, ``IndexConfig()``, as a session's). Not thread-safe: callers that share one
    Searcher between threads serialize its use.
    """

    def __init__(
        self, catalog: Catalog, *, embedder: Embedder | None = None, indexes: SpaceIndexes | None = None
    ) -> None:
        if indexes is not None and indexes.catalog is not catalog:
            raise ValueError("the indexes given to a Searcher must follow its catalog")
        self.catalog = catalog
        self.settings = CatalogSpaces.of(catalog)
        self.indexes = indexes if indexes is not None else SpaceIndexes.of(catalog, IndexConfig())
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self.settings.embedder()
        return self._embedder

    def spec(self, space: str) -> SpaceSpec:
        return resolve(space)

    def index(self, space: str) -> SpaceIndex:
        """The open index of ``space`` (a name or an alias), current with the catalog (see `SpaceIndexes.index`)."""
        spec = resolve(space)
        return self.indexes.index(spec, self.settings.spaces[spec.name])

    # -- queries -----------------------------------------------------------------------------------------------
    def query_vectors_for_item(
        self, item_id: int, spaces: Sequence[str], *, views: bool = True
    ) -> dict[str, np.ndarray]:
        """The query of a catalog item: {space: its stored unit vector [dim]}, and with ``views`` its views in each
        of ``spaces`` that has them (module docstring). KeyError when the item has no vector in one of ``spaces``."""
        out = {}
        for space in spaces:
            vector = self.catalog.item_vector(item_id, space)
            if vector is None:
                raise KeyError(item_id)
            out[space] = vector
            if views and space in VIEW_SPACES:
                out[views_key(space)] = query_views(vector, self.catalog.item_views(item_id, space, vector.shape[0]))
        return out

    def collapse(
        self, thresholds: Mapping[str, float], query_items: Sequence[Mapping[str, np.ndarray]]
    ) -> Collapse:
        """Folding with ``thresholds`` {kind: cosine} in this catalog's :func:`near_duplicate_spaces` (a kind the
        catalog has no space of is not measured), dropping near-duplicates of ``query_items`` (each {space: unit
        [dim]} holding at least those spaces; may be empty)."""
        spaces = near_duplicate_spaces(list(self.settings.spaces))
        return Collapse(
            {space: float(thresholds[kind]) for kind, space in spaces.items()},
            {
                space: np.stack([item[space] for item in query_items]) if query_items
                else np.zeros((0, SPACES[space].dim), np.float32)
                for space in spaces.values()
            },
        )  # fmt: skip

    def query_vectors_for_media(self, media: Media, *, views: bool = True) -> dict[str, np.ndarray]:
        """The query of decoded ``media`` (a video: the normalized mean of its frames' vectors) in every space of
        the catalog, and with ``views`` the views of each space that has them (module docstring)."""
        vectors = self.embedder.embed(media.frames, views=views)
        aggregate = aggregate_frames if media.kind == "video" else (lambda rows: rows[0])
        regions = {space: vectors.pop(views_key(space)) for space in VIEW_SPACES if views_key(space) in vectors}
        out = {space: aggregate(matrix) for space, matrix in vectors.items()}
        for space, frame_regions in regions.items():
            item_regions = aggregate_views(frame_regions) if media.kind == "video" else frame_regions[0]
            out[views_key(space)] = query_views(out[space], item_regions)
        return out

    def search(
        self,
        queries: dict[str, np.ndarray],
        weights: dict[str, float],
        k: int,
        exclude: Sequence[int] = (),
        where: ItemFilter | None = None,
        collapse: Collapse | None = None,
        lowering: Lowering | None = None,
    ) -> list[dict[str, Any]]:
        """Best-first results for one query given as {space: unit vector}; ``exclude`` ids never returned;
        only items that ``where`` matches; near-duplicates folded by ``collapse`` (each result then lists the ids
        it absorbed in ``duplicates``); the other question's answer lowered by ``lowering`` (`styledex.lowering`:
        in style spaces the query's own subject, in content spaces its own look; ``queries`` then holds its space
        too, and each result's ``scores`` both cosines).
        See the module docstring for how filters and folding over-fetch."""
        # One snapshot of each index per query: a write landing mid-query cannot swap an index under it.
        indexes = {space: self.index(space) for space in weights}
        available = max(len(index) for index in indexes.values())
        keep = where if where is not None and not where.empty else None
        # An engine that filters while it searches (Milvus) returns only passing items: no fetching deeper for them.
        in_engine = keep is not None and all(getattr(index, "filters_in_engine", False) for index in indexes.values())
        engine_where = (keep.kind, keep.metadata) if in_engine and keep is not None else None
        deeper = (keep is not None and not in_engine) or collapse is not None  # results can be dropped: fetch more
        fetch = max(k, min(available, 4 * k)) if deeper else k
        while True:
            ranked: list[tuple[dict[str, Any], float, dict[str, float]]] = []
            if lowering is not None:
                best = self._rank_lowered(indexes, queries, weights, lowering, fetch, exclude, engine_where)
            else:
                best = self._rank(indexes, queries, weights, fetch, exclude, engine_where)
            for item_id, score, per_space in best:
                item = self.catalog.item(item_id)
                if item is None or item["status"] != "ok":
                    continue  # removed after the index was read
                if keep is not None and not keep.matches(item):
                    continue
                ranked.append((item, score, per_space))
                if collapse is None and len(ranked) == k:
                    break
            if collapse is None:
                groups: list[tuple[int, list[int]]] = [(row, []) for row in range(len(ranked))]
            else:
                ids = [int(item["id"]) for item, _, _ in ranked]
                groups = fold_near_duplicates(self._item_vectors(ids, list(collapse.thresholds)), collapse, limit=k)
            if len(groups) >= k or fetch >= available:
                results = []
                for row, folded in groups[:k]:
                    result = self._result(*ranked[row], queries, weights)
                    if collapse is not None:
                        result["duplicates"] = [int(ranked[other][0]["id"]) for other in folded]
                    results.append(result)
                return results
            fetch = min(available, 4 * fetch)

    def _item_vectors(self, item_ids: Sequence[int], spaces: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored item vectors of ``item_ids`` in ``spaces``: space → [n, dim] float32, rows in that order; a
        row of zeros (a near-duplicate of nothing) for an item with no vector there."""
        out = {}
        for space in spaces:
            dim = SPACES[space].dim
            try:
                out[space] = self.catalog.vectors_by_id(space, np.asarray(item_ids, np.int64), dim)
            except KeyError:  # an item without a vector in this space: fetch row by row
                rows = [self.catalog.item_vector(item_id, space) for item_id in item_ids]
                zeros = np.zeros(dim, np.float32)
                out[space] = np.stack([zeros if row is None else row for row in rows]).reshape(len(rows), dim)
        return out

    def _rank_lowered(
        self,
        indexes: dict[str, SpaceIndex],
        queries: dict[str, np.ndarray],
        weights: dict[str, float],
        lowering: Lowering,
        n: int,
        exclude: Sequence[int],
        where: tuple[str | None, tuple[tuple[str, str], ...]] | None = None,
    ) -> list[tuple[int, float, dict[str, float]]]:
        """`_rank` of one question's spaces (one, or a mix) with the other question's answer lowered
        (`styledex.lowering`)."""
        other_rows = queries.get(views_key(lowering.space), queries[lowering.space][None, :])
        return rank_lowered(
            lambda depth: self._rank(indexes, queries, weights, depth, exclude, where),
            lambda ids: self._item_vectors(ids, [lowering.space])[lowering.space],
            other_rows, lowering, n, max(len(index) for index in indexes.values()),
        )  # fmt: skip

    @staticmethod
    def _rank(
        indexes: dict[str, SpaceIndex],
        queries: dict[str, np.ndarray],
        weights: dict[str, float],
        n: int,
        exclude: Sequence[int],
        where: tuple[str | None, tuple[tuple[str, str], ...]] | None = None,
    ) -> list[tuple[int, float, dict[str, float]]]:
        """The ``n`` best (id, score, {space: cosine}), best first; a space whose query has views scores each item
        by its best view (module docstring). ``where``: a filter every index applies while searching."""
        rows = {space: queries.get(views_key(space), queries[space][None, :]) for space in weights}
        if len(weights) == 1:
            (space,) = weights
            return [(item_id, score, {space: score}) for item_id, score in best_of_views(indexes[space], rows[space],
                                                                                        n, exclude, where)]  # fmt: skip
        engine = _one_collection(indexes)
        if engine is not None:  # every space in one engine: a multi-vector search, vectors included
            return _rank_from_engine(engine, rows, weights, n, exclude, where)
        candidates: set[int] = set()
        for space in weights:
            best = best_of_views(indexes[space], rows[space], 4 * n, exclude, where)
            candidates.update(item_id for item_id, _ in best)
        per_item = {
            item_id: {s: float((rows[s] @ indexes[s].reconstruct(item_id)).max()) for s in weights}
            for item_id in candidates
            if all(item_id in index for index in indexes.values())  # else read on either side of a concurrent write
        }
        return _fused_best(per_item, weights, n)

    def _result(
        self,
        item: dict[str, Any],
        score: float,
        per_space: dict[str, float],
        queries: dict[str, np.ndarray],
        weights: dict[str, float],
    ) -> dict[str, Any]:
        item_id = int(item["id"])
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


def _one_collection(indexes: Mapping[str, SpaceIndex | MilvusSpaceIndex]) -> MilvusCollection | None:
    """The one Milvus collection all of ``indexes`` are views of (it searches several vector fields in one call,
    `MilvusCollection.candidates`), or None."""
    views = [index for index in indexes.values() if isinstance(index, MilvusSpaceIndex)]
    if not views or len(views) != len(indexes) or len({id(view.collection) for view in views}) != 1:
        return None
    return views[0].collection


def _rank_from_engine(
    engine: MilvusCollection, rows: Mapping[str, np.ndarray], weights: dict[str, float], n: int,
    exclude: Sequence[int], where: Any,
) -> list[tuple[int, float, dict[str, float]]]:  # fmt: skip
    """`Searcher._rank` of a mix from one engine's multi-vector search: the same candidates as one search per
    space (each space's 4n best by best view; the engine returns a superset, every view's 4n best, with their
    vectors) and the same exact scores."""
    found = engine.candidates(rows, weights, 4 * n, exclude=exclude, where=where)
    per_item = {item: {s: float((rows[s] @ vectors[s]).max()) for s in weights} for item, vectors in found.items()}
    candidates: set[int] = set()
    for space in weights:
        candidates.update(sorted(per_item, key=lambda item_id: (-per_item[item_id][space], item_id))[: 4 * n])
    return _fused_best({item_id: per_item[item_id] for item_id in candidates}, weights, n)


def _fused_best(
    per_item: Mapping[int, dict[str, float]], weights: dict[str, float], n: int
) -> list[tuple[int, float, dict[str, float]]]:
    """The ``n`` best (id, fused score, {space: cosine}) of items whose every space's score is known, best first,
    ties by id."""
    scored = [(item_id, fused_score(scores, weights), scores) for item_id, scores in per_item.items()]
    scored.sort(key=lambda t: (-t[1], t[0]))
    return scored[:n]


def best_of_views(
    index: SpaceIndex, views: np.ndarray, n: int, exclude: Sequence[int], where: Any = None
) -> list[tuple[int, float]]:
    """The ``n`` best (id, score) of ``index`` for a query asking with ``views`` [V, dim], an item scoring by its
    best view, best first (ties by id). Exact: an item among the n best by its best view is among the n best of
    that view's own search. ``where``: passed to an index that filters while it searches."""
    best: dict[int, float] = {}
    extra = {} if where is None else {"where": where}
    for hits in index.search(views, n, exclude=[set(exclude)] * len(views), **extra):
        for item_id, score in hits:
            if score > best.get(item_id, -np.inf):
                best[item_id] = score
    return sorted(best.items(), key=lambda pair: (-pair[1], pair[0]))[:n]
