"""The README's operator IAM policies for approvals parse, name real API operations, confine the
ledger actions to the approval partition, and grant what `autoheal approvals` / `approve` / `deny` call."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import botocore.session
import pytest

from autoheal.adapters import approvals
from autoheal.adapters.approvals import APPROVAL_PK
from autoheal.adapters.queue import IAM_ACTIONS as QUEUE_ACTIONS
from hyperpod_local.stack.template import REPO_ROOT

SECTION = "## Approvals (off by default)"


def policies() -> list[dict[str, Any]]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]


@cache
def operations(service: str) -> frozenset[str]:
    session = botocore.session.get_session()
    return frozenset(session.get_service_model(service).operation_names)


def actions(policy: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for statement in policy["Statement"]:
        listed = statement["Action"]
        out.update([listed] if isinstance(listed, str) else listed)
    return out


def test_there_is_a_reader_and_an_approver_policy() -> None:
    reader, approver = policies()
    assert "dynamodb:UpdateItem" not in actions(reader)
    assert "dynamodb:UpdateItem" in actions(approver)
    assert "sqs:SendMessage" in actions(approver) - actions(reader)


@pytest.mark.parametrize("index", [0, 1])
def test_every_action_is_a_real_api_operation(index: int) -> None:
    policy = policies()[index]
    assert policy["Version"] == "2012-10-17"
    for action in actions(policy):
        prefix, operation = action.split(":")
        assert operation in operations(prefix), action  # the IAM prefix is botocore's service name here


@pytest.mark.parametrize("index", [0, 1])
def test_the_ledger_actions_are_confined_to_the_approval_partition(index: int) -> None:
    for statement in policies()[index]["Statement"]:
        listed = statement["Action"]
        if any(a.startswith("dynamodb:") for a in ([listed] if isinstance(listed, str) else listed)):
            keys = statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
            assert keys == [APPROVAL_PK]


def test_the_policies_grant_what_the_commands_call() -> None:
    reader, approver = policies()
    declared = approvals.IAM_ACTIONS
    assert declared["LedgerApprovals.all"] <= actions(reader)
    wanted = (
        declared["LedgerApprovals.all"]
        | declared["LedgerApprovals.decide"]
        | QUEUE_ACTIONS["FaultQueue.send"]
    )
    assert wanted <= actions(approver)
