"""The errors an operation raises for a request its caller can fix: one line each, mapped in one place per adapter.

The CLI maps every :class:`OperationError` to ``styledex: error: <message>`` and exit code 2 (``styledex.cli``);
the HTTP service maps each kind to its status (``styledex.serve.app``): :class:`NotFound` 404,
:class:`InvalidRequest` 422, :class:`Refused` 403, :class:`Unavailable` 501, :class:`TimedOut` 504. A busy or
empty catalog is the catalog's own :class:`styledex.catalog.CatalogError` (409 over HTTP).
"""

from __future__ import annotations


class OperationError(Exception):
    """A request that cannot be served as asked; ``str()`` is one line saying what was expected and what came."""


class NotFound(OperationError):
    """No item with that id, or no file at that path (HTTP 404)."""


class InvalidRequest(OperationError):
    """A malformed or unknown argument: a space, a filter, an anchor, a count, an undecodable file (HTTP 422)."""


class Refused(OperationError):
    """A request outside what this catalog's server allows, e.g. a path outside the ingest roots (HTTP 403)."""


class Unavailable(OperationError):
    """A capability that is not installed or shipped here (HTTP 501)."""


class TimedOut(OperationError):
    """Work that took longer than its configured limit (HTTP 504)."""
