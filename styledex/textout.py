"""Text for a terminal: the CLI's human output of strings it does not control (file names, reasons, metadata).

A file name may hold a newline (it would split one line of output in two), an ESC (``\\x1b[2J`` clears the
screen, other sequences retitle the window or move the cursor), a bidirectional override, or bytes that are not
UTF-8 (Python gives them as lone surrogates, which no encoder accepts). ``shown`` renders all of them as
visible escapes; ``--json`` output keeps the exact strings, which JSON escapes itself.
"""

from __future__ import annotations

import codecs
import io
import sys
from typing import TextIO

# os.fsdecode maps an undecodable byte 0xNN of a file name to the lone surrogate U+DC00 + 0xNN.
_SURROGATE_ESCAPES = range(0xDC80, 0xDD00)


def shown(text: object) -> str:
    """``str(text)`` safe to print on one line of a terminal.

    Every character ``str.isprintable`` refuses (C0/C1 controls, DEL, line and paragraph separators, format
    characters such as U+202E) becomes its Python escape (``\\n``, ``\\t``, ``\\x1b``, ``\\u202e``); an
    undecodable file-name byte (surrogate escape) becomes ``\\xNN``, the byte itself. Printable text, spaces and
    non-ASCII letters included, is unchanged. A backslash is left as it is, so a name shown with ``\\n`` may also
    be one that holds those two characters: ``--json`` gives the exact string.
    """
    value = str(text)
    if value.isprintable():  # the common case: nothing to do
        return value
    return "".join(_char(ch) for ch in value)


def _char(ch: str) -> str:
    if ch.isprintable():
        return ch
    if ord(ch) in _SURROGATE_ESCAPES:
        return f"\\x{ord(ch) - 0xDC00:02x}"
    return repr(ch)[1:-1]


def unicode_capable(stream: TextIO) -> bool:
    """True when ``stream`` encodes any character (a UTF encoding, or an in-memory stream with no encoding)."""
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


def escape_unencodable_output() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` write ``\\u2192``-style escapes for what their encoding cannot
    encode (an arrow under ``PYTHONIOENCODING=ascii`` or the C locale, a lone surrogate under UTF-8) instead of
    raising UnicodeEncodeError halfway through the output. Streams that are not text files (a test's StringIO)
    are left alone: they take any character."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors != "backslashreplace":
            stream.reconfigure(errors="backslashreplace")
