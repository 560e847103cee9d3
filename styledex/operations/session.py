"""One catalog opened for the operations every adapter offers: list, look up, search, add, remove, reindex, spaces.

The CLI opens a session per command; the HTTP service keeps one for its lifetime and calls it from many request
threads, so a session is safe to share:

- Reads go through one SQLite connection and the in-memory FAISS indexes under a lock (neither is made for
  concurrent use). Each search asks the catalog for its revision and reloads an index that lags it, so items
  written by another session or process appear without reopening.
- Writes open a connection of their own and take the catalog's write lock (one writer across processes), so the
  read side keeps answering while a batch is decoded and embedded. ``wait=False`` makes a busy catalog an
  immediate :class:`~styledex.catalog.CatalogError` instead of a wait.
- Model calls (the VGG19 forward that embeds queries and new items) take turns under :attr:`model_lock`: one
  forward already keeps every core busy. The embedder is built once, on first use, from the catalog's own
  settings (:func:`styledex.search.catalog_embedder`), and shared by searches and adds.

Errors a caller can fix are :mod:`styledex.operations.errors`; a busy or empty catalog is a CatalogError.

The heavy parts (torch and the embedders, FAISS, PyAV) are imported inside the operations that use them, so a
command that only reads rows (``styledex list``, ``--help``) starts without them.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from styledex.catalog import Catalog, ItemRecord
from styledex.config import CollapseConfig, Config, IndexConfig

from .errors import InvalidRequest, NotFound, Unavailable

if TYPE_CHECKING:
    from PIL import Image

    from styledex.embed.embedder import Embedder
    from styledex.embed.spaces import SpaceSpec
    from styledex.media import Media
    from styledex.pipeline import AddSummary, Source
    from styledex.search import CatalogSpaces, ItemFilter, Searcher
    from styledex.space_indexes import SpaceIndexes

REINDEX_CHOICES = ("auto", "flat", "hnsw", "ivfpq")
ENGINES = ("inprocess", "ray")  # how `add` runs its stages: in this process, or on Ray (styledex.ray_engine)
BACKENDS = ("faiss", "milvus")  # where the indexes live (IndexConfig.backend)
# What every search takes as ``collapse`` (see the search section of CatalogSession).
Folding = bool | Mapping[str, float]
# Query items (ids and files) one search may combine: each costs a lookup or a decode and a forward pass.
MAX_QUERY_ITEMS = 100


class SerializedEmbedder:
    """An embedder whose forward passes run one at a time under ``lock`` (shared by threads); everything else is
    the wrapped :class:`~styledex.embed.embedder.Embedder`'s. Built with the embedder's own arguments."""

    def __init__(self, spaces: Sequence[str], *, lock: threading.Lock, **kwargs: Any) -> None:
        from styledex.embed.embedder import Embedder

        self._embedder = Embedder(spaces, **kwargs)
        self._lock = lock

    def embed(self, images: Sequence[Image.Image], *, views: bool = False) -> dict[str, Any]:
        with self._lock:
            return self._embedder.embed(images, views=views)

    def __getattr__(self, name: str) -> Any:  # specs, fingerprints(), image_size, …
        return getattr(self._embedder, name)


class CatalogSession:
    """The catalog at ``directory`` (``create=True`` makes it if missing; else CatalogError when there is none)
    with ``config``'s media, embedding and index settings. See the module docstring for how it may be shared."""

    def __init__(self, directory: Path | str, config: Config, *, create: bool = False) -> None:
        self.directory = Path(directory)
        self.config = config
        self._catalog = Catalog.open(self.directory, create=create)
        self._read_lock = threading.RLock()
        self._embedder_lock = threading.Lock()
        self.model_lock = threading.Lock()
        self._searcher: Searcher | None = None
        self._embedder: Embedder | None = None

    def close(self) -> None:
        self._catalog.close()

    def __enter__(self) -> CatalogSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- access ---------------------------------------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[Catalog]:
        """The read connection, held exclusively for the block."""
        with self._read_lock:
            yield self._catalog

    @contextmanager
    def writing(self, *, wait: bool = True) -> Iterator[Catalog]:
        """A connection of its own holding the catalog's write lock; indexes saved on leaving. With
        ``wait=False`` a catalog another process is writing raises CatalogError at once."""
        catalog = Catalog.open(self.directory)
        with catalog, catalog.writing(wait=wait):
            yield catalog

    def indexes(self, catalog: Catalog) -> SpaceIndexes:
        """The open indexes of ``catalog`` (the read connection or a writer's). A new or rebuilt index is chosen
        with the settings the last ``reindex`` stored in the catalog, else the packaged defaults: the config's
        ``index:`` section takes effect through :meth:`reindex` (configs/default.yaml), not through ``add``."""
        from styledex.space_indexes import SpaceIndexes

        return SpaceIndexes.of(catalog, IndexConfig())

    def embedder(self, catalog: Catalog) -> Embedder:
        """The one embedder of this session, built on first use from ``catalog``'s settings (stored there first
        if the catalog has none yet, which only a writer may do)."""
        from styledex.search import catalog_embedder

        with self._embedder_lock:
            if self._embedder is None:
                factory = functools.partial(SerializedEmbedder, lock=self.model_lock)
                self._embedder = catalog_embedder(catalog, self.config, factory=factory)
            return self._embedder

    def searcher(self) -> Searcher:
        """The shared searcher (call under :meth:`reading`); CatalogError while nothing was ever added."""
        from styledex.search import CatalogSpaces, Searcher

        if self._searcher is None:
            CatalogSpaces.of(self._catalog)  # no settings yet: raise before building anything
            catalog = self._catalog
            self._searcher = Searcher(catalog, embedder=self.embedder(catalog), indexes=self.indexes(catalog))
        return self._searcher

    # -- looking things up ------------------------------------------------------------------------------------
    def item(self, item_id: int) -> dict[str, Any]:
        """The item's row, whatever its status; NotFound when there is none."""
        with self.reading() as catalog:
            item = catalog.item(item_id)
        if item is None:
            raise NotFound(f"no item with id {item_id}")
        return item

    def ok_item(self, item_id: int) -> dict[str, Any]:
        """The item, which must be searchable: NotFound when there is none, InvalidRequest when it failed."""
        item = self.item(item_id)
        if item["status"] != "ok":
            raise InvalidRequest(f"item {item_id} failed to decode ({item['error']}): it cannot be searched")
        return item

    def weights(self, space: str) -> dict[str, float]:
        """``space`` (a name, an alias or a mix ``style:0.7,content:0.3``) → {space: weight} for this catalog;
        InvalidRequest when unknown, malformed or not in this catalog."""
        from styledex.search import parse_space_mix

        with self.reading():
            available = list(self.searcher().settings.spaces)
        try:
            return parse_space_mix(space, available)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None

    def list_items(
        self, *, status: str | None = "ok", kind: str | None = None, offset: int = 0, limit: int | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """(a page of items in id order, how many items pass the filters in all)."""
        with self.reading() as catalog:
            items = catalog.items(status=status, kind=kind, offset=offset, limit=limit)
            if limit is None and offset == 0:
                return items, len(items)
            total = catalog.count(status) if kind is None else len(catalog.items(status=status, kind=kind))
        return items, total

    def spaces(self) -> list[dict[str, Any]]:
        """Every registered space, with fingerprint and count for those this catalog holds."""
        from styledex.search import describe_spaces

        with self.reading() as catalog:
            return describe_spaces(catalog)

    # -- media ------------------------------------------------------------------------------------------------
    def decode_file(self, path: Path | str, frames: int | None = None) -> Media:
        """``path`` decoded with the config's media settings (MediaError when it cannot be)."""
        from styledex.media import decode

        media = self.config.media
        return decode(
            path, frames=frames or media.frames, sampling=media.sampling, max_pixels=media.max_pixels,
            max_side=media.max_side,
        )  # fmt: skip

    def decode_query(self, path: Path | str, label: str | None = None) -> Media:
        """A query file decoded: NotFound when missing, InvalidRequest naming ``label`` (default: the path) when
        it cannot be decoded."""
        from styledex.media import MediaError

        if not Path(path).exists():
            raise NotFound(f"no such file: {path}")
        try:
            return self.decode_file(path)
        except MediaError as exc:
            raise InvalidRequest(f"cannot decode {label or path}: {exc}") from None

    def decode_item(self, item: dict[str, Any]) -> Media:
        """An item's media decoded again, with as many frames as were sampled when it was added."""
        from styledex.media import MediaError

        path = Path(item["path"])
        if not path.is_file():
            raise NotFound(f"the file of item {item['id']} is gone: {path}")
        try:
            return self.decode_file(path, frames=item["frames"])
        except MediaError as exc:
            raise NotFound(f"the file of item {item['id']} cannot be decoded any more: {exc}") from None

    # -- search -----------------------------------------------------------------------------------------------
    # Every search takes ``collapse``: False leaves near-duplicates in the results; True folds them at the config's
    # thresholds (``search.collapse``); a mapping such as {"content": 0.8} folds them at those thresholds, the
    # config's for a kind it leaves out (styledex.search.Collapse).
    def similar(
        self, item_id: int, space: str, k: int, where: ItemFilter | None = None, collapse: Folding = False,
        same_subject: bool = False, same_look: bool = False,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Items most like item ``item_id`` in ``space``, best first, the item itself left out."""
        return self.similar_to([item_id], [], space, k, where, collapse, same_subject, same_look)

    def similar_to(
        self,
        item_ids: Sequence[int],
        paths: Sequence[Path | str],
        space: str,
        k: int,
        where: ItemFilter | None = None,
        collapse: Folding = False,
        same_subject: bool = False,
        same_look: bool = False,
    ) -> list[dict[str, Any]]:
        """Items most like catalog items ``item_ids`` and the files at ``paths`` (searched, not added), all
        together as one query (see :meth:`_search`). Ids, space and thresholds are checked before any file
        is decoded."""
        self.check_query(item_ids, len(paths), collapse)
        weights = self.weights(space)
        if not paths:
            return self._search(item_ids, [], weights, k, where, collapse, same_subject, same_look)
        media = [self.decode_query(path) for path in paths]
        return self.search_media(
            media, weights, k, where, collapse, item_ids=item_ids, same_subject=same_subject, same_look=same_look
        )

    def search_media(
        self,
        media: Sequence[Media],
        weights: dict[str, float],
        k: int,
        where: ItemFilter | None = None,
        collapse: Folding = False,
        *,
        item_ids: Sequence[int] = (),
        same_subject: bool = False,
        same_look: bool = False,
    ) -> list[dict[str, Any]]:
        """Items most like decoded ``media`` (a video: the normalized mean of its frames' vectors), with the catalog
        items ``item_ids`` as one query (see :meth:`_search`): the model-bound search."""
        return self._search(item_ids, media, weights, k, where, collapse, same_subject, same_look)

    def _search(
        self,
        item_ids: Sequence[int],
        media: Sequence[Media],
        weights: dict[str, float],
        k: int,
        where: ItemFilter | None = None,
        collapse: Folding = False,
        same_subject: bool = False,
        same_look: bool = False,
    ) -> list[dict[str, Any]]:
        """Items most like a query made of catalog items ``item_ids`` and decoded ``media`` ("more like these"):
        in each space of ``weights`` the query vector is the normalized mean of the query items' unit vectors
        (one item: its own vector; a video: already the mean of its frames'); a mix scores as for one item. The
        query items are left out of the results, and with ``collapse`` so are their near-duplicates. A search in
        style spaces lowers the query's own subject unless ``same_subject``, one in content spaces the query's own
        look unless ``same_look`` (`styledex.lowering`).

        NotFound for an unknown id, InvalidRequest for a failed item, no query item, more than
        ``MAX_QUERY_ITEMS`` or a threshold outside (0, 1] (:meth:`collapse_thresholds`).
        """
        from styledex.lowering import lowering_for, query_spaces
        from styledex.search import mean_query, near_duplicate_spaces

        thresholds = self.check_query(item_ids, len(media), collapse)
        ids = list(dict.fromkeys(item_ids))
        with self.reading():
            searcher = self.searcher()
            held = list(searcher.settings.spaces)
            # With folding, the query items' vectors are also needed where near-duplicates are measured.
            measured = near_duplicate_spaces(held) if thresholds is not None else {}
            lowering = lowering_for(
                weights, held, self.config.search, same_subject=same_subject, same_look=same_look
            )
            queried = query_spaces(weights, lowering)
            spaces = list(dict.fromkeys([*queried, *measured.values()]))
            reframe = self.config.search.reframe  # content queries ask with their views too (search.py)
            items = [self._item_query_vectors(searcher, item_id, spaces, reframe) for item_id in ids]
        items += [searcher.query_vectors_for_media(one, views=reframe) for one in media]  # outside the catalog lock
        queries = mean_query(items, queried)
        with self.reading():
            fold = None if thresholds is None else searcher.collapse(thresholds, items)
            return searcher.search(queries, weights, k, exclude=ids, where=where, collapse=fold, lowering=lowering)

    def search_anchor(self, anchor: str, space: str, k: int, collapse: Folding = False) -> list[dict[str, Any]]:
        """Items nearest one of the 26 styles of the pretrained CIN network, or a mixture (``3:0.5,7:0.5``)."""
        from styledex.search import anchor_query

        weights = self.weights(space)
        if set(weights) != {"cin"}:
            raise InvalidRequest("--anchor queries the cin space: use --space cin")
        thresholds = self.collapse_thresholds(collapse)
        try:
            queries = anchor_query(anchor)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        with self.reading():
            searcher = self.searcher()
            fold = None if thresholds is None else searcher.collapse(thresholds, [])  # no query item to drop
            return searcher.search(queries, weights, k, collapse=fold)

    def check_query(self, item_ids: Sequence[int], files: int, collapse: Folding) -> dict[str, float] | None:
        """Check a query of ``item_ids`` and ``files`` other items before any work: each id names a searchable
        item, there is at least one query item and at most MAX_QUERY_ITEMS; the near-duplicate thresholds (None:
        no folding)."""
        count = len(set(item_ids)) + files
        if count == 0:
            raise InvalidRequest("a search needs a query: at least one item id or file")
        if count > MAX_QUERY_ITEMS:
            raise InvalidRequest(f"a query holds at most {MAX_QUERY_ITEMS} items (ids and files), got {count}")
        for item_id in dict.fromkeys(item_ids):
            self.ok_item(item_id)
        return self.collapse_thresholds(collapse)

    def collapse_thresholds(self, collapse: Folding) -> dict[str, float] | None:
        """``collapse`` as a search takes it → the near-duplicate thresholds {kind: cosine} (None: no folding);
        InvalidRequest for an unknown kind or a cosine outside (0, 1]."""
        from pydantic import ValidationError

        if collapse is False:
            return None
        defaults = self.config.search.collapse.model_dump()
        if collapse is True:
            return defaults
        try:
            return CollapseConfig.model_validate({**defaults, **collapse}).model_dump()
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise InvalidRequest(f"near-duplicate threshold {where}: {error['msg']}") from None

    @staticmethod
    def _item_query_vectors(
        searcher: Searcher, item_id: int, spaces: Sequence[str], views: bool = True
    ) -> dict[str, Any]:
        try:
            return searcher.query_vectors_for_item(item_id, spaces, views=views)
        except KeyError:
            raise NotFound(f"item {item_id} has no vectors in {', '.join(spaces)}") from None

    # -- writes -----------------------------------------------------------------------------------------------
    def add(
        self,
        sources: Sequence[Source],
        *,
        wait: bool = True,
        progress: bool = False,
        on_batch: Callable[[list[ItemRecord]], None] | None = None,
        engine: str = "inprocess",
        ray_address: str | None = None,
        workers: int | None = None,
    ) -> AddSummary:
        """Embed ``sources`` into the catalog under its write lock (see :meth:`add_in`). ``engine``: ``inprocess``
        or ``ray`` (:mod:`styledex.ray_engine`, on the cluster at ``ray_address`` or a local runtime, with
        ``workers`` embedding actors; ``on_batch`` is the in-process engine's only)."""
        if engine not in ENGINES:
            raise InvalidRequest(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        if workers is not None and workers < 1:
            raise InvalidRequest(f"--workers must be at least 1, got {workers}")
        with self.writing(wait=wait) as catalog:
            if engine == "ray":
                return self._add_on_ray(catalog, sources, progress, ray_address, workers)
            return self.add_in(catalog, sources, progress=progress, on_batch=on_batch)

    def _add_on_ray(
        self, catalog: Catalog, sources: Sequence[Source], progress: bool, address: str | None, workers: int | None
    ) -> AddSummary:
        from styledex.ray_engine import EmbedSettings, RayUnavailable, add_with_ray

        embedder = self.embedder(catalog)  # stores the settings of a new catalog, refuses changed weights
        embed = self.config.embed
        settings = EmbedSettings(tuple(embedder.names), embedder.image_size, embedder.aspect, embed.batch_size,
                                 embed.device, embed.precision)  # fmt: skip
        try:
            return add_with_ray(self.indexes(catalog), sources, self.config, settings, catalog.get_meta("embed"),
                                address=address, workers=workers, progress=progress)  # fmt: skip
        except RayUnavailable as exc:
            raise Unavailable(str(exc)) from None

    def add_in(
        self,
        catalog: Catalog,
        sources: Sequence[Source],
        *,
        progress: bool = False,
        on_batch: Callable[[list[ItemRecord]], None] | None = None,
    ) -> AddSummary:
        """Embed ``sources`` into ``catalog``, held for writing by the caller: known content is skipped, each
        batch is one transaction, a file that cannot be decoded is recorded as failed and the rest goes on."""
        from styledex.pipeline import add_sources

        return add_sources(self.indexes(catalog), sources, self.config, self.embedder(catalog), progress=progress,
                           on_batch=on_batch)  # fmt: skip

    def remove(
        self,
        item_ids: Sequence[int],
        *,
        wait: bool = True,
        after: Callable[[Catalog, list[dict[str, Any]]], None] | None = None,
    ) -> list[int]:
        """Remove items from the catalog and every index in one transaction; the ids removed. An unknown id is
        NotFound and removes nothing: the ids are checked under the write lock, so no other writer can change the
        answer before the removal. ``after`` runs under the same lock with the removed items' rows."""
        from styledex.search import remove_items

        with self.writing(wait=wait) as catalog:
            missing = catalog.missing_ids(item_ids)
            if missing:
                listed = ", ".join(map(str, missing[:20])) + (f" and {len(missing) - 20} more" if len(missing) > 20
                                                              else "")  # fmt: skip
                raise NotFound(f"no item with id(s) {listed} in catalog {catalog.directory}; nothing removed")
            rows = [row for row in (catalog.item(item_id) for item_id in dict.fromkeys(item_ids)) if row is not None]
            removed = remove_items(self.indexes(catalog), item_ids)
            if after is not None:
                after(catalog, rows)
        return removed

    def reindex(
        self, spaces: Sequence[str] | None = None, index: str | None = None, *, backend: str | None = None
    ) -> list[dict[str, Any]]:
        """Rebuild spaces' indexes from the stored raw vectors (no embedding) with the index policy (``index``:
        auto, flat, hnsw or ivfpq; default the config's), under the write lock (CatalogError at once when busy).
        Each new index is saved atomically over the old one, which stays valid until then; a crash midway leaves
        each space with its old or its new index, both holding every item. One row per space rebuilt.
        ``backend`` (faiss or milvus; default the config's ``index.backend``) moves the indexes there: the
        catalog remembers it, so every later open uses that back end (``index/milvus_collection.py``)."""
        from styledex.search import CatalogSpaces

        if index is not None and index not in REINDEX_CHOICES:
            raise InvalidRequest(f"--index must be one of {', '.join(REINDEX_CHOICES)}, got {index!r}")
        if backend is not None and backend not in BACKENDS:
            raise InvalidRequest(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        updates = {k: v for k, v in (("policy", index), ("backend", backend)) if v is not None}
        index_config = self.config.index.model_copy(update=updates)
        rows: list[dict[str, Any]] = []
        catalog = Catalog.open(self.directory)
        # Not `writing()`: it would save every index again on exit; a reindex saves each one once, as it goes.
        with catalog:
            catalog.acquire_lock(wait=False)
            try:
                settings = CatalogSpaces.of(catalog)
                specs = [self._catalog_space(name, settings) for name in spaces or list(settings.spaces)]
                indexes = self.indexes(catalog)
                for spec in specs:
                    rows.append(self._rebuild(indexes, spec, settings.spaces[spec.name], index_config))
                # Later rebuilds (a crash, a stale index) choose with the same settings, and every open catalog
                # (a running server) loads the new indexes at its next search.
                indexes.finish_reindex(index_config)
            finally:
                catalog.release_lock()
        return rows

    @staticmethod
    def _catalog_space(name: str, settings: CatalogSpaces) -> SpaceSpec:
        from styledex.embed.spaces import resolve_in

        try:
            spec = resolve_in(name, settings.spaces)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        if spec.name not in settings.spaces:
            raise InvalidRequest(f"space {spec.name!r} is not in this catalog; it has {', '.join(settings.spaces)}")
        return spec

    @staticmethod
    def _rebuild(indexes: SpaceIndexes, spec: SpaceSpec, fingerprint: str, index_config: IndexConfig) -> dict[str, Any]:
        from styledex.index.space_index import INDEX_FILE

        started = time.perf_counter()
        try:
            index = indexes.build(spec, fingerprint, config=index_config)
        except ValueError as exc:  # e.g. ivfpq parameters that do not fit this space's dimension
            raise InvalidRequest(f"reindex {spec.name}: {exc}") from None
        indexes.replace(index)
        file = indexes.catalog.index_dir(spec.name) / INDEX_FILE  # none on Milvus: its memory is the server's
        size = file.stat().st_size if index.index_type != "milvus" else None
        return {
            "space": spec.name, "index": index.index_type, "params": index.index_params, "count": len(index),
            "bytes_per_item": None if size is None else round(size / max(len(index), 1), 1),
            "build_seconds": round(time.perf_counter() - started, 2),
            "reason": (index.policy or {}).get("reason", ""),
        }  # fmt: skip
