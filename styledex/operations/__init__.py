"""The operations styledex offers, composed once for every adapter: the CLI and the HTTP service call the same
:class:`CatalogSession` methods (list, look up, search by ids / files / anchor / uploads, alone or several as one
query, with mixes, filters and near-duplicate folding, add,
remove, reindex, spaces) and get the same typed errors (:mod:`.errors`), which each adapter maps to exit codes or
HTTP statuses in one place."""

from .errors import InvalidRequest, NotFound, OperationError, Refused, TimedOut, Unavailable
from .session import REINDEX_CHOICES, CatalogSession, SerializedEmbedder

__all__ = [
    "REINDEX_CHOICES",
    "CatalogSession",
    "InvalidRequest",
    "NotFound",
    "OperationError",
    "Refused",
    "SerializedEmbedder",
    "TimedOut",
    "Unavailable",
]
