"""The template's security-scan decisions, and the logic of the tools `make lint` / `make sam-build` run.

checkov itself runs in `make template-lint` (its own venv); here: every suppression explains itself, the
concurrency settings that answer CKV_AWS_115 are in place (no reserved concurrency by default: issue 16),
and the tools' own logic works without checkov or SAM installed.
"""

from __future__ import annotations

import gzip
import json
import re
import stat
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest

from hyperpod_local.stack.intrinsics import NO_VALUE, Resolver
from hyperpod_local.stack.template import (
    RECONCILE_FUNCTION,
    REMEDIATE_FUNCTION,
    REPO_ROOT,
    TEMPLATE_PATH,
    load_template,
    template_properties,
)
from tools import sam_build
from tools.checkov_template import MIN_REASON, checkov_safe, suppressions
from tools.lint_template import transform
from tools.sam_build import SAGEMAKER_API, SAGEMAKER_MODEL_DIR, BuildError, check_build, missing_sagemaker_api

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


def _sagemaker_model(api: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """A botocore service model with just these operations and request members."""
    return {
        "operations": {name: {"input": {"shape": f"{name}Request"}} for name in api},
        "shapes": {
            f"{name}Request": {"members": {m: {"shape": "String"} for m in members}}
            for name, members in api.items()
        },
    }


def _write_model(site: Path, api: Mapping[str, Sequence[str]] | None, *, gzipped: bool = True) -> None:
    if api is None:
        return
    model_dir = site / SAGEMAKER_MODEL_DIR
    model_dir.mkdir(parents=True)
    text = json.dumps(_sagemaker_model(api))
    if gzipped:
        (model_dir / "service-2.json.gz").write_bytes(gzip.compress(text.encode()))
    else:
        (model_dir / "service-2.json").write_text(text)


def _built(
    tmp_path: Path,
    *,
    so: str = "_pydantic_core.cpython-313-aarch64-linux-gnu.so",
    api: Mapping[str, Sequence[str]] | None = SAGEMAKER_API,
) -> Path:
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
            _write_model(build / lid / "python", api)
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


# ---------------------------------------------------------------- the layer's own botocore


def test_a_layer_without_its_own_botocore_fails_the_check(tmp_path: Path) -> None:
    """The runtime's bundled SDK would be used: the check says so, and where to pin it."""
    (problem,) = check_build(T, _built(tmp_path, api=None))
    assert problem.startswith("AutohealLayer: no botocore SageMaker model")
    assert "pin boto3 and botocore in layers/autoheal/requirements.txt" in problem


def test_a_layer_whose_botocore_predates_the_calls_fails_the_check_naming_each_gap(tmp_path: Path) -> None:
    """botocore 1.41.0's shape: Add and Delete (with NodeLogicalIds) but no Reboot or Replace."""
    older = {
        name: members
        for name, members in SAGEMAKER_API.items()
        if name not in ("BatchRebootClusterNodes", "BatchReplaceClusterNodes")
    }
    older["BatchDeleteClusterNodes"] = ("ClusterName", "NodeIds")  # and 1.40.2's Delete: no logical ids
    problems = check_build(T, _built(tmp_path, api=older))
    assert sorted(p.split(" (pin")[0] for p in problems) == [
        "AutohealLayer: botocore has no SageMaker BatchRebootClusterNodes",
        "AutohealLayer: botocore has no SageMaker BatchReplaceClusterNodes",
        "AutohealLayer: botocore's SageMaker BatchDeleteClusterNodes has no NodeLogicalIds",
    ]


def test_an_uncompressed_service_model_is_read_too(tmp_path: Path) -> None:
    _write_model(tmp_path, SAGEMAKER_API, gzipped=False)
    assert missing_sagemaker_api(tmp_path) == []


def test_the_botocore_the_tests_run_has_every_call_the_service_makes() -> None:
    """The tests' botocore is the layer's pin (requirements-dev.txt takes the layer's requirements)."""
    assert missing_sagemaker_api(Path(botocore.__file__).parents[1]) == []


def _pins(path: Path) -> dict[str, str]:
    found = (
        re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", line.strip())
        for line in path.read_text().splitlines()
    )
    return {m.group(1).lower(): m.group(2) for m in found if m}


def test_the_layer_pins_its_own_boto3_and_botocore_at_the_version_the_tests_run() -> None:
    layer = _pins(REPO_ROOT / "layers" / "autoheal" / "requirements.txt")
    assert layer["boto3"] == boto3.__version__ and layer["botocore"] == botocore.__version__
    dev = _pins(REPO_ROOT / "requirements-dev.txt")
    assert "boto3" not in dev and "botocore" not in dev, "requirements-dev.txt takes the layer's pins"
    assert "-r layers/autoheal/requirements.txt" in (REPO_ROOT / "requirements-dev.txt").read_text()


# ---------------------------------------------------------------- the sam commands make sam-build runs


def _fake_sam(tmp_path: Path, fail: str) -> tuple[Path, Path]:
    """A `sam` that records each call's arguments and fails the subcommand `fail`."""
    calls, sam = tmp_path / "calls.jsonl", tmp_path / "sam"
    sam.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"sys.exit(1 if sys.argv[1] == {fail!r} else 0)\n"
    )
    sam.chmod(sam.stat().st_mode | stat.S_IXUSR)
    return sam, calls


def _calls(calls: Path) -> list[list[str]]:
    return [json.loads(line) for line in calls.read_text().splitlines()]


def test_sam_build_validates_with_lint_first_then_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sam_build, "build_env", lambda: {"PATH": "/usr/bin:/bin"})
    sam, calls = _fake_sam(tmp_path, fail="build")
    with pytest.raises(BuildError, match="sam build failed"):
        sam_build.build(TEMPLATE_PATH, str(sam), tmp_path / "out")
    validate, build = _calls(calls)
    assert validate == ["validate", "--lint", "--template-file", str(TEMPLATE_PATH.resolve())]
    assert build[:3] == ["build", "--template-file", str(TEMPLATE_PATH.resolve())]


def test_a_template_that_fails_the_lint_is_not_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sam_build, "build_env", lambda: {"PATH": "/usr/bin:/bin"})
    sam, calls = _fake_sam(tmp_path, fail="validate")
    with pytest.raises(BuildError, match="sam validate failed"):
        sam_build.build(TEMPLATE_PATH, str(sam), tmp_path / "out")
    assert [c[0] for c in _calls(calls)] == ["validate"]
