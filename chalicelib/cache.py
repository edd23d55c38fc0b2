"""The one in-process cache: a bounded map whose entries expire.

ARCHITECTURE.md allows rarely-changing data (phase definitions, switches,
shop profiles) to be cached for a few seconds in a container; what never
changes once written (a citizen's wallet id) may be kept for the life of the
container. Every such cache is a ``TtlCache`` owned by the container's
runtime (``chalicelib.config.runtime().cache(...)``), so that rebuilding the
runtime empties them all.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TtlCache"]

V = TypeVar("V")


class TtlCache(Generic[V]):
    """Entries live ``ttl_s`` seconds after they were put (``None``: for the
    life of the cache). At ``entries_max`` the cache empties before the next
    put: entries are cheap to read again, and a full cache in one container
    means a scan of ids, not a working set worth keeping."""

    def __init__(self, ttl_s: float | None, entries_max: int, clock: Callable[[], float] | None = None) -> None:
        if entries_max < 1:
            raise ValueError(f"entries_max must be >= 1, got {entries_max}")
        if ttl_s is not None and ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0 or None, got {ttl_s}")
        self.ttl_s = ttl_s
        self.entries_max = entries_max
        # Looked up at each call (not bound at import), so that a test can move time.monotonic.
        self._clock = clock or (lambda: time.monotonic())
        self._items: dict[str, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        found = self._items.get(key)
        if found is None or (self.ttl_s is not None and found[0] <= self._clock()):
            return None
        return found[1]

    def put(self, key: str, value: V) -> None:
        expires = self._clock() + self.ttl_s if self.ttl_s is not None else 0.0
        with self._lock:
            if key not in self._items and len(self._items) >= self.entries_max:
                self._items.clear()
            self._items[key] = (expires, value)

    def discard(self, key: str) -> None:
        """Forget ``key`` (this container wrote a change to it: read it again)."""
        with self._lock:
            self._items.pop(key, None)

    def get_or_load(self, key: str, load: Callable[[], V | None]) -> V | None:
        """The cached value, or ``load()``'s, kept only when it is not None
        (what does not exist yet must be found as soon as it is written)."""
        found = self.get(key)
        if found is not None:
            return found
        loaded = load()
        if loaded is not None:
            self.put(key, loaded)
        return loaded

    def __len__(self) -> int:
        return len(self._items)
