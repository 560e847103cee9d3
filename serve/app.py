"""The styledex HTTP service: :func:`create_app` builds a FastAPI app over one catalog (``styledex serve`` runs it
with uvicorn). Routes live in ``routes_*.py``, shared state in ``service.py``; OpenAPI page at ``/docs``.

Errors are JSON ``{"detail": "one line"}``; bad input is a 4xx, never a 500: 404 unknown id, 409 catalog busy or
empty, 413 upload over the limit, 415 wrong content type, 422 invalid parameter or undecodable upload.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from styledex import __version__
from styledex.catalog import CatalogError
from styledex.config import Config, load_config

from . import routes_catalog, routes_explain, routes_search
from .metrics import Metrics, MetricsMiddleware
from .service import Service
from .uploads import DEFAULT_MAX_UPLOAD_BYTES, BodyLimitMiddleware

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("styledex.serve")


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
    metrics = Metrics(service.item_count)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="styledex", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.service = service
    app.state.metrics = metrics
    _add_error_handlers(app)
    app.include_router(routes_catalog.router)
    app.include_router(routes_search.router)
    app.include_router(routes_explain.router)

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


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # One line, like every other error: "k: Input should be less than or equal to 1000".
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body", "header"))
            parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(CatalogError)
    async def catalog_conflict(_: Request, exc: CatalogError) -> JSONResponse:
        # Busy (another process writes), empty (nothing added yet) or settings changed: the catalog's state.
        return JSONResponse({"detail": str(exc)}, status_code=409, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)
