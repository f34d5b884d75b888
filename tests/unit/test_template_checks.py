"""The template's security-scan decisions, and the logic of the tools `make lint` / `make sam-build` run.

checkov itself runs in `make template-lint` (its own venv); here: every suppression explains itself, the
concurrency caps that answer CKV_AWS_115 are in place, and the tools' own logic works without checkov
or SAM installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_local.stack.template import (
    RECONCILE_FUNCTION,
    REMEDIATE_FUNCTION,
    TEMPLATE_PATH,
    load_template,
    template_properties,
)
from tools.checkov_template import MIN_REASON, checkov_safe, suppressions
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


def test_reconcile_reserves_a_small_concurrency() -> None:
    """Idempotent rounds, two at a time: a storm of Cluster Events must not crowd SageMaker's rate limit."""
    assert template_properties(T, RECONCILE_FUNCTION)["ReservedConcurrentExecutions"] == 2


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
