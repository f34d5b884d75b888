"""Split ids into API-sized requests. botocore does not enforce the maxima: this module does."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

#: BatchRebootClusterNodes / BatchReplaceClusterNodes: 1-25 NodeIds and 1-25 NodeLogicalIds per call.
#: We never put more than 25 nodes in one request, whatever mix of id kinds.
MAX_NODES_PER_REBOOT_OR_REPLACE = 25
#: BatchDeleteClusterNodes: at most 50 NodeLogicalIds, at most 50 nodes combined (the doc's figure;
#: the model allows 99 NodeIds but asks for Support beyond that).
MAX_NODES_PER_DELETE = 50
#: BatchAddClusterNodes: at most 5 instance groups and 50 nodes in one call, 1-50 per group.
MAX_GROUPS_PER_ADD = 5
MAX_NODES_PER_ADD = 50


def chunked(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Consecutive slices of at most `size` items; nothing for an empty sequence."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def unique_in_order(items: Sequence[T]) -> list[T]:
    """The items without repeats, first occurrence wins (a node is never named twice in a call)."""
    seen: set[T] = set()
    out: list[T] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
