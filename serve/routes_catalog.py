"""Catalog routes: health, spaces, items (list, one, thumbnail) and the two writes (add, delete)."""

from __future__ import annotations

import hmac
import json
import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from .schemas import MALFORMED_MULTIPART, Added, AddPaths, Error, Health, Item, ItemPage
from .service import Service

router = APIRouter()
# Ids are SQLite rowids: 1 .. 2**63 - 1. A larger number cannot even be looked up (sqlite3 OverflowError).
MAX_ITEM_ID = 2**63 - 1
ItemId = Annotated[int, Path(ge=1, le=MAX_ITEM_ID, description="catalog item id", examples=[1])]

_bearer = HTTPBearer(auto_error=False, description="the token the server was started with ($STYLEDEX_TOKEN)")


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def require_token(
    service: ServiceDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Writes need ``Authorization: Bearer <token>``: 403 when the server has no token, 401 when it is wrong."""
    if service.token is None:
        raise HTTPException(403, "writes are disabled: the server was started without $STYLEDEX_TOKEN")
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), service.token.encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "missing or wrong token"},
    403: {"model": Error, "description": "the server has no token: writes are disabled"},
    409: {"model": Error, "description": "another process is writing the catalog; retry"},
}

WORKER_HEADER = "X-Styledex-Worker"


@router.get("/health", response_model=None, responses={200: {"model": Health}}, tags=["catalog"])
def health(service: ServiceDep, response: Response) -> dict[str, Any]:
    """Liveness, and the number of ok items. The header ``X-Styledex-Worker`` names the server process that
    answered (its pid): with ``styledex serve --workers N`` each process keeps its own /metrics."""
    response.headers[WORKER_HEADER] = str(os.getpid())
    return {"status": "ok", "items": service.item_count()}


@router.get("/spaces", tags=["catalog"])
def spaces(service: ServiceDep) -> list[dict[str, Any]]:
    """Every embedding space (the same list as ``styledex spaces --json``): kind, dim, metric, aliases, and for
    the spaces this catalog holds, their fingerprint and item count."""
    return service.session.spaces()


@router.get("/items", response_model=None, responses={200: {"model": ItemPage}}, tags=["catalog"])
def list_items(
    service: ServiceDep,
    offset: Annotated[int, Query(ge=0, le=MAX_ITEM_ID)] = 0,  # SQLite takes 64-bit integers
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: Annotated[str | None, Query(pattern="^(image|video)?$", description="image or video")] = None,
    status: Annotated[str, Query(pattern="^(ok|failed|all)$", description="ok (default), failed or all")] = "ok",
) -> dict[str, Any]:
    """Catalog items in id order, a page at a time; ``total`` counts every item that passes the filters."""
    wanted = None if status == "all" else status
    items, total = service.session.list_items(status=wanted, kind=kind or None, offset=offset, limit=limit)
    return {"items": items, "total": total}


@router.get(
    "/items/{item_id}",
    response_model=None,
    responses={200: {"model": Item}, 404: {"model": Error}},
    tags=["catalog"],
)
def get_item(item_id: ItemId, service: ServiceDep) -> dict[str, Any]:
    return service.session.item(item_id)


@router.get(
    "/items/{item_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": Error}, 422: {"model": Error}},
    tags=["catalog"],
)
def thumbnail(
    item_id: ItemId,
    service: ServiceDep,
    size: Annotated[int, Query(ge=16, le=1024, description="longest side, pixels")] = 256,
) -> Response:
    """A JPEG of the image, or of a video's middle sampled frame (kept in a memory LRU cache)."""
    data = service.thumbnail(item_id, size)
    # Ids are never reused, so a thumbnail never changes under its URL.
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"})


_PATHS_REFUSED = "writes are disabled (no token), or a path is outside serve.ingest_roots (none by default)"
_ADD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                    "required": ["files"],
                }
            },
            "application/json": {"schema": AddPaths.model_json_schema()},
        },
    }
}


@router.post(
    "/items",
    status_code=201,
    response_model=None,
    dependencies=[Depends(require_token)],
    responses={
        201: {"model": Added},
        413: {"model": Error},
        415: {"model": Error},
        422: {"model": Error},
        **MALFORMED_MULTIPART,
        **_WRITE_ERRORS,
        403: {"model": Error, "description": _PATHS_REFUSED},
    },
    openapi_extra=_ADD_BODY,
    tags=["writes"],
)
async def add_items(request: Request, service: ServiceDep) -> dict[str, Any]:
    """Add uploaded files (multipart field ``files``, one or more) or files on the server's disk (JSON
    ``{"paths": [...]}``), embedded with the catalog's own settings. Uploads are stored in
    ``<catalog>/uploads/<sha256><ext>``. Needs the bearer token.

    Server paths only under the folders of ``serve.ingest_roots`` (``styledex serve --ingest-root DIR``), after
    resolving symlinks and ``..``; with none configured (the default) every path is refused. A path argument
    outside them: 403 naming it, nothing added. A file that a folder or manifest leads to outside them (a
    symlink pointing out): left out, reported in ``failed``, never read.

    An input that cannot be decoded is reported in ``failed`` while the others are still added (201). When no
    input ends in the catalog (every one failed), the answer is 422 with the reasons in ``detail``; the failures
    are recorded all the same, as ``styledex add`` records them (``GET /items?status=failed``).
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        paths = _parse_paths(await request.body())
        return _added_or_422(await run_in_threadpool(service.add_paths, paths))
    if content_type == "multipart/form-data":
        async with request.form(max_files=10_000) as form:
            files = [value for key, value in form.multi_items() if key in ("files", "file")]
            uploads = [f for f in files if isinstance(f, UploadFile)]
            if not uploads or len(uploads) != len(files):
                raise HTTPException(422, "expected one or more files in the multipart field 'files'")
            result = await run_in_threadpool(service.add_uploads, [(f.filename or "", f.file) for f in uploads])
            return _added_or_422(result)
    raise HTTPException(
        415,
        f"expected multipart/form-data (field 'files') or application/json {{\"paths\": [...]}}, got "
        f"{content_type or 'no content type'}",
    )


_REASONS_SHOWN = 5  # failures spelled out in a 422's detail; the rest are counted


def _added_or_422(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` ({"ids", "failed"}) when anything is in the catalog, else 422 naming why each input failed.

    Names are quoted with repr(): a client's file name may hold a newline, and the detail stays one line.
    """
    failed = result["failed"]
    if result["ids"] or not failed:
        return result
    reasons = [f"{entry['name']!r}: {entry['error']}" for entry in failed[:_REASONS_SHOWN]]
    more = f" (and {len(failed) - _REASONS_SHOWN} more)" if len(failed) > _REASONS_SHOWN else ""
    if len(failed) == 1:
        detail = f"cannot add {reasons[0]}"
    else:
        detail = f"none of the {len(failed)} inputs could be added: {'; '.join(reasons)}{more}"
    raise HTTPException(422, " ".join(detail.split()))


def _parse_paths(body: bytes) -> list[str]:
    try:
        paths = AddPaths.model_validate(json.loads(body)).paths
    except (ValueError, ValidationError):  # json.JSONDecodeError is a ValueError
        raise HTTPException(422, 'expected a JSON body {"paths": ["file, folder or manifest", ...]}') from None
    if not paths:
        raise HTTPException(422, "expected at least one path in 'paths'")
    return paths


@router.delete(
    "/items/{item_id}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(require_token)],
    responses={404: {"model": Error}, **_WRITE_ERRORS},
    tags=["writes"],
)
def delete_item(item_id: ItemId, service: ServiceDep) -> Response:
    """Remove an item from the catalog and from every index: it leaves every result at once. Needs the token."""
    service.remove(item_id)
    return Response(status_code=204)
