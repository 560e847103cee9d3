"""Search routes: by catalog item (``GET /items/{id}/similar``), by several catalog items at once (``GET
/similar?ids=3,7``) and by upload, with or without catalog items (``POST /search``).

``space`` is a space name, an alias (``style``, ``content``) or a weighted mix ``style:0.7,content:0.3``. Scores
are cosine similarities; a mix scores each candidate by Σ wₛ·cosₛ / Σ wₛ with the exact cosine in every space of
the mix (``scores`` in each result gives them one by one). A query of several items (ids and uploads) is, in each
space, the normalized mean of their unit vectors; the query items are left out of the results. Filters
(``kind``, and ``where=key:value`` metadata equalities, all of which must hold) are applied after ranking,
over-fetching until k results pass or the whole catalog was ranked (on the Milvus back end, by Milvus while it
searches); ``collapse=true`` folds near-duplicates (cosine
≥ ``collapse_style`` in the style space and ≥ ``collapse_content`` in the content space; defaults: the config's
``search.collapse``): each result then lists the ids it absorbed in ``duplicates``, and near-duplicates of the
query are dropped. In style spaces (one, or a mix of them) the query's own subject in other looks is lowered
(``same_subject=true`` ranks it by style alone), in content spaces the query's own look on other subjects
(``same_look=true`` ranks it by content alone): ``styledex.lowering``. See ``styledex.search``.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from styledex.operations import InvalidRequest
from styledex.search import ItemFilter

from .overload import heavy_slot
from .routes_catalog import MAX_ITEM_ID, ItemId, ServiceDep
from .schemas import BUSY, CATALOG_EMPTY, MALFORMED_MULTIPART, Error, Results

router = APIRouter(tags=["search"])

SPACE_HELP = "space name, alias (style, content) or weighted mix such as style:0.7,content:0.3"
K_HELP = "results wanted, 1..1000 (default: the config's search.k, 10)"
KIND_HELP = "keep only images or only videos"
WHERE_HELP = "metadata equality key:value; repeat for several (all must hold)"
COLLAPSE_HELP = "fold near-duplicates: each result lists the ids it absorbed (duplicates); the query's are dropped"
STYLE_THRESHOLD_HELP = (
    "with collapse: the cosine in the style space from which items fold (same look); default: "
    "the config's search.collapse.style"
)
CONTENT_THRESHOLD_HELP = (
    "with collapse: the cosine in the content space from which items fold (same subject); "
    "default: the config's search.collapse.content"
)
SAME_SUBJECT_HELP = (
    "in a style space, rank the query's own subject in other looks by style alone (by default it is lowered: "
    "the config's search.subject)"
)
SAME_LOOK_HELP = (
    "in a content space, rank other subjects in the query's own look by content alone (by default they are "
    "lowered: the config's search.look)"
)
IDS_HELP = "catalog item ids, comma-separated (3,7): one query, the normalized mean of their vectors"
IDS_PATTERN = r"^[0-9]+(,[0-9]+)*$"
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": Error}, 422: {"model": Error}, **CATALOG_EMPTY}


@dataclass(frozen=True)
class Options:
    """What every search route takes besides its query: the space, k, the filter and the folding."""

    space: str
    k: int | None
    where: ItemFilter
    collapse: bool | dict[str, float]  # as CatalogSession's searches take it
    same_subject: bool = False
    same_look: bool = False

    def lowering(self) -> dict[str, bool]:
        """The session searches' keywords that turn off lowering the other question's answer."""
        return {"same_subject": self.same_subject, "same_look": self.same_look}

    @classmethod
    def parse(
        cls, space: str, k: int | None, kind: str | None, where: list[str] | None, collapse: bool,
        thresholds: dict[str, float | None], same_subject: bool = False, same_look: bool = False,
    ) -> Options:  # fmt: skip
        """The route's parameters checked (InvalidRequest); ``thresholds``: {kind: cosine or None (the config's)}."""
        try:
            where_filter = ItemFilter.parse(kind or None, where or [])
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        given = {kind: value for kind, value in thresholds.items() if value is not None}
        if given and not collapse:
            raise InvalidRequest(f"{', '.join(f'collapse_{kind}' for kind in given)} applies with collapse=true")
        return cls(space, k, where_filter, given or collapse, same_subject, same_look)


def query_options(
    space: Annotated[str, Query(description=SPACE_HELP)] = "style",
    k: Annotated[int | None, Query(ge=1, le=1000, description=K_HELP)] = None,
    kind: Annotated[str | None, Query(pattern="^(image|video)?$", description=KIND_HELP)] = None,
    where: Annotated[list[str] | None, Query(description=WHERE_HELP)] = None,
    collapse: Annotated[bool, Query(description=COLLAPSE_HELP)] = False,
    collapse_style: Annotated[float | None, Query(gt=0, le=1, description=STYLE_THRESHOLD_HELP)] = None,
    collapse_content: Annotated[float | None, Query(gt=0, le=1, description=CONTENT_THRESHOLD_HELP)] = None,
    same_subject: Annotated[bool, Query(description=SAME_SUBJECT_HELP)] = False,
    same_look: Annotated[bool, Query(description=SAME_LOOK_HELP)] = False,
) -> Options:
    thresholds = {"style": collapse_style, "content": collapse_content}
    return Options.parse(space, k, kind, where, collapse, thresholds, same_subject, same_look)


def form_options(
    space: Annotated[str, Form(description=SPACE_HELP)] = "style",
    k: Annotated[int | None, Form(ge=1, le=1000, description=K_HELP)] = None,
    kind: Annotated[str | None, Form(pattern="^(image|video)?$", description=KIND_HELP)] = None,
    where: Annotated[list[str] | None, Form(description=WHERE_HELP)] = None,
    collapse: Annotated[bool, Form(description=COLLAPSE_HELP)] = False,
    collapse_style: Annotated[float | None, Form(gt=0, le=1, description=STYLE_THRESHOLD_HELP)] = None,
    collapse_content: Annotated[float | None, Form(gt=0, le=1, description=CONTENT_THRESHOLD_HELP)] = None,
    same_subject: Annotated[bool, Form(description=SAME_SUBJECT_HELP)] = False,
    same_look: Annotated[bool, Form(description=SAME_LOOK_HELP)] = False,
) -> Options:
    thresholds = {"style": collapse_style, "content": collapse_content}
    return Options.parse(space, k, kind, where, collapse, thresholds, same_subject, same_look)


def parse_ids(text: str | None) -> list[int]:
    """``"3,7"`` → [3, 7] (the pattern has checked the digits); InvalidRequest past the largest rowid."""
    ids = [int(part) for part in text.split(",")] if text else []
    if any(item_id > MAX_ITEM_ID for item_id in ids):
        raise InvalidRequest(f"item ids go up to {MAX_ITEM_ID}")
    return ids


@router.get("/items/{item_id}/similar", response_model=None, responses={200: {"model": Results}, **_ERRORS})
def similar(
    item_id: ItemId, service: ServiceDep, options: Annotated[Options, Depends(query_options)]
) -> dict[str, Any]:
    """Items most like this one in ``space``, best first; the item itself is left out."""
    k = options.k or service.config.search.k
    results = service.session.similar(item_id, options.space, k, options.where, options.collapse, **options.lowering())
    return {"results": results}


@router.get("/similar", response_model=None, responses={200: {"model": Results}, **_ERRORS})
def similar_to(
    ids: Annotated[str, Query(pattern=IDS_PATTERN, max_length=4000, description=IDS_HELP, examples=["1,2"])],
    service: ServiceDep,
    options: Annotated[Options, Depends(query_options)],
) -> dict[str, Any]:
    """More like these: items most like the catalog items ``ids`` together (in each space, the normalized mean of
    their vectors), best first; the query items are left out."""
    k = options.k or service.config.search.k
    results = service.session.similar_to(
        parse_ids(ids), [], options.space, k, options.where, options.collapse, **options.lowering()
    )
    return {"results": results}


@router.post(
    "/search",
    response_model=None,
    dependencies=[Depends(heavy_slot)],
    responses={200: {"model": Results}, **_ERRORS, 413: {"model": Error}, **MALFORMED_MULTIPART, **BUSY},
)
def search(
    service: ServiceDep,
    file: Annotated[
        list[UploadFile], File(description="an image or a video (several: one query); searched, not added")
    ],
    options: Annotated[Options, Depends(form_options)],
    ids: Annotated[str | None, Form(pattern=IDS_PATTERN, max_length=4000, description=IDS_HELP)] = None,
) -> dict[str, Any]:
    """Catalog items most like an uploaded image or video (a video's query is the normalized mean of its
    sampled frames' vectors, as for catalog videos); several uploads, and catalog items ``ids``, make one query
    (in each space the normalized mean of their vectors; the catalog items are left out of the results). Uploads
    are decoded from temporary files and not kept. Model-bound: 503 with Retry-After past
    ``serve.max_heavy_requests`` such requests at once."""
    session, item_ids = service.session, parse_ids(ids)
    session.check_query(item_ids, len(file), options.collapse)
    weights = session.weights(options.space)  # before decoding: a bad id, space or threshold costs nothing
    with ExitStack() as stack:
        media = [stack.enter_context(service.decoded_upload(one.file, one.filename)) for one in file]
        k = options.k or service.config.search.k
        results = session.search_media(
            media, weights, k, options.where, options.collapse, item_ids=item_ids, **options.lowering()
        )
    return {"results": results}
