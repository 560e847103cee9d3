"""What every request of one app shares: the catalog session, caches, the explanation pool and the server's rules.

Every catalog operation (search, add, remove, list, look up) is a :class:`styledex.operations.CatalogSession`
method, the same the CLI calls; this module adds only what belongs to serving: uploads stored in the catalog
folder, the folders server paths may come from, thumbnails and explanations cached in memory, explanations
rendered in a pool a request can stop waiting for, and the bearer token. Errors are the operations' typed ones
(:mod:`styledex.operations.errors`), mapped to HTTP statuses in one place (``styledex.serve.app``).
"""

from __future__ import annotations

import concurrent.futures
import io
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Literal

from PIL import Image

from styledex.catalog import Catalog
from styledex.config import Config
from styledex.embed.spaces import SPACES
from styledex.embed.transfer.registry import TransferError
from styledex.media import Media, MediaError
from styledex.operations import CatalogSession, InvalidRequest, NotFound, TimedOut, Unavailable
from styledex.pipeline import InputError, Source, file_sha256, read_sources

from .ingest_roots import IngestRoots
from .overload import HeavyGate
from .uploads import save_upload, upload_suffix

UPLOADS_DIR = "uploads"


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
    """One catalog served: the shared :class:`CatalogSession` plus what only a server needs (module docstring)."""

    def __init__(self, directory: Path, config: Config, *, token: str | None, max_upload_bytes: int) -> None:
        self.directory = directory
        self.config = config
        self.token = token or None
        self.max_upload_bytes = max_upload_bytes
        self.uploads = directory / UPLOADS_DIR
        self.session = CatalogSession(directory, config)  # CatalogError when there is none: no app is created
        # Explanations render here, so a request can stop waiting after serve.explain_timeout_s.
        self._explain_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="explain")
        self.thumbnails = LRU(512)
        self.explanations = LRU(32)
        self.ingest_roots = IngestRoots(config.serve.ingest_roots)
        self.heavy = HeavyGate(config.serve.max_heavy_requests, config.serve.heavy_queue_timeout_s)

    def close(self) -> None:
        self._explain_pool.shutdown(wait=False, cancel_futures=True)
        self.session.close()

    def item_count(self) -> int:
        with self.session.reading() as catalog:
            return catalog.count("ok")

    # -- media ------------------------------------------------------------------------------------------------
    @contextmanager
    def decoded_upload(self, source: BinaryIO, filename: str | None) -> Iterator[Media]:
        """An uploaded query decoded from a temporary file (removed afterwards); 413 over the limit,
        InvalidRequest (422) when it cannot be decoded."""
        with tempfile.TemporaryDirectory(prefix="styledex-query-") as tmp:
            path, _ = save_upload(source, Path(tmp), upload_suffix(filename), self.max_upload_bytes)
            try:
                media = self.session.decode_file(path)
            except MediaError as exc:
                raise InvalidRequest(f"cannot decode upload {filename or '(unnamed)'!r}: {exc}") from None
            yield media

    def thumbnail(self, item_id: int, size: int) -> bytes:
        """JPEG bytes: the image, or a video's middle sampled frame, fitted in ``size`` × ``size``."""
        key = (item_id, size)
        cached = self.thumbnails.get(key)
        if cached is not None:
            return cached
        media = self.session.decode_item(self.session.ok_item(item_id))
        frame = media.frames[len(media.frames) // 2].copy()
        frame.thumbnail((size, size), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        frame.save(buffer, format="JPEG", quality=85)
        data = buffer.getvalue()
        self.thumbnails.put(key, data)
        return data

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
            raise Unavailable(f"explanations are not available: {exc}") from None

        def render() -> tuple[bytes, dict[str, Any]]:
            with self.session.model_lock:
                return render_explanation(
                    query, match, space_kind=kind, query_label=query_label, match_label=match_label, method=method
                )

        timeout = self.config.serve.explain_timeout_s
        future = self._explain_pool.submit(render)
        try:
            return future.result(timeout=timeout)
        except TransferError as exc:  # a method whose weights are not shipped (or that refuses this input)
            raise InvalidRequest(str(exc)) from None
        except concurrent.futures.TimeoutError:
            # A render still queued behind others is dropped; a running one cannot be stopped: it finishes in
            # the background and its result is lost.
            future.cancel()
            raise TimedOut(f"the explanation took longer than {timeout:g} s (serve.explain_timeout_s)") from None

    # -- writes -----------------------------------------------------------------------------------------------
    def add_uploads(self, files: Sequence[tuple[str, BinaryIO]]) -> dict[str, Any]:
        """Store each upload as ``<catalog>/uploads/<sha256><ext>`` and add it; the client's file name is kept
        only as the item's ``name`` metadata. Stored files that end up in no item are deleted again."""
        with self.session.writing(wait=False) as catalog:
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
        ``serve.ingest_roots`` only: Refused (403) for an argument outside them, and a file a folder or manifest
        leads to outside them is left out with its reason in ``failed`` (``styledex.serve.ingest_roots``)."""
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
        with self.session.writing(wait=False) as catalog:
            return self._ingest(catalog, entries, failed)

    def _ingest(
        self, catalog: Catalog, entries: list[tuple[str, Source]], failed: list[dict[str, str]]
    ) -> dict[str, Any]:
        """Run the pipeline over ``entries`` ((name, source)); ids in input order (new items, or the item that
        already holds the same content), one failure per entry that did not make it."""
        ok_paths: list[str] = []
        summary = self.session.add_in(
            catalog,
            [source for _, source in entries],
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
        """Remove an item from the catalog and every index (NotFound, 404, when there is none); an uploaded
        file that no item holds any more is deleted."""

        def forget_upload(catalog: Catalog, items: list[dict[str, Any]]) -> None:
            for item in items:
                if Path(item["path"]).parent == self.uploads and item["sha256"]:
                    _unlink_unless_held(catalog, Path(item["path"]), item["sha256"])

        try:
            self.session.remove([item_id], wait=False, after=forget_upload)
        except NotFound:  # the API's own wording for one id (the session's names the catalog, as the CLI prints)
            raise NotFound(f"no item with id {item_id}") from None
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
