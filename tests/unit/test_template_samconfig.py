"""samconfig.toml deploys template.yaml: every environment's overrides name real, valid parameters."""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

import pytest

from hyperpod_local.stack.template import REPO_ROOT, TEMPLATE_PATH, load_template

SAMCONFIG = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
PARAMETERS: dict[str, Any] = load_template(TEMPLATE_PATH)["Parameters"]
ENVIRONMENTS = ("default", "dev", "prod")


def overrides(environment: str) -> dict[str, str]:
    raw = SAMCONFIG[environment]["deploy"]["parameters"].get("parameter_overrides", "")
    pairs = raw if isinstance(raw, list) else shlex.split(raw)
    return dict(pair.split("=", 1) for pair in pairs)


def test_samconfig_version_and_environments() -> None:
    assert SAMCONFIG["version"] == 0.1
    assert set(ENVIRONMENTS) <= set(SAMCONFIG)
    stack_names = {SAMCONFIG[env]["global"]["parameters"]["stack_name"] for env in ENVIRONMENTS}
    assert len(stack_names) == len(ENVIRONMENTS), "environments must not share a stack"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_deploys_with_iam_capability_and_managed_bucket(environment: str) -> None:
    deploy = SAMCONFIG[environment]["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert SAMCONFIG[environment]["global"]["parameters"]["region"] == "us-east-1"
    build = SAMCONFIG[environment]["build"]["parameters"]
    assert build["cached"] is True
    assert build["parallel"] is True


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overrides_are_valid_template_parameters(environment: str) -> None:
    values = overrides(environment)
    assert values["Stage"] == environment
    for name, value in values.items():
        assert name in PARAMETERS, f"{environment}: unknown parameter {name}"
        spec = PARAMETERS[name]
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], f"{environment}: {name}={value}"
        if "MinValue" in spec:
            assert spec["MinValue"] <= float(value) <= spec["MaxValue"], f"{environment}: {name}={value}"
        if "AllowedPattern" in spec:  # a CommaDelimitedList's pattern applies to each of its values
            is_list = spec["Type"] == "CommaDelimitedList"
            for item in [v.strip() for v in value.split(",")] if is_list else [value]:
                assert re.fullmatch(spec["AllowedPattern"], item), f"{environment}: {name}={value}"


def test_every_template_parameter_default_passes_its_own_pattern() -> None:
    """What an environment that sets nothing deploys (the HMA parameters default to empty, say)."""
    for name, spec in PARAMETERS.items():
        if "AllowedPattern" in spec:  # a CommaDelimitedList's pattern applies to each of its values
            default = str(spec["Default"])
            is_list = spec["Type"] == "CommaDelimitedList"
            for item in [v.strip() for v in default.split(",")] if is_list else [default]:
                assert re.fullmatch(spec["AllowedPattern"], item), name


def test_the_hma_trigger_is_off_unless_an_environment_names_its_log_groups() -> None:
    """HmaLogGroupNames / HmaAlarmLogGroupName name one account's clusters: no environment here sets
    them, so nothing subscribes by default (docs/hma.md shows the override)."""
    for environment in ENVIRONMENTS:
        values = overrides(environment)
        assert not {"HmaLogGroupNames", "HmaAlarmLogGroupName"} & set(values), environment
