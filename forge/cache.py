"""Bounded in-process caches for things that never change once computed.

Everything cached here is keyed by object ids (a commit, tree or blob sha, together with the
repository's path on disk), so an entry can never go stale: a new push makes new ids and the
old entries simply age out. Each cache has a weight budget, so memory stays bounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

_MISSING = object()


class LRU:
    """A thread-safe least-recently-used map whose entries weigh `weigh(value)` each."""

    def __init__(self, max_weight: int, weigh: Callable[[Any], int] | None = None):
        self.max_weight = max_weight
        self.weigh = weigh or (lambda value: 1)
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self._pending: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            item = self._items.get(key, _MISSING)
            if item is _MISSING:
                return default
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: Any) -> Any:
        weight = max(1, self.weigh(value))
        if weight > self.max_weight:
            return value  # too big to keep; the caller still gets it
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            self._items[key] = (value, weight)
            self._weight += weight
            while self._weight > self.max_weight:
                _key, (_value, dropped) = self._items.popitem(last=False)
                self._weight -= dropped
        return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value, or compute and keep it. Threads asking for the same missing key
        wait for the one computing it rather than all doing the same work at once."""
        value = self.get(key, _MISSING)
        if value is not _MISSING:
            return value
        with self._lock:
            pending = self._pending.setdefault(key, threading.Lock())
        try:
            with pending:
                value = self.get(key, _MISSING)
                if value is _MISSING:
                    value = self.put(key, compute())
                return value
        finally:
            with self._lock:
                if self._pending.get(key) is pending:
                    del self._pending[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0

    def __len__(self) -> int:
        return len(self._items)
