"""Issue 18 §2, evidence before a destructive action, through the real handlers on the local stack:
HMA log records (written to the node's stream, and delivered to intake) -> queue -> remediate, which
writes a bundle to the evidence bucket before BatchReplaceClusterNodes, its URI on the attempt."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from autoheal import clients
from autoheal.adapters.approvals import LedgerApprovals
from autoheal.adapters.attempts import LedgerAttempts
from autoheal.adapters.ledger import AttemptRecord, NodeRecord
from autoheal_cli.commands.history import attempt_json, record_lines
from autoheal_cli.main import main
from autoheal_cli.render import cell
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.hma_logs import dcgm_record, node_delivery, write_node_logs
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import slurm_training_cluster
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

REPLACE = "BatchReplaceClusterNodes"
REBOOT = "BatchRebootClusterNodes"
XID_REPLACE_FIRST = 79  # the signal table starts Xid 79 at replace


def setup(
    aws, monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str] | None = None
) -> tuple[LocalWorld, ClusterFixture]:  # type: ignore[no-untyped-def]
    world = LocalWorld(aws, monkeypatch.setenv, env=env)
    cluster = slurm_training_cluster(
        world.aws.client("sagemaker"), world.control, gpu_group=GPU_GROUP, gpus=8
    )
    return world, cluster


def fault(
    world: LocalWorld, cluster: ClusterFixture, node: str, xid: int = XID_REPLACE_FIRST, lines: int = 3
) -> None:
    """HMA on the node logs `lines` records (the last a second ago) to its stream, and CloudWatch Logs
    delivers them to intake; one lifecycle-script line is in the node's other stream."""
    now = world.now()
    records = [(now - timedelta(seconds=lines - i), dcgm_record(xid)) for i in range(lines)]
    logs = world.aws.client("logs")
    write_node_logs(logs, cluster.name, cluster.arn, GPU_GROUP, node, records)
    write_node_logs(
        logs,
        cluster.name,
        cluster.arn,
        GPU_GROUP,
        node,
        [(now - timedelta(minutes=30), "on_create.sh done")],
        agent="LifecycleConfig",
    )
    world.deliver([node_delivery(cluster.name, cluster.arn, GPU_GROUP, node, records)])


def attempts(world: LocalWorld, cluster: ClusterFixture, node: str) -> list[AttemptRecord]:
    [key] = {r.node_key for report in world.reports for r in report.nodes if r.instance_id == node}
    return LedgerAttempts(world.aws.client("dynamodb"), world.stack.table_name).attempts(cluster.name, key)


def bundle(world: LocalWorld, uri: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and every file of the bundle at `uri` (s3://bucket/prefix/)."""
    bucket, prefix = uri.removeprefix("s3://").split("/", 1)
    s3 = world.aws.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    files = {k.removeprefix(prefix): s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}
    return json.loads(files.pop("manifest.json")), files


def test_a_replace_writes_its_bundle_first_and_the_attempt_keeps_its_uri(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch)
    node = cluster.instance_ids(GPU_GROUP)[0]
    fault(world, cluster, node)
    report = world.remediate()
    assert [i for c in world.calls(REPLACE) for i in c.node_ids] == [node]
    [attempt] = attempts(world, cluster, node)
    assert attempt.evidence_uri is not None
    assert attempt.evidence_uri.startswith(f"s3://{world.stack.evidence_bucket}/{cluster.name}/")
    assert attempt_json(attempt)["evidence_uri"] == attempt.evidence_uri  # `autoheal history --json`
    shown = record_lines(NodeRecord(cluster.name, attempt.node_key, None, (attempt,)))
    assert f"  evidence before the replace at {cell(attempt.at)}: {attempt.evidence_uri}" in shown
    manifest, files = bundle(world, attempt.evidence_uri)
    assert (manifest["cluster"], manifest["instance_id"], manifest["action"]) == (
        cluster.name,
        node,
        "replace",
    )
    assert manifest["partial"] is False and manifest["why"] == []
    assert manifest["signal"] == "XidError:79" or "79" in manifest["signal"]
    assert manifest["rule"] and manifest["reason"] == "first_fault"
    assert {f["name"]: f["bytes"] for f in manifest["files"]} == {name: len(b) for name, b in files.items()}
    hma = f"logs/SagemakerHealthMonitoringAgent_{GPU_GROUP}_{node}.jsonl"
    lifecycle = f"logs/LifecycleConfig_{GPU_GROUP}_{node}.jsonl"
    assert set(files) == {"faults.json", "ledger.json", "node.json", hma, lifecycle}
    assert len(files[hma].splitlines()) == 3 and b"DCGM Policy Violation" in files[hma]
    assert b"on_create.sh done" in files[lifecycle]
    assert json.loads(files["node.json"])["InstanceId"] == node
    [triggering] = json.loads(files["faults.json"])
    assert triggering["instance_id"] == node and triggering["xid"] == XID_REPLACE_FIRST
    assert json.loads(files["ledger.json"])["node_key"] == attempt.node_key
    assert report.metrics.total("EvidenceCaptured", Outcome="complete") == 1
    assert report.metrics.total("EvidenceBytes") == sum(len(b) for b in files.values()) + len(
        json.dumps(manifest, indent=2, sort_keys=True)
    )


def test_a_reboot_captures_nothing(aws, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch)
    node = cluster.instance_ids(GPU_GROUP)[1]
    fault(world, cluster, node, xid=48)  # double-bit ECC: reboot first
    report = world.remediate()
    assert [i for c in world.calls(REBOOT) for i in c.node_ids] == [node]
    [attempt] = attempts(world, cluster, node)
    assert attempt.evidence_uri is None
    assert report.metrics.total("EvidenceCaptured") == 0


def test_the_size_cap_cuts_the_logs_and_says_so(aws, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch, {"AUTOHEAL_EVIDENCE_MAX_BYTES": "10000"})
    node = cluster.instance_ids(GPU_GROUP)[2]
    fault(world, cluster, node, lines=400)
    world.remediate()
    [attempt] = attempts(world, cluster, node)
    assert attempt.evidence_uri is not None
    manifest, files = bundle(world, attempt.evidence_uri)
    assert manifest["partial"] is True
    assert any("size cap reached" in why for why in manifest["why"])
    assert sum(len(b) for b in files.values()) <= 10_000
    [hma] = [b for name, b in files.items() if name.startswith("logs/SagemakerHealthMonitoringAgent")]
    kept = [json.loads(line)["timestamp"] for line in hma.splitlines()]
    assert 0 < len(kept) < 400 and kept == sorted(kept)
    assert kept[-1] == int((world.now() - timedelta(seconds=1)).timestamp() * 1000)  # the newest are kept
    assert [i for c in world.calls(REPLACE) for i in c.node_ids] == [node]  # the replace still happened


class _Throttling:
    """A CloudWatch Logs client whose reads are throttled (the first `times` of them)."""

    def __init__(self, real: Any, times: int) -> None:
        self._real = real
        self.left = times
        self.exceptions = real.exceptions

    def _throttle(self, operation: str) -> None:
        if self.left > 0:
            self.left -= 1
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation
            )

    def describe_log_streams(self, **kwargs: Any) -> Any:
        self._throttle("DescribeLogStreams")
        return self._real.describe_log_streams(**kwargs)

    def get_log_events(self, **kwargs: Any) -> Any:
        self._throttle("GetLogEvents")
        return self._real.get_log_events(**kwargs)


def _with_logs(monkeypatch: pytest.MonkeyPatch, make: Any) -> None:
    """The functions' `logs` client replaced by `make(real client)` (their other clients unchanged)."""
    real = clients.client

    def client(service: str, region: str | None = None) -> Any:
        return make(real(service, region)) if service == "logs" else real(service, region)

    monkeypatch.setattr(clients, "client", client)


def test_throttled_logs_are_retried_then_left_out_and_the_bundle_is_partial(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch)
    throttling = _Throttling(world.aws.client("logs"), times=10**6)  # always
    _with_logs(monkeypatch, lambda _real: throttling)
    node = cluster.instance_ids(GPU_GROUP)[3]
    fault(world, cluster, node)
    report = world.remediate()
    [attempt] = attempts(world, cluster, node)
    assert attempt.evidence_uri is not None
    manifest, files = bundle(world, attempt.evidence_uri)
    assert manifest["partial"] is True
    assert any("ThrottlingException after 3 retries" in why for why in manifest["why"])
    assert not any(name.startswith("logs/") for name in files)
    assert {"faults.json", "ledger.json", "node.json"} <= set(files)
    assert report.metrics.total("EvidenceCaptured", Outcome="partial") == 1
    assert [i for c in world.calls(REPLACE) for i in c.node_ids] == [node]


def test_a_throttle_that_passes_is_retried_into_a_complete_bundle(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch)
    throttling = _Throttling(world.aws.client("logs"), times=2)
    _with_logs(monkeypatch, lambda _real: throttling)
    node = cluster.instance_ids(GPU_GROUP)[4]
    fault(world, cluster, node)
    world.remediate()
    [attempt] = attempts(world, cluster, node)
    assert attempt.evidence_uri is not None
    manifest, _ = bundle(world, attempt.evidence_uri)
    assert manifest["partial"] is False and throttling.left == 0


class _Slow:
    """A CloudWatch Logs client that takes `seconds` per call."""

    def __init__(self, real: Any, seconds: float) -> None:
        self._real = real
        self._seconds = seconds
        self.exceptions = real.exceptions

    def __getattr__(self, name: str) -> Any:
        import time

        method = getattr(self._real, name)

        def slow(**kwargs: Any) -> Any:
            time.sleep(self._seconds)
            return method(**kwargs)

        return slow


def test_the_time_budget_stops_reading_and_the_bundle_is_written_partial(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch, {"AUTOHEAL_EVIDENCE_TIME_BUDGET_SECONDS": "1"})
    _with_logs(monkeypatch, lambda real: _Slow(real, 0.6))
    node = cluster.instance_ids(GPU_GROUP)[5]
    fault(world, cluster, node)
    world.remediate()
    [attempt] = attempts(world, cluster, node)
    assert attempt.evidence_uri is not None
    manifest, _ = bundle(world, attempt.evidence_uri)
    assert manifest["partial"] is True
    assert any("time budget exceeded" in why for why in manifest["why"])
    assert [i for c in world.calls(REPLACE) for i in c.node_ids] == [node]


def _no_bucket(world: LocalWorld) -> None:
    s3 = world.aws.client("s3")
    s3.delete_bucket(Bucket=world.stack.evidence_bucket)


def test_a_failed_capture_never_blocks_the_replace(aws, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch)
    _no_bucket(world)
    node = cluster.instance_ids(GPU_GROUP)[6]
    fault(world, cluster, node)
    report = world.remediate()
    assert [i for c in world.calls(REPLACE) for i in c.node_ids] == [node]
    [attempt] = attempts(world, cluster, node)
    assert attempt.evidence_uri is None
    assert report.metrics.total("EvidenceCaptured", Outcome="failed") == 1


def test_a_failed_capture_holds_the_node_when_evidence_is_required(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch, {"AUTOHEAL_EVIDENCE_REQUIRED": "true"})
    _no_bucket(world)
    node = cluster.instance_ids(GPU_GROUP)[7]
    fault(world, cluster, node)
    report = world.remediate()
    assert world.calls(REPLACE) == []
    [row] = [r for r in report.nodes if r.instance_id == node]
    assert (row.decision, row.reason) == ("held", "evidence_missing")
    assert report.metrics.total("FaultsHeld", Reason="evidence_missing") == 1
    assert report.metrics.total("EvidenceCaptured", Outcome="failed") == 1
    assert attempts_or_none(world, cluster, node) == []


def attempts_or_none(world: LocalWorld, cluster: ClusterFixture, node: str) -> list[AttemptRecord]:
    keys = {r.node_key for report in world.reports for r in report.nodes if r.instance_id == node}
    ledger = LedgerAttempts(world.aws.client("dynamodb"), world.stack.table_name)
    return [a for key in keys for a in ledger.attempts(cluster.name, key)]


def test_a_node_held_for_evidence_past_the_hold_ceiling_goes_to_a_human(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from tests.scenarios.test_holds import remediate_round

    env = {"AUTOHEAL_EVIDENCE_REQUIRED": "true", "AUTOHEAL_HOLD_CEILING_HOURS": "1"}
    world, cluster = setup(aws, monkeypatch, env)
    _no_bucket(world)
    node = cluster.instance_ids(GPU_GROUP)[0]
    fault(world, cluster, node)
    humans: list[dict[str, Any]] = []
    for _ in range(6):  # 90 minutes; the ceiling is one hour
        _, delays = remediate_round(world)
        humans += [n for m in world.topic_messages() for n in m["nodes"]]
        world.advance(max(delays, default=900))
    assert world.calls(REPLACE) == []
    assert [h["reason"] for h in humans] == ["held_too_long:evidence_missing"]


# ---------------------------------------------------------------- evidence in a pending approval


def test_a_replace_waiting_for_approval_links_its_bundle_in_the_record_the_notice_and_the_cli(
    aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch, {"AUTOHEAL_APPROVAL_REQUIRED_FOR": "replace"})
    node = cluster.instance_ids(GPU_GROUP)[0]
    fault(world, cluster, node)
    report = world.remediate()
    assert world.calls() == [] and report.metrics.total("ApprovalsRequested") == 1
    assert report.metrics.total("EvidenceCaptured", Outcome="complete") == 1
    [approval] = LedgerApprovals(world.aws.client("dynamodb"), world.stack.table_name).all()
    uri = approval.evidence
    assert uri is not None and uri.startswith(f"s3://{world.stack.evidence_bucket}/{cluster.name}/")
    manifest, files = bundle(world, uri)
    assert (manifest["instance_id"], manifest["action"], manifest["partial"]) == (node, "replace", False)
    assert "faults.json" in files and "node.json" in files

    (message,) = world.topic_messages()
    assert message["nodes"][0]["details"]["evidence"] == uri

    capsys.readouterr()
    assert main(["approvals", "--json"], now=world.now) == 0
    assert json.loads(capsys.readouterr().out)["approvals"][0]["evidence"] == uri
    assert main(["approvals"], now=world.now) == 0
    assert f"evidence for {approval.id} ({approval.node_key}): {uri}" in capsys.readouterr().out


def test_a_failed_capture_for_an_approval_leaves_the_link_empty_and_is_metered(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch, {"AUTOHEAL_APPROVAL_REQUIRED_FOR": "replace"})
    node = cluster.instance_ids(GPU_GROUP)[0]
    fault(world, cluster, node)
    _no_bucket(world)
    report = world.remediate()
    assert report.metrics.total("ApprovalsRequested") == 1
    assert report.metrics.total("EvidenceCaptured", Outcome="failed") == 1
    [approval] = LedgerApprovals(world.aws.client("dynamodb"), world.stack.table_name).all()
    assert approval.evidence is None
    (message,) = world.topic_messages()
    assert message["nodes"][0]["details"]["evidence"] == ""
