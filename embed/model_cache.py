"""One process-wide cache of loaded models: get-or-load by a hashable key, each key loaded once.

A service that embeds, explains and transfers holds each network once, whoever asks first. Keys are tuples that
start with the kind of model, then what tells two instances apart (``("vgg19", layers, "cpu")``,
``("cin_predictor", path, mtime_ns, "cuda")``), so callers in different modules never collide.

This module imports nothing from styledex.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["MODELS", "ModelCache"]

T = TypeVar("T")


class ModelCache:
    """Thread-safe get-or-load: one lock per key, so two different models load in parallel, one model once.

    A load that raises caches nothing (the next caller tries again). A loader must not ask for its own key
    (it would wait on itself); asking for other keys is fine.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the two dicts; never held while a model loads
        self._values: dict[Hashable, Any] = {}
        self._loading: dict[Hashable, threading.Lock] = {}  # per key, only while it has no value yet

    def get_or_load(self, key: Hashable, load: Callable[[], T]) -> T:
        """The value cached under ``key``, else ``load()`` (called by one thread; the others wait for it)."""
        with self._lock:
            if key in self._values:
                return self._values[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:  # a thread that waited here finds the value the first one stored
                if key in self._values:
                    return self._values[key]
            value = load()
            with self._lock:
                self._values[key] = value
                self._loading.pop(key, None)  # later callers find the value; waiters still hold this lock
            return value

    def clear(self) -> None:
        """Forget every cached value (tests; holders of a model keep theirs). A load in progress still stores its
        value afterwards, and callers meanwhile wait for it rather than load the same key again."""
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)


# The cache every model loader of styledex.embed shares.
MODELS = ModelCache()
