"""What every request of one app shares: the catalog's read side, the searcher, one embedder, caches and locks.

Reads go through one SQLite connection and the in-memory FAISS indexes, under a lock (neither is made for
concurrent use). Each search asks the catalog for its revision and reloads an index that lags it, so items
written by this app or by ``styledex add`` in another process appear without a restart.

Writes open a connection of their own and take the catalog's write lock (one writer across processes): the
read side keeps answering while an upload is decoded and embedded, and notices the new revision afterwards.

Model calls (the VGG19 forward that embeds queries and uploads, the explanation renderer) take turns: one
forward already keeps both cores of the target machine busy. The embedder is built once, on first use, from the
catalog's own settings (``styledex.search.catalog_embedder``), and shared by searches and adds.
"""

from __future__ import annotations

import concurrent.futures
import functools
import io
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Literal

from fastapi import HTTPException
from PIL import Image

from styledex.catalog import Catalog
from styledex.config import Config
from styledex.embed.embedder import Embedder
from styledex.embed.spaces import SPACES
from styledex.embed.transfer.registry import TransferError
from styledex.media import Media, MediaError, decode
from styledex.pipeline import InputError, Source, add_sources, file_sha256, read_sources
from styledex.search import CatalogSpaces, ItemFilter, Searcher, catalog_embedder, parse_space_mix, remove_items

from .ingest_roots import IngestRoots
from .overload import HeavyGate
from .uploads import save_upload, upload_suffix

UPLOADS_DIR = "uploads"


class SerializedEmbedder(Embedder):
    """An :class:`Embedder` whose forward passes run one at a time under ``lock`` (shared by request threads)."""

    def __init__(
        self,
        spaces: Sequence[str],
        *,
        lock: threading.Lock,
        image_size: int = 256,
        batch_size: int = 8,
        device: str = "auto",
        threads: int | None = None,
        precision: str = "auto",
    ) -> None:
        super().__init__(spaces, image_size=image_size, batch_size=batch_size, device=device, threads=threads,
                         precision=precision)
        self._lock = lock

    def embed(self, images: Sequence[Image.Image]) -> dict[str, Any]:
        with self._lock:
            return super().embed(images)


class LRU:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def discard(self, keep: Callable[[Hashable], bool]) -> None:
        """Drop every entry whose key ``keep`` rejects."""
        with self._lock:
            for key in [key for key in self._data if not keep(key)]:
                del self._data[key]


def mix_kind(weights: dict[str, float]) -> Literal["style", "content"]:
    """The question a (mix of) space(s) asks: the kind with the larger total weight; a tie is style."""
    totals = {"style": 0.0, "content": 0.0}
    for name, weight in weights.items():
        totals[SPACES[name].kind] += weight
    return "content" if totals["content"] > totals["style"] else "style"


class Service:
    """One catalog served: see the module docstring for how reads, writes and model calls share it."""

    def __init__(self, directory: Path, config: Config, *, token: str | None, max_upload_bytes: int) -> None:
        self.directory = directory
        self.config = config
        self.token = token or None
        self.max_upload_bytes = max_upload_bytes
        self.uploads = directory / UPLOADS_DIR
        self._catalog = Catalog.open(directory)  # CatalogError when there is none: the app is not created
        self._read_lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._embedder_lock = threading.Lock()
        self.model_lock = threading.Lock()
        # Explanations render here, so a request can stop waiting after serve.explain_timeout_s.
        self._explain_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="explain")
        self._searcher: Searcher | None = None
        self._embedder: Embedder | None = None
        self.thumbnails = LRU(512)
        self.explanations = LRU(32)
        self.ingest_roots = IngestRoots(config.serve.ingest_roots)
        self.heavy = HeavyGate(config.serve.max_heavy_requests, config.serve.heavy_queue_timeout_s)

    def close(self) -> None:
        self._explain_pool.shutdown(wait=False, cancel_futures=True)
        self._catalog.close()

    # -- catalog access ---------------------------------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[Catalog]:
        with self._read_lock:
            yield self._catalog

    @contextmanager
    def writing(self) -> Iterator[Catalog]:
        """A connection of its own holding the catalog's write lock; indexes saved on leaving.

        CatalogError (409) when another process is writing: the client retries rather than hanging on a
        possibly long ``styledex add``.
        """
        with self._write_lock:
            catalog = Catalog.open(self.directory)
            with catalog, catalog.writing(wait=False):
                yield catalog

    def searcher(self) -> Searcher:
        """The shared searcher (call under :meth:`reading`); CatalogError while nothing was ever added."""
        if self._searcher is None:
            CatalogSpaces.of(self._catalog)  # no settings yet: raise before building anything
            self._searcher = Searcher(self._catalog, embedder=self.embedder(self._catalog))
        return self._searcher

    def embedder(self, catalog: Catalog) -> Embedder:
        """The one embedder of this app, built on first use from ``catalog``'s settings (stored there first if
        the catalog has none yet, which only a writer may do)."""
        with self._embedder_lock:
            if self._embedder is None:
                factory = functools.partial(SerializedEmbedder, lock=self.model_lock)
                self._embedder = catalog_embedder(catalog, self.config, factory=factory)
            return self._embedder

    def item_count(self) -> int:
        with self.reading() as catalog:
            return catalog.count("ok")

    def ok_item(self, catalog: Catalog, item_id: int) -> dict[str, Any]:
        """The item, or 404 when there is none and 422 when it failed to decode (it has no vectors)."""
        item = catalog.item(item_id)
        if item is None:
            raise HTTPException(404, f"no item with id {item_id}")
        if item["status"] != "ok":
            raise HTTPException(422, f"item {item_id} failed to decode ({item['error']}): it cannot be searched")
        return item

    def weights(self, space: str) -> dict[str, float]:
        """``space`` (name, alias or mix) → {space: weight} for this catalog; 422 when unknown or malformed."""
        with self.reading():
            available = list(self.searcher().settings.spaces)
        try:
            return parse_space_mix(space, available)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    # -- media ------------------------------------------------------------------------------------------------
    def decode_file(self, path: Path | str, frames: int | None = None) -> Media:
        media = self.config.media
        return decode(
            path,
            frames=frames or media.frames,
            sampling=media.sampling,
            max_pixels=media.max_pixels,
            max_side=media.max_side,
        )

    def decode_item(self, item: dict[str, Any]) -> Media:
        """An item's media decoded again, with as many frames as were sampled when it was added."""
        path = Path(item["path"])
        if not path.is_file():
            raise HTTPException(404, f"the file of item {item['id']} is gone: {path}")
        try:
            return self.decode_file(path, frames=item["frames"])
        except MediaError as exc:
            raise HTTPException(404, f"the file of item {item['id']} cannot be decoded any more: {exc}") from None

    @contextmanager
    def decoded_upload(self, source: BinaryIO, filename: str | None) -> Iterator[Media]:
        """An uploaded query decoded from a temporary file (removed afterwards); 413 over the limit, 422 when it
        cannot be decoded."""
        with tempfile.TemporaryDirectory(prefix="styledex-query-") as tmp:
            path, _ = save_upload(source, Path(tmp), upload_suffix(filename), self.max_upload_bytes)
            try:
                media = self.decode_file(path)
            except MediaError as exc:
                raise HTTPException(422, f"cannot decode upload {filename or '(unnamed)'!r}: {exc}") from None
            yield media

    def thumbnail(self, item_id: int, size: int) -> bytes:
        """JPEG bytes: the image, or a video's middle sampled frame, fitted in ``size`` × ``size``."""
        key = (item_id, size)
        cached = self.thumbnails.get(key)
        if cached is not None:
            return cached
        with self.reading() as catalog:
            item = self.ok_item(catalog, item_id)
        media = self.decode_item(item)
        frame = media.frames[len(media.frames) // 2].copy()
        frame.thumbnail((size, size), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        frame.save(buffer, format="JPEG", quality=85)
        data = buffer.getvalue()
        self.thumbnails.put(key, data)
        return data

    # -- search -----------------------------------------------------------------------------------------------
    def similar(self, item_id: int, space: str, k: int, where: ItemFilter) -> list[dict[str, Any]]:
        with self.reading() as catalog:
            self.ok_item(catalog, item_id)
            weights = self.weights(space)
            searcher = self.searcher()
            try:
                queries = searcher.query_vectors_for_item(item_id, list(weights))
            except KeyError:
                raise HTTPException(404, f"item {item_id} has no vectors in {', '.join(weights)}") from None
            return searcher.search(queries, weights, k, exclude=[item_id], where=where)

    def search_media(self, media: Media, weights: dict[str, float], k: int, where: ItemFilter) -> list[dict[str, Any]]:
        with self.reading():
            searcher = self.searcher()
        queries = searcher.query_vectors_for_media(media)  # the model, outside the catalog lock
        with self.reading():
            return searcher.search(queries, weights, k, where=where)

    # -- explain ----------------------------------------------------------------------------------------------
    def explain(
        self,
        query: Media,
        match: Media,
        kind: Literal["style", "content"],
        query_label: str,
        match_label: str,
        method: str = "auto",
    ) -> tuple[bytes, dict[str, Any]]:
        try:
            from .explain import render_explanation
        except ImportError as exc:
            raise HTTPException(501, f"explanations are not available: {exc}") from None

        def render() -> tuple[bytes, dict[str, Any]]:
            with self.model_lock:
                return render_explanation(
                    query, match, space_kind=kind, query_label=query_label, match_label=match_label, method=method
                )

        timeout = self.config.serve.explain_timeout_s
        future = self._explain_pool.submit(render)
        try:
            return future.result(timeout=timeout)
        except TransferError as exc:  # a method whose weights are not shipped (or that refuses this input)
            raise HTTPException(422, str(exc)) from None
        except concurrent.futures.TimeoutError:
            # A render still queued behind others is dropped; a running one cannot be stopped: it finishes in
            # the background and its result is lost.
            future.cancel()
            detail = f"the explanation took longer than {timeout:g} s (serve.explain_timeout_s)"
            raise HTTPException(504, detail) from None

    # -- writes -----------------------------------------------------------------------------------------------
    def add_uploads(self, files: Sequence[tuple[str, BinaryIO]]) -> dict[str, Any]:
        """Store each upload as ``<catalog>/uploads/<sha256><ext>`` and add it; the client's file name is kept
        only as the item's ``name`` metadata. Stored files that end up in no item are deleted again."""
        with self.writing() as catalog:
            entries: list[tuple[str, Source]] = []
            stored: list[tuple[Path, str]] = []
            try:
                for name, stream in files:
                    path, sha256 = save_upload(stream, self.uploads, upload_suffix(name), self.max_upload_bytes)
                    stored.append((path, sha256))
                    entries.append((name, Source(str(path), {"name": name})))
                return self._ingest(catalog, entries, [])
            finally:  # also when one upload of several is refused: none is left behind unheld
                for path, sha256 in stored:
                    _unlink_unless_held(catalog, path, sha256)

    def add_paths(self, paths: Sequence[str]) -> dict[str, Any]:
        """Add files, folders or manifests on the server's disk (as ``styledex add`` does), under
        ``serve.ingest_roots`` only: 403 for an argument outside them, and a file a folder or manifest leads to
        outside them is left out with its reason in ``failed`` (``styledex.serve.ingest_roots``)."""
        self.ingest_roots.check_arguments(paths)  # before anything is opened
        entries: list[tuple[str, Source]] = []
        failed: list[dict[str, str]] = []
        for raw in paths:
            try:
                sources, refused = self.ingest_roots.split(read_sources([raw]))
            except InputError as exc:
                failed.append({"name": raw, "error": str(exc)})
                continue
            failed += refused
            single = len(sources) + len(refused) == 1
            entries += [(raw if single else source.path, source) for source in sources]
        with self.writing() as catalog:
            return self._ingest(catalog, entries, failed)

    def _ingest(
        self, catalog: Catalog, entries: list[tuple[str, Source]], failed: list[dict[str, str]]
    ) -> dict[str, Any]:
        """Run the pipeline over ``entries`` ((name, source)); ids in input order (new items, or the item that
        already holds the same content), one failure per entry that did not make it."""
        ok_paths: list[str] = []
        summary = add_sources(
            catalog,
            [source for _, source in entries],
            self.config,
            self.embedder(catalog),
            progress=False,
            on_batch=lambda records: ok_paths.extend(r.path for r in records if r.status == "ok"),
        )
        added = dict(zip(ok_paths, summary.added, strict=True))
        errors = dict(summary.failed)
        ids: list[int] = []
        for name, source in entries:
            if source.path in added:
                ids.append(added[source.path])
            elif source.path in errors:
                failed.append({"name": name, "error": errors[source.path]})
            elif (existing := _existing_id(catalog, source.path)) is not None:
                ids.append(existing)  # skipped: the same content is already in the catalog
            else:
                failed.append({"name": name, "error": "file changed or vanished while being added"})
        return {"ids": list(dict.fromkeys(ids)), "failed": failed}

    def remove(self, item_id: int) -> None:
        """Remove an item from the catalog and every index (404 when there is none); an uploaded file that no
        item holds any more is deleted."""
        with self.writing() as catalog:
            item = catalog.item(item_id)
            if item is None:
                raise HTTPException(404, f"no item with id {item_id}")
            remove_items(catalog, [item_id])
            if Path(item["path"]).parent == self.uploads and item["sha256"]:
                _unlink_unless_held(catalog, Path(item["path"]), item["sha256"])
        self.thumbnails.discard(lambda key: key[0] != item_id)
        self.explanations.discard(lambda key: item_id not in key[:2])


def _unlink_unless_held(catalog: Catalog, path: Path, sha256: str) -> None:
    """Delete a stored upload unless an ok item holds this very file."""
    holder = catalog.find_ok_by_hash(sha256)
    if holder is None or catalog.item(holder)["path"] != str(path):
        path.unlink(missing_ok=True)


def _existing_id(catalog: Catalog, path: str) -> int | None:
    try:
        sha256, _ = file_sha256(path)
    except OSError:
        return None
    return catalog.find_ok_by_hash(sha256)
