"""The connection to Milvus and the words it is spoken to in: one client per uri and process, filter expressions,
metric names, paging through every row. Used by `milvus_collection` (a catalog's collection) and its space views."""

from __future__ import annotations

import logging
import re
from typing import Any

# A filter the engine applies: (kind or None, ((metadata key, value as text), ...)); all must hold.
EngineFilter = tuple[str | None, tuple[tuple[str, str], ...]]

MAX_TOP_K = 16_384  # Milvus's largest limit per search (and per query page)
_CLIENTS: dict[str, Any] = {}  # uri → MilvusClient: one connection (and one Milvus Lite server) per process


class MilvusUnavailable(RuntimeError):
    """pymilvus or milvus-lite is not installed, or the server cannot be reached; str() is a one-line reason."""


def is_server(uri: str) -> bool:
    """Whether ``uri`` names a Milvus server (http/https) rather than a Milvus Lite file."""
    return re.match(r"^https?://", uri) is not None


def milvus_client(uri: str) -> Any:
    """The process's client for ``uri`` (a local ``.db`` file for Milvus Lite, or ``http://host:port``)."""
    if uri not in _CLIENTS:
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise MilvusUnavailable(
                "index.backend milvus needs pymilvus and milvus-lite: pip install -e '.[scale]'"
            ) from None
        # pymilvus (which sets its logger up on import) warns on every page of a query with Milvus Lite ("failed to
        # get mvccTs"): not the user's concern.
        logging.getLogger("pymilvus").setLevel(logging.ERROR)
        if not is_server(uri):  # Milvus Lite's in-process server logs calls it does not implement
            logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        try:
            _CLIENTS[uri] = MilvusClient(uri)
        except Exception as exc:  # a server that is down, a file another process holds: Milvus's words
            raise MilvusUnavailable(f"cannot open Milvus at {uri}: {' '.join(str(exc).split())}") from None
    return _CLIENTS[uri]


def close_milvus_clients() -> None:
    """Close this process's Milvus connections (a Milvus Lite file is then free for another process)."""
    while _CLIENTS:
        uri, client = _CLIENTS.popitem()
        client.close()
        if not is_server(uri):  # Milvus Lite keeps serving the file until told to stop
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(uri)


def milvus_name(text: str) -> str:
    """``text`` as a Milvus collection or field name: letters, digits and underscores only."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def filter_expression(where: EngineFilter) -> str:
    """Milvus's boolean expression for ``where``: ``kind == "video" and metadata["group"] == "even"``; values and
    keys quoted (backslash and double quote escaped), compared as text as the catalog's filters compare them."""
    kind, metadata = where
    terms = [] if kind is None else [f"kind == {_quoted(kind)}"]
    terms += [f"metadata[{_quoted(key)}] == {_quoted(value)}" for key, value in metadata]
    return " and ".join(terms)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def milvus_metric(metric: str) -> str:
    """Milvus's name for a space's metric ("ip" → "IP", "l2" → "L2")."""
    return "IP" if metric == "ip" else "L2"


def engine_score(distance: float, metric: str) -> float:
    """A `SpaceIndex` score from Milvus's distance: the inner product for "ip"; minus the squared distance for "l2"."""
    return float(distance) if metric == "ip" else -float(distance)


def all_rows(client: Any, collection: str, fields: list[str]) -> list[dict[str, Any]]:
    """Every row of ``collection`` with ``fields``, page by page (a query returns at most 16,384 rows)."""
    iterator = client.query_iterator(collection, batch_size=MAX_TOP_K, output_fields=fields)
    rows: list[dict[str, Any]] = []
    try:
        while page := iterator.next():
            rows.extend(page)
    finally:
        iterator.close()
    return rows
