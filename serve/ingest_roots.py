"""Where ``POST /items {"paths": [...]}`` may read on the server's disk: under ``serve.ingest_roots`` only.

A path is allowed when its full resolution (``os.path.realpath``: every symlink followed, ``..`` applied in
order, as the kernel would) lies under one of the resolved roots, so ``root/../etc/passwd`` and a symlink inside
a root that points out are both outside. The check runs twice:

- on each argument, before anything is opened (not even a ``stat``, so a refusal says nothing about whether the
  file exists): one argument outside refuses the whole request with 403, nothing added;
- on each file a folder walk or a manifest row expanded into: one outside (a symlink in the folder, an absolute
  path in a manifest row) is left out with a one-line reason in ``failed``, never opened, and not recorded in
  the catalog; the others are added.

No roots (the default) refuses every server-side path: a public service adds uploads only.

Left open: a client that can also write inside a root could swap a checked file for a symlink between the check
and the read. The token holder is trusted that far.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from styledex.operations import Refused
from styledex.pipeline import Source

CONFIG_KEY = "serve.ingest_roots"
HOW_TO_ALLOW = f"set {CONFIG_KEY} in the config or start `styledex serve --ingest-root DIR`"
OUTSIDE_REASON = f"resolves outside the ingest roots ({CONFIG_KEY}): not read"


def _real(path: str | os.PathLike[str]) -> Path | None:
    """The fully resolved absolute path, or None for a name no file can have (a NUL byte, a lone surrogate).

    No ``~`` expansion: the reader (``styledex.pipeline.read_sources``) does none either, and the check must
    resolve exactly the path that will be opened.
    """
    try:
        return Path(os.path.realpath(path))
    except ValueError:  # UnicodeEncodeError is one
        return None


class IngestRoots:
    """The resolved roots of ``serve.ingest_roots`` and the checks of the module docstring."""

    def __init__(self, roots: Sequence[str]) -> None:
        resolved = (_real(os.path.expanduser(root)) for root in roots)
        self.roots: tuple[Path, ...] = tuple(dict.fromkeys(r for r in resolved if r is not None))

    def __bool__(self) -> bool:
        return bool(self.roots)

    def allows(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` (relative: to the server's working directory) resolves to a root or below one."""
        real = _real(path)
        return real is not None and any(real.is_relative_to(root) for root in self.roots)

    def check_arguments(self, paths: Sequence[str]) -> None:
        """Refused (403) naming the first argument that is not allowed (every one, when there are no roots)."""
        for raw in paths:
            if self.allows(raw):
                continue
            shown = repr(raw)  # one line whatever the name holds (a newline, a NUL byte)
            if not self.roots:
                detail = f"server-side paths are off: {shown} refused; {HOW_TO_ALLOW}, or upload the files"
            else:
                allowed = ", ".join(str(root) for root in self.roots)
                detail = f"path {shown} is outside the ingest roots ({allowed}); {HOW_TO_ALLOW}"
            raise Refused(detail)

    def split(self, sources: Sequence[Source]) -> tuple[list[Source], list[dict[str, str]]]:
        """(sources to add, failures for those outside the roots). Kept as well, for the pipeline to fail with
        its own reason without opening anything: a source that already carries an error (a malformed manifest
        row), and a name no file can have (a NUL byte in a manifest cell: ``open`` refuses it before any system
        call)."""
        kept: list[Source] = []
        refused: list[dict[str, str]] = []
        for source in sources:
            if source.error is not None or _real(source.path) is None or self.allows(source.path):
                kept.append(source)
            else:
                refused.append({"name": source.path, "error": OUTSIDE_REASON})
        return kept, refused
