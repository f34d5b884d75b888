"""One way to say what a pydantic `ValidationError` found, short and without echoing the input.

Used wherever bad input is reported: intake's rejections, HMA records, the CLI (through intake), the
demo's scenario files.
"""

from __future__ import annotations

from typing import NamedTuple

from pydantic import ValidationError

ERRORS_SHOWN = 3
MESSAGE_MAX = 400


class ErrorLine(NamedTuple):
    location: str  # dotted path into the input (`detail.InstanceId`), prefixed as the caller asked
    message: str


def first_errors(
    exc: ValidationError, shown: int = ERRORS_SHOWN, *, prefix: str = "", top_level: str | None = None
) -> tuple[list[ErrorLine], int]:
    """The first `shown` errors and how many more there are. An error about the whole input has no
    location: it is called `top_level` (default: the model's name)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    whole = exc.title if top_level is None else top_level
    lines = [
        ErrorLine(f"{prefix}{'.'.join(str(p) for p in e['loc']) or whole}", e["msg"]) for e in errors[:shown]
    ]
    return lines, max(len(errors) - shown, 0)


def summarise(
    exc: ValidationError,
    shown: int = ERRORS_SHOWN,
    *,
    prefix: str = "",
    top_level: str | None = None,
    limit: int = MESSAGE_MAX,
) -> str:
    """One line: `location: message; ...; (+N more)`, clipped to `limit` characters."""
    lines, hidden = first_errors(exc, shown, prefix=prefix, top_level=top_level)
    parts = [f"{line.location}: {line.message}" for line in lines]
    if hidden:
        parts.append(f"(+{hidden} more)")
    message = "; ".join(parts)
    return message if len(message) <= limit else message[: limit - 1] + "…"
