"""`autoheal approvals`, `approve`, `deny`: the actions waiting for a person's yes (`ApprovalRequiredFor`).

The service records each action that needs approval as a pending approval (a short stable ID, cluster,
node, action, reason, deadline) and holds its fault. `approve ID…` lets the action proceed; `deny ID…
--reason TEXT` hands the node to a human instead; `--all --cluster C` decides every pending approval of
a cluster. Each decision records who (the caller's AWS identity), when and why, and is conditional on
the approval still being pending (a decision never overwrites another, nor the deadline's default).
The node's held fault is then put back on the fault queue, so the decision applies at once rather than
at the hold's next delivery (at most 15 minutes later); a fault delivered twice is acted on once.
"""

from __future__ import annotations

import argparse
from typing import Any

from autoheal.adapters.queue import FaultQueue, QueueError
from autoheal.core.approvals import Approval, ApprovalStatus
from autoheal.faults import NodeFault
from autoheal_cli.commands.command import Command
from autoheal_cli.commands.context import Context
from autoheal_cli.errors import EXIT_ERROR, EXIT_NOT_FOUND, CliError
from autoheal_cli.render import Output, ago, cell, table

_HEADERS = ("id", "cluster", "node", "action", "reason", "age", "deadline", "default", "status")


def approval_json(a: Approval) -> dict[str, Any]:
    return {
        "id": a.id,
        "cluster": a.cluster,
        "node": a.node_key,
        "instance_id": a.instance_id,
        "action": a.action,
        "reason": a.reason,
        "rule": a.rule,
        "signal": a.signal,
        "created": a.created,
        "deadline": a.deadline,
        "default": a.default,
        "status": a.status,
        "evidence": a.evidence,
        "decided_by": a.decided_by,
        "decided_at": a.decided_at,
        "decision_reason": a.decision_reason,
    }


def _list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", help="only this cluster's approvals (name or ARN)")
    parser.add_argument("--decided", action="store_true", help="also the decided ones still kept")


def run_list(ctx: Context, args: argparse.Namespace) -> Output:
    cluster = ctx.cluster(args.cluster)
    now = ctx.now()
    found = ctx.approvals().all(cluster)
    shown = [a for a in found if args.decided or a.status is ApprovalStatus.PENDING]
    rows = [
        (
            a.id,
            a.cluster,
            a.node_key,
            a.action,
            a.reason,
            ago(a.created, now),
            a.deadline,
            a.default,
            a.status,
        )
        for a in shown
    ]
    lines = (
        table(_HEADERS, rows)
        if shown
        else [f"no pending approvals{f' in cluster {cluster}' if cluster else ''}"]
    )
    lines += [f"  evidence for {a.id} ({a.node_key}): {a.evidence}" for a in shown if a.evidence]
    return Output({"cluster": cluster, "approvals": [approval_json(a) for a in shown]}, lines)


def _decide_arguments(parser: argparse.ArgumentParser, *, deny: bool) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="approval IDs (`autoheal approvals` lists them)")
    parser.add_argument("--all", action="store_true", help="every pending approval of --cluster")
    parser.add_argument("--cluster", help="the cluster (required with --all; name or ARN)")
    parser.add_argument("--reason", required=deny, default="", help="why (recorded with the decision)")


def _chosen(ctx: Context, args: argparse.Namespace) -> list[Approval]:
    if bool(args.ids) == bool(args.all):
        raise CliError("give approval IDs, or --all --cluster C (not both)", EXIT_ERROR)
    if args.all and not args.cluster:
        raise CliError("--all needs --cluster: decide one cluster's approvals at a time", EXIT_ERROR)
    cluster = ctx.cluster(args.cluster)
    found = ctx.approvals().all(cluster)
    if args.all:
        return [a for a in found if a.status is ApprovalStatus.PENDING]
    by_id = {a.id: a for a in found}
    missing = [i for i in args.ids if i not in by_id]
    if missing:
        where = f" in cluster {cluster}" if cluster else ""
        raise CliError(
            f"no approval {', '.join(missing)}{where} (`autoheal approvals` lists them)", EXIT_NOT_FOUND
        )
    return [by_id[i] for i in dict.fromkeys(args.ids)]


def _decide(ctx: Context, args: argparse.Namespace, status: ApprovalStatus) -> Output:
    reason = args.reason.strip()
    if status is ApprovalStatus.DENIED and not reason:
        raise CliError("--reason must say why the action is denied", EXIT_ERROR)
    chosen = _chosen(ctx, args)
    now, by = ctx.now(), ctx.caller()
    port = ctx.approvals()
    decided: list[Approval] = []
    skipped: list[Approval] = []
    for a in chosen:
        if a.status is ApprovalStatus.PENDING and port.decide(
            a.decided(status, by, now, reason or status.value)
        ):
            decided.append(a.decided(status, by, now, reason or status.value))
        else:
            skipped.append(a)
    requeued = _requeue(ctx, decided)
    verb = "approved" if status is ApprovalStatus.APPROVED else "denied"
    lines = [
        f"{verb} {a.id}: {a.action} of node {a.node_key} in cluster {a.cluster} (by {by} at {cell(now)})"
        for a in decided
    ]
    lines += [
        f"{a.id} not pending ({a.status.value}{f' by {a.decided_by}' if a.decided_by else ''}): unchanged"
        for a in skipped
    ]
    if not chosen:
        lines.append("no pending approvals: nothing to do")
    if decided:
        lines.append(requeued[1])
    data = {
        "decision": verb,
        "by": by,
        "at": now,
        "reason": reason,
        "decided": [approval_json(a) for a in decided],
        "unchanged": [approval_json(a) for a in skipped],
        "faults_requeued": requeued[0],
    }
    return Output(data, lines)


def _requeue(ctx: Context, decided: list[Approval]) -> tuple[int, str]:
    """Put the decided approvals' held faults back on the queue, so the decision applies now."""
    faults = [NodeFault.model_validate_json(a.fault) for a in decided if a.fault]
    if not faults:
        return 0, "the decision applies when the held fault comes back (within 15 minutes)"
    if not ctx.service.queue_url:
        return (
            0,
            "no fault queue known (--stack or --queue-url): the decision applies when the held fault comes back",
        )
    try:
        FaultQueue(ctx.clients("sqs"), ctx.service.queue_url).send(faults)
    except QueueError as exc:
        return 0, f"the held faults were not re-queued ({exc}): the decision applies when they come back"
    return len(faults), f"{len(faults)} held fault(s) put back on the queue: the decision applies now"


def run_approve(ctx: Context, args: argparse.Namespace) -> Output:
    return _decide(ctx, args, ApprovalStatus.APPROVED)


def run_deny(ctx: Context, args: argparse.Namespace) -> Output:
    return _decide(ctx, args, ApprovalStatus.DENIED)


LIST = Command(
    "approvals",
    help="list the actions waiting for approval (ID, cluster, node, action, reason, age, deadline)",
    description=(__doc__ or "").split("\n\n")[1].replace("\n", " "),
    arguments=_list_arguments,
    run=run_list,
    example="autoheal --stack hyperpod-autoheal-prod approvals --cluster ml-cluster",
)
APPROVE = Command(
    "approve",
    help="let pending actions proceed: approve ID... | --all --cluster C (recorded: who, when, why)",
    description=(__doc__ or "").split("\n\n")[1].replace("\n", " "),
    arguments=lambda p: _decide_arguments(p, deny=False),
    run=run_approve,
    example="autoheal --stack hyperpod-autoheal-prod approve k7p2m9xq",
)
DENY = Command(
    "deny",
    help="refuse pending actions, the nodes go to a human: deny ID... --reason TEXT | --all --cluster C",
    description=(__doc__ or "").split("\n\n")[1].replace("\n", " "),
    arguments=lambda p: _decide_arguments(p, deny=True),
    run=run_deny,
    example='autoheal --stack hyperpod-autoheal-prod deny k7p2m9xq --reason "job checkpointing, replace tonight"',
)
