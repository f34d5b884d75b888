"""Read a JSON file (or `-` for standard input), with one readable error for each way it can fail.

The CLI's event files (`replay`, `plan`) and the demo's scenario files both read through it, so an
operator sees the same message for the same mistake: `PATH: cannot read: REASON`, `PATH: not UTF-8
text`, `PATH: invalid JSON at line L, column C: WHAT`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

STDIN = "-"


class JsonFileError(ValueError):
    """The file could not be read, or is not JSON; the message names the file and what is wrong."""


def read_json(path: str | Path) -> Any:
    where = str(path)
    try:
        text = sys.stdin.read() if where == STDIN else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise JsonFileError(f"{where}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise JsonFileError(f"{where}: not UTF-8 text") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonFileError(
            f"{where}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
