"""Response shapes, for the OpenAPI page at /docs. Routes return plain dicts (the same dicts the CLI prints with
``--json``); these models document them and are not used to re-serialize."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Health(BaseModel):
    status: str
    items: int


class Item(BaseModel):
    """A catalog row, as ``styledex list --json`` prints it."""

    model_config = ConfigDict(extra="allow")
    id: int
    path: str
    kind: str | None
    sha256: str | None
    size: int | None
    width: int | None
    height: int | None
    duration: float | None
    frames: int | None
    metadata: dict[str, Any]
    status: str
    error: str | None
    created_at: float
    updated_at: float


class ItemPage(BaseModel):
    items: list[Item]
    total: int


class Hit(BaseModel):
    """One result, as ``styledex search --json`` prints it. ``score``: the cosine similarity, or for a mix
    Σ wₛ·cosₛ / Σ wₛ; ``scores``: the cosine in each space of the query. Videos also name the sampled frame
    that matched best (``frame``, ``time`` in seconds). With ``collapse``, ``duplicates`` lists the ids of the
    near-duplicates folded into this result, in rank order."""

    model_config = ConfigDict(extra="allow")
    id: int
    path: str
    kind: str
    score: float
    scores: dict[str, float]
    metadata: dict[str, Any]
    frame: int | None = None
    time: float | None = None
    duplicates: list[int] | None = None


class Results(BaseModel):
    results: list[Hit]


class Failure(BaseModel):
    name: str
    error: str


class Added(BaseModel):
    """``ids``: one per input that is in the catalog now (newly added, or the item that already held the same
    content), in input order; ``failed``: the inputs that are not, with a one-line reason."""

    ids: list[int]
    failed: list[Failure]


class AddPaths(BaseModel):
    """Files, folders (recursive) or .csv/.parquet manifests on the server's disk, as for ``styledex add``; only
    under the folders of ``serve.ingest_roots`` (none by default: 403)."""

    paths: list[str]


class Error(BaseModel):
    detail: str


# Searches need a catalog with embedding settings that this install can reproduce; a writer in another process
# does not block them.
CATALOG_EMPTY: dict[int | str, dict[str, Any]] = {
    409: {"model": Error, "description": "nothing was ever added, or it was embedded with other weights"}
}
# A multipart body that cannot be parsed at all (Starlette answers it before any route code runs).
MALFORMED_MULTIPART: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "malformed multipart body"}
}
# The model-bound routes past serve.max_heavy_requests (styledex.serve.overload).
BUSY: dict[int | str, dict[str, Any]] = {
    503: {
        "model": Error,
        "description": "serve.max_heavy_requests model-bound requests are already running; retry after Retry-After",
        "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
    }
}
