"""Search routes: by catalog item (``GET /items/{id}/similar``) and by upload (``POST /search``).

``space`` is a space name, an alias (``style``, ``content``) or a weighted mix ``style:0.7,content:0.3``. Scores
are cosine similarities; a mix scores each candidate by Σ wₛ·cosₛ / Σ wₛ with the exact cosine in every space of
the mix (``scores`` in each result gives them one by one). Filters (``kind``, and ``where=key:value`` metadata
equalities, all of which must hold) are applied after ranking, over-fetching until k results pass or the whole
catalog was ranked: see ``styledex.search``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from styledex.operations import InvalidRequest
from styledex.search import ItemFilter

from .overload import heavy_slot
from .routes_catalog import ItemId, ServiceDep
from .schemas import BUSY, CATALOG_EMPTY, MALFORMED_MULTIPART, Error, Results

router = APIRouter(tags=["search"])

SPACE_HELP = "space name, alias (style, content) or weighted mix such as style:0.7,content:0.3"
K_HELP = "results wanted, 1..1000 (default: the config's search.k, 10)"
KIND_HELP = "keep only images or only videos"
WHERE_HELP = "metadata equality key:value; repeat for several (all must hold)"
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": Error}, 422: {"model": Error}, **CATALOG_EMPTY}


def _filter(kind: str | None, where: list[str]) -> ItemFilter:
    try:
        return ItemFilter.parse(kind or None, where)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


@router.get("/items/{item_id}/similar", response_model=None, responses={200: {"model": Results}, **_ERRORS})
def similar(
    item_id: ItemId,
    service: ServiceDep,
    space: Annotated[str, Query(description=SPACE_HELP)] = "style",
    k: Annotated[int | None, Query(ge=1, le=1000, description=K_HELP)] = None,
    kind: Annotated[str | None, Query(pattern="^(image|video)?$", description=KIND_HELP)] = None,
    where: Annotated[list[str] | None, Query(description=WHERE_HELP)] = None,
) -> dict[str, Any]:
    """Items most like this one in ``space``, best first; the item itself is left out."""
    where_filter = _filter(kind, where or [])
    results = service.session.similar(item_id, space, k or service.config.search.k, where_filter)
    return {"results": results}


@router.post(
    "/search",
    response_model=None,
    dependencies=[Depends(heavy_slot)],
    responses={200: {"model": Results}, **_ERRORS, 413: {"model": Error}, **MALFORMED_MULTIPART, **BUSY},
)
def search(
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="an image or a video; searched, not added")],
    space: Annotated[str, Form(description=SPACE_HELP)] = "style",
    k: Annotated[int | None, Form(ge=1, le=1000, description=K_HELP)] = None,
    kind: Annotated[str | None, Form(pattern="^(image|video)?$", description=KIND_HELP)] = None,
    where: Annotated[list[str] | None, Form(description=WHERE_HELP)] = None,
) -> dict[str, Any]:
    """Catalog items most like an uploaded image or video (a video's query is the normalized mean of its
    sampled frames' vectors, as for catalog videos). The upload is decoded from a temporary file and not kept.
    Model-bound: 503 with Retry-After past ``serve.max_heavy_requests`` such requests at once."""
    where_filter = _filter(kind, where or [])
    weights = service.session.weights(space)  # before decoding: a bad space costs nothing
    with service.decoded_upload(file.file, file.filename) as media:
        results = service.session.search_media(media, weights, k or service.config.search.k, where_filter)
    return {"results": results}
