"""Explanation routes: why a match matches a query, as a PNG panel (``styledex.serve.explain``) or its numbers.

``space`` picks the question: a style space (or a mix weighted towards style) explains by style, the content
space by content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from .overload import heavy_slot
from .routes_catalog import MAX_ITEM_ID, ServiceDep
from .routes_search import SPACE_HELP
from .schemas import BUSY, CATALOG_EMPTY, MALFORMED_MULTIPART, Error
from .service import Service, mix_kind

router = APIRouter(tags=["explain"])

Format = Literal["png", "json"]
FORMAT_HELP = "png: the panel (default); json: the numbers behind it"
ExplainMethod = Literal["auto", "ghiasi", "adain", "wct", "cin", "munit", "mixgan"]
METHOD_HELP = ("transfer method of the cross-renderings; auto = ghiasi, of the methods that render in under half a "
               "second the one that moves a photo furthest toward its style image (README, Quality and speed)")
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}, "application/json": {}}},
    404: {"model": Error},
    422: {"model": Error},
    501: {"model": Error, "description": "the explanation renderer is not installed"},
    504: {"model": Error, "description": "the rendering took longer than serve.explain_timeout_s"},
    **CATALOG_EMPTY,
    **BUSY,
}


def _label(item: dict[str, Any]) -> str:
    return f"#{item['id']} {Path(item['path']).name}"


def _respond(png: bytes, numbers: dict[str, Any], fmt: Format) -> Response:
    return JSONResponse(numbers) if fmt == "json" else Response(png, media_type="image/png")


def _item_media(service: Service, item_id: int) -> tuple[dict[str, Any], Any]:
    item = service.session.ok_item(item_id)
    return item, service.session.decode_item(item)


# Model-bound (a rendering, unless cached): at most serve.max_heavy_requests at once, then 503.
@router.get("/explain", response_class=Response, responses=_RESPONSES, dependencies=[Depends(heavy_slot)])
def explain(
    service: ServiceDep,
    query: Annotated[int, Query(ge=1, le=MAX_ITEM_ID, description="query item id", examples=[1])],
    match: Annotated[int, Query(ge=1, le=MAX_ITEM_ID, description="matched item id", examples=[2])],
    space: Annotated[str, Query(description=SPACE_HELP)] = "style",
    format: Annotated[Format, Query(description=FORMAT_HELP)] = "png",
    method: Annotated[ExplainMethod, Query(description=METHOD_HELP)] = "auto",
) -> Response:
    """A panel: the query, the match, each one's content in the other's style, and for style which VGG layers'
    statistics agree most, for content where the two correspond (a heat map)."""
    kind = mix_kind(service.session.weights(space))
    key = (query, match, kind, method)
    cached = service.explanations.get(key)
    if cached is None:
        query_item, query_media = _item_media(service, query)
        match_item, match_media = _item_media(service, match)
        cached = service.explain(query_media, match_media, kind, _label(query_item), _label(match_item), method)
        service.explanations.put(key, cached)
    return _respond(*cached, format)


@router.post(
    "/explain",
    response_class=Response,
    responses={**_RESPONSES, 413: {"model": Error}, **MALFORMED_MULTIPART},
    dependencies=[Depends(heavy_slot)],
)
def explain_upload(
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="the query: an image or a video")],
    match: Annotated[int, Form(ge=1, le=MAX_ITEM_ID, description="matched item id")],
    space: Annotated[str, Form(description=SPACE_HELP)] = "style",
    format: Annotated[Format, Form(description=FORMAT_HELP)] = "png",
    method: Annotated[ExplainMethod, Form(description=METHOD_HELP)] = "auto",
) -> Response:
    """The same panel for an uploaded query (decoded from a temporary file, not added)."""
    kind = mix_kind(service.session.weights(space))
    match_item, match_media = _item_media(service, match)
    with service.decoded_upload(file.file, file.filename) as query_media:
        label = f"upload {Path(file.filename or 'query').name}"
        png, numbers = service.explain(query_media, match_media, kind, label, _label(match_item), method)
    return _respond(png, numbers, format)
