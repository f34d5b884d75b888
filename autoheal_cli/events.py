"""Reading EventBridge events from a file (or `-` for stdin): one event object, or a JSON list of them."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime
from typing import Any

from autoheal_cli.errors import CliError

STDIN = "-"


def load_events(path: str) -> list[Any]:
    """The events in the file. Items are not checked here: intake's `normalise` judges each one."""
    try:
        if path == STDIN:
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if isinstance(loaded, dict):
        return [loaded]
    if isinstance(loaded, list) and loaded:
        return loaded
    raise CliError(f"{path} must hold an event (a JSON object) or a non-empty JSON list of events")


def refreshed(event: Any, now: datetime) -> Any:
    """The event with a new id and `time` (so remediate sees a new fault, not a duplicate or an old one)."""
    if not isinstance(event, dict):
        return event
    return {**event, "id": str(uuid.uuid4()), "time": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
