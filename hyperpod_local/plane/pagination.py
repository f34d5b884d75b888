"""Sorting and NextToken handling for ListClusterNodes.

The token is opaque to callers (base64 of the sort key of the last node returned), so a page
boundary survives nodes being added or removed between pages; a node whose sort key changes in
between (a replacement gives it a new launch time) may be seen twice or missed, as with any
key-based pagination.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence

from hyperpod_local.plane.errors import ValidationException
from hyperpod_local.plane.model import LocalNode

MAX_RESULTS = 100

SortKey = Callable[[LocalNode], list[str]]


def creation_key(node: LocalNode) -> list[str]:
    """SortBy=CREATION_TIME (the default): launch time, then creation order."""
    return [node.launch_time.isoformat(), f"{node.sequence:012d}"]


def name_key(node: LocalNode) -> list[str]:
    """SortBy=NAME: instance group name, then instance id (simplified: AWS does not say which name)."""
    return [node.instance_group_name, node.instance_id or "", node.logical_id]


def page(
    nodes: Sequence[LocalNode], *, key: SortKey, descending: bool, limit: int, token: str | None
) -> tuple[list[LocalNode], str | None]:
    """One page of ``nodes`` after ``token``, and the token of the next page (None when last)."""
    ordered = sorted(nodes, key=key, reverse=descending)
    if token:
        after = _decode(token)
        ordered = [n for n in ordered if (key(n) < after if descending else key(n) > after)]
    selected = ordered[:limit]
    next_token = _encode(key(selected[-1])) if len(ordered) > limit else None
    return selected, next_token


def _encode(key: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode(token: str) -> list[str]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error) as error:
        raise ValidationException("Invalid pagination token.") from error
    if not isinstance(key, list) or not all(isinstance(part, str) for part in key):
        raise ValidationException("Invalid pagination token.")
    return key
