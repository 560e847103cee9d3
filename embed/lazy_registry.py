"""A registry filled by decorators in the modules it lists, which it imports on the first lookup.

Each entry is declared next to its code (a decorator in its own module), while the registry imports none of those
modules until someone asks for an entry or for the list: importing the registry stays cheap (no torch), and the
first lookup imports every listed module once, so the list is always complete.

This module imports nothing from styledex.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

__all__ = ["LazyRegistry"]

T = TypeVar("T")


class LazyRegistry(Mapping[str, T]):
    """Name → entry, ordered as ``modules`` lists the modules that registered them.

    Args:
        what: what an entry is, for error messages (``"transfer method"``).
        modules: the full names of the modules whose import registers the entries (each with a decorator that
            calls :meth:`register`); a module not listed may not register.
    """

    def __init__(self, what: str, modules: Sequence[str]) -> None:
        self.what = what
        self.modules: tuple[str, ...] = tuple(modules)
        self._entries: dict[str, tuple[str, T]] = {}  # name → (registering module, entry)
        self._ordered: dict[str, T] | None = None  # the view lookups read, rebuilt after a registration
        # Guards the dicts only. Never held while importing: an import registers, possibly in another thread.
        self._lock = threading.Lock()
        self._imported = False

    def register(self, name: str, entry: T, module: str) -> None:
        """Add ``entry`` under ``name``, declared in ``module`` (a decorator's ``fn.__module__``).

        ValueError for a module not in :attr:`modules` or a name another module registered already; the same
        module registering its name again (a reload) replaces the entry.
        """
        if module not in self.modules:
            raise ValueError(f"{self.what} {name!r} is declared in {module}, which is not in the registry's list "
                             f"of modules; add it there")
        with self._lock:
            known = self._entries.get(name)
            if known is not None and known[0] != module:
                raise ValueError(f"{self.what} {name!r} is registered twice: in {known[0]} and in {module}")
            self._entries[name] = (module, entry)
            self._ordered = None

    def module_of(self, name: str) -> str:
        """The module that registered ``name`` (KeyError for an unknown name)."""
        self._entries_by_name()
        with self._lock:
            return self._entries[name][0]

    def _entries_by_name(self) -> dict[str, T]:
        if not self._imported:
            # Two threads may both get here: importing a module twice is a no-op, and Python's import lock makes
            # the second wait until the first has finished executing (and registering) it.
            for module in self.modules:
                importlib.import_module(module)
            self._imported = True
        with self._lock:
            if self._ordered is None:
                rank = {module: i for i, module in enumerate(self.modules)}
                # sorted() is stable: names of one module keep their order of registration.
                names = sorted(self._entries, key=lambda name: rank[self._entries[name][0]])
                self._ordered = {name: self._entries[name][1] for name in names}
            return self._ordered

    def __getitem__(self, name: str) -> T:
        return self._entries_by_name()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries_by_name())  # a snapshot: a registration builds a new dict, never edits it

    def __len__(self) -> int:
        return len(self._entries_by_name())
