"""A small thread-safe LRU cache for query results, keyed by (query, arguments, lake version).

The key always carries the fact table's generation, so a changed lake can never
serve an old answer; old generations simply age out.  Cached values are shared
between sessions: callers must treat them as read-only (pandas frames are
copied on the way out).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import pandas as pd

__all__ = ["QueryCache", "query_cache"]

T = TypeVar("T")


class QueryCache:
    """Least-recently-used results; ``hits``/``misses`` for tests and the benchmark."""

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.enabled = True

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        if self.enabled:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    cached: T = self._entries[key]
                    return _copy(cached)
                self.misses += 1
        value = compute()
        if self.enabled:
            with self._lock:
                self._entries[key] = value
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return _copy(value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)


def _copy(value: T) -> T:
    if isinstance(value, pd.DataFrame):
        copied: T = value.copy()
        return copied
    return value


query_cache = QueryCache()
