"""A bounded, thread-safe LRU cache of question vectors, one per loaded scorer.

A scorer's vector for a question is a pure function of the question (the Doc2Vec kind seeds its
inference from the words, the embedding kind has no randomness), and FAQ traffic repeats
itself: a repeated question costs a dictionary lookup instead of 80 inference epochs or an
encoder pass. ``size`` entries at most (0: no caching); the vectors are read-only.

Usage in a scorer: ``self.cache = QueryCache()`` then
``v = self.cache.get(key, lambda: compute(...))``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator

import numpy as np

SIZE = 1024  # vectors kept per scorer and worker (100-384 float32 each: under 2 MB)


class QueryCache:
    def __init__(self, size: int = SIZE):
        self.size = size
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], np.ndarray | None]) -> np.ndarray | None:
        """The cached vector of ``key``, else ``compute()`` (cached unless None)."""
        with self._lock:
            v = self._items.get(key)
            if v is not None:
                self._items.move_to_end(key)
                return v
        v = compute()
        if v is not None and self.size > 0:
            v.flags.writeable = False
            with self._lock:
                self._items[key] = v
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return v

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)
