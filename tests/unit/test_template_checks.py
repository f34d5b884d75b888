"""The template's security-scan decisions, and the logic of the tools `make lint` / `make sam-build` run.

checkov itself runs in `make template-lint` (its own venv); here: every suppression explains itself, the
concurrency settings that answer CKV_AWS_115 are in place (no reserved concurrency by default: issue 16),
and the tools' own logic works without checkov or SAM installed.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from hyperpod_local.stack.intrinsics import NO_VALUE, Resolver
from hyperpod_local.stack.template import (
    RECONCILE_FUNCTION,
    REMEDIATE_FUNCTION,
    TEMPLATE_PATH,
    load_template,
    template_properties,
)
from tools.checkov_template import MIN_REASON, checkov_safe, suppressions
from tools.lint_template import transform
from tools.sam_build import check_build

T = load_template(TEMPLATE_PATH)


# ---------------------------------------------------------------- checkov suppressions


def test_every_checkov_suppression_in_the_template_gives_its_reason() -> None:
    found, problems = suppressions(T)
    assert problems == []
    assert found, "no suppressions: drop this test or the skip parsing is broken"
    for s in found:
        assert s.resource in T["Resources"]
        assert len(s.reason) >= MIN_REASON


@pytest.mark.parametrize(
    ("skip", "problem"),
    [
        ({"id": "CKV_AWS_115"}, "without a reason"),
        ({"id": "CKV_AWS_115", "comment": "false positive"}, "without a reason"),
        ("CKV_AWS_115", "without a reason"),
        ({"id": "BC_AWS_GENERAL_64", "comment": "x" * MIN_REASON}, "not a checkov AWS check id"),
    ],
)
def test_a_suppression_without_a_reason_or_a_check_id_is_refused(skip: Any, problem: str) -> None:
    template = {
        "Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Metadata": {"checkov": {"skip": [skip]}}}}
    }
    found, problems = suppressions(template)
    assert found == []
    assert len(problems) == 1 and problem in problems[0] and problems[0].startswith("Fn:")


def test_numbers_in_select_lists_become_strings_for_checkov_only() -> None:
    node = {
        "Period": {"Fn::Select": [{"Ref": "N"}, [0, 180, 360, True, "x"]]},
        "Other": [1, 2.5, {"Fn::Select": ["1", {"Fn::Split": [",", "a,b"]}]}],
    }
    assert checkov_safe(node) == {
        "Period": {"Fn::Select": [{"Ref": "N"}, ["0", "180", "360", True, "x"]]},
        "Other": [1, 2.5, {"Fn::Select": ["1", {"Fn::Split": [",", "a,b"]}]}],
    }


# ---------------------------------------------------------------- concurrency (CKV_AWS_115)


@cache
def _transformed() -> dict[str, Any]:
    return transform(T)


def _reserved(logical_id: str, **parameters: str) -> Any:
    """ReservedConcurrentExecutions of a function in the transformed template, as CloudFormation would
    deploy it with `parameters` (None: the property is not there)."""
    resources = _transformed()["Resources"]
    assert resources[logical_id]["Type"] == "AWS::Lambda::Function"
    value = resources[logical_id]["Properties"].get("ReservedConcurrentExecutions", NO_VALUE)
    resolved = Resolver(_transformed(), parameters=parameters).resolve(value)
    return None if resolved is NO_VALUE else resolved


def test_no_function_reserves_concurrency_by_default() -> None:
    """Issue 16: a reservation fails stack creation in an account whose unreserved concurrency would drop
    below 100 (new and sandbox accounts have quotas of 10 or 50), so the template reserves none unless a
    parameter asks. The other functions are bounded elsewhere: remediate by its event source's
    MaximumConcurrency (below), intake by the fault queue it only writes to."""
    functions = [
        lid for lid, r in _transformed()["Resources"].items() if r["Type"] == "AWS::Lambda::Function"
    ]
    assert set(functions) >= {RECONCILE_FUNCTION, REMEDIATE_FUNCTION, "IntakeFunction"}
    assert {lid: _reserved(lid) for lid in functions} == dict.fromkeys(functions)
    assert T["Parameters"]["ReconcileReservedConcurrency"]["Default"] == 0


@pytest.mark.parametrize(("value", "reserved"), [("0", None), ("2", "2"), ("10", "10")])
def test_reconcile_reserved_concurrency_is_its_parameter(value: str, reserved: str | None) -> None:
    """0 is no reservation (not Lambda's 0, which would stop the function); any other value is reserved."""
    assert _reserved(RECONCILE_FUNCTION, ReconcileReservedConcurrency=value) == reserved
    spec = T["Parameters"]["ReconcileReservedConcurrency"]
    assert (spec["Type"], spec["MinValue"]) == ("Number", 0)


def test_remediate_is_capped_on_its_event_source_not_by_reserved_concurrency() -> None:
    """Reserved concurrency would throttle the SQS poller (throttled batches count toward maxReceiveCount);
    the event source mapping's MaximumConcurrency caps it without throttling."""
    remediate = template_properties(T, REMEDIATE_FUNCTION)
    assert "ReservedConcurrentExecutions" not in remediate
    (sqs,) = (e["Properties"] for e in remediate["Events"].values() if e["Type"] == "SQS")
    assert sqs["ScalingConfig"] == {"MaximumConcurrency": 2}  # the minimum Lambda accepts


# ---------------------------------------------------------------- the sam build check


def _built(tmp_path: Path, *, so: str = "_pydantic_core.cpython-313-aarch64-linux-gnu.so") -> Path:
    build = tmp_path / "build"
    resources: dict[str, Any] = {}
    for lid, resource in T["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            (build / lid).mkdir(parents=True)
            (build / lid / "app.py").write_text("")
            resources[lid] = {"Type": resource["Type"], "Properties": {"CodeUri": lid}}
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            (build / lid / "python" / "autoheal").mkdir(parents=True)
            (build / lid / "python" / "autoheal" / "__init__.py").write_text("")
            (build / lid / "python" / "pydantic_core").mkdir()
            (build / lid / "python" / "pydantic_core" / so).write_text("")
            resources[lid] = {"Type": resource["Type"], "Properties": {"ContentUri": lid}}
    (build / "template.yaml").write_text(json.dumps({"Resources": resources}))
    return build


def test_a_complete_build_passes_the_check(tmp_path: Path) -> None:
    assert check_build(T, _built(tmp_path)) == []


def test_a_build_for_the_wrong_architecture_or_without_a_handler_fails_the_check(tmp_path: Path) -> None:
    build = _built(tmp_path, so="_pydantic_core.cpython-313-x86_64-linux-gnu.so")
    (build / "IntakeFunction" / "app.py").unlink()
    problems = check_build(T, build)
    assert any("IntakeFunction: no app.py" in p for p in problems)
    assert any("AutohealLayer: pydantic_core is not built for cp313 on aarch64" in p for p in problems)
