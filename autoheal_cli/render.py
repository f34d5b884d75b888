"""Output: aligned text tables for people, one JSON document for machines."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

EMPTY = "-"


@dataclass
class Output:
    """What a command produced: `data` for --json, `lines` for people, and the exit code."""

    data: dict[str, Any]
    lines: list[str] = field(default_factory=list)
    code: int = 0

    def render(self, as_json: bool) -> str:
        return to_json(self.data) if as_json else "\n".join(self.lines)


def to_json(data: Any) -> str:
    return json.dumps(jsonable(data), indent=2, sort_keys=False)


def jsonable(value: Any) -> Any:
    """Plain JSON types: datetimes as ISO 8601 UTC, enums by value, tuples as lists."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def cell(value: Any) -> str:
    """A table cell: times to the second in UTC, missing values as '-'."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Left-aligned columns separated by two spaces; the header in capitals."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = [_line([h.upper() for h in headers], widths)]
    lines.extend(_line(r, widths) for r in cells)
    return lines


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()


def ago(then: datetime | None, now: datetime) -> str:
    """A short age such as '4m', '3h12m', '2d5h'."""
    if then is None:
        return EMPTY
    seconds = max(0, int((now - then).total_seconds()))
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m" if minutes else f"{seconds}s"
