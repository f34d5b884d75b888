"""The template's EventBridge rules on the local endpoint, and what reaches each function through them.

`create_event_bus` creates every `EventBridgeRule` event of template.yaml's deployed functions
(`hyperpod_local.stack.rules`) as a rule on the local default event bus, named `autoheal-<suffix>-<Function><Event>` (the logical id SAM gives it),
with the template's own pattern (resolved with the stack's parameters) and state. Nothing local can
invoke a Lambda function, so each rule targets its function's *tap*, an SQS queue standing in for the
function: a `PutEvents` (the `autoheal` CLI's, a test's) is matched by moto's own pattern matcher and
lands on the taps of the rules it matches. `LocalBus.receive` reads the taps back as
(function, event) deliveries, dropping what a disabled rule delivered (moto delivers it; EventBridge
would not). `LocalWorld.pump` hands them to the real handlers.

Each function also gets its log group, `/aws/lambda/<function name>`; `function_logs` captures what a
handler writes (its Powertools log lines and EMF blobs, on stdout in Lambda) and puts it there, as
Lambda would, so that what intake did with an event can be read back with FilterLogEvents.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hyperpod_local.stack.rules import event_rules
from hyperpod_local.stack.template import FUNCTIONS, INTAKE_FUNCTION, TEMPLATE_PATH, load_template

#: A message received from a tap stays invisible this long (real seconds): it is deleted at once.
_TAP_VISIBILITY = 60
#: What moto adds to a delivered event that EventBridge does not send (it also leaves out `account`).
_MOTO_ONLY_FIELDS = ("ingestion-time",)


@dataclass(frozen=True)
class LocalRule:
    logical_id: str  # as SAM names it: <Function><Event>
    function: str  # the target function's logical id
    name: str  # the rule's name (what `Ref` of the rule returns)
    arn: str


@dataclass(frozen=True)
class LocalBus:
    """The rules, each function's tap (the stand-in target) and its log group."""

    rules: Mapping[str, LocalRule]  # by logical id
    taps: Mapping[str, tuple[str, str]]  # function -> (queue URL, queue ARN)
    log_groups: Mapping[str, str]  # function -> log group name
    function_names: Mapping[str, str]  # function -> its local name

    def rule_for(self, function: str, event: str) -> LocalRule:
        return self.rules[f"{function}{event}"]

    def outputs(self) -> dict[str, str]:
        """The template Outputs that name what this bus made (for `resources.register_stack`): the
        intake function is its tap here, and its log group the one `function_logs` writes."""
        return {
            "HyperPodEventsRuleName": self.rule_for(INTAKE_FUNCTION, "HyperPodEvents").name,
            "IntakeFunctionArn": self.function_arn(INTAKE_FUNCTION),
            "IntakeLogGroupName": self.log_groups[INTAKE_FUNCTION],
        }

    def function_arn(self, function: str) -> str:
        """What a rule's target ARN is for `function` here: its tap's ARN."""
        return self.taps[function][1]

    def receive(self, client: Callable[[str], Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every (function, event) waiting on the taps, each deleted as it is read. moto delivers
        through disabled rules too: an event none of its function's enabled rules matches
        (TestEventPattern, with each rule's deployed pattern) is dropped, as EventBridge would not have
        delivered it."""
        sqs, events = client("sqs"), client("events")
        enabled = _enabled_patterns(events, self.rules.values())
        for function, (url, arn) in self.taps.items():
            while got := sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=_TAP_VISIBILITY
            ).get("Messages", []):
                for message in got:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    event = _as_eventbridge_sends(json.loads(message["Body"]), account=arn.split(":")[4])
                    if any(_matches(events, p, event) for p in enabled.get(function, [])):
                        yield function, event


def _as_eventbridge_sends(delivered: Mapping[str, Any], account: str) -> dict[str, Any]:
    """moto's delivery as EventBridge's: without the fields moto adds, with the `account` it leaves out
    (the account the event was put in: the tap's)."""
    event = {k: v for k, v in delivered.items() if k not in _MOTO_ONLY_FIELDS}
    event.setdefault("account", account)
    return event


def _enabled_patterns(events: Any, rules: Iterable[LocalRule]) -> dict[str, list[str]]:
    """function -> the patterns of its rules that are enabled now."""
    out: dict[str, list[str]] = {}
    for rule in rules:
        described = events.describe_rule(Name=rule.name)
        if described.get("State", "ENABLED") == "ENABLED":
            out.setdefault(rule.function, []).append(str(described["EventPattern"]))
    return out


def _matches(events: Any, pattern: str, event: Mapping[str, Any]) -> bool:
    return bool(events.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))["Result"])


def create_event_bus(
    client: Callable[[str], Any],
    suffix: str,
    parameters: Mapping[str, str] | None = None,
    template_path: str = str(TEMPLATE_PATH),
) -> LocalBus:
    """The rules of the template's functions, their taps and log groups (see the module docstring)."""
    template = load_template(template_path)
    sqs, events, logs = client("sqs"), client("events"), client("logs")
    taps: dict[str, tuple[str, str]] = {}
    log_groups: dict[str, str] = {}
    names: dict[str, str] = {}
    for function in FUNCTIONS:
        names[function] = f"autoheal-{suffix}-{function}"
        url = sqs.create_queue(QueueName=f"autoheal-{suffix}-{function}-tap")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        taps[function] = (url, arn)
        log_groups[function] = f"/aws/lambda/{names[function]}"
        logs.create_log_group(logGroupName=log_groups[function])
    rules: dict[str, LocalRule] = {}
    for rule in event_rules(parameters, template):
        name = f"autoheal-{suffix}-{rule.logical_id}"
        pattern = json.dumps(rule.pattern)
        arn = events.put_rule(Name=name, EventPattern=pattern, State=rule.state)["RuleArn"]
        events.put_targets(Rule=name, Targets=[{"Id": rule.function, "Arn": taps[rule.function][1]}])
        rules[rule.logical_id] = LocalRule(rule.logical_id, rule.function, name, arn)
    return LocalBus(rules, taps, log_groups, names)


@contextlib.contextmanager
def function_logs(client: Callable[[str], Any], log_group: str, logger: Any) -> Iterator[None]:
    """Capture what a handler writes while inside (stdout, and the Powertools `logger` at INFO, as
    Lambda runs it) and put each line in `log_group`, one new stream per invocation, stamped with the
    real clock (CloudWatch Logs accepts nothing older than 14 days)."""
    buffer = io.StringIO()
    handler = logger.registered_handler
    stream, level = getattr(handler, "stream", None), logger.log_level
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(buffer)
    logger.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        logger.setLevel(level)
        if isinstance(handler, logging.StreamHandler) and stream is not None:
            handler.setStream(stream)
        _put_lines(client("logs"), log_group, buffer.getvalue().splitlines())


def _put_lines(logs: Any, log_group: str, lines: list[str]) -> None:
    lines = [line for line in lines if line.strip()]
    if not lines:
        return
    stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
    logs.create_log_stream(logGroupName=log_group, logStreamName=stream)
    now = int(time.time() * 1000)
    events = [{"timestamp": now, "message": line} for line in lines]
    logs.put_log_events(logGroupName=log_group, logStreamName=stream, logEvents=events)
