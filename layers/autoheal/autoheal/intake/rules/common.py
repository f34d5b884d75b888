"""Small text helpers the rules share."""

from __future__ import annotations

import re

SIGNAL_MAX = 128
REASON_MAX = 2048
MATCH_WINDOW = 4096  # prose is matched on its head only: bounded work whatever the event holds

# HMA prose: "... has detected fault type NvidiaErrorTerminate on this node and is unhealthy."
_FAULT_TYPE_RE = re.compile(r"\bfault\s+type\s+([A-Za-z][A-Za-z0-9_.:\-]*)", re.IGNORECASE)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fault_type(prose: str) -> str | None:
    """The fault type HMA embeds in its HealthStatusReason, if any."""
    match = _FAULT_TYPE_RE.search(prose[:MATCH_WINDOW])
    return clip(match.group(1), SIGNAL_MAX) if match else None


def reason_text(*parts: str | None) -> str:
    """Human text for a fault: the non-empty parts, joined, clipped to what NodeFault accepts."""
    return clip(" | ".join(p.strip() for p in parts if p and p.strip()), REASON_MAX)
