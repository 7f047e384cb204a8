"""The app's one least-recently-used cache, bounded by the bytes its values take (thumbnails,
results, decoded pictures, upsampled maps) and / or by how many it holds (shown pictures)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

V = TypeVar("V")


class ByteBoundedCache(Generic[V]):
    """Values evicted least recently used first while they take more than max_bytes (as
    size_of counts them) or number more than max_items; the newest is always kept."""

    def __init__(self, max_bytes: int | None = None, size_of: Callable[[V], int] | None = None, *,
                 max_items: int | None = None) -> None:
        if max_bytes is not None and size_of is None:
            raise ValueError("a cache bounded by bytes needs size_of")
        self.max_bytes = max_bytes
        self.max_items = max_items
        self.bytes = 0
        self._size_of = size_of or (lambda value: 0)
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> None:
        if key in self._items:
            self.bytes -= self._size_of(self._items.pop(key))
        self._items[key] = value
        self.bytes += self._size_of(value)
        while self._over() and len(self._items) > 1:
            self.bytes -= self._size_of(self._items.popitem(last=False)[1])

    def _over(self) -> bool:
        return ((self.max_bytes is not None and self.bytes > self.max_bytes)
                or (self.max_items is not None and len(self._items) > self.max_items))

    def drop(self, which: Callable[[Hashable], bool]) -> None:
        """Forget every entry whose key `which` picks."""
        for key in [k for k in self._items if which(k)]:
            self.bytes -= self._size_of(self._items.pop(key))

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items
