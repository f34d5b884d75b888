"""``python -m hyperpod_local.demo`` (``make demo`` sets PYTHONPATH so the layer's package is found)."""

from __future__ import annotations

import importlib.util
import sys


def _run() -> int:
    if importlib.util.find_spec("autoheal") is None:
        print(
            "error: the autoheal package is not importable; run `make demo`, "
            "or set PYTHONPATH=layers/autoheal from the repository root",
            file=sys.stderr,
        )
        return 2
    from hyperpod_local.demo.cli import main

    return main()


if __name__ == "__main__":
    raise SystemExit(_run())
