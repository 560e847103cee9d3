"""Progress of long work on stderr: a live bar on a terminal, whole lines at a steady pace everywhere else.

A bar redraws itself with carriage returns, which a log file, CI or a service manager (``styledex demo > log
2>&1``) shows as one endless line, or not at all until the work ends. Where stderr is not a terminal, progress is
written instead as complete lines, at most one every ``STYLEDEX_PROGRESS_SECONDS`` seconds (default 10) plus the
first and the last::

    styledex add: 120/500 items (24%) in 00:52, 2.31 items/s, 02:44 left

This module imports nothing of styledex, so every layer may take bars from it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm import tqdm

INTERVAL_ENV = "STYLEDEX_PROGRESS_SECONDS"
DEFAULT_INTERVAL_S = 10.0

# {unit} carries its leading space (see progress_bar), so the rate reads "2.31 items/s", not "2.31items/s".
_LINE_FORMAT = (
    "{desc}: {n_fmt}/{total_fmt}{unit} ({percentage:.0f}%) in {elapsed}, {rate_fmt}, {remaining} left{postfix}"
)
_LINE_FORMAT_NO_TOTAL = "{desc}: {n_fmt}{unit} in {elapsed}, {rate_fmt}{postfix}"


def line_interval_s() -> float:
    """Seconds between two progress lines: ``$STYLEDEX_PROGRESS_SECONDS`` (a non-negative number), else 10."""
    raw = os.environ.get(INTERVAL_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if value >= 0 else DEFAULT_INTERVAL_S


class LineProgress(tqdm):
    """A tqdm that prints one complete line per refresh instead of redrawing one line with ``\\r``.

    Refreshes are tqdm's own, throttled by ``mininterval`` (seconds); :func:`progress_bar` sets it to
    :func:`line_interval_s`. The last line, with the overall rate, is printed when the bar closes.
    """

    _line_n: float | None = None  # the count the last line showed

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "":  # tqdm clearing the line: nothing to clear in a log
            return False
        self.fp.write((self.__str__() if msg is None else msg) + "\n")
        self.fp.flush()
        self._line_n = self.n
        return True

    # A new postfix or description waits for the next timed line: a loss set at every step must not print a line
    # at every step.
    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        super().set_description(desc, refresh=False)

    def close(self) -> None:
        if not self.disable and self.n != self._line_n:
            self._ema_dt = lambda: None  # the last line gives the overall rate, as tqdm's own closing line does
            self.display()
        super().close()


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: float | None = None,
    desc: str,
    unit: str = "item",
    enabled: bool = True,
    file: TextIO | None = None,
    **kwargs: Any,
) -> tqdm:
    """A progress bar over ``iterable`` (or updated by hand up to ``total``) on ``file`` (default stderr).

    ``enabled=False`` gives a silent bar with the same interface. On a terminal: tqdm's live bar. Elsewhere: a
    :class:`LineProgress` writing lines such as ``desc: 3/8 item (38%) in 00:04, 0.75 item/s, 00:07 left``.
    ``kwargs`` go to tqdm (``initial``, ``postfix``…).
    """
    stream = file if file is not None else sys.stderr
    if not enabled:
        return tqdm(iterable, total=total, disable=True)
    if _is_terminal(stream):
        return tqdm(iterable, total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True, **kwargs)
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    return LineProgress(
        iterable, total=total, desc=desc, unit=f" {unit}", file=stream, leave=False, mininterval=line_interval_s(),
        miniters=1, bar_format=_LINE_FORMAT if total else _LINE_FORMAT_NO_TOTAL, **kwargs,
    )  # fmt: skip


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
