"""template.yaml as plain data: its path, the logical ids the local stack and the tests rely on, and readers.

`load_template` reads the SAM template (short-form tags included) into plain dicts;
`template_function_env` and `template_properties` pick a function's environment and a resource's
properties out of it (unresolved: :mod:`hyperpod_local.stack.intrinsics` evaluates them).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

# Logical ids in template.yaml that tests and local stacks rely on.
LEDGER_TABLE = "LedgerTable"
FAULT_QUEUE = "FaultQueue"
FAULT_DLQ = "FaultDLQ"
INTAKE_DLQ = "IntakeDLQ"
NEEDS_HUMAN_TOPIC = "NeedsHumanTopic"
EVIDENCE_BUCKET = "EvidenceBucket"
INTAKE_FUNCTION = "IntakeFunction"
REMEDIATE_FUNCTION = "RemediateFunction"
RECONCILE_FUNCTION = "ReconcileFunction"
#: Intake's code behind the HMA log subscriptions; deployed only with HmaLogGroupNames (its Condition).
HMA_INTAKE_FUNCTION = "HmaIntakeFunction"
FUNCTIONS = (INTAKE_FUNCTION, REMEDIATE_FUNCTION, RECONCILE_FUNCTION, HMA_INTAKE_FUNCTION)

ENV_PREFIX = "AUTOHEAL_"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags (!Ref, !Sub, !GetAtt, ...) into dicts."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain dicts and lists; short-form intrinsics become their long form."""
    with open(path, encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=_CfnLoader)  # a SafeLoader subclass: no arbitrary objects
    if not isinstance(loaded, dict) or "Resources" not in loaded:
        raise ValueError(f"{path} is not a CloudFormation template")
    return loaded


def template_function_env(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    """The environment a function declares: Globals.Function's variables overlaid by its own (unresolved)."""
    resource = template["Resources"][logical_id]
    if resource.get("Type") != "AWS::Serverless::Function":
        raise ValueError(f"{logical_id} is not an AWS::Serverless::Function")
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own_env = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
    return {**globals_env, **own_env}


def template_properties(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][logical_id].get("Properties", {})
    return properties
