"""Each function's IAM role grants exactly the calls its code makes (c7n-style declared permissions).

Three sources must agree, per function:

* **declared**: the adapter methods its wiring lists (`ADAPTER_CALLS` in `autoheal.intake.wiring`,
  `autoheal.remediate.wiring`, `autoheal.reconcile.wiring`), through the `IAM_ACTIONS` that each adapter
  module declares per method;
* **observed**: the AWS operations a run of the function's real code makes against the local moto server
  and HyperPod control plane, recorded with a botocore `before-call` hook on the session that
  `autoheal.clients` builds the functions' clients from (the test's own set-up uses other sessions);
* **granted**: the statements of the function's role in the CloudFormation that the SAM transform makes
  of template.yaml, with SAM's policy templates expanded.

The adapters' own declarations are checked the same way: every public method of every adapter, called
against the same local AWS, makes exactly the calls it declares. What Lambda itself does with a role
(logs, traces, polling the fault queue, async failure destinations) is listed in `PLATFORM` with its
reason and checked separately. The operator CLI runs with its user's credentials, not these roles: its
needs are in the README.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import pkgutil
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from types import ModuleType
from typing import Any

import boto3
import pytest

from autoheal import adapters, clients
from autoheal.adapters.approvals import LedgerApprovals
from autoheal.adapters.attempts import LedgerAttempts
from autoheal.adapters.control import (
    AlreadyPaused,
    Cooldown,
    LedgerBreakers,
    LedgerCooldowns,
    LedgerNotices,
    LedgerPauses,
)
from autoheal.adapters.directory import NodeDirectory
from autoheal.adapters.evidence import EvidenceStore
from autoheal.adapters.evidence import log_group as evidence_log_group
from autoheal.adapters.fleet import FleetSizes, FleetTripRecord, LedgerFleet
from autoheal.adapters.ladder_stats import LedgerLadderStats
from autoheal.adapters.ledger import AttemptRecord
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.adapters.notify import HumanNeeded, Notifier, notice
from autoheal.adapters.open_nodes import LedgerOpenNodes
from autoheal.adapters.queue import FaultQueue
from autoheal.adapters.sagemaker import HyperPodNodes
from autoheal.adapters.verdicts import DroppedFault, LedgerVerdicts
from autoheal.adapters.waves import LedgerWaves
from autoheal.core.approvals import Approval, ApprovalStatus
from autoheal.core.canary import WaveKey, WaveRecord
from autoheal.core.fleet import FleetSize
from autoheal.core.planner import BatchRequest
from autoheal.core.results import IdKind
from autoheal.core.state import NodeState, NodeStatus
from autoheal.faults import FaultSource, NodeFault
from autoheal.intake import wiring as intake_wiring
from autoheal.policy import Action
from autoheal.reconcile import wiring as reconcile_wiring
from autoheal.remediate import wiring as remediate_wiring
from hyperpod_local.plane import ControlPlaneClock, LocalAws
from hyperpod_local.plane.clusters import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.stack.events import cluster_event, node_health_event
from hyperpod_local.stack.hma_logs import (
    dcgm_record,
    delivery,
    log_group,
    log_stream,
    payload,
    write_node_logs,
)
from hyperpod_local.stack.intrinsics import Resolver
from hyperpod_local.stack.template import (
    EVIDENCE_BUCKET,
    FAULT_QUEUE,
    HMA_INTAKE_FUNCTION,
    INTAKE_DLQ,
    INTAKE_FUNCTION,
    LEDGER_TABLE,
    NEEDS_HUMAN_TOPIC,
    RECONCILE_FUNCTION,
    REMEDIATE_FUNCTION,
    TEMPLATE_PATH,
    load_template,
)
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tools.lint_template import transform

pytestmark = pytest.mark.integration

REGION = "us-east-1"
ACCOUNT = "123456789012"
RECONCILE_DLQ = "ReconcileDLQ"

#: Where each function declares the adapter methods it calls (the HMA intake runs intake's code).
WIRING: Mapping[str, ModuleType] = {
    INTAKE_FUNCTION: intake_wiring,
    REMEDIATE_FUNCTION: remediate_wiring,
    RECONCILE_FUNCTION: reconcile_wiring,
    HMA_INTAKE_FUNCTION: intake_wiring,
}
FUNCTIONS = tuple(WIRING)

#: Declared by a method a function uses, but never called by that function, so not granted to it.
NOT_GRANTED: Mapping[str, Mapping[str, str]] = {}

#: Reads: what a "not granted" exception may be (anything else would be a call that is never made).
READ_PREFIXES = ("Get", "BatchGet", "Describe", "List", "Query", "Scan")

#: What Lambda does with each function's role, not our code: managed policies and inline statements.
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",  # logs
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",  # Tracing: Active
}
#: (policy name suffix or statement Sid) -> why Lambda needs it.
PLATFORM = {
    "EventInvokeConfigOnFailureSQSPolicy": "Lambda sends a failed async invocation to the function's DLQ",
    "LambdaPollsFaultQueue": "Lambda's event source mapping receives and deletes fault-queue messages",
}

# Physical ids the granted statements are evaluated against (any values would do; these read well).
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/autoheal-ledger"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:autoheal-needs-human"
CLUSTERS_IN_ACCOUNT = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:cluster/*"
ONE_CLUSTER = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:cluster/aaaaaaaaaaaa"
EVIDENCE_BUCKET_NAME = "autoheal-evidence"
CLUSTER_LOG_GROUPS = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Clusters/*"


def queue_arn(logical_id: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:autoheal-{logical_id}"


# ---------------------------------------------------------------- declared


def adapter_modules() -> list[ModuleType]:
    return [
        importlib.import_module(info.name)
        for info in pkgutil.iter_modules(adapters.__path__, adapters.__name__ + ".")
    ]


def adapter_classes(module: ModuleType) -> list[type]:
    """Classes defined in `module` that take an injected boto3 client (`client`, or `<service>_client`)."""
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__
        and any(p == "client" or p.endswith("_client") for p in inspect.signature(cls.__init__).parameters)
    ]


def declarations() -> dict[str, frozenset[str]]:
    """Every adapter's `IAM_ACTIONS`, keyed by `Class.method`."""
    declared: dict[str, frozenset[str]] = {}
    for module in adapter_modules():
        for key, actions in getattr(module, "IAM_ACTIONS", {}).items():
            assert key not in declared, f"{key} declared twice"
            declared[key] = frozenset(actions)
    return declared


def method_actions(method: Callable[..., Any]) -> frozenset[str]:
    """What one adapter method declares, looked up in its own module's `IAM_ACTIONS`."""
    module = sys.modules[method.__module__]
    declared: Mapping[str, frozenset[str]] = getattr(module, "IAM_ACTIONS", {})
    assert method.__qualname__ in declared, f"{method.__module__} declares nothing for {method.__qualname__}"
    return declared[method.__qualname__]


def declared_for(function: str) -> frozenset[str]:
    calls: tuple[Callable[..., Any], ...] = WIRING[function].ADAPTER_CALLS
    return frozenset().union(*(method_actions(m) for m in calls))


def needed_by(function: str) -> frozenset[str]:
    """What the role must grant: the declared calls, less the listed ones the function never makes."""
    return declared_for(function) - set(NOT_GRANTED.get(function, {}))


def is_read(action: str) -> bool:
    return action.split(":", 1)[1].startswith(READ_PREFIXES)


# ---------------------------------------------------------------- granted (template.yaml, transformed)


@cache
def transformed() -> dict[str, Any]:
    return transform(load_template(TEMPLATE_PATH))


def deployment(parameters: Mapping[str, str] | None = None) -> Resolver:
    """The transformed template as deployed with `parameters`, its resources given the ids above."""
    queues = {lid for lid, r in transformed()["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    refs = {
        LEDGER_TABLE: "autoheal-ledger",
        NEEDS_HUMAN_TOPIC: TOPIC_ARN,
        EVIDENCE_BUCKET: EVIDENCE_BUCKET_NAME,
    }
    attrs = {
        (LEDGER_TABLE, "Arn"): TABLE_ARN,
        (NEEDS_HUMAN_TOPIC, "TopicName"): "autoheal-needs-human",
        (EVIDENCE_BUCKET, "Arn"): f"arn:aws:s3:::{EVIDENCE_BUCKET_NAME}",
    }
    for lid in queues:
        attrs[(lid, "Arn")] = queue_arn(lid)
        attrs[(lid, "QueueName")] = f"autoheal-{lid}"
    return Resolver(transformed(), parameters=dict(parameters or {})).with_resources(refs, attrs)


def role_of(function: str) -> str:
    role = transformed()["Resources"][function]["Properties"]["Role"]
    assert set(role) == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn", role
    return str(role["Fn::GetAtt"][0])


@dataclass(frozen=True)
class Statement:
    policy: str
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    @property
    def platform(self) -> str | None:
        """Why Lambda needs this statement, if it is one of Lambda's own."""
        for marker, reason in PLATFORM.items():
            if self.policy.endswith(marker) or self.sid == marker:
                return reason
        return None


def statements(function: str, parameters: Mapping[str, str] | None = None) -> list[Statement]:
    """The role's inline statements, evaluated for a deployment with `parameters`."""
    resolver = deployment(parameters)
    role = transformed()["Resources"][role_of(function)]["Properties"]
    out: list[Statement] = []
    for policy in role.get("Policies", []):
        for raw in resolver.resolve(policy["PolicyDocument"])["Statement"]:
            assert raw["Effect"] == "Allow" and not ({"NotAction", "NotResource"} & set(raw)), raw
            action, resource = raw["Action"], raw["Resource"]
            out.append(
                Statement(
                    policy=policy["PolicyName"],
                    sid=raw.get("Sid", ""),
                    actions=tuple([action] if isinstance(action, str) else action),
                    resources=tuple([resource] if isinstance(resource, str) else resource),
                )
            )
    return out


def code_statements(function: str, parameters: Mapping[str, str] | None = None) -> list[Statement]:
    return [s for s in statements(function, parameters) if s.platform is None]


def matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


# ---------------------------------------------------------------- observed: calls recorded per step


_OPERATION_ACTIONS = {  # boto3 operations authorised by an IAM action of another name
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    # a transaction's Puts are authorised by dynamodb:PutItem:
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
    "dynamodb:TransactWriteItems": "dynamodb:PutItem",
}


def iam_action(operation: Any) -> str:
    """The IAM action that authorises a botocore OperationModel."""
    name = f"{operation.service_model.signing_name}:{operation.name}"
    return _OPERATION_ACTIONS.get(name, name)


class CallRecorder:
    """The IAM actions of every call made through the sessions it is attached to, per labelled step."""

    def __init__(self) -> None:
        self.calls: dict[str, set[str]] = defaultdict(set)
        self._label: str | None = None

    def attach(self, session: boto3.Session) -> boto3.Session:
        session.events.register("before-call", self._record)
        return session

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        self._label = label
        try:
            yield
        finally:
            self._label = None

    def _record(self, model: Any, **_: Any) -> None:
        if self._label is None:
            raise AssertionError(f"{iam_action(model)} called outside any recorded step")
        self.calls[self._label].add(iam_action(model))


@dataclass
class Env:
    world: LocalWorld
    cluster: ClusterFixture
    recorder: CallRecorder
    functions: dict[str, set[str]]  # function -> IAM actions its run made


def _pending_notice(world: LocalWorld, cluster: ClusterFixture) -> None:
    """A needs-human node whose notice was never published (set up with the world's own client)."""
    stuck = HumanNeeded(cluster.name, "n-stuck", None, "permanent_failure", "reboot", None)
    old = world.now() - timedelta(minutes=30)
    state = NodeState(
        cluster=cluster.name,
        node_key="n-stuck",
        version=1,
        status=NodeStatus.NEEDS_HUMAN,
        notify_pending=notice(stuck, old),
    )
    states = LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name)
    assert states.put_if_unchanged(state, 0, old)


def run_functions(world: LocalWorld, cluster: ClusterFixture, recorder: CallRecorder) -> None:
    """Drive intake, remediate and reconcile through the paths that make calls: every kind of fault
    source, reboot then replace then retire and restore (the switch on), a transient failure re-queued, a protected node escalated to a human,
    reconcile on the schedule and on a Cluster Event, a failed node re-driven through the queue; last,
    the HMA intake (intake's handler, as the subscription invokes it) with a detection of one node."""
    gpu, controller = cluster.in_group("gpu"), cluster.in_group("controller")[0]
    world.control.inject_entry_error(gpu[2].instance_id, "InternalServerError")  # transient: re-queued
    health = {  # names no cluster: remediate looks the node up across the account's clusters
        "version": "0",
        "id": "health-1",
        "detail-type": "AWS Health Event",
        "source": "aws.health",
        "account": ACCOUNT,
        "time": world.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": {
            # a code the signal table starts on a reboot (a retirement starts on a replace: issue 17)
            "eventArn": f"arn:aws:health:{REGION}::event/EC2/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED/x",
            "service": "EC2",
            "eventTypeCode": "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED",
            "eventTypeCategory": "scheduledChange",
            "statusCode": "upcoming",
            "affectedEntities": [{"entityValue": gpu[1].instance_id}],
        },
    }

    def faults(*nodes: Any) -> list[dict[str, Any]]:
        return [node_health_event(cluster.name, cluster.arn, n.instance_id, world.now()) for n in nodes]

    with recorder.step(INTAKE_FUNCTION):
        world.deliver([*faults(gpu[0], gpu[2], controller), health])
    with recorder.step(REMEDIATE_FUNCTION):
        world.remediate()  # reboots; the transient failure is re-queued
    world.advance(minutes(10).total_seconds())
    # HMA's stream of the node to be replaced: its evidence bundle reads it (set-up: not recorded)
    write_node_logs(
        world.aws.client("logs"), cluster.name, cluster.arn, "gpu", gpu[0].instance_id, [(world.now(), "x")]
    )
    with recorder.step(INTAKE_FUNCTION):
        world.deliver(faults(gpu[0], controller))  # back again: replace; the controller is protected
    with recorder.step(REMEDIATE_FUNCTION):
        world.remediate()
    world.advance(minutes(20).total_seconds())
    lemon = world.control.node(gpu[0].logical_id).instance_id  # replaced: a new instance id
    with recorder.step(INTAKE_FUNCTION):
        world.deliver([node_health_event(cluster.name, cluster.arn, lemon, world.now())])
    with recorder.step(REMEDIATE_FUNCTION):
        world.remediate()  # a lemon (RetireAndRestore is on): retired, and its group restored
    assert [c.action for c in world.control.calls[-2:]] == ["BatchDeleteClusterNodes", "BatchAddClusterNodes"]
    world.control.set_status(gpu[1].instance_id, "Failure")
    _pending_notice(world, cluster)  # a notice whose publish failed in remediate: reconcile re-sends it
    with recorder.step(RECONCILE_FUNCTION):
        world.reconcile()  # the schedule: every cluster; gpu[1] failed after its reboot -> re-driven
        world.reconcile(cluster_event(world.control.events(cluster.name)[-1]))  # one cluster
    hma = payload(
        log_group(cluster.name),
        log_stream("gpu", gpu[3].instance_id),
        [(world.now(), dcgm_record(79))],
    )
    with recorder.step(HMA_INTAKE_FUNCTION):
        (summary,) = world.deliver([delivery(hma)])
    assert summary["enqueued"] == 1, summary  # the detection reached the queue: the call was made
    _recurrence_after_heal(world, cluster, recorder)
    _canary_wave(world, cluster, recorder)


def _canary_wave(world: LocalWorld, cluster: ClusterFixture, recorder: CallRecorder) -> None:
    """Five nodes of a group with one signal at once (on a cluster of their own): a canary acts, the rest
    are held (a wave record read and written); reconcile verifies the canary's wave (the wave records,
    the canary's state)."""
    gpus = GroupSpec(name="gpu", instance_type="ml.p5.48xlarge", count=5, node_type="Compute")
    waves = create_cluster(world.aws.client("sagemaker"), world.control, "waves", [gpus])
    events = [
        node_health_event(waves.name, waves.arn, n.instance_id, world.now(), fault_type="GpuCountMismatch")
        for n in waves.in_group("gpu")
    ]
    with recorder.step(INTAKE_FUNCTION):
        world.deliver(events)
    with recorder.step(REMEDIATE_FUNCTION):
        report = world.remediate()
    assert report.metrics.total("CanaryEpisodes") == 1
    world.advance(minutes(20).total_seconds())
    with recorder.step(RECONCILE_FUNCTION):
        world.reconcile()


def _recurrence_after_heal(world: LocalWorld, cluster: ClusterFixture, recorder: CallRecorder) -> None:
    """HMA's node acted on, closed healed by reconcile, then its fault back: remediate moves that heal's
    success to a failure in the adaptive ladder's counters (UpdateItem)."""
    node = cluster.in_group("gpu")[3]
    with recorder.step(REMEDIATE_FUNCTION):
        world.remediate()
    world.advance(minutes(20).total_seconds())
    with recorder.step(RECONCILE_FUNCTION):
        world.reconcile()
    world.advance(minutes(10).total_seconds())
    healed = world.control.node(node.logical_id).instance_id
    with recorder.step(INTAKE_FUNCTION):
        world.deliver([node_health_event(cluster.name, cluster.arn, healed, world.now())])
    with recorder.step(REMEDIATE_FUNCTION):
        world.remediate()


@pytest.fixture(scope="module")
def env(local_aws: LocalAws) -> Iterator[Env]:
    """One run of the functions on fresh local state, then each adapter method's case, in this module."""
    local_aws.reset()
    recorder = CallRecorder()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "AWS_ENDPOINT_URL": local_aws.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            mp.delenv(name, raising=False)
        # autoheal.clients builds every client the functions use from boto3's default session;
        # LocalWorld and the set-up below use sessions of their own, which are not recorded.
        mp.setattr(boto3, "DEFAULT_SESSION", recorder.attach(boto3.Session(region_name=REGION)))
        # the fleet breaker's share test on (never tripping at 100%): the run counts the fleet
        world = LocalWorld(
            local_aws,
            mp.setenv,
            env={
                "AUTOHEAL_RETIRE_AND_RESTORE": "true",
                "AUTOHEAL_FLEET_BREAKER_PERCENT": "100",
                "AUTOHEAL_CANARY_WAVES": "true",
            },
        )
        cluster = create_cluster(
            local_aws.client("sagemaker"),
            local_aws.control,
            "train",
            [
                GroupSpec(name="controller", instance_type="ml.m5.xlarge", count=1, node_type="Controller"),
                GroupSpec(name="gpu", instance_type="ml.p5.48xlarge", count=4, node_type="Compute"),
            ],
        )
        try:
            run_functions(world, cluster, recorder)
            functions = {f: set(recorder.calls.pop(f, set())) for f in FUNCTIONS}
            yield Env(world, cluster, recorder, functions)
        finally:
            clients.reset()  # cached clients hold the recording session


# ---------------------------------------------------------------- the adapters' declarations


def test_every_public_adapter_method_declares_its_iam_actions() -> None:
    methods = {
        f"{cls.__name__}.{name}"
        for module in adapter_modules()
        for cls in adapter_classes(module)
        for name, _ in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name in vars(cls)
    }
    assert methods, "no adapter classes found"
    assert set(declarations()) == methods
    for key, actions in declarations().items():
        assert actions, f"{key} declares no action"
        for action in actions:
            service, _, name = action.partition(":")
            assert service in {"sagemaker", "dynamodb", "sqs", "sns", "logs", "s3"} and name[:1].isupper(), (
                key,
                action,
            )


def test_each_function_declares_adapter_methods_only() -> None:
    for function, module in WIRING.items():
        calls = module.ADAPTER_CALLS
        assert calls, function
        assert len(set(calls)) == len(calls), f"{function} lists a method twice"
        assert all(method_actions(m) for m in calls)


Case = Callable[[Env, Callable[[str], Any]], object]


def _fault() -> NodeFault:
    return NodeFault(
        cluster_name="train",
        instance_id="i-0123456789abcdef0",
        signal="NvidiaErrorTerminate",
        source=FaultSource.NODE_HEALTH,
        source_event_id="iam-test",
        observed_at=ControlPlaneClock.frozen().now(),
    )


def _request(env: Env, action: Action, index: int) -> BatchRequest:
    node = env.cluster.in_group("gpu")[index]
    return BatchRequest(env.cluster.name, action, IdKind.NODE_ID, (node.instance_id,))


def _override(env: Env, client: Callable[[str], Any]) -> object:
    # a tripped breaker to clear, set up through the unrecorded session
    LedgerBreakers(env.world.aws.client("dynamodb"), env.world.stack.table_name).trip(
        "train/gpu", env.world.now() + timedelta(hours=1), 3, 2
    )
    return _breakers(env, client).override_breakers("train", env.world.now() + timedelta(hours=1))


def _pause_twice(env: Env, client: Callable[[str], Any]) -> object:
    """A pause, then a second one: kept, and the first one's record read back."""
    _pauses(env, client).pause("train", "iam-test", "testing")
    try:
        return _pauses(env, client).pause("train", "iam-test", "again")
    except AlreadyPaused as already:
        return already.pause


def _states(env: Env, client: Callable[[str], Any]) -> LedgerNodeStates:
    return LedgerNodeStates(client("dynamodb"), env.world.stack.table_name)


def _attempts(env: Env, client: Callable[[str], Any]) -> LedgerAttempts:
    return LedgerAttempts(client("dynamodb"), env.world.stack.table_name)


def _open_nodes(env: Env, client: Callable[[str], Any]) -> LedgerOpenNodes:
    return LedgerOpenNodes(client("dynamodb"), env.world.stack.table_name)


def _pauses(env: Env, client: Callable[[str], Any]) -> LedgerPauses:
    return LedgerPauses(client("dynamodb"), env.world.stack.table_name)


def _breakers(env: Env, client: Callable[[str], Any]) -> LedgerBreakers:
    return LedgerBreakers(client("dynamodb"), env.world.stack.table_name)


def _fleet(env: Env, client: Callable[[str], Any]) -> LedgerFleet:
    return LedgerFleet(client("dynamodb"), env.world.stack.table_name)


def _cooldowns(env: Env, client: Callable[[str], Any]) -> LedgerCooldowns:
    return LedgerCooldowns(client("dynamodb"), env.world.stack.table_name)


def _attempt(env: Env) -> AttemptRecord:
    return AttemptRecord("train", "n2", "a1", Action.REBOOT, 0, env.world.now(), "accepted")


def _evidence(e: Env, c: Callable[[str], Any]) -> EvidenceStore:
    return EvidenceStore(c("logs"), c("s3"), c("sagemaker"), e.world.stack.evidence_bucket)


_NODE_STREAM = "SagemakerHealthMonitoringAgent/gpu/i-0123456789abcdef0"


def _node_logs(e: Env) -> str:
    """A node's stream in the cluster's log group (set up with the world's own client: not recorded)."""
    write_node_logs(
        e.world.aws.client("logs"),
        e.cluster.name,
        e.cluster.arn,
        "gpu",
        "i-0123456789abcdef0",
        [(e.world.now(), "x")],
    )
    return evidence_log_group(e.cluster.name, e.cluster.arn)


#: One call (or a few, to take each branch) of every public adapter method.
def _verdicts(e: Env, c: Callable[[str], Any]) -> LedgerVerdicts:
    return LedgerVerdicts(c("dynamodb"), e.world.stack.table_name)


_WAVE = WaveKey("train", "gpu", "NodeUnhealthy")


def _stats(e: Env, c: Callable[[str], Any]) -> LedgerLadderStats:
    return LedgerLadderStats(c("dynamodb"), e.world.stack.table_name, timedelta(days=30))


def _approvals(e: Env, c: Callable[[str], Any]) -> LedgerApprovals:
    return LedgerApprovals(c("dynamodb"), e.world.stack.table_name)


def _approval(e: Env) -> Approval:
    now = e.world.now()
    return Approval("k7p2m9xq", "train", "n3", "replace", "first_fault", "default", now, now, "deny")


def _dropped(e: Env) -> DroppedFault:
    return DroppedFault("ev-dropped", "gone", "i-0123456789abcdef0", "cluster_not_found", e.world.now())


CASES: Mapping[str, Case] = {
    "HyperPodNodes.execute": lambda e, c: [
        HyperPodNodes(c("sagemaker")).execute(_request(e, Action.REBOOT, 0)),
        HyperPodNodes(c("sagemaker")).execute(_request(e, Action.REPLACE, 1)),
        HyperPodNodes(c("sagemaker")).execute(_request(e, Action.RETIRE, 2)),
    ],
    "HyperPodNodes.reboot": lambda e, c: HyperPodNodes(c("sagemaker")).reboot(
        e.cluster.name, _request(e, Action.REBOOT, 2).requested
    ),
    "HyperPodNodes.replace": lambda e, c: HyperPodNodes(c("sagemaker")).replace(
        e.cluster.name, _request(e, Action.REPLACE, 3).requested
    ),
    "HyperPodNodes.delete": lambda e, c: HyperPodNodes(c("sagemaker")).delete(
        e.cluster.name, _request(e, Action.REBOOT, 3).requested
    ),
    "HyperPodNodes.add": lambda e, c: HyperPodNodes(c("sagemaker")).add(e.cluster.name, {"gpu": 1}, "iam"),
    "NodeDirectory.cluster": lambda e, c: NodeDirectory(c("sagemaker")).cluster(e.cluster.name),
    "NodeDirectory.info": lambda e, c: NodeDirectory(c("sagemaker")).info(e.cluster.name),
    "NodeDirectory.canonical": lambda e, c: NodeDirectory(c("sagemaker")).canonical(e.cluster.arn),
    "NodeDirectory.prefetch": lambda e, c: NodeDirectory(c("sagemaker")).prefetch([e.cluster.name]),
    "NodeDirectory.locate": lambda e, c: NodeDirectory(c("sagemaker")).locate("i-0123456789abcdef0", None),
    "NodeDirectory.target_counts": lambda e, c: NodeDirectory(c("sagemaker")).target_counts(e.cluster.name),
    "LedgerNodeStates.load": lambda e, c: _states(e, c).load([("train", "n1")]),
    "LedgerNodeStates.put_if_unchanged": lambda e, c: _states(e, c).put_if_unchanged(
        NodeState(cluster="train", node_key="n1", version=1), 0, e.world.now()
    ),
    "LedgerNodeStates.put_all_if_unchanged": lambda e, c: _states(e, c).put_all_if_unchanged(
        [(NodeState(cluster="train", node_key="n4", version=1), 0)], e.world.now()
    ),
    "LedgerNodeStates.put_claimed": lambda e, c: _states(e, c).put_claimed(
        [NodeState(cluster="train", node_key="n3", version=2)], e.world.now()
    ),
    "LedgerNodeStates.commit": lambda e, c: _states(e, c).commit(
        [NodeState(cluster="train", node_key="n2", version=1)], [_attempt(e)], e.world.now()
    ),
    "LedgerNodeStates.node_record": lambda e, c: _states(e, c).node_record("train", "n2"),
    "LedgerAttempts.attempts": lambda e, c: _attempts(e, c).attempts("train", "n2"),
    "LedgerAttempts.attempt_count": lambda e, c: _attempts(e, c).attempt_count("train", "n2"),
    "LedgerOpenNodes.open_nodes": lambda e, c: [
        _open_nodes(e, c).open_nodes("train"),
        _open_nodes(e, c).open_nodes(),
    ],
    "LedgerOpenNodes.find_nodes": lambda e, c: _open_nodes(e, c).find_nodes("i-0123456789abcdef0", "train"),
    "LedgerPauses.paused": lambda e, c: _pauses(e, c).paused(["train"]),
    "LedgerPauses.all": lambda e, c: _pauses(e, c).all(),
    "LedgerCooldowns.cooldowns": lambda e, c: _cooldowns(e, c).cooldowns([("train", "gpu")], e.world.now()),
    "LedgerCooldowns.start_cooldown": lambda e, c: _cooldowns(e, c).start_cooldown(
        Cooldown("train", "gpu", e.world.now() + timedelta(hours=1), "no capacity", "n1")
    ),
    "LedgerBreakers.breakers": lambda e, c: _breakers(e, c).breakers(e.world.now()),
    "LedgerBreakers.records": lambda e, c: _breakers(e, c).records(e.world.now()),
    "LedgerCooldowns.all": lambda e, c: _cooldowns(e, c).all(e.world.now()),
    "LedgerBreakers.trip": lambda e, c: _breakers(e, c).trip(
        "train/gpu", e.world.now() + timedelta(hours=1), 3, 2
    ),
    "LedgerBreakers.override_breakers": _override,
    "LedgerFleet.state": lambda e, c: _fleet(e, c).state(e.world.now()),
    "LedgerFleet.trip": lambda e, c: _fleet(e, c).trip(
        FleetTripRecord(e.world.now(), "iam-test", "clusters", "testing", ("train",))
    ),
    "LedgerFleet.save_size": lambda e, c: _fleet(e, c).save_size(FleetSize(e.world.now(), {"train": 4})),
    "LedgerFleet.reset": lambda e, c: _fleet(e, c).reset(e.world.now() + timedelta(hours=1), "iam-test", "t"),
    "FleetSizes.count": lambda e, c: FleetSizes(c("sagemaker")).count(e.world.now()),
    "LedgerNotices.first_notice": lambda e, c: LedgerNotices(
        c("dynamodb"), e.world.stack.table_name
    ).first_notice("train#AccessDeniedException", e.world.now(), timedelta(hours=1)),
    "LedgerPauses.pause": _pause_twice,
    "LedgerPauses.resume": lambda e, c: _pauses(e, c).resume("train"),
    "Notifier.needs_human": lambda e, c: Notifier(c("sns"), e.world.stack.topic_arn).needs_human(
        [HumanNeeded("train", "n1", None, "testing", None, None)]
    ),
    "LedgerVerdicts.record_dropped": lambda e, c: _verdicts(e, c).record_dropped([_dropped(e)]),
    "LedgerVerdicts.dropped": lambda e, c: _verdicts(e, c).dropped("ev-dropped"),
    "LedgerVerdicts.forget": lambda e, c: [
        _verdicts(e, e.world.aws.client).record_dropped([_dropped(e)]),  # set-up, not recorded
        _verdicts(e, c).forget("ev-dropped"),
    ],
    "LedgerLadderStats.record": lambda e, c: _stats(e, c).record(
        "XidError:48", "reboot", e.world.now(), 1, 1
    ),
    "LedgerLadderStats.counters": lambda e, c: _stats(e, c).counters(["XidError:48"]),
    "LedgerLadderStats.all": lambda e, c: _stats(e, c).all(),
    "LedgerApprovals.for_nodes": lambda e, c: _approvals(e, c).for_nodes([("train", "n3")]),
    "LedgerApprovals.all": lambda e, c: _approvals(e, c).all("train"),
    "LedgerApprovals.request": lambda e, c: _approvals(e, c).request(_approval(e), None),
    "LedgerApprovals.decide": lambda e, c: _approvals(e, c).decide(
        _approval(e).decided(ApprovalStatus.APPROVED, "arn:aws:sts::123456789012:user/x", e.world.now(), "ok")
    ),
    "LedgerWaves.waves": lambda e, c: LedgerWaves(c("dynamodb"), e.world.stack.table_name).waves([_WAVE]),
    "LedgerWaves.put": lambda e, c: LedgerWaves(c("dynamodb"), e.world.stack.table_name).put(
        WaveRecord(_WAVE), e.world.now()
    ),
    "LedgerWaves.all": lambda e, c: LedgerWaves(c("dynamodb"), e.world.stack.table_name).all(),
    "FaultQueue.send": lambda e, c: FaultQueue(c("sqs"), e.world.stack.queue_url).send([_fault()]),
    "FaultQueue.requeue": lambda e, c: FaultQueue(c("sqs"), e.world.stack.queue_url).requeue([_fault()], 5),
    "EvidenceStore.log_streams": lambda e, c: _evidence(e, c).log_streams(_node_logs(e), "Sagemaker"),
    "EvidenceStore.log_events": lambda e, c: _evidence(e, c).log_events(
        _node_logs(e), _NODE_STREAM, 0, 2**42, 10_000
    ),
    "EvidenceStore.describe_node": lambda e, c: _evidence(e, c).describe_node(
        e.cluster.name, e.world.control.node(e.cluster.in_group("controller")[0].logical_id).instance_id
    ),
    "EvidenceStore.cluster_arn": lambda e, c: _evidence(e, c).cluster_arn(e.cluster.name),
    "EvidenceStore.put": lambda e, c: _evidence(e, c).put("iam/manifest.json", b"{}"),
}


def test_every_declared_method_has_a_case() -> None:
    assert set(CASES) == set(declarations())


@pytest.mark.parametrize("method", sorted(CASES))
def test_each_adapter_method_calls_exactly_what_it_declares(env: Env, method: str) -> None:
    def client(service: str) -> Any:
        return boto3.client(service)  # the recorded default session, as autoheal.clients would

    with env.recorder.step(method):
        CASES[method](env, client)
    assert env.recorder.calls[method] == declarations()[method]


# ---------------------------------------------------------------- the functions: observed vs declared


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_calls_only_what_its_adapter_methods_declare(env: Env, function: str) -> None:
    assert env.functions[function], f"the run made no calls for {function}"
    assert env.functions[function] - declared_for(function) == set()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_run_makes_every_call_the_role_must_grant(env: Env, function: str) -> None:
    """So each grant is proven used: nothing granted that the function never calls."""
    assert needed_by(function) - env.functions[function] == set()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_what_is_declared_but_not_granted_is_a_read_the_function_never_makes(env: Env, function: str) -> None:
    for action, reason in NOT_GRANTED.get(function, {}).items():
        assert action in declared_for(function), f"{function}: stale exception {action}"
        assert is_read(action) and reason
        assert action not in env.functions[function]


# ---------------------------------------------------------------- the functions: granted vs declared


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_role_grants_exactly_the_calls_its_function_makes(function: str) -> None:
    granted = [a for s in code_statements(function) for a in s.actions]
    needed = needed_by(function)
    unused = sorted(p for p in granted if not any(matches(p, a) for a in needed))
    missing = sorted(a for a in needed if not any(matches(p, a) for p in granted))
    assert (unused, missing) == ([], []), (
        f"{role_of(function)}: granted but never called / called, not granted"
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_lambdas_own_grants_are_the_listed_ones_only(function: str) -> None:
    role = transformed()["Resources"][role_of(function)]["Properties"]
    assert set(deployment().resolve(role["ManagedPolicyArns"])) == MANAGED_POLICIES
    platform = {(s.actions, s.resources) for s in statements(function) if s.platform}
    dlq = {INTAKE_FUNCTION: INTAKE_DLQ, RECONCILE_FUNCTION: RECONCILE_DLQ, HMA_INTAKE_FUNCTION: INTAKE_DLQ}
    if function in dlq:  # EventInvokeConfig's OnFailure destination
        assert platform == {(("sqs:SendMessage",), (queue_arn(dlq[function]),))}
    else:  # the SQS event source mapping, on the fault queue only
        poll = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
        assert platform == {(poll, (queue_arn(FAULT_QUEUE),))}


def test_remediate_has_its_own_role_instead_of_sams_sqs_managed_policy() -> None:
    """SAM would attach AWSLambdaSQSQueueExecutionRole: receive and delete on every queue in the account."""
    assert role_of(REMEDIATE_FUNCTION) == "RemediateFunctionRole"
    assert load_template(TEMPLATE_PATH)["Resources"]["RemediateFunctionRole"]["Type"] == "AWS::IAM::Role"


# ---------------------------------------------------------------- resources each grant is scoped to


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    ("parameters", "clusters"),
    [({}, CLUSTERS_IN_ACCOUNT), ({"ClusterArnPattern": ONE_CLUSTER}, ONE_CLUSTER)],
    ids=["every cluster", "ClusterArnPattern"],
)
def test_grants_are_scoped_to_the_stacks_resources(
    function: str, parameters: dict[str, str], clusters: str
) -> None:
    allowed = {
        "sagemaker": {clusters},
        "dynamodb": {TABLE_ARN, f"{TABLE_ARN}/index/open-index"},
        "sns": {TOPIC_ARN},
        "sqs": {queue_arn(FAULT_QUEUE)},
        "logs": {CLUSTER_LOG_GROUPS, f"{CLUSTER_LOG_GROUPS}:log-stream:*"},  # evidence: the clusters' logs
        "s3": {f"arn:aws:s3:::{EVIDENCE_BUCKET_NAME}/*"},  # evidence bundles
    }
    for s in code_statements(function, parameters):
        assert all(":" in a and not a.endswith(":*") for a in s.actions), s
        if s.actions == ("sagemaker:ListClusters",):
            assert s.resources == ("*",)  # ListClusters acts on no resource type: IAM accepts only "*"
            continue
        services = {a.split(":", 1)[0] for a in s.actions}
        assert len(services) == 1, f"one service per statement: {s}"
        (service,) = services
        assert set(s.resources) <= allowed[service], s


@pytest.mark.parametrize("function", FUNCTIONS)
def test_nothing_but_list_clusters_is_granted_on_star(function: str) -> None:
    for s in statements(function):
        if "*" in s.resources:
            assert s.actions == ("sagemaker:ListClusters",), s


def test_only_remediate_may_act_on_nodes() -> None:
    mutating = {
        "sagemaker:BatchRebootClusterNodes",
        "sagemaker:BatchReplaceClusterNodes",
        "sagemaker:BatchDeleteClusterNodes",
        "sagemaker:BatchAddClusterNodes",
    }
    for function in FUNCTIONS:
        granted = {a for s in statements(function) for a in s.actions}
        expected = mutating  # delete and add: the retire rung (issue 17), off unless RetireAndRestore
        assert granted & mutating == (expected if function == REMEDIATE_FUNCTION else set()), function
