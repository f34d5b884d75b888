"""The demo's scenario format: clusters to create, then steps to run, as one JSON document.

A scenario is what ``--scenario FILE`` replays (the built-in incident is one too). :func:`load_scenario`
checks it all before the local server starts (keys, numbers, instance types, references, placeholders).

Shape::

    {
      "description": "one line shown in the output",
      "retire_and_restore": false,
      "clusters": [
        {"name": "train-p5", "groups": [
          {"name": "controller", "instance_type": "ml.m5.12xlarge", "count": 1, "node_type": "Controller"},
          {"name": "gpu-a", "instance_type": "ml.p5.48xlarge", "count": 16, "node_type": "Compute"}
        ]}
      ],
      "steps": [
        {"phase": "storm", "health": {"cluster": "train-p5", "group": "gpu-a", "nodes": ["0-9"]}},
        {"hma": {"cluster": "train-p5", "group": "gpu-a", "nodes": [12], "records": 3}},
        {"deliver": [{"detail-type": "...", "detail": {"InstanceId": "{{node:train-p5:gpu-a:3}}"}}]},
        {"remediate": {}}, {"advance": 300}
      ]
    }

``retire_and_restore`` (default false, as deployed: template ``RetireAndRestore``) turns the retire
rung on; clusters are ``NodeProvisioningMode=Continuous``, the only mode where it acts.
``approval_required_for`` (default ``[]``: template ``ApprovalRequiredFor``) lists actions that wait.

Steps (each has exactly one of these keys, plus an optional ``phase`` title that later steps keep):

- ``health``: Node Health Events for nodes of one group, generated like HyperPod's:
  ``{"cluster", "group", "nodes": [0, "2-5"], "status": "Unhealthy"|"Healthy",
  "fault_type": "NvidiaErrorTerminate", "event_id": "..." (one node only), "copies": 1, "label": "..."}``.
  ``copies`` > 1 delivers the very same event (same id) again; ``label`` names the nodes in the summary.
- ``hma``: HMA log records for nodes of one group, as a CloudWatch Logs subscription delivers them
  (Slurm's path): ``{"cluster", "group", "nodes", "xid": 79, "records": 1, "also_eventbridge": false,
  "label": "..."}``. Each node's ``records`` DCGM ``XID Error`` records (one second apart, the last at
  the simulated now) go in one delivery from its log stream; ``also_eventbridge`` also delivers the
  node's Node Health Event (``NvidiaErrorTerminate``) in the same step: the same fault by both paths.
- ``deliver``: raw EventBridge events, sent through the real intake handler as they are, after
  placeholder substitution (below). Malformed ones are welcome: intake must reject them.
- ``remediate``: ``{}`` - one remediate invocation over every message visible on the queue;
  ``{"dies": "after_the_call"}`` (or ``"before_the_call"``): the invocation dies after its SageMaker
  calls went out, before their outcome is written (or after its claims, before any call), as a Lambda
  timeout would end it; its messages go back to the queue, as SQS redelivers them.
- ``reconcile``: ``{}`` - one reconcile round (the schedule's): verifies every open node, records a
  dead invocation's calls as taken, queues a ``RestorePending`` fault for a retire whose restore
  outcome was lost, tracks nodes added by a restore until they run.
- ``advance``: seconds of simulated time (node operations complete when their time comes).
- ``busy``: ``{"cluster", "group", "index", "seconds"}`` - the node answers ``InstanceIdInUse``.
- ``capacity``: ``{"cluster", "group", "count"}`` - further launches allowed in the group (null: no limit).
- ``shortage``: ``{"cluster", "group", "seconds"}`` - a capacity shortage: nodes added meanwhile stay
  ``Pending`` until it ends (Continuous provisioning keeps launching), then run.
- ``entry_error``: ``{"cluster", "group", "index", "code", "times": 1}`` - the next entries naming the
  node fail with ``code``.
- ``approve``: ``{"cluster", "decision": "approve"|"deny", "reason"}`` - `autoheal approve|deny --all`.

Placeholders, in any string of a ``deliver`` event (resolved when the step runs):

- ``{{node:<cluster>:<group>:<index>}}`` - the node's current instance id (a new one after a replace);
- ``{{logical:<cluster>:<group>:<index>}}`` - its NodeLogicalId;
- ``{{cluster_arn:<cluster>}}``;
- ``{{now}}`` - the simulated time, ``2025-06-01T16:20:25Z``; ``{{now_ms}}`` - epoch milliseconds (a
  number when it is the whole string, as ``EventTime`` is).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from autoheal.validation import first_errors
from autoheal_cli.jsonfile import JsonFileError, read_json
from hyperpod_local.demo.approvals import Approve
from hyperpod_local.service_model import closest_instance_types, is_cluster_instance_type

MAX_NODES_PER_GROUP = 1000
MAX_NODES_TOTAL = 2000
MAX_ADVANCE_SECONDS = 30 * 24 * 3600
MAX_ERRORS_SHOWN = 8
MAX_HMA_RECORDS = 100
MAX_XID = 999

_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-z_]+)((?::[^:}]*)*)\s*\}\}")
_RANGE_RE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")

#: placeholder kind -> number of arguments
PLACEHOLDERS = {"node": 3, "logical": 3, "cluster_arn": 1, "now": 0, "now_ms": 0}


class ScenarioError(ValueError):
    """A scenario that cannot run: unreadable, invalid JSON, or invalid content (exit code 2)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupSpecModel(_Model):
    name: str = Field(pattern=_NAME)
    instance_type: str = "ml.p5.48xlarge"
    count: int = Field(ge=1, le=MAX_NODES_PER_GROUP)
    node_type: Literal["Controller", "Login", "Compute"] | None = None
    capacity: int | None = Field(default=None, ge=0)

    @field_validator("instance_type")
    @classmethod
    def _known_instance_type(cls, value: str, info: ValidationInfo) -> str:
        """Any HyperPod instance type the installed botocore model knows (what CreateCluster accepts)."""
        if is_cluster_instance_type(value):
            return value
        closest = closest_instance_types(value)
        hint = f"; closest: {', '.join(closest)}" if closest else ""
        group = info.data.get("name")
        raise ValueError(
            (f"instance group {group!r}: " if group else "")
            + f"unknown instance type {value!r} (not a ClusterInstanceType of the installed botocore "
            f"model{hint})"
        )


class ClusterSpecModel(_Model):
    name: str = Field(pattern=_NAME)
    orchestrator: Literal["Slurm", "Eks"] = "Slurm"
    node_recovery: Literal["None", "Automatic"] = "None"
    groups: list[GroupSpecModel] = Field(min_length=1)

    @field_validator("groups")
    @classmethod
    def _unique_groups(cls, groups: list[GroupSpecModel]) -> list[GroupSpecModel]:
        names = [g.name for g in groups]
        if len(set(names)) != len(names):
            raise ValueError("instance group names must be unique in a cluster")
        return groups

    def group(self, name: str) -> GroupSpecModel | None:
        return next((g for g in self.groups if g.name == name), None)


class GroupRef(_Model):
    cluster: str
    group: str


class IndexedNode(GroupRef):
    """One node of a group, by its index in creation order."""

    index: int = Field(ge=0)


class NodeSet(GroupRef):
    """Nodes of one group: indexes and inclusive ranges (``[0, "2-5"]``)."""

    nodes: list[int | str] = Field(min_length=1)

    def indexes(self) -> list[int]:
        """The node indexes, ranges ("2-5", inclusive) expanded, in order, without repeats."""
        out: list[int] = []
        for item in self.nodes:
            if isinstance(item, int):
                out.append(item)
                continue
            match = _RANGE_RE.match(item)
            if match is None:
                raise ValueError(f"node {item!r} is neither an index nor a range like '0-9'")
            first = int(match[1])
            last = int(match[2]) if match[2] is not None else first
            if last < first:
                raise ValueError(f"range {item!r} runs backwards")
            out.extend(range(first, last + 1))
        return list(dict.fromkeys(out))

    @model_validator(mode="after")
    def _check_nodes(self) -> Self:
        if any(i < 0 for i in self.indexes()):
            raise ValueError("node indexes start at 0")
        return self


class HealthFaults(NodeSet):
    status: Literal["Unhealthy", "Healthy"] = "Unhealthy"
    fault_type: str = Field(default="NvidiaErrorTerminate", pattern=r"^[A-Za-z0-9_]{1,64}$")
    event_id: str | None = Field(default=None, min_length=1, max_length=64)
    copies: int = Field(default=1, ge=1, le=10)
    label: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _check(self) -> HealthFaults:
        if self.event_id is not None and len(self.indexes()) != 1:
            raise ValueError("event_id names one event: give exactly one node")
        return self


class HmaFaults(NodeSet):
    """HMA log records (Slurm's DCGM Xid record), one CloudWatch Logs delivery per node."""

    xid: int = Field(default=79, ge=1, le=MAX_XID)
    records: int = Field(default=1, ge=1, le=MAX_HMA_RECORDS)
    also_eventbridge: bool = False
    label: str | None = Field(default=None, max_length=40)


class Busy(IndexedNode):
    seconds: float = Field(gt=0, le=MAX_ADVANCE_SECONDS)


class Capacity(GroupRef):
    count: int | None = Field(ge=0)


class Shortage(GroupRef):
    seconds: float = Field(ge=0, le=MAX_ADVANCE_SECONDS)


class EntryError(IndexedNode):
    code: str = Field(pattern=r"^[A-Za-z]{1,64}$")
    times: int = Field(default=1, ge=1, le=100)


class Remediate(_Model):
    #: the invocation dies (a Lambda timeout, an out-of-memory kill): before its calls, or after them
    #: and before their outcome is written; its messages go back to the queue (SQS redelivers them)
    dies: Literal["before_the_call", "after_the_call"] | None = None


class Reconcile(_Model):
    pass


#: the step kinds, in the order of the module docstring
ACTIONS = tuple(
    [
        "health",
        "hma",
        "deliver",
        "remediate",
        "reconcile",
        "advance",
        "busy",
        "capacity",
        "shortage",
        "entry_error",
        "approve",
    ]
)


class Step(_Model):
    phase: str | None = Field(default=None, max_length=60)
    health: HealthFaults | None = None
    hma: HmaFaults | None = None
    deliver: list[dict[str, Any]] | None = Field(default=None, min_length=1)
    remediate: Remediate | None = None
    reconcile: Reconcile | None = None
    advance: float | None = Field(default=None, gt=0, le=MAX_ADVANCE_SECONDS)
    busy: Busy | None = None
    capacity: Capacity | None = None
    shortage: Shortage | None = None
    entry_error: EntryError | None = None
    approve: Approve | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        given = [name for name in ACTIONS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a step needs exactly one of {', '.join(ACTIONS)} (got {given or 'none'})")
        return self

    @property
    def action(self) -> str:
        return next(name for name in ACTIONS if getattr(self, name) is not None)


class Scenario(_Model):
    description: str = Field(default="", max_length=200)
    #: the retire rung (template RetireAndRestore, off as deployed): on for this run
    retire_and_restore: bool = False
    approval_required_for: list[Literal["reboot", "replace", "retire", "restore"]] = Field(
        default_factory=list
    )
    clusters: list[ClusterSpecModel] = Field(min_length=1, max_length=10)
    steps: list[Step] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _unique_and_bounded(self) -> Scenario:
        names = [c.name for c in self.clusters]
        if len(set(names)) != len(names):
            raise ValueError("cluster names must be unique")
        total = sum(g.count for c in self.clusters for g in c.groups)
        if total > MAX_NODES_TOTAL:
            raise ValueError(f"{total} nodes in all: at most {MAX_NODES_TOTAL}")
        return self

    def reference_problems(self) -> list[str]:
        """``"<path>: <problem>"`` for every cluster, group, node index or placeholder that does not exist."""
        return [problem for i, step in enumerate(self.steps) for problem in self._step_problems(i, step)]

    def cluster(self, name: str) -> ClusterSpecModel | None:
        return next((c for c in self.clusters if c.name == name), None)

    def _group_problem(self, cluster: str, group: str, indexes: Sequence[int] = ()) -> str | None:
        spec = self.cluster(cluster)
        if spec is None:
            return f"no cluster {cluster!r} in clusters"
        found = spec.group(group)
        if found is None:
            return f"cluster {cluster!r} has no instance group {group!r}"
        too_big = [i for i in indexes if i >= found.count]
        if too_big:
            return (
                f"{cluster}/{group} has {found.count} nodes (indexes 0-{found.count - 1}), not {too_big[0]}"
            )
        return None

    def _step_problems(self, number: int, step: Step) -> Iterator[str]:
        ref: GroupRef | None = (
            step.health or step.hma or step.busy or step.capacity or step.shortage or step.entry_error
        )
        if ref is not None:
            indexes = (
                ref.indexes()
                if isinstance(ref, NodeSet)
                else [ref.index]
                if isinstance(ref, IndexedNode)
                else []
            )
            problem = self._group_problem(ref.cluster, ref.group, indexes)
            if problem:
                yield f"steps.{number}.{step.action}: {problem}"
        for path, text in _strings(step.deliver or [], f"steps.{number}.deliver"):
            for match in PLACEHOLDER_RE.finditer(text):
                problem = self._placeholder_problem(match[1], placeholder_args(match[2]))
                if problem:
                    yield f"{path}: {match[0]}: {problem}"

    def _placeholder_problem(self, kind: str, args: list[str]) -> str | None:
        if kind not in PLACEHOLDERS:
            return f"unknown placeholder (known: {', '.join(PLACEHOLDERS)})"
        if len(args) != PLACEHOLDERS[kind]:
            return f"takes {PLACEHOLDERS[kind]} argument(s) after {kind!r}, separated by ':'"
        if kind == "cluster_arn":
            return None if self.cluster(args[0]) else f"no cluster {args[0]!r} in clusters"
        if kind in ("node", "logical"):
            if not args[2].isdigit():
                return f"index {args[2]!r} is not a number"
            return self._group_problem(args[0], args[1], [int(args[2])])
        return None


def placeholder_args(text: str) -> list[str]:
    """The arguments of a placeholder match: ':a:b:c' -> ['a', 'b', 'c']."""
    return [part.strip() for part in text.split(":")[1:]] if text else []


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON value, with its path (``deliver.0.detail.InstanceId``)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}.{i}")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raises :class:`ScenarioError` with a readable message."""
    where = str(path)
    try:
        raw = read_json(path)
    except JsonFileError as exc:
        raise ScenarioError(str(exc)) from exc
    return parse_scenario(raw, where)


def parse_scenario(raw: Any, where: str = "scenario") -> Scenario:
    """Validate a decoded scenario: its shape, then every reference in its steps."""
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{where}: invalid scenario:\n" + describe(exc)) from exc
    problems = scenario.reference_problems()
    if problems:
        lines = [f"  at {p}" for p in problems[:MAX_ERRORS_SHOWN]]
        if len(problems) > MAX_ERRORS_SHOWN:
            lines.append(f"  ... and {len(problems) - MAX_ERRORS_SHOWN} more")
        raise ScenarioError(f"{where}: invalid scenario:\n" + "\n".join(lines))
    return scenario


def describe(exc: ValidationError) -> str:
    """At most a few lines ``  at <path>: <message>`` (never the input itself)."""
    errors, hidden = first_errors(exc, MAX_ERRORS_SHOWN, top_level="(top level)")
    lines = [f"  at {e.location}: {e.message.removeprefix('Value error, ')}" for e in errors]
    if hidden > 0:
        lines.append(f"  ... and {hidden} more")
    return "\n".join(lines)
