"""Uploads: a request-body limit enforced while the body streams in, and bounded copies of uploaded files.

Two limits, both answered with 413:
- :class:`BodyLimitMiddleware` counts the bytes of every request body as the server receives them (and refuses a
  declared ``Content-Length`` over the limit before reading any), so an oversized upload is cut off instead of
  being spooled whole to disk or memory. The body may exceed the upload limit by :data:`FORM_SLACK_BYTES`
  (multipart framing and form fields).
- :func:`save_upload` copies one uploaded file in 1 MiB chunks and stops at the exact per-file limit.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import BinaryIO

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from styledex.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

DEFAULT_MAX_UPLOAD_BYTES = 64 * 2**20
FORM_SLACK_BYTES = 64 * 2**10
_CHUNK = 2**20


class UploadTooLarge(HTTPException):
    """413 with a JSON detail; an HTTPException so FastAPI passes it through its body parsing unchanged."""

    def __init__(self, limit: int, what: str = "upload") -> None:
        super().__init__(413, f"{what} is over the {_size(limit)} upload limit")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n} bytes"


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_upload_bytes`` + :data:`FORM_SLACK_BYTES` with 413, counting while they
    stream (pure ASGI)."""

    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.limit = max_upload_bytes + FORM_SLACK_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            # Raised on the first read, i.e. inside the route: the 413 is counted under the route's template.
            if declared is not None and declared > self.limit:
                raise UploadTooLarge(self.max_upload_bytes, "request body")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise UploadTooLarge(self.max_upload_bytes, "request body")
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def upload_suffix(filename: str | None) -> str:
    """The client's file extension when it is a media one (lower-cased), else "" (decoding then probes the
    bytes). Nothing else of the client's name is ever used in a path."""
    suffix = Path(filename or "").suffix.lower()
    return suffix if suffix in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS else ""


def save_upload(source: BinaryIO, folder: Path, suffix: str, limit: int) -> tuple[Path, str]:
    """Copy ``source`` to ``folder/<sha256><suffix>`` (atomically: temp file, then rename); (path, sha256).

    Raises :class:`UploadTooLarge` as soon as more than ``limit`` bytes came, leaving nothing behind.
    """
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".incoming-{uuid.uuid4().hex}"
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as out:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(limit)
                digest.update(chunk)
                out.write(chunk)
        sha256 = digest.hexdigest()
        target = folder / f"{sha256}{suffix}"
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target, sha256
