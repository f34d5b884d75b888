"""Three ways to claim a storm's nodes, side by side on each local backend (`make bench`).

Each node's claim is a conditional put of its state item (version unchanged since read), grouped as
remediate groups them: calls of at most 25 nodes. The ways:

- `sequential`: one PutItem after another (remediate before issue 20);
- `transaction`: one TransactWriteItems per call (`LedgerNodeStates.put_all_if_unchanged`);
- `pool`: the call's PutItems side by side, a pool of 25 threads (remediate now: `remediate.pipeline`).

Figures: time to claim the first call's nodes (when the first call could leave), time for all, and
DynamoDB's price per node: a standard write costs 1 write unit per KB of item, a transactional one 2
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-capacity-handling).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.inject import AWS_LIKE, Latency

NODES = 200
PER_CALL = 25
POOL = 25
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WAYS = ("sequential", "transaction", "pool")


def _claims(prefix: str, n: int) -> list[Any]:
    from autoheal.core import transitions
    from autoheal.core.state import NodeState
    from autoheal.policy import Action

    fault = json.dumps({"cluster_name": "train-a", "instance_id": "i-0123456789abcdef0", "signal": "X" * 200})
    return [
        transitions.claimed(
            NodeState(cluster="train-a", node_key=f"{prefix}-{k:05d}"),
            0,
            NOW,
            timedelta(minutes=15),
            Action.REBOOT,
            0,
            f"i-{k:017x}",
            fault,
        )
        for k in range(n)
    ]


def _run(way: str, states: Any, claims: list[Any], pool: ThreadPoolExecutor) -> tuple[float, float]:
    """Seconds to claim the first call's nodes, and all of them."""
    started = time.monotonic()
    first = 0.0
    for start in range(0, len(claims), PER_CALL):
        call = claims[start : start + PER_CALL]
        if way == "sequential":
            ok = all([states.put_if_unchanged(c, 0, NOW) for c in call])
        elif way == "transaction":
            ok = states.put_all_if_unchanged([(c, 0) for c in call], NOW).written
        else:
            ok = all(pool.map(lambda c: states.put_if_unchanged(c, 0, NOW), call))
        if not ok:
            raise RuntimeError(f"{way}: a fresh claim failed")
        first = first or time.monotonic() - started
    return first, time.monotonic() - started


def _units_per_node(claims: list[Any]) -> float:
    """Write units of one standard write of a claim item (1 per KB, rounded up), mean over the claims."""
    from autoheal.adapters.ledger import state_to_item

    sizes = [sum(len(k) + len(str(v)) for k, v in state_to_item(c, NOW).items()) for c in claims]
    return sum(math.ceil(s / 1024) for s in sizes) / len(sizes)


def _backend(name: str, client: Any, table: str, delays: Mapping[str, float]) -> list[dict[str, Any]]:
    from autoheal.adapters.node_states import LedgerNodeStates

    latency = Latency(delays)
    latency.install(client.meta)
    latency.active = True
    states = LedgerNodeStates(client, table)
    out = []
    with ThreadPoolExecutor(max_workers=POOL) as pool:
        for way in WAYS:  # warm: connections opened, the server's code paths compiled (a JVM's JIT)
            _run(way, states, _claims(f"warm-{way}-{len(delays)}", PER_CALL * 2), pool)
        for way in WAYS:
            claims = _claims(f"{way}-{len(delays)}", NODES)
            first, total = _run(way, states, claims, pool)
            units = _units_per_node(claims) * (2 if way == "transaction" else 1)
            requests = NODES // PER_CALL if way == "transaction" else NODES
            out.append(
                {
                    "backend": name + (" + injected latency" if delays else ""),
                    "way": way,
                    "nodes": NODES,
                    "first_call_seconds": first,
                    "all_seconds": total,
                    "requests_per_node": requests / NODES,
                    "write_units_per_node": units,
                }
            )
    latency.active = False
    return out


def _table(client: Any, name: str) -> str:
    """The ledger table's keys as template.yaml defines them (nothing else matters to a claim)."""
    from hyperpod_local.stack.template import LEDGER_TABLE, load_template, template_properties

    props = template_properties(load_template(), LEDGER_TABLE)
    keys = {k["AttributeName"] for k in props["KeySchema"]}
    client.create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=[a for a in props["AttributeDefinitions"] if a["AttributeName"] in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return name


def run() -> list[dict[str, Any]]:
    """Every way on the moto server and on DynamoDB Local, on loopback and with 5 ms injected."""
    import boto3
    from botocore.config import Config

    from hyperpod_local.demo.environment import DemoEnvironment
    from hyperpod_local.plane import ControlPlane, ControlPlaneClock, LocalAws
    from tests.torture.dynamodb_local import DynamoDBLocal

    config = Config(max_pool_connections=POOL)
    rows: list[dict[str, Any]] = []
    with (
        DemoEnvironment(),
        LocalAws(ControlPlane(clock=ControlPlaneClock.frozen())) as local,
        DynamoDBLocal() as ddb_local,
    ):
        backends: dict[str, Callable[[], Any]] = {
            "moto server": lambda: boto3.client(
                "dynamodb", endpoint_url=local.endpoint_url, region_name="us-east-1", config=config
            ),
            "DynamoDB Local": lambda: boto3.client(
                "dynamodb", endpoint_url=ddb_local.endpoint_url, region_name="us-east-1", config=config
            ),
        }
        for name, make in backends.items():
            for delays in ({}, {"dynamodb": AWS_LIKE["dynamodb"]}):
                client = make()
                rows += _backend(name, client, _table(client, f"claims-{len(rows)}"), delays)
    return rows
