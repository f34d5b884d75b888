"""The torture suite's own footing: the stack builds on DynamoDB Local from template.yaml, the ledger's
claim is exclusive there as on moto, and the request checker of the fuzz test is not vacuous."""

from __future__ import annotations

from datetime import UTC, datetime

import botocore.session
import pytest

from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.core.state import NodeState, NodeStatus
from hyperpod_local.stack.template import LEDGER_TABLE, load_template
from hyperpod_local.stack.world import LocalWorld
from tests.torture.test_bad_input import _pattern_violations

pytestmark = pytest.mark.torture


def test_the_stack_builds_from_the_template_on_either_ledger_backend(world: LocalWorld) -> None:
    dynamodb = world.aws.client("dynamodb")
    table = dynamodb.describe_table(TableName=world.stack.table_name)["Table"]
    declared = load_template()["Resources"][LEDGER_TABLE]["Properties"]
    assert table["KeySchema"] == declared["KeySchema"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == [
        i["IndexName"] for i in declared["GlobalSecondaryIndexes"]
    ]
    ttl = dynamodb.describe_time_to_live(TableName=world.stack.table_name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == declared["TimeToLiveSpecification"]["AttributeName"]


def test_a_claim_is_won_once_on_either_ledger_backend(world: LocalWorld) -> None:
    ledger = LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name)
    now = datetime.now(UTC)
    claim = NodeState(cluster="c", node_key="n", version=1, status=NodeStatus.CLAIMED)
    assert ledger.put_if_unchanged(claim, 0, now) is True
    assert ledger.put_if_unchanged(claim, 0, now) is False  # attribute_not_exists(pk)
    moved = NodeState(cluster="c", node_key="n", version=2, status=NodeStatus.IN_PROGRESS)
    assert ledger.put_if_unchanged(moved, 1, now) is True
    assert ledger.put_if_unchanged(moved, 1, now) is False  # version = :v


def test_the_request_checker_catches_ids_that_fail_the_api_patterns() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("BatchRebootClusterNodes").input_shape
    assert list(_pattern_violations(shape, {"ClusterName": "c", "NodeIds": ["i-0123456789abcdef0"]})) == []
    bad = list(_pattern_violations(shape, {"ClusterName": "c", "NodeIds": ["i-XYZ not an id", ""]}))
    assert len(bad) >= 2
