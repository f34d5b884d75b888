"""Run a scenario against a :class:`~hyperpod_local.stack.world.LocalWorld` and record what happened.

The runner creates the scenario's clusters through a real SageMaker client, then runs its steps in
order: events go through the real intake handler, ``remediate`` is one real remediate invocation over
the queue, ``advance`` moves the control plane's simulated clock. It reports progress as it goes, one
line per step, and returns a :class:`~hyperpod_local.demo.record.RunRecord` for the summary.
"""

from __future__ import annotations

import random
import re
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from hyperpod_local.demo import render
from hyperpod_local.demo.approvals import Approve, decide
from hyperpod_local.demo.dying import remediate_dies
from hyperpod_local.demo.evidence import evidence_bundles, health_record
from hyperpod_local.demo.record import Invocation, NodeKey, ReconcileRound, RunRecord
from hyperpod_local.demo.scenario_file import (
    PLACEHOLDER_RE,
    Busy,
    Capacity,
    EntryError,
    HealthFaults,
    HmaFaults,
    Remediate,
    Scenario,
    ScenarioError,
    Shortage,
    Step,
    placeholder_args,
)
from hyperpod_local.plane.clusters import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.plane.model import BatchCall
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.hma_logs import dcgm_record, node_delivery, write_node_logs
from hyperpod_local.stack.world import LocalWorld

Progress = Callable[[str], None]
#: the summary's label of a node the run added (BatchAddClusterNodes: a retire's restore)
LABEL_ADDED = "added by a restore"
ADD = "BatchAddClusterNodes"


class ScriptRunner:
    """Runs one scenario in one world. ``rng`` makes generated event ids reproducible."""

    def __init__(self, world: LocalWorld, scenario: Scenario, progress: Progress, rng: random.Random) -> None:
        self.world = world
        self.scenario = scenario
        self.progress = progress
        self.rng = rng
        self.started = world.now()
        self.clusters: dict[str, ClusterFixture] = {}
        self.labels: dict[NodeKey, str] = {}
        self.invocations: list[Invocation] = []
        self.reconciles: list[ReconcileRound] = []
        self.approvals: list[dict[str, Any]] = []
        self.phase = ""

    # ------------------------------------------------------------------------------------- running

    def run(self) -> RunRecord:
        self._create_clusters()
        for step in self.scenario.steps:
            if step.phase is not None and step.phase != self.phase:
                self.phase = step.phase
                self.progress(render.phase_line(self.phase))
            self._run_step(step)
        self._label_added_nodes()
        bundles = evidence_bundles(self.world)
        for bundle in bundles:  # the URIs name this run's bucket and wall-clock time: here, not in the JSON
            self._say(render.bundle_line(bundle["uri"], bundle["manifest"]))
        finished = self.world.now()
        return RunRecord(
            scenario=self.scenario,
            started=self.started,
            finished=finished,
            clusters=self.clusters,
            labels=self.labels,
            intake=list(self.world.intake_reports),
            invocations=self.invocations,
            calls=self.world.control.calls,
            final_nodes=[view for name in self.clusters for view in self.world.control.nodes(name)],
            notifications=self.world.topic_messages(),
            reconciles=self.reconciles,
            approvals=self.approvals,
            evidence=bundles,
        )

    def _label_added_nodes(self) -> None:
        """Nodes in a cluster at the end that the scenario did not create: a restore added them."""
        names = {view.logical_id: name for name in self.clusters for view in self.world.control.nodes(name)}
        for logical_id in self._added_nodes():
            self.labels.setdefault((names[logical_id], logical_id), LABEL_ADDED)

    def _create_clusters(self) -> None:
        sagemaker = self.world.aws.client("sagemaker")
        for spec in self.scenario.clusters:
            groups = [
                GroupSpec(g.name, g.instance_type, g.count, node_type=g.node_type, capacity=g.capacity)
                for g in spec.groups
            ]
            try:
                self.clusters[spec.name] = create_cluster(
                    sagemaker,
                    self.world.control,
                    spec.name,
                    groups,
                    node_recovery=spec.node_recovery,
                    orchestrator=spec.orchestrator,
                )
            except ClientError as exc:
                error = exc.response.get("Error", {})
                raise ScenarioError(
                    f"cluster {spec.name!r}: CreateCluster refused: {error.get('Code')}: {error.get('Message')}"
                ) from exc
            self._say(render.cluster_line(spec))

    def _run_step(self, step: Step) -> None:
        if step.health is not None:
            self._deliver(self._health_events(step.health), step.health.label)
        elif step.hma is not None:
            self._hma(step.hma)
        elif step.deliver is not None:
            self._deliver([self._substitute(event) for event in step.deliver])
        elif step.remediate is not None:
            self._remediate(step.remediate)
        elif step.reconcile is not None:
            self._reconcile()
        elif step.advance is not None:
            self.world.advance(step.advance)
            self._say(render.advance_line(step.advance, self._statuses()))
        elif step.busy is not None:
            self._busy(step.busy)
        elif step.capacity is not None:
            self._capacity(step.capacity)
        elif step.shortage is not None:
            self._shortage(step.shortage)
        elif step.entry_error is not None:
            self._entry_error(step.entry_error)
        elif step.approve is not None:
            self._approve(step.approve)

    # --------------------------------------------------------------------------------------- steps

    def _health_events(self, faults: HealthFaults) -> list[dict[str, Any]]:
        fixture = self.clusters[faults.cluster]
        events: list[dict[str, Any]] = []
        for index in faults.indexes():
            logical_id = fixture.in_group(faults.group)[index].logical_id
            if faults.label:
                self.labels[(faults.cluster, logical_id)] = faults.label
            instance_id = self._instance_id(faults.cluster, logical_id)
            if faults.status == "Unhealthy":  # HMA logs the detection on the node too
                detection = health_record(faults.fault_type)
                self._node_logs(faults.cluster, faults.group, instance_id, [(self.world.now(), detection)])
            event = node_health_event(
                fixture.name,
                fixture.arn,
                instance_id,
                self.world.now(),
                event_id=faults.event_id or self._event_id(),
                fault_type=faults.fault_type,
                status=faults.status,
            )
            events.extend([event] * faults.copies)
        return events

    def _hma(self, faults: HmaFaults) -> None:
        """One CloudWatch Logs delivery per node (its ``records`` Xid records, the last one now), and
        with ``also_eventbridge`` the node's Node Health Event for the same fault, in one step."""
        fixture = self.clusters[faults.cluster]
        now = self.world.now()
        deliveries: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for index in faults.indexes():
            logical_id = fixture.in_group(faults.group)[index].logical_id
            if faults.label:
                self.labels[(faults.cluster, logical_id)] = faults.label
            instance_id = self._instance_id(faults.cluster, logical_id)
            records = [
                (now - timedelta(seconds=faults.records - 1 - i), dcgm_record(faults.xid))
                for i in range(faults.records)
            ]
            self._node_logs(faults.cluster, faults.group, instance_id, records)
            deliveries.append(node_delivery(fixture.name, fixture.arn, faults.group, instance_id, records))
            if faults.also_eventbridge:
                events.append(
                    node_health_event(fixture.name, fixture.arn, instance_id, now, event_id=self._event_id())
                )
        self._deliver(
            [*deliveries, *events],
            faults.label,
            logs=len(deliveries),
            records=len(deliveries) * faults.records,
        )

    def _node_logs(
        self, cluster: str, group: str, instance_id: str, records: list[tuple[datetime, str]]
    ) -> None:
        """The node's HMA stream in its cluster's log group gets the records, as HMA on the node writes
        them (what an evidence bundle reads before a replace)."""
        fixture = self.clusters[cluster]
        write_node_logs(self.world.aws.client("logs"), fixture.name, fixture.arn, group, instance_id, records)

    def _deliver(
        self,
        events: Sequence[Mapping[str, Any]],
        label: str | None = None,
        *,
        logs: int = 0,
        records: int = 0,
    ) -> None:
        """Through the real intake handler, one invocation each; ``logs`` of them (the first) are
        CloudWatch Logs deliveries carrying ``records`` HMA records in all."""
        before = len(self.world.intake_reports)
        self.world.deliver(events)
        reports = self.world.intake_reports[before:]
        self._say(render.delivery_line(len(events) - logs, reports, label, logs=logs, records=records))

    def _remediate(self, step: Remediate) -> None:
        records = self.world.drain()
        if not records:
            self._say("remediate: the queue is empty, nothing to invoke")
            return
        at, number = self._elapsed(), len(self.invocations) + 1
        before = len(self.world.control.calls)
        if step.dies is None:
            report, died = self.world.remediate(records), None
        else:
            report, died = remediate_dies(self.world, records, step.dies)
        invocation = Invocation(number, at, self.phase, len(records), report, died)
        self.invocations.append(invocation)
        self._say(render.invocation_line(invocation, self._cluster_names()))
        self._tokens_reused(self.world.control.calls[:before], self.world.control.calls[before:])

    def _tokens_reused(self, earlier: Sequence[BatchCall], now: Sequence[BatchCall]) -> None:
        """An add re-sent under an earlier add's ClientToken: say what HyperPod answered (its nodes)."""
        first = {c.client_token: c for c in earlier if c.action == ADD and c.client_token}
        for call in now:
            if call.action == ADD and call.client_token in first:
                at = (first[call.client_token].at - self.started).total_seconds()
                self._say(render.token_line(at, self._added_nodes()))

    def _added_nodes(self) -> list[str]:
        """NodeLogicalIds in the clusters now that the scenario did not create (added by restores)."""
        return [
            view.logical_id
            for name, fixture in self.clusters.items()
            for view in self.world.control.nodes(name)
            if view.logical_id not in fixture.logical_ids()
        ]

    def _approve(self, step: Approve) -> None:
        """The demo's operator decides every pending approval of the cluster, through the CLI's code."""
        result = decide(step)
        for a in result["decided"]:
            self.approvals.append({**a, "at_seconds": self._elapsed()})
            self._say(
                f"approval {a['id']}: {a['action']} of {a['cluster']} node {a['instance_id']} ({a['reason']}) "
                f"{result['decision']} by {result['by']}: the demo's operator ran "
                f"`autoheal {step.decision} --all --cluster {step.cluster}`"
            )
        if not result["decided"]:
            self._say(f"autoheal {step.decision} --all --cluster {step.cluster}: no pending approvals")

    def _reconcile(self) -> None:
        report = self.world.reconcile()
        done = ReconcileRound(len(self.reconciles) + 1, self._elapsed(), self.phase, report)
        self.reconciles.append(done)
        self._say(render.reconcile_line(done))

    def _busy(self, busy: Busy) -> None:
        logical_id = self._logical_id(busy.cluster, busy.group, busy.index)
        self.world.control.set_busy(logical_id, busy.seconds, reason="recovery")
        instance_id = self._instance_id(busy.cluster, logical_id)
        self._say(
            f"{busy.cluster}/{busy.group}[{busy.index}] {instance_id} is busy for {render.duration(busy.seconds)} "
            "(an operation HyperPod started itself: new calls get InstanceIdInUse)"
        )

    def _capacity(self, capacity: Capacity) -> None:
        self.world.control.set_capacity(capacity.cluster, capacity.group, capacity.count)
        allowed = "unlimited" if capacity.count is None else f"{capacity.count} more"
        self._say(f"{capacity.cluster}/{capacity.group}: instance launches allowed: {allowed}")

    def _shortage(self, shortage: Shortage) -> None:
        self.world.control.capacity_shortage(shortage.cluster, shortage.group, shortage.seconds)
        self._say(
            f"{shortage.cluster}/{shortage.group}: a capacity shortage for {render.duration(shortage.seconds)} "
            "(nodes added meanwhile stay Pending; Continuous provisioning keeps launching)"
        )

    def _entry_error(self, error: EntryError) -> None:
        logical_id = self._logical_id(error.cluster, error.group, error.index)
        self.world.control.inject_entry_error(logical_id, error.code, error.times)
        self._say(
            f"{error.cluster}/{error.group}[{error.index}]: the next {error.times} Batch* entries "
            f"naming it fail with {error.code}"
        )

    # ------------------------------------------------------------------------------------- helpers

    def _say(self, text: str) -> None:
        self.progress(render.progress_line(self._elapsed(), text))

    def _elapsed(self) -> float:
        return (self.world.now() - self.started).total_seconds()

    def _event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _logical_id(self, cluster: str, group: str, index: int) -> str:
        return self.clusters[cluster].in_group(group)[index].logical_id

    def _instance_id(self, cluster: str, logical_id: str) -> str:
        """The node's current instance id (a replaced node has a new one)."""
        return self.world.control.node(logical_id, cluster).instance_id or ""

    def _statuses(self) -> Counter[str]:
        return Counter(view.status for name in self.clusters for view in self.world.control.nodes(name))

    def _cluster_names(self) -> dict[str, str]:
        """Cluster name or ARN (as a call may name it) -> name."""
        names = {name: name for name in self.clusters}
        names.update({fixture.arn: name for name, fixture in self.clusters.items()})
        return names

    def _substitute(self, value: Any) -> Any:
        """Resolve the placeholders in every string of a JSON value (validated when loaded)."""
        if isinstance(value, dict):
            return {key: self._substitute(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._substitute(item) for item in value]
        if not isinstance(value, str):
            return value
        whole = PLACEHOLDER_RE.fullmatch(value.strip())
        if whole is not None and whole[1] == "now_ms":
            return self._resolve(whole)
        return PLACEHOLDER_RE.sub(lambda match: str(self._resolve(match)), value)

    def _resolve(self, match: re.Match[str]) -> str | int:
        kind, args = match[1], placeholder_args(match[2])
        now = self.world.now()
        if kind == "now":
            return now.strftime("%Y-%m-%dT%H:%M:%SZ")
        if kind == "now_ms":
            return int(now.timestamp() * 1000)
        if kind == "cluster_arn":
            return self.clusters[args[0]].arn
        logical_id = self._logical_id(args[0], args[1], int(args[2]))
        return logical_id if kind == "logical" else self._instance_id(args[0], logical_id)
