"""`autoheal history NODE [--cluster C]`: the whole ledger of one node, across replacements.

NODE is a NodeLogicalId or an instance id; --cluster a name or ARN (a cluster that does not exist is
refused, exit 1). The ledger keys a node by its NodeLogicalId when the cluster
has one, so a replaced node keeps one history: it is found by its logical id, by any instance id an
attempt acted on, or by the current instance id of its state item. An instance id the ledger has not
seen yet (a replacement that has not faulted) is looked up in the cluster with ListClusterNodes.

`autoheal history --event EVENT_ID`: what remediate dropped of one event's faults (no node to act on:
cluster_not_found, node_not_in_cluster, ...) and why, from the ledger's dropped-fault verdicts (kept 7
days); exit 1 if none is recorded.
"""

from __future__ import annotations

import argparse
from typing import Any

from autoheal.adapters.directory import ClusterNotFound, NodeDirectory
from autoheal.adapters.ledger import AttemptRecord, NodeRecord, NodeRef
from autoheal.adapters.open_nodes import LedgerOpenNodes
from autoheal.adapters.verdicts import LedgerVerdicts
from autoheal.core.state import NodeState
from autoheal_cli import ids
from autoheal_cli.commands.command import Command
from autoheal_cli.commands.context import Context
from autoheal_cli.commands.status import node_json
from autoheal_cli.errors import EXIT_NOT_FOUND, CliError
from autoheal_cli.render import Output, cell, table

DROPPED_HEADERS = ("at", "cluster", "node", "reason", "signal")
ATTEMPT_HEADERS = ("at", "action", "step", "instance", "outcome", "error", "signal", "request id", "rule")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "node", metavar="NODE", nargs="?", help="NodeLogicalId or EC2 instance id (current or replaced)"
    )
    parser.add_argument("--cluster", help="the node's cluster (name or ARN); narrows the search")
    parser.add_argument(
        "--event",
        metavar="EVENT_ID",
        help="instead of a node: what remediate dropped of this event's faults, and why (kept 7 days)",
    )


def run(ctx: Context, args: argparse.Namespace) -> Output:
    if (args.node is None) == (args.event is None):
        raise CliError("give NODE or --event EVENT_ID (one of them)")
    if args.event is not None:
        return _event(ctx, args.event)
    ref = ids.node_ref(args.node)
    cluster = ctx.cluster(args.cluster)
    finder = ctx.open_nodes()
    found = finder.find_nodes(ref, cluster)
    via = "ledger"
    if not found and ids.is_instance_id(ref):
        found = _via_cluster(ctx, finder, ref, cluster)
        via = "ListClusterNodes"
    states = ctx.node_states()
    records = [states.node_record(c, key) for c, key in found]
    data: dict[str, Any] = {"query": ref, "cluster": cluster, "found_via": via, "nodes": []}
    if not records:
        where = f" in cluster {cluster}" if cluster else ""
        return Output(data, [f"no ledger entries for {ref}{where}"], code=EXIT_NOT_FOUND)
    lines: list[str] = []
    for record in records:
        data["nodes"].append(record_json(record))
        if lines:
            lines.append("")
        lines += record_lines(record)
    return Output(data, lines)


def _event(ctx: Context, event_id: str) -> Output:
    """The dropped-fault verdicts remediate kept for one event (`autoheal.adapters.verdicts`)."""
    dropped = LedgerVerdicts(ctx.clients("dynamodb"), ctx.service.require_table()).dropped(event_id)
    data: dict[str, Any] = {
        "event_id": event_id,
        "dropped": [
            {
                "cluster": d.cluster,
                "node": d.node,
                "instance_id": d.instance_id,
                "reason": d.reason,
                "signal": d.signal,
                "at": d.at,
            }
            for d in dropped
        ],
    }
    if not dropped:
        lines = [
            f"no dropped fault recorded for event {event_id} (kept 7 days; a fault acted on is in its "
            "node's history: its attempts list their source events)"
        ]
        return Output(data, lines, code=EXIT_NOT_FOUND)
    rows = [(d.at, d.cluster, d.node, d.reason, d.signal) for d in dropped]
    return Output(data, [f"event {event_id}: dropped by remediate", *table(DROPPED_HEADERS, rows)])


def _via_cluster(
    ctx: Context, finder: LedgerOpenNodes, instance_id: str, cluster: str | None
) -> list[NodeRef]:
    """The instance's node as the cluster reports it now, if the ledger knows that node."""
    directory = NodeDirectory(ctx.clients("sagemaker"))
    if cluster is None:
        info = directory.locate(instance_id, None)
    else:
        try:
            info = directory.cluster(cluster).find(instance_id, None)
        except ClusterNotFound:
            return []
    if info is None or info.node_key == instance_id:
        return []
    return finder.find_nodes(info.node_key, info.cluster_name)


def instance_chain(record: NodeRecord) -> list[str]:
    """The instance ids the node has had, oldest first (attempts, then the state item's current one)."""
    seen = [a.instance_id for a in record.attempts if a.instance_id]
    if record.state and record.state.instance_id:
        seen.append(record.state.instance_id)
    return list(dict.fromkeys(seen))


def record_json(record: NodeRecord) -> dict[str, Any]:
    return {
        "cluster": record.cluster,
        "node_key": record.node_key,
        "instance_ids": instance_chain(record),
        "state": _state_json(record.state, len(record.attempts)),
        "attempts": [attempt_json(a) for a in record.attempts],
    }


def _state_json(state: NodeState | None, attempts: int) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        **node_json(state, attempts),
        "action_times": {a.value: list(ts) for a, ts in state.action_times.items()},
        "seen_event_ids": list(state.seen_event_ids),
        "released_by": state.released_by,
        "released_at": state.released_at,
        "release_reason": state.release_reason,
    }


def attempt_json(a: AttemptRecord) -> dict[str, Any]:
    return {
        "attempt_id": a.attempt_id,
        "at": a.at,
        "action": a.action,
        "step": a.step,
        "instance_id": a.instance_id,
        "node_logical_id": a.node_logical_id,
        "outcome": a.outcome,
        "error_code": a.error_code,
        "message": a.message,
        "signal": a.signal,
        "request_id": a.request_id,
        "source_event_ids": list(a.source_event_ids),
        "rule": a.rule,
        "recommendation": a.recommendation,
        "evidence_uri": a.evidence_uri,
    }


def record_lines(record: NodeRecord) -> list[str]:
    h = record.state
    lines = [f"node {record.node_key} in cluster {record.cluster}"]
    chain = instance_chain(record)
    if chain:
        lines.append(f"  instances: {' -> '.join(chain)}")
    if h is None:
        lines.append("  state: none (attempts only)")
    else:
        lines.append(
            f"  state: {h.status.value}, step {cell(h.step if h.step >= 0 else None)}, "
            f"last action {cell(h.last_action)} at {cell(h.last_action_at)}, "
            f"last outcome {cell(h.last_outcome)}"
            + (f" ({h.last_error_code})" if h.last_error_code else "")
            + f", retries {h.transient_retries}, version {h.version}"
        )
        if h.instance_group or h.node_logical_id:
            lines.append(f"  group {cell(h.instance_group)}, logical id {cell(h.node_logical_id)}")
        if h.released_at is not None:
            lines.append(
                f"  released by {cell(h.released_by)} at {cell(h.released_at)}: {cell(h.release_reason)}"
            )
    if record.attempts:
        rows = [
            (a.at, a.action, a.step, a.instance_id, a.outcome, a.error_code, a.signal, a.request_id, a.rule)
            for a in record.attempts
        ]
        lines += ["  " + line for line in table(ATTEMPT_HEADERS, rows)]
        lines += [  # HyperPod's text, not a verdict (its RepairAction is)
            f"  recommendation with the {a.action} at {cell(a.at)}: {a.recommendation}"
            for a in record.attempts
            if a.recommendation
        ]
        lines += [
            f"  evidence before the {a.action.value} at {cell(a.at)}: {a.evidence_uri}"
            for a in record.attempts
            if a.evidence_uri
        ]
    else:
        lines.append("  no attempts recorded")
    return lines


COMMAND = Command(
    "history",
    help="the full ledger of one node (by NodeLogicalId or instance id)",
    description=(__doc__ or "").splitlines()[0],
    arguments=_arguments,
    run=run,
    example="autoheal --stack hyperpod-autoheal-prod history i-0a1b2c3d4e5f60718",
)
