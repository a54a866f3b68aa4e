"""Keys/values of conversations already seen, so a new turn only pre-fills new tokens.

An entry belongs to one conversation id and one drift control (the cached keys/values
depend on the control: split-softmax changes every layer's output). A request takes
its entry out (so no two requests share a cache object), reuses the longest common
token prefix, and puts the grown cache back. Least recently used entries go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass
class PrefixEntry:
    """A DynamicCache holding the keys/values of exactly `ids`."""

    control_key: tuple[Any, ...]
    ids: list[int]
    cache: Any  # transformers.DynamicCache


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def crop_cache(cache: Any, length: int) -> None:
    """Keep the first `length` positions of a DynamicCache."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


class PrefixCache:
    """LRU of PrefixEntry over conversation ids."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, PrefixEntry] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, conversation_id: str, control_key: tuple[Any, ...]) -> PrefixEntry | None:
        """Remove and return the entry if it was built with the same control."""
        with self._lock:
            entry = self._entries.pop(conversation_id, None)
        if entry is None or entry.control_key != control_key:
            return None
        return entry

    def put(self, conversation_id: str, entry: PrefixEntry) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._entries[conversation_id] = entry
            self._entries.move_to_end(conversation_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
