"""Cold start: what each handler imports before its first event (structural, never timed).

`bench/coldstart.py` times it; these tests keep the modules a handler does not need at import out of its
import, each handler loaded as Lambda loads it (`functions/<fn>/app.py`, a fresh interpreter, the
template's Powertools environment with the tracer enabled).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.coldstart import ENV

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "autoheal"

_LOADED = """
import importlib.util, json, sys
sys.path.insert(0, {layer!r})
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
{then}
print(json.dumps(sorted(sys.modules)))
"""

#: Never at import: each is loaded by the first event that needs it.
DEFERRED = {
    "intake": (
        "aws_lambda_powertools.utilities.parser",  # every Powertools parser model it ships
        "autoheal.intake.models",
        "autoheal.intake.alarm_models",
        "autoheal.intake.hma_records",
        "autoheal.intake.rules.alarm",
        "autoheal.intake.rules.health",
        "autoheal.intake.rules.hma_logs",
        "autoheal.intake.rules.hyperpod",
        # the remediation policy and node state: remediate's and reconcile's, never intake's
        "autoheal.policy",
        "autoheal.core",
    ),
    # notices are rendered (and the chat models built) when the first one is sent
    "remediate": (
        "autoheal.alerts.render",
        "autoheal.alerts.kinds",
        "autoheal.alerts.chat",
        "autoheal.intake",
    ),
    "reconcile": (
        "autoheal.alerts.render",
        "autoheal.alerts.kinds",
        "autoheal.alerts.chat",
        "autoheal.intake",
    ),
}


def loaded_modules(handler: str, then: str = "") -> set[str]:
    """The modules in `sys.modules` after importing one handler (then running `then`), in a fresh
    interpreter with the template's Powertools environment."""
    script = _LOADED.format(layer=str(LAYER), path=str(ROOT / "functions" / handler / "app.py"), then=then)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **ENV},
    )
    names: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return set(names)


def _loaded(names: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(f"{p}.") for p in prefixes))


@pytest.mark.parametrize("handler", sorted(DEFERRED))
def test_a_handler_import_loads_none_of_its_deferred_modules(handler: str) -> None:
    assert _loaded(loaded_modules(handler), DEFERRED[handler]) == []


def test_intake_loads_only_what_the_first_event_needs() -> None:
    """A Node Health Event loads the HyperPod models and rule, not the alarm, Health or HMA ones."""
    then = (
        "from autoheal.intake import normalise, RuleConfig\n"
        "from autoheal.intake.rules.config import AlarmRuleConfig, HmaRuleConfig\n"
        f"event = json.load(open({str(ROOT / 'events' / 'node-health-unhealthy.json')!r}))\n"
        "config = RuleConfig(AlarmRuleConfig('InstanceId', 'ClusterName'), HmaRuleConfig(frozenset()))\n"
        "assert normalise(event, config).faults\n"
    )
    names = loaded_modules("intake", then)
    assert {"autoheal.intake.models", "autoheal.intake.rules.hyperpod"} <= names
    others = ("autoheal.intake.alarm_models", "autoheal.intake.hma_records", "autoheal.intake.rules.health")
    assert _loaded(names, others) == []
