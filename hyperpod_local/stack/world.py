"""A local world for the demo and the tests: the stack's resources (from template.yaml) on the local
moto server, HyperPod clusters on the local control plane, and the real handlers in between.

Events go through the real intake handler onto the real FaultQueue; `remediate()` receives the queue's
messages as the SQS event source mapping would and runs the remediate logic with the control plane's
clock, so that time moves only when a test says so.

The template's EventBridge rules exist too (`hyperpod_local.stack.bus`): an event published with
PutEvents (by the `autoheal` CLI, say) reaches the handlers when `pump()` runs, through the rules it
matches, with each handler's output in its function's log group (the rules are made on first use of
`bus`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

from autoheal import clients
from autoheal.alerts.render import machine_data
from autoheal.intake.service import IntakeReport
from autoheal.intake.wiring import build_deps as build_intake_deps
from autoheal.observability import logger as service_logger
from autoheal.reconcile.service import ReconcileReport
from autoheal.reconcile.wiring import build_deps as build_reconcile_deps
from autoheal.reconcile.wiring import handle_event as handle_reconcile
from autoheal.remediate.service import Deps, RemediationReport
from autoheal.remediate.wiring import build_deps, handle_batch
from autoheal.settings import Settings, load_settings
from hyperpod_local.stack.bus import LocalBus, create_event_bus, function_logs
from hyperpod_local.stack.events import FakeContext
from hyperpod_local.stack.guards import RELAXED
from hyperpod_local.stack.resources import StackResources, create_stack_resources, register_stack
from hyperpod_local.stack.template import INTAKE_FUNCTION, RECONCILE_FUNCTION, REMEDIATE_FUNCTION, REPO_ROOT

#: Real seconds a drained message stays invisible: longer than any local remediate invocation (a big
#: storm on moto takes tens of seconds), so its receipt handle is still valid when `settle` runs.
RECEIVE_VISIBILITY_SECONDS = 900


def load_handler(function: str) -> ModuleType:
    """Import `functions/<function>/app.py` under a unique module name (every handler is `app`)."""
    path = REPO_ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"handler_{function}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LocalWorld:
    def __init__(
        self,
        aws: Any,
        setenv: Callable[[str, str], None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`aws` has `.control` and `.client(service)` (a `LocalAws`, or the tests' `AwsEnv`);
        `setenv` sets the functions' environment (default: this process's `os.environ`)."""
        put = setenv or os.environ.__setitem__
        self.aws = aws
        self.control = aws.control
        clients.reset()  # cached clients may point at another endpoint or carry stubs
        self._suffix = uuid.uuid4().hex[:8]
        self.stack: StackResources = create_stack_resources(aws.client, suffix=self._suffix)
        self._bus: LocalBus | None = None
        merged = {**self.stack.env(), **RELAXED, **(env or {})}
        for key, value in merged.items():
            put(key, value)
        put("POWERTOOLS_SERVICE_NAME", "hyperpod-autoheal")
        put("POWERTOOLS_METRICS_NAMESPACE", "HyperPodAutoheal")
        put("POWERTOOLS_TRACE_DISABLED", "1")
        self.settings: Settings = load_settings()
        self.sqs = aws.client("sqs")
        self.intake = load_handler("intake")
        self.intake_reports: list[IntakeReport] = []
        self._record_intake_reports()
        self.reports: list[RemediationReport] = []
        self.reconcile_reports: list[ReconcileReport] = []
        self._topic_tap = self._tap_topic()
        self._chat_tap = self._tap_topic(self.stack.chat_topic_arn)

    def now(self) -> datetime:
        now: datetime = self.control.now()
        return now

    def advance(self, seconds: float) -> None:
        self.control.advance(seconds)

    # --- intake ----------------------------------------------------------------------------------------

    def deliver(self, events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Each event through the real intake handler, as EventBridge would invoke it.

        Returns the handler's summaries; the full reports (with their metric counts) are kept in
        `intake_reports`."""
        return [self.intake.lambda_handler(dict(e), FakeContext()) for e in events]

    def _record_intake_reports(self) -> None:
        """Keep every `IntakeReport` the real handler builds (it returns only the summary).

        Wraps `handle_event` in this world's own copy of the handler module, nowhere else; the intake
        deps it builds stamp faults with this world's clock."""
        real: Callable[..., IntakeReport] = self.intake.handle_event

        def recording(event: Mapping[str, Any], settings: Settings, deps: Any = None) -> IntakeReport:
            # faults are stamped as received on this world's clock
            deps = deps or build_intake_deps(settings, clients.client, clock=self.now)
            report = real(event, settings, deps)
            self.intake_reports.append(report)
            return report

        vars(self.intake)["handle_event"] = recording  # the module global the handler calls

    @property
    def bus(self) -> LocalBus:
        """The template's EventBridge rules, their taps and the functions' log groups: made on first use
        (a dozen calls most worlds never need), so touch it before putting events on the bus."""
        if self._bus is None:
            self._bus = create_event_bus(self.aws.client, self._suffix)
        return self._bus

    def pump(self, *, remediate: bool = True) -> int:
        """One turn of the stack's triggers: each event the template's rules delivered goes to its
        function (intake's handler, or reconcile), what the handler writes to the function's log group;
        then remediate drains the fault queue, unless `remediate` is False (its event source mapping is
        not running). Returns how many events were delivered."""
        deliveries = list(self.bus.receive(self.aws.client))
        for function, event in deliveries:
            with function_logs(self.aws.client, self.bus.log_groups[function], service_logger):
                if function == INTAKE_FUNCTION:
                    self.deliver([event])
                elif function == RECONCILE_FUNCTION:
                    self.reconcile(event)
        if remediate:
            with function_logs(self.aws.client, self.bus.log_groups[REMEDIATE_FUNCTION], service_logger):
                self.run_until_quiet()
        return len(deliveries)

    def register_stack(self, name: str, parameters: Mapping[str, str] | None = None) -> None:
        """A local CloudFormation stack naming this world's resources and rules in its Outputs, so that
        `autoheal --stack NAME` finds them as it would a deployed stack's."""
        register_stack(
            self.aws.client("cloudformation"), name, self.stack, parameters, outputs=self.bus.outputs()
        )

    # --- the queue --------------------------------------------------------------------------------------

    def drain(self, queue_url: str | None = None, limit: int = 100_000) -> list[dict[str, Any]]:
        """Receive every visible message as SQS event records (deleting them, as a successful batch
        would; `remediate` puts back the ones reported as batch item failures)."""
        url = queue_url or self.stack.queue_url
        records: list[dict[str, Any]] = []
        while len(records) < limit:
            got = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - len(records)),
                VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            for m in got:
                records.append(
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": m.get("Attributes", {}),
                        "eventSource": "aws:sqs",
                        "eventSourceARN": self.stack.queue_arn,
                    }
                )
        return records

    def settle(self, records: Sequence[Mapping[str, Any]], failures: Sequence[str]) -> None:
        """Settle a batch as the SQS event source does: delete what succeeded; failures become visible
        again at once (the real queue waits out the visibility timeout), so their receive count grows."""
        failed = set(failures)
        for r in records:
            if r["messageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.stack.queue_url, ReceiptHandle=r["receiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.stack.queue_url, ReceiptHandle=r["receiptHandle"])

    # --- remediate --------------------------------------------------------------------------------------

    def remediate(
        self,
        records: Sequence[Mapping[str, Any]] | None = None,
        clock: Callable[[], datetime] | None = None,
        deps_hook: Callable[[Deps], Deps] | None = None,
    ) -> RemediationReport:
        """One remediate invocation over the queue's messages (or the given records). `deps_hook`
        may wrap the adapters (to inject a crash at a chosen step); an exception escapes, as it would
        from the Lambda, and the records stay unacknowledged."""
        batch = list(records) if records is not None else self.drain()
        deps = build_deps(self.settings, clients.client, clock=clock or self.now)
        if deps_hook is not None:
            deps = deps_hook(deps)
        report = handle_batch({"Records": batch}, self.settings, deps)
        self.settle(batch, report.batch_item_failures)
        self.reports.append(report)
        return report

    def reconcile(self, event: Mapping[str, Any] | None = None) -> ReconcileReport:
        """One reconcile round (the schedule's empty event, or a Cluster Event), on the local clock."""
        deps = build_reconcile_deps(self.settings, clients.client, clock=self.now)
        report = handle_reconcile(event or {}, self.settings, deps)
        self.reconcile_reports.append(report)
        return report

    def run_until_quiet(self, max_rounds: int = 10, step_seconds: float = 0) -> list[RemediationReport]:
        """Remediate until the queue is empty (retries included), advancing the clock between rounds."""
        out: list[RemediationReport] = []
        for _ in range(max_rounds):
            records = self.drain()
            if not records:
                return out
            out.append(self.remediate(records))
            if step_seconds:
                self.advance(step_seconds)
        raise AssertionError(f"the queue did not drain in {max_rounds} rounds")

    # --- what happened ------------------------------------------------------------------------------------

    def calls(self, action: str | None = None) -> list[Any]:
        return [c for c in self.control.calls if action is None or c.action == action]

    def topic_messages(self) -> list[dict[str, Any]]:
        """Notifications published since the last call: each one's machine-readable JSON (its nodes,
        kind, cluster, ...), read from a subscribed queue. `topic_published` has the whole message."""
        return [p.data for p in self.topic_published()]

    def topic_published(self) -> list[Published]:
        """Notifications published since the last call, as a subscriber receives them."""
        return [_published(json.loads(r["body"])) for r in self.drain(self._topic_tap)]

    def chat_messages(self) -> list[dict[str, Any]]:
        """Chat notifications published since the last call (the topic exists locally whatever
        `ChatNotifications` says; the functions publish to it only when their settings name it)."""
        return [json.loads(json.loads(r["body"])["Message"]) for r in self.drain(self._chat_tap)]

    def _tap_topic(self, topic_arn: str | None = None) -> str:
        url: str = self.sqs.create_queue(QueueName=f"topic-tap-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.aws.client("sns").subscribe(
            TopicArn=topic_arn or self.stack.topic_arn,
            Protocol="sqs",
            Endpoint=arn,  # not raw: the queue gets SNS's envelope, with the subject and attributes
        )
        return url


@dataclass(frozen=True)
class Published:
    """One SNS message as a subscriber gets it: subject, plain-text body, attributes, and the body's
    machine-readable JSON."""

    subject: str
    text: str
    attributes: dict[str, str]
    data: dict[str, Any]


def _published(envelope: Mapping[str, Any]) -> Published:
    attributes = {k: str(v.get("Value")) for k, v in (envelope.get("MessageAttributes") or {}).items()}
    text = str(envelope["Message"])
    return Published(str(envelope.get("Subject", "")), text, attributes, machine_data(text))
