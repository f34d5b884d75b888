"""The alert renderer, the chat format and the step switches (pure; issue 18 §5)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from botocore.exceptions import ClientError

from autoheal.adapters.notify import HumanNeeded, Notifier, NotifyError, notice, pending_notice
from autoheal.alerts.chat import MAX_CHAT_NODES, chat_message
from autoheal.alerts.kinds import KINDS
from autoheal.alerts.render import MACHINE_MARKER, MAX_SUBJECT, machine_data, render, subject
from autoheal.alerts.steps import DEFAULT_STEPS, NotifyStep, parse_steps, step_of, stuck_for
from autoheal.core.approvals import Approval
from autoheal.core.canary import WaveKey, WaveRecord
from autoheal.core.fleet import FleetTrip, TripKind
from autoheal.core.restore import RestoreStatus
from autoheal.core.state import NodeState, NodeStatus
from autoheal.policy import Action
from autoheal.remediate import canary, fleet, restore_notices
from autoheal.remediate.approvals import pending_notice as approval_notice
from autoheal.settings import SettingsError, load_settings

CHAT_SCHEMA = json.loads((Path(__file__).parent / "chat_notification.schema.json").read_text())
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

#: One notice of every kind in the table, with the structured fields its creator passes, and kinds
#: a feature may add without a row of its own (rendered by the generic row) with fields only.
SAMPLES: dict[str, HumanNeeded] = {
    "needs_human": HumanNeeded("train", "train-gpu-1", "i-0a", "ladder_exhausted", "replace", "Xid79"),
    "breaker_open": HumanNeeded(
        "train",
        "train/gpu",
        None,
        "circuit breaker open: 30 nodes under remediation in train/gpu, 12 allowed",
        None,
        None,
        kind="breaker_open",
        details={"scope": "train/gpu", "group": "gpu", "nodes": "30", "allowed": "12", "until": "T"},
    ),
    "capacity_cooldown": HumanNeeded(
        "train", "train-gpu-2", "i-0b", "insufficient capacity", None, "InsufficientCapacity",
        kind="capacity_cooldown", details={"group": "gpu", "until": "2026-03-01T13:00:00+00:00"},
    ),
    "cluster_unreachable": HumanNeeded(
        "train", "*", None, "cluster train cannot be read", None, None,
        kind="cluster_unreachable", details={"error_code": "AccessDeniedException"},
    ),
    "restore_failed": HumanNeeded(
        "train", "train-gpu-3", "i-0c", "restore_failed:ValidationException", "retire", None,
        kind="restore_failed", details={"group": "gpu", "error_code": "ValidationException"},
    ),
    "restore_deadline": HumanNeeded(
        "train", "train-gpu-4", "i-0d", "restore_deadline_passed (restore token t: i-0e=Pending)", "retire", None,
        kind="restore_deadline", details={"group": "gpu"},
    ),
    "started": HumanNeeded(
        "train", "train-gpu-5", "i-0f", "reboot accepted (new_fault)", "reboot", None,
        kind="started", details={"step": "0"},
    ),
    "healed": HumanNeeded(
        "train", "train-gpu-5", "i-0f", "healed after reboot", "reboot", None,
        kind="healed", details={"took": "6 min"},
    ),
    "stuck": HumanNeeded(
        "train", "train-gpu-6", "i-10", "reboot running for 21 min", "reboot", None,
        kind="stuck", details={"expected": "10 min", "since": "2026-03-01T11:39:00+00:00"},
    ),
    "approval_pending": HumanNeeded(
        "train", "train-gpu-7", "i-11", "replace needs approval", "replace", "Xid79",
        kind="approval_pending",
        details={"approval_id": "ap-7f3k", "deadline": "2026-03-01T13:00:00+00:00", "default": "deny",
                 "command": "autoheal approve ap-7f3k"},
    ),
    "evidence_captured": HumanNeeded(
        "train", "train-gpu-8", "i-12", "evidence bundle", None, None,
        kind="evidence_captured", details={"bundle": "s3://bucket/train/train-gpu-8/1/", "partial": "false"},
    ),
    "canary-wave": HumanNeeded(
        "train", "train/gpu", None, "64 nodes reported GpuCountMismatch within 2 min", None, "GpuCountMismatch",
        kind="canary-wave", details={"wave": "1", "canary": "train-gpu-9", "held": "63"},
    ),
    "fleet_breaker": HumanNeeded(
        "*", "*", None, "fleet breaker open: 4 clusters tripped", None, None,
        kind="fleet_breaker", details={"command": "autoheal breaker reset --fleet"},
    ),
}  # fmt: skip


def test_every_kind_of_the_table_has_a_sample() -> None:
    assert set(KINDS) <= set(SAMPLES) | set(PRODUCED)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_kind_renders_a_readable_message(kind: str) -> None:
    node = SAMPLES[kind]
    r = render(node.cluster, node.kind, [node])
    assert len(r.subject) <= MAX_SUBJECT and r.subject.isascii() and r.subject.isprintable()
    assert "?" not in r.subject and "{" not in r.text.partition(MACHINE_MARKER)[0]  # every template filled
    head = r.text.partition(MACHINE_MARKER)[0]
    for part in (
        "What happened:",
        "What the service did:",
        "What it needs from you:",
        node.node_key,
        node.reason,
    ):
        assert part in head, part
    assert r.commands and all(c.startswith("autoheal ") for c in r.commands)
    assert all(f"  {c}" in head for c in r.commands)
    data = machine_data(r.text)
    assert (data["kind"], data["cluster"], data["nodes"][0]["node_key"]) == (
        kind,
        node.cluster,
        node.node_key,
    )
    attributes = r.attributes()
    assert len(attributes) <= 10  # SNS: at most 10 message attributes
    assert {k: v["StringValue"] for k, v in attributes.items()}["step"] == step_of(kind).value


def test_a_kind_without_a_row_lists_its_fields_and_its_own_commands() -> None:
    node = replace(
        SAMPLES["evidence_captured"],
        details={**SAMPLES["evidence_captured"].details, "command": "autoheal x"},
    )
    r = render("train", node.kind, [node])
    assert r.subject == "[autoheal] train: evidence captured (1 node(s))"
    assert "bundle s3://bucket/train/train-gpu-8/1/; partial false" in r.text
    assert "autoheal x" in r.commands
    assert r.severity == "page"  # an unknown kind is for a human


def test_commands_name_the_node_when_there_is_one_and_node_when_there_are_several() -> None:
    one = render("train", "needs_human", [SAMPLES["needs_human"]])
    assert "autoheal release train-gpu-1 --cluster train --reason TEXT" in one.commands
    two = render("train", "needs_human", [SAMPLES["needs_human"], SAMPLES["started"]])
    assert "autoheal release NODE --cluster train --reason TEXT" in two.commands


def test_a_breaker_reset_names_the_group_only_when_every_scope_is_that_group() -> None:
    group = SAMPLES["breaker_open"]
    whole = HumanNeeded(
        "train", "train/*", None, "open", None, None, kind="breaker_open", details={"scope": "train/*"}
    )
    assert (
        "autoheal breaker reset --cluster train --group gpu" in render("train", group.kind, [group]).commands
    )
    both = render("train", group.kind, [group, whole])
    assert "autoheal breaker reset --cluster train" in both.commands
    assert both.subject == "[autoheal] train: circuit breaker open for train/gpu, train/*"


@pytest.mark.parametrize(
    "cluster",
    ["c", "a" * 63, "arn:aws:sagemaker:us-east-1:123456789012:cluster/" + "z" * 40, "tr\u00e4in\nnew\tline"],
)
def test_subjects_stay_under_sns_limits_whatever_the_cluster(cluster: str) -> None:
    for kind, node in SAMPLES.items():
        s = render(cluster, kind, [node] * 3).subject
        assert len(s) <= MAX_SUBJECT and s.isascii() and s.isprintable() and "\n" not in s, s


def test_subject_keeps_the_title_and_shortens_a_long_cluster_name() -> None:
    s = subject("x" * 200, "2 node(s) need a human")
    assert s.endswith("...: 2 node(s) need a human") and len(s) == MAX_SUBJECT
    assert len(subject("c", "t" * 300)) == MAX_SUBJECT


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_kind_has_a_chat_form_in_the_documented_format(kind: str) -> None:
    node = SAMPLES[kind]
    chat = chat_message(render(node.cluster, kind, [node]), "id-1").dump()
    jsonschema.validate(chat, CHAT_SCHEMA)
    assert (chat["version"], chat["source"], chat["content"]["textType"]) == (
        "1.0",
        "custom",
        "client-markdown",
    )
    assert node.node_key in chat["content"]["description"]


def test_a_long_node_list_is_cut_in_chat_and_complete_in_the_email() -> None:
    nodes = [
        HumanNeeded("train", f"train-gpu-{i}", f"i-{i:04x}", "ladder_exhausted", "replace", None)
        for i in range(50)
    ]
    r = render("train", "needs_human", nodes)
    assert all(n.node_key in r.text for n in nodes)
    chat = chat_message(r, "id").dump()
    jsonschema.validate(chat, CHAT_SCHEMA)
    assert f"and {50 - MAX_CHAT_NODES} more" in chat["content"]["description"]


def test_steps_parse_and_reject_unknown_ones() -> None:
    assert parse_steps("human,stuck") == DEFAULT_STEPS
    assert parse_steps(" Started , healed,,") == {NotifyStep.STARTED, NotifyStep.HEALED}
    assert parse_steps("") == frozenset()
    with pytest.raises(ValueError, match="unknown notification step 'paged'"):
        parse_steps("human,paged")
    assert load_settings({"AUTOHEAL_NOTIFY_STEPS": "started,human"}).steps == {
        NotifyStep.STARTED,
        NotifyStep.HUMAN,
    }
    with pytest.raises(SettingsError, match="paged"):
        load_settings({"AUTOHEAL_NOTIFY_STEPS": "paged"})


def test_every_kind_but_the_steps_answers_to_the_human_switch() -> None:
    assert {k: step_of(k) for k in ("started", "healed", "stuck")} == {
        "started": NotifyStep.STARTED,
        "healed": NotifyStep.HEALED,
        "stuck": NotifyStep.STUCK,
    }
    assert {step_of(k) for k in SAMPLES if k not in ("started", "healed", "stuck")} == {NotifyStep.HUMAN}


def _running(action: Action, minutes: int) -> NodeState:
    return NodeState(
        cluster="train",
        node_key="n1",
        status=NodeStatus.IN_PROGRESS,
        last_action=action,
        last_action_at=NOW - timedelta(minutes=minutes),
    )


def test_stuck_is_over_twice_the_expected_time_of_the_action() -> None:
    assert stuck_for(_running(Action.REBOOT, 20), NOW) is None
    assert stuck_for(_running(Action.REBOOT, 21), NOW) == timedelta(minutes=21)
    assert stuck_for(_running(Action.REPLACE, 40), NOW) is None
    assert stuck_for(_running(Action.REPLACE, 41), NOW) == timedelta(minutes=41)
    held = NodeState(cluster="train", node_key="n1", status=NodeStatus.HELD, last_action=Action.REBOOT,
                     last_action_at=NOW - timedelta(hours=5))  # fmt: skip
    assert stuck_for(held, NOW) is None


def test_a_stored_notice_of_an_older_or_newer_version_reads_back() -> None:
    old = json.dumps({"at": NOW.isoformat(), "node": {
        "cluster": "c", "node_key": "n", "instance_id": None, "reason": "r", "last_action": None, "signal": None,
    }})  # fmt: skip
    assert pending_notice(old)[0] == HumanNeeded("c", "n", None, "r", None, None)
    newer = json.loads(notice(SAMPLES["stuck"], NOW))
    newer["node"]["wave"] = 3
    told, at = pending_notice(json.dumps(newer))
    assert (told.kind, told.details["wave"], at) == ("stuck", "3", NOW)


class Sns:
    def __init__(self, fail_on: str | None = None) -> None:
        self.published: list[dict[str, Any]] = []
        self.fail_on = fail_on

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        if kwargs["TopicArn"] == self.fail_on:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "later"}}, "Publish")
        self.published.append(kwargs)
        return {"MessageId": str(len(self.published))}


def test_one_message_per_cluster_and_kind_and_the_chat_copy() -> None:
    sns = Sns()
    notifier = Notifier(sns, "people", "chat", steps=set(NotifyStep))
    told = [SAMPLES["needs_human"], SAMPLES["restore_failed"], SAMPLES["started"], SAMPLES["healed"]]
    told += [HumanNeeded("other", "o-1", None, "ladder_exhausted", "replace", None)]
    assert notifier.needs_human(told) == 5
    people = [p for p in sns.published if p["TopicArn"] == "people"]
    chat = [p for p in sns.published if p["TopicArn"] == "chat"]
    assert len(people) == len(chat) == 5
    assert all("Subject" not in c for c in chat)
    for c in chat:
        jsonschema.validate(json.loads(c["Message"]), CHAT_SCHEMA)


def test_a_step_switched_off_is_settled_without_a_message() -> None:
    sns = Sns()
    notifier = Notifier(sns, "people")  # default: human, stuck
    assert notifier.needs_human([SAMPLES["started"], SAMPLES["needs_human"]]) == 2
    assert [machine_data(p["Message"])["kind"] for p in sns.published] == ["needs_human"]
    assert Notifier(None, "").steps == frozenset() and Notifier(sns, "people").steps == DEFAULT_STEPS


def test_a_chat_failure_does_not_fail_the_notice_but_a_people_failure_does() -> None:
    assert Notifier(Sns(fail_on="chat"), "people", "chat").needs_human([SAMPLES["needs_human"]]) == 1
    with pytest.raises(NotifyError):
        Notifier(Sns(fail_on="people"), "people", "chat").needs_human([SAMPLES["needs_human"]])


def test_a_storm_is_split_under_the_sns_size_limit() -> None:
    sns = Sns()
    nodes = [
        HumanNeeded(
            "train", f"train-gpu-{i}", f"i-{i:08x}", "ladder_exhausted " + "x" * 300, "replace", "Xid79"
        )
        for i in range(1500)
    ]
    parts = Notifier(sns, "people").needs_human(nodes)
    assert parts > 1
    assert all(len(p["Message"].encode()) < 256 * 1024 for p in sns.published)
    assert sum(len(machine_data(p["Message"])["nodes"]) for p in sns.published) == 1500


@dataclass(frozen=True)
class WithApproval(HumanNeeded):
    """A notice type a parallel change might add, with its own field instead of `details`."""

    approval_id: str | None = None
    command: str | None = None


def test_a_field_added_beside_the_common_ones_is_rendered_too() -> None:
    node = WithApproval(
        "train", "train-gpu-7", "i-11", "replace needs approval", "replace", None,
        kind="approval_pending", approval_id="ap-9", command="autoheal approve ap-9",
    )  # fmt: skip
    r = render("train", node.kind, [node])
    assert "approval id ap-9" in r.text and "autoheal approve ap-9" in r.commands
    jsonschema.validate(chat_message(r, "id").dump(), CHAT_SCHEMA)


# ---------------------------------------------------------------- the kinds the other features send


def _wave(**kw: Any) -> WaveRecord:
    key = WaveKey("train", "gpu", "GpuCountMismatch")
    seen = {f"train-gpu-{i}": NOW for i in range(64)}
    return WaveRecord(key, episode="w-1a2b3c4d", count=64, seen=seen, current=("train-gpu-0",), **kw)


def _lemon(status: RestoreStatus) -> NodeState:
    return NodeState(
        cluster="train",
        node_key="train-gpu-3",
        status=NodeStatus.IN_PROGRESS,
        instance_id="i-0c",
        instance_group="gpu",
        action_times={Action.REPLACE: (NOW, NOW)},
        restore_status=status.value,
        restore_ids=("nl-9",),
        restore_token="t1",
        restore_at=NOW - timedelta(minutes=25),
    )


#: Each kind as its producer builds it -> the subject and commands a person reads.
PRODUCED: dict[str, tuple[HumanNeeded | None, str, tuple[str, ...]]] = {
    "approval_pending": (
        approval_notice(
            Approval("ap7f3k2q", "train", "train-gpu-7", "replace", "first_fault", "table", NOW,
                     NOW + timedelta(hours=1), "deny", instance_id="i-11",
                     evidence="s3://evidence/train/train-gpu-7/t-replace/")
        ),
        "1 action(s) waiting for approval",
        ("autoheal approvals --cluster train", "autoheal approve ap7f3k2q",
         "autoheal approve --all --cluster train", 'autoheal deny ap7f3k2q --reason "..."'),
    ),
    "canary_started": (
        canary._started(_wave(), SimpleNamespace(nodes=[])),  # type: ignore[arg-type]
        "correlated fault in gpu: canary first",
        ("autoheal waves", "autoheal waves stop w-1a2b3c4d --reason TEXT", "autoheal waves release w-1a2b3c4d"),
    ),
    "canary_stopped": (
        canary.stopped_notice(
            _wave(wave=1, released={"train-gpu-0": NOW}, verified=("train-gpu-0",), reason="fault recurred")
        ),
        "canary waves stopped in gpu",
        ("autoheal waves", "autoheal history NODE --cluster train",
         "autoheal waves release w-1a2b3c4d --reason TEXT"),
    ),
    "fleet_breaker_open": (
        fleet.page(FleetTrip(TripKind.CLUSTERS, ("a", "b", "c"), 0, 0, 3)),
        "fleet breaker open: every action held",
        ("autoheal breaker", "autoheal breaker reset --fleet --reason TEXT"),
    ),
    "retired_and_restored": (
        restore_notices.retired(_lemon(RestoreStatus.ADDED), "Xid79"),
        "lemon retired, group gpu restored",
        ("autoheal history train-gpu-3 --cluster train",),
    ),
    "retired": (
        restore_notices.retired(_lemon(RestoreStatus.NOT_NEEDED), "Xid79"),
        "lemon retired, group gpu kept its size",
        ("autoheal history train-gpu-3 --cluster train",),
    ),
    "restore_running": (
        restore_notices.running(_lemon(RestoreStatus.ADDED), "Xid79", NOW),
        "group gpu back to size",
        ("autoheal history train-gpu-3 --cluster train",),
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(PRODUCED))
def test_each_feature_notice_has_its_own_row_with_the_exact_commands(kind: str) -> None:
    node, title, commands = PRODUCED[kind]
    assert node is not None and node.kind == kind and kind in KINDS
    r = render(node.cluster, node.kind, [node])
    assert r.subject == f"[autoheal] {node.cluster}: {title}"
    assert r.commands == commands
    head = r.text.partition(MACHINE_MARKER)[0]
    assert "?" not in head.replace("(a regional incident, a bad AMI everywhere?)", "")  # every value known
    for words in (KINDS[kind].happened, KINDS[kind].did, KINDS[kind].needs):
        assert words.split("{")[0] in head
    assert (r.severity == "info") == kind.startswith(("retired", "restore_"))


def test_the_pending_approval_names_its_evidence_and_deadline() -> None:
    node, _, _ = PRODUCED["approval_pending"]
    assert node is not None
    text = render("train", node.kind, [node]).text
    assert "evidence s3://evidence/train/train-gpu-7/t-replace/" in text
    assert f"deadline {(NOW + timedelta(hours=1)).isoformat()}" in text


def test_a_canary_page_says_how_many_said_what_and_which_node_goes_first() -> None:
    node, _, _ = PRODUCED["canary_started"]
    assert node is not None
    text = render("train", node.kind, [node]).text
    assert "64 nodes of group gpu reported the same signal GpuCountMismatch" in text
    assert "one canary node (train-gpu-0)" in text
    stopped, _, _ = PRODUCED["canary_stopped"]
    assert stopped is not None
    assert (
        "holds the 63 node(s) not released (1 verified healthy)"
        in render("train", stopped.kind, [stopped]).text
    )
