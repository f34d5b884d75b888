"""Canary waves for correlated faults (issue 18 §3), through the real handlers on the local stack.

The replayed 2026 false positive: after an upgrade, HyperPod's health agent reported every node of a
group at once (0 GPUs seen); a GPU-count mismatch is a reboot in HMA's own rules (the health
monitoring agent page: https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-health-monitoring-agent.html),
and a Node Health Event names it with its condition (`NvidiaErrorReboot`, repair action Reboot).
64 of 64 nodes within 2 minutes -> one canary acts, one page; the rest are released in growing waves
once reconcile verified the previous one, and stop when the canary's fault comes back.

SQS delays run on the wall clock: the held faults' retry queue here puts them back at once and
remembers the delay, and the simulated clock moves as each test says (as in test_holds).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from autoheal.adapters.waves import LedgerWaves
from autoheal.core.canary import Phase, WaveRecord
from autoheal.faults import NodeFault
from autoheal.ports import RetryQueue
from autoheal.remediate.service import Deps, RemediationReport
from autoheal_cli.main import main
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes, slurm_training_cluster
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
SIGNAL = "NvidiaErrorReboot"


class SimulatedDelays:
    """The real retry queue, its delay kept on the simulated clock (see the module docstring)."""

    def __init__(self, real: RetryQueue) -> None:
        self.real = real
        self.delays: list[int] = []

    def requeue(self, faults: Sequence[NodeFault], delay_seconds: int) -> None:
        self.delays.append(delay_seconds)
        self.real.requeue(faults, 0)


def remediate_round(world: LocalWorld) -> RemediationReport:
    """One remediate invocation over everything on the queue, held faults back at once."""

    def hook(deps: Deps) -> Deps:
        deps.retry_queue = SimulatedDelays(deps.retry_queue)
        return deps

    return world.remediate(deps_hook=hook)


@pytest.fixture
def waved(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    """The local world with canary waves on, as deployed (the relaxed local guards turn them off)."""
    return LocalWorld(aws, monkeypatch.setenv, env={"AUTOHEAL_CANARY_WAVES": "true"})


@pytest.fixture
def gpus(waved: LocalWorld) -> ClusterFixture:
    return slurm_training_cluster(waved.aws.client("sagemaker"), waved.control, gpu_group=GPU_GROUP, gpus=64)


def storm(world: LocalWorld, cluster: ClusterFixture) -> None:
    """64 of 64 nodes report a GPU-count mismatch within 2 minutes."""
    for node in cluster.in_group(GPU_GROUP):
        event = node_health_event(
            cluster.name,
            cluster.arn,
            node.instance_id,
            world.now(),
            fault_type=SIGNAL,
            repair_action="Reboot",
        )
        world.deliver([event])
        world.advance(1.875)  # 64 events over 120 seconds


def rebooted(world: LocalWorld) -> list[str]:
    return [n for c in world.calls(REBOOT) for n in c.node_ids]


def canary_pages(world: LocalWorld) -> list[dict[str, Any]]:
    return [n for m in world.topic_messages() for n in m["nodes"] if str(n["node_key"]).startswith("canary:")]


def wave_record(world: LocalWorld) -> WaveRecord:
    (record,) = LedgerWaves(world.aws.client("dynamodb"), world.stack.table_name).all()
    return record


def verify_round(world: LocalWorld) -> RemediationReport:
    """The released nodes reboot and run again, reconcile verifies them, the held faults come back."""
    world.advance(minutes(6).total_seconds())
    world.reconcile()
    return remediate_round(world)


def test_the_2026_false_positive_acts_on_one_canary_and_pages_once(
    waved: LocalWorld, gpus: ClusterFixture
) -> None:
    storm(waved, gpus)
    report = remediate_round(waved)

    assert len(rebooted(waved)) == 1  # one canary
    assert report.metrics.total("FaultsHeld", Reason="canary_wave") == 63
    assert report.metrics.total("CanaryEpisodes") == 1
    (page,) = canary_pages(waved)
    assert page["reason"].startswith(
        f"correlated fault: 64 nodes of group {GPU_GROUP} reported signal {SIGNAL} within 2 min; acting on canary "
    )
    assert f"autoheal waves stop {wave_record(waved).episode}" in page["reason"]

    for _ in range(3):  # the held faults come back before the canary is verified: still held
        waved.advance(minutes(1).total_seconds())
        again = remediate_round(waved)
        assert again.metrics.total("FaultsHeld", Reason="canary_wave") == 63
    assert len(rebooted(waved)) == 1  # at most one action before verification
    assert canary_pages(waved) == []  # paged once per episode
    assert wave_record(waved).phase is Phase.WAVE


def test_verified_waves_grow_until_every_node_is_done(waved: LocalWorld, gpus: ClusterFixture) -> None:
    storm(waved, gpus)
    remediate_round(waved)
    sizes = [len(rebooted(waved))]
    while wave_record(waved).phase is Phase.WAVE and len(sizes) < 10:
        before = len(rebooted(waved))
        verify_round(waved)
        sizes.append(len(rebooted(waved)) - before)

    # each wave released only once the previous one was verified healthy; the last round verifies the
    # last wave (the 64th node) and releases nothing
    assert sizes == [1, 2, 4, 8, 16, 32, 1, 0]
    assert sorted(rebooted(waved)) == sorted(gpus.instance_ids(GPU_GROUP))  # each node exactly once
    record = wave_record(waved)
    assert (record.phase, len(record.verified), record.waiting) == (Phase.DONE, 64, 0)
    assert len(canary_pages(waved)) == 1  # the first wave's page only


def test_a_recurrence_on_the_canary_stops_the_waves_and_pages_once(
    waved: LocalWorld, gpus: ClusterFixture
) -> None:
    storm(waved, gpus)
    remediate_round(waved)
    (canary,) = rebooted(waved)
    verify_round(waved)  # the canary healed: wave 1 released
    assert len(rebooted(waved)) == 3
    assert len(canary_pages(waved)) == 1

    event = node_health_event(
        gpus.name, gpus.arn, canary, waved.now(), fault_type=SIGNAL, repair_action="Reboot"
    )
    waved.deliver([event])  # the canary's fault is back
    report = remediate_round(waved)

    assert len(rebooted(waved)) == 3 and waved.calls("BatchReplaceClusterNodes") == []  # nothing more
    assert report.metrics.total("CanaryStopped") == 1
    (page,) = canary_pages(waved)
    assert page["reason"].startswith(
        f"canary waves stopped for 64 nodes of group {GPU_GROUP} with signal {SIGNAL}"
    )
    assert "fault recurred on released node" in page["reason"]
    for _ in range(2):  # stopped: the rest stay held, whatever reconcile verifies meanwhile
        verify_round(waved)
    assert len(rebooted(waved)) == 3
    assert wave_record(waved).phase is Phase.STOPPED
    assert canary_pages(waved) == []


def test_a_failed_canary_action_stops_the_waves(waved: LocalWorld, gpus: ClusterFixture) -> None:
    storm(waved, gpus)
    remediate_round(waved)
    (canary,) = rebooted(waved)
    canary_pages(waved)
    waved.advance(minutes(3).total_seconds())
    waved.control.set_status(canary, "Failure")  # the reboot did not bring it back

    waved.reconcile()

    record = wave_record(waved)
    assert record.phase is Phase.STOPPED and "its action failed" in record.reason
    (page,) = canary_pages(waved)
    assert "canary waves stopped" in page["reason"]
    remediate_round(waved)  # the canary's own escalation goes on; the rest stay held
    assert len(rebooted(waved)) == 1


def autoheal(world: LocalWorld, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """The `autoheal` CLI in-process, on the world's clock, against the world's stack."""
    capsys.readouterr()
    code = main(list(argv), now=world.now)
    return code, capsys.readouterr().out


def test_an_operator_sees_stops_and_releases_an_episode(
    waved: LocalWorld, gpus: ClusterFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    storm(waved, gpus)
    remediate_round(waved)
    code, out = autoheal(waved, capsys, "waves")
    episode = wave_record(waved).episode
    assert code == 0 and episode is not None
    row = [episode, gpus.name, GPU_GROUP, SIGNAL, "wave", "0", "64", "1", "0", "63"]
    assert out.splitlines()[1].split() == row  # reported, released, verified, held
    (listed,) = json.loads(autoheal(waved, capsys, "--json", "waves")[1])["episodes"]
    assert (listed["phase"], listed["reported"], listed["held"]) == ("wave", 64, 63)

    code, out = autoheal(waved, capsys, "waves", "stop", episode, "--reason", "looks like the agent")
    assert code == 0 and "stopped: the rest stay held (63 held)" in out
    verify_round(waved)  # the canary healed, but the episode is stopped: nothing released
    assert len(rebooted(waved)) == 1

    code, out = autoheal(waved, capsys, "waves", "release", episode, "--reason", "agent fixed")
    assert code == 0 and "released" in out
    remediate_round(waved)
    assert len(rebooted(waved)) == 64  # the held faults act as they come back (the breaker still caps)
    record = wave_record(waved)
    assert record.phase is Phase.RELEASED and record.reason.startswith("released by arn:aws:")
    assert autoheal(waved, capsys, "waves", "stop", "w-00000000")[0] == 1  # no such episode
