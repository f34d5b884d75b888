"""Cold start: each handler module's import time ÷ bare `import boto3`, each in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.ratios import median, ratio

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "autoheal"
HANDLERS = ("intake", "remediate", "reconcile")
#: What the template's Globals give every function (Tracing: Active leaves the tracer enabled).
ENV = {
    "POWERTOOLS_SERVICE_NAME": "hyperpod-autoheal",
    "POWERTOOLS_METRICS_NAMESPACE": "HyperPodAutoheal",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "autoheal-bench",
}

_TIMED = """
import sys, time
sys.path.insert(0, {layer!r})
t0 = time.perf_counter()
{body}
print(time.perf_counter() - t0)
"""
_HANDLER = """
import importlib.util
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
"""


def _script(target: str) -> str:
    body = (
        "import boto3"
        if target == "boto3"
        else _HANDLER.format(path=str(ROOT / "functions" / target / "app.py"))
    )
    return _TIMED.format(layer=str(LAYER), body=body)


def _env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOHEAL_", "POWERTOOLS_", "PYTHON"))}
    return {**keep, **ENV}


def _once(target: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", _script(target)],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
        env=_env(),
    )


def top_imports(target: str, limit: int = 8) -> list[dict[str, Any]]:
    """Where one fresh import spends its time (`-X importtime`): self time summed per top-level
    package (botocore, pydantic, aws_lambda_powertools, ...), costliest first."""
    err = _once(target, "-X", "importtime").stderr
    per_package: dict[str, int] = {}
    for line in err.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        self_us, _, name = line[len("import time:") :].split("|")
        if not self_us.strip().isdigit():  # the header line
            continue
        root = name.strip().split(".")[0]
        per_package[root] = per_package.get(root, 0) + int(self_us)
    ranked = sorted(per_package.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    return [{"package": name, "self_ms": us / 1000} for name, us in ranked]


def measure(repeats: int = 7) -> dict[str, Any]:
    targets = ("boto3", *HANDLERS)
    for t in targets:  # warm the bytecode caches and the page cache once, untimed
        _once(t)
    samples: dict[str, list[float]] = {t: [] for t in targets}
    for _ in range(repeats):  # interleaved, so drift hits every target alike
        for t in targets:
            samples[t].append(float(_once(t).stdout.strip().splitlines()[-1]))
    base = median(samples["boto3"])
    out: dict[str, Any] = {
        "repeats": repeats,
        "boto3_ms": base * 1000,
        "handlers": {},
    }
    for h in HANDLERS:
        m = median(samples[h])
        out["handlers"][h] = {"import_ms": m * 1000, "ratio": ratio(m, base), "top_imports": top_imports(h)}
    return out
