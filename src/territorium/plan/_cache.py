"""A small thread-safe least-recently-used map, for values that never change under their key
(a plan's content at one version): the server's request threads share it."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Hashable


class LRU:
    """At most ``size`` entries; the least recently used goes first.

    >>> c = LRU(2)
    >>> c.put("a", 1); c.put("b", 2); c.get("a"); c.put("c", 3)
    1
    >>> c.get("b") is None, c.get("a"), c.get("c")
    (True, 1, 3)
    """

    def __init__(self, size: int):
        self.size = int(size)
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)


_GUARD = threading.Lock()


def attached(owner: Any, name: str, size: int) -> LRU:
    """The LRU kept as attribute ``name`` of ``owner`` (an engine, an app's state), made on
    first use: one cache per database handle, so two databases never share entries."""
    c = getattr(owner, name, None)
    if c is None:
        with _GUARD:
            c = getattr(owner, name, None)
            if c is None:
                c = LRU(size)
                setattr(owner, name, c)
    return c
