"""The styledex HTTP service: :func:`create_app` builds a FastAPI app over one catalog (``styledex serve`` runs it
with uvicorn). Routes live in ``routes_*.py``, shared state in ``service.py``; OpenAPI page at ``/docs``.

Errors are JSON ``{"detail": "one line"}``; bad input is a 4xx, never a 500: 404 unknown id, 409 catalog busy or
empty, 413 upload over the limit, 415 wrong content type, 422 invalid parameter or undecodable upload.
"""

from __future__ import annotations

import enum
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from styledex import __version__
from styledex.catalog import CatalogError
from styledex.config import Config, load_config
from styledex.embed.runtime import configure_threads
from styledex.operations import InvalidRequest, NotFound, OperationError, Refused, TimedOut, Unavailable

from . import routes_catalog, routes_explain, routes_search
from .metrics import Metrics, MetricsMiddleware
from .schemas import Error
from .service import Service
from .uploads import DEFAULT_MAX_UPLOAD_BYTES, BodyLimitMiddleware

STATIC_DIR = Path(__file__).parent / "static"
# What each kind of operation error answers (styledex.operations.errors); a CatalogError (busy, empty) is 409.
OPERATION_STATUS: tuple[tuple[type[OperationError], int], ...] = (
    (NotFound, 404),
    (InvalidRequest, 422),
    (Refused, 403),
    (Unavailable, 501),
    (TimedOut, 504),
)
log = logging.getLogger("styledex.serve")
ROUTERS = (routes_catalog.router, routes_search.router, routes_explain.router)


class _FromEnv(enum.Enum):
    TOKEN = "$STYLEDEX_TOKEN"


FROM_ENV = _FromEnv.TOKEN

DESCRIPTION = """Find images and short videos by **style** or by **content**, by catalog item or by upload.

`space` takes a space name (`GET /spaces`), an alias (`style`, `content`) or a weighted mix such as
`style:0.7,content:0.3`. Scores are cosine similarities; a mix scores each candidate by Σ wₛ·cosₛ / Σ wₛ with the
exact cosine in every space of the mix. Filters (`kind`, `where=key:value`) are applied after ranking, fetching
more until k results pass. Writes (`POST /items`, `DELETE /items/{id}`) need `Authorization: Bearer <token>`.
"""


def create_app(
    catalog_dir: Path | str,
    *,
    config: Config | None = None,
    token: str | None | _FromEnv = FROM_ENV,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> FastAPI:
    """The app over the catalog in ``catalog_dir`` (which must exist: CatalogError otherwise).

    ``config``: media decoding, embedding batch/device and the default k (default: configs/default.yaml).
    ``token``: the bearer token writes need; by default ``$STYLEDEX_TOKEN``; None or "" refuses writes (403).
    ``max_upload_bytes``: the largest uploaded file (413 above; the request body is cut off while streaming).
    """
    if max_upload_bytes < 1:
        raise ValueError(f"max_upload_bytes must be positive, got {max_upload_bytes}")
    if isinstance(token, _FromEnv):
        token = os.environ.get("STYLEDEX_TOKEN")
    service = Service(Path(catalog_dir), config or load_config(), token=token, max_upload_bytes=max_upload_bytes)
    configure_threads(service.config.embed.threads)  # the process-wide torch setting, once, before any embedding
    metrics = Metrics(service.item_count)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="styledex", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.service = service
    app.state.metrics = metrics
    _add_error_handlers(app)
    _document_one_line_422(app)
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        page = STATIC_DIR / "index.html"
        if page.is_file():
            return FileResponse(page, media_type="text/html")
        return HTMLResponse('<!doctype html><title>styledex</title><p>No web page here; see <a href="/docs">/docs</a>.')

    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    # Added last = outermost: metrics time everything, including a 413 from the body limit.
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=max_upload_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if service.config.serve.cors_origins:  # off unless configured: no Access-Control-* headers at all
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=service.config.serve.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"])
    return app


# `styledex serve --workers N` (N > 1) hands uvicorn an import string, and each worker process builds its own app
# from this variable: JSON {"catalog": dir, "config": Config as a dict, "max_upload_bytes": int}.
WORKER_ENV = "STYLEDEX_SERVE_APP"


def worker_settings(catalog_dir: Path | str, config: Config, max_upload_bytes: int) -> str:
    """The value of :data:`WORKER_ENV` that makes :func:`app_from_env` build ``create_app(catalog_dir, ...)``."""
    return json.dumps(
        {"catalog": str(catalog_dir), "config": config.model_dump(mode="json"), "max_upload_bytes": max_upload_bytes}
    )


def app_from_env() -> FastAPI:
    """The app one server worker runs (uvicorn's factory for ``styledex serve --workers N``), built from
    :data:`WORKER_ENV`; the write token comes from ``$STYLEDEX_TOKEN`` as in :func:`create_app`."""
    raw = os.environ.get(WORKER_ENV)
    if not raw:
        raise RuntimeError(f"${WORKER_ENV} is not set: start workers with `styledex serve --workers N`")
    settings = json.loads(raw)
    return create_app(
        settings["catalog"], config=Config.model_validate(settings["config"]),
        max_upload_bytes=int(settings["max_upload_bytes"]),
    )  # fmt: skip


def _document_one_line_422(app: FastAPI) -> None:
    """Make /openapi.json say what a 422 carries here: ``{"detail": "one line"}`` (the handler below), not
    FastAPI's default list of validation errors, which schema-driven clients would otherwise expect."""
    generate = app.openapi
    error_ref = {"$ref": "#/components/schemas/Error"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # FastAPI's own, cached on app.openapi_schema: patched in place, once
        default_ref = "#/components/schemas/HTTPValidationError"
        for operation in (op for ops in schema.get("paths", {}).values() for op in ops.values()):
            content = operation.get("responses", {}).get("422", {}).get("content", {})
            for body in content.values():
                if body.get("schema", {}).get("$ref") == default_ref:
                    body["schema"] = dict(error_ref)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Error", Error.model_json_schema())
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _allowed_methods(app: FastAPI, path: str) -> str:
    """Every method some route answers at ``path``, for a 405's Allow header ("GET, HEAD, POST").

    The routers are included without a prefix, so their routes' own patterns are the app's.
    """
    routes = [*app.routes, *(r for router in ROUTERS for r in router.routes)]
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # One line, like every other error: "k: Input should be less than or equal to 1000".
        parts = []
        for error in exc.errors():
            loc = tuple(error.get("loc", ()))
            if loc and loc[0] in ("query", "path", "body", "header", "cookie"):  # where it came, not what
                loc = loc[1:]  # (a field may itself be called "query", as GET /explain's is)
            where = ".".join(str(p) for p in loc)
            parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            # Starlette's Allow names the methods of the one route it matched; /items has two (GET, POST).
            allowed = _allowed_methods(request.app, request.scope["path"])
            if allowed:  # else a mount (static files) refused: its own answer stands
                exc = StarletteHTTPException(405, exc.detail, headers={**(exc.headers or {}), "Allow": allowed})
        return await http_exception_handler(request, exc)

    @app.exception_handler(OperationError)
    async def operation_error(_: Request, exc: OperationError) -> JSONResponse:
        # The one place an operation's typed error becomes an HTTP status.
        status = next((code for kind, code in OPERATION_STATUS if isinstance(exc, kind)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(CatalogError)
    async def catalog_conflict(_: Request, exc: CatalogError) -> JSONResponse:
        # Busy (another process writes), empty (nothing added yet) or settings changed: the catalog's state.
        return JSONResponse({"detail": str(exc)}, status_code=409, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)
