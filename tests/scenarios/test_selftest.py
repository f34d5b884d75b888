"""`autoheal selftest` against the local stack the demo builds: PutEvents through the template's rules
to the real intake handler, the fault queue into the real remediate, intake's log lines in its local
log group. The CLI waits with a callback that pumps the local world (`LocalWorld.pump`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from autoheal.adapters.verdicts import LedgerVerdicts
from autoheal_cli.main import main
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.template import INTAKE_FUNCTION
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import Run

pytestmark = pytest.mark.scenario

STACK = "autoheal-local"
Cli = Callable[..., Run]


@pytest.fixture
def stacked(world: LocalWorld) -> LocalWorld:
    world.register_stack(STACK)
    return world


@pytest.fixture
def cli(stacked: LocalWorld, capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """`cli(*argv, remediate=True)`: the CLI in-process; each wait pumps the world (remediate off:
    its event source mapping is not running)."""

    def run(*argv: str, remediate: bool = True) -> Run:
        capsys.readouterr()
        code = main(list(argv), now=stacked.now, sleep=lambda _: stacked.pump(remediate=remediate))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def statuses(result: dict[str, Any]) -> list[str]:
    return [h["status"] for h in result["hops"]]


def test_every_hop_passes_nothing_is_acted_on_and_the_records_are_cleaned_up(
    stacked: LocalWorld, cluster: ClusterFixture, cli: Cli
) -> None:
    run = cli("--stack", STACK, "selftest", "--timeout", "60", "--json")
    assert run.code == 0, run.out + run.err
    result = run.json()
    assert statuses(result) == ["ok", "ok", "ok", "ok", "skipped"]
    assert result["broken"] is None and result["cleaned_up"] == {"ledger_items": 1}
    assert result["cluster"].startswith("autoheal-selftest-")
    (report,) = [r for r in stacked.intake_reports if r.event_id == result["event_id"]]
    assert (report.received, report.enqueued) == (1, 1)
    assert [(n.cluster, n.reason) for r in stacked.reports for n in r.nodes] == [
        (result["cluster"], "cluster_not_found")
    ]
    assert (
        LedgerVerdicts(stacked.aws.client("dynamodb"), stacked.stack.table_name).dropped(result["event_id"])
        == []
    )
    assert not stacked.calls()  # no SageMaker mutating call, nothing on the real cluster


def test_the_text_output_names_each_hop(stacked: LocalWorld, cli: Cli) -> None:
    run = cli("--stack", STACK, "selftest", "--timeout", "60")
    assert run.code == 0, run.out + run.err
    lines = run.out.splitlines()
    assert [line.split(":")[0] for line in lines[1:6]] == [
        "✓ 1 rule matched",
        "✓ 2 intake parsed it",
        "✓ 3 fault queued",
        "✓ 4 remediate's verdict",
        "- 5 metrics arrived",
    ]
    assert lines[-1].startswith("every hop passed")


def test_remediate_not_running_breaks_hop_4(stacked: LocalWorld, cli: Cli) -> None:
    run = cli("--stack", STACK, "selftest", "--timeout", "4", "--json", remediate=False)
    assert run.code == 3
    result = run.json()
    assert statuses(result)[:4] == ["ok", "ok", "ok", "broken"]
    assert result["broken"]["hop"] == 4 and "event source mapping" in result["broken"]["check"]


def test_a_disabled_rule_breaks_hop_1_and_nothing_reaches_intake(stacked: LocalWorld, cli: Cli) -> None:
    rule = stacked.bus.rule_for(INTAKE_FUNCTION, "HyperPodEvents").name
    stacked.aws.client("events").disable_rule(Name=rule)
    run = cli("--stack", STACK, "selftest", "--timeout", "3")
    assert run.code == 3
    assert run.out.splitlines()[1].startswith(f"✗ 1 rule matched: rule {rule} is DISABLED")
    assert "broken at hop 1 (rule matched): check enable it" in run.out
    assert not stacked.intake_reports


def test_without_a_stack_it_is_a_usage_error(stacked: LocalWorld, cli: Cli) -> None:
    run = cli("selftest")
    assert run.code == 2 and "selftest needs --stack NAME" in run.err


def test_a_selftest_event_naming_a_real_cluster_is_not_acted_on_even_past_the_rule(
    stacked: LocalWorld, cluster: ClusterFixture
) -> None:
    """The rule would not deliver it (tests/scenarios/test_local_bus.py); delivered anyway (a rule
    changed by hand), intake ignores it and counts it, and nothing is called."""
    node = cluster.in_group("gpu-a")[0]
    event = node_health_event(cluster.name, cluster.arn, node.instance_id, stacked.now())
    event["source"] = "autoheal.selftest"
    (summary,) = stacked.deliver([event])
    assert summary["ignored"] == {"selftest_not_reserved": 1} and summary["enqueued"] == 0
    assert stacked.run_until_quiet() == []
    assert not stacked.calls()
