"""Where an event goes: template.yaml's EventBridge rules and HMA log subscriptions, as one deployment has them.

`event_rules` resolves every `EventBridgeRule` event of the template's functions (with the deployment's
parameters: the template's defaults unless given), skipping functions whose Condition is false;
`rules_matching` says which of them an EventBridge event matches, with moto's implementation of
EventBridge's pattern matching (`moto.events.models.EventPattern`, prefix / anything-but / exists /
`$or` included). `log_subscriptions` does the same for the CloudWatch Logs subscriptions of the HMA
trigger, and `filter_pattern_matches` evaluates their filter pattern on one log record.

Used by tests that hold published AWS examples against the template (tests/corpus).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from moto.events.models import EventPattern

from hyperpod_local.stack.intrinsics import Resolver
from hyperpod_local.stack.template import load_template

_FUNCTION = "AWS::Serverless::Function"
_SUBSCRIPTION_FILTER = "AWS::Logs::SubscriptionFilter"


@dataclass(frozen=True)
class EventRule:
    """One EventBridge rule of the template: the function it invokes and its resolved pattern."""

    function: str  # logical id of the function
    name: str  # the rule's key under the function's Events
    pattern: Mapping[str, Any]
    state: str = "ENABLED"  # the rule's `State` as deployed

    @property
    def logical_id(self) -> str:
        """The rule's logical id as SAM names it: <Function><Event>."""
        return f"{self.function}{self.name}"

    def matches(self, event: Mapping[str, Any]) -> bool:
        message: Any = dict(event)  # moto types it as its own EventMessageType
        return bool(EventPattern.load(json.dumps(self.pattern)).matches_event(message))


@dataclass(frozen=True)
class LogSubscription:
    """One CloudWatch Logs subscription of the template: the log group, its filter, the function."""

    function: str
    name: str  # the function's CloudWatchLogs event key, or the AWS::Logs::SubscriptionFilter's id
    log_group: str
    filter_pattern: str

    def matches(self, log_group: str, message: str) -> bool:
        return log_group == self.log_group and filter_pattern_matches(self.filter_pattern, message)


def _deployed(resolver: Resolver, resource: Mapping[str, Any]) -> bool:
    condition = resource.get("Condition")
    return condition is None or resolver.condition(str(condition))


def _functions(template: Mapping[str, Any], resolver: Resolver) -> list[tuple[str, Mapping[str, Any]]]:
    return [
        (logical_id, resource)
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == _FUNCTION and _deployed(resolver, resource)
    ]


def event_rules(
    parameters: Mapping[str, str] | None = None, template: Mapping[str, Any] | None = None
) -> tuple[EventRule, ...]:
    """Every EventBridge rule the deployment has (functions whose Condition is false have none)."""
    template = template if template is not None else load_template()
    resolver = Resolver(template, parameters=dict(parameters or {}))
    return tuple(
        EventRule(
            logical_id,
            name,
            resolver.resolve(event["Properties"]["Pattern"]),
            str(resolver.resolve(event["Properties"].get("State", "ENABLED"))),
        )
        for logical_id, resource in _functions(template, resolver)
        for name, event in resource.get("Properties", {}).get("Events", {}).items()
        if event.get("Type") == "EventBridgeRule"
    )


def rules_matching(event: Mapping[str, Any], rules: Sequence[EventRule]) -> tuple[EventRule, ...]:
    return tuple(rule for rule in rules if rule.matches(event))


def log_subscriptions(
    parameters: Mapping[str, str] | None = None, template: Mapping[str, Any] | None = None
) -> tuple[LogSubscription, ...]:
    """The HMA log subscriptions the deployment has: each function's CloudWatchLogs events and the
    template's AWS::Logs::SubscriptionFilter resources (their destination named by Fn::GetAtt)."""
    template = template if template is not None else load_template()
    resolver = Resolver(template, parameters=dict(parameters or {}))
    found = [
        LogSubscription(
            logical_id,
            name,
            str(resolver.resolve(event["Properties"]["LogGroupName"])),
            str(resolver.resolve(event["Properties"]["FilterPattern"])),
        )
        for logical_id, resource in _functions(template, resolver)
        for name, event in resource.get("Properties", {}).get("Events", {}).items()
        if event.get("Type") == "CloudWatchLogs"
    ]
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != _SUBSCRIPTION_FILTER or not _deployed(resolver, resource):
            continue
        properties = resource["Properties"]
        destination = properties["DestinationArn"].get("Fn::GetAtt", ["?"])[0]
        found.append(
            LogSubscription(
                str(destination),
                logical_id,
                str(resolver.resolve(properties["LogGroupName"])),
                str(resolver.resolve(properties["FilterPattern"])),
            )
        )
    return tuple(found)


# One JSON property compared with one value, the form HmaFilterPattern uses:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html
_JSON_EQUALS = re.compile(r'^\{\s*\$\.(?P<path>[A-Za-z0-9_.]+)\s*=\s*(?P<value>"[^"]*"|[^\s}"]+)\s*\}$')


def filter_pattern_matches(pattern: str, message: str) -> bool:
    """Whether a CloudWatch Logs JSON filter pattern of the form `{ $.a.b = "value" }` selects
    `message`. A message that is not a JSON object matches no JSON pattern; other pattern
    syntax raises ValueError rather than guessing."""
    match = _JSON_EQUALS.fullmatch(pattern.strip())
    if match is None:
        raise ValueError(f"filter pattern not supported here: {pattern!r}")
    try:
        node: Any = json.loads(message)
    except ValueError:
        return False
    for key in match["path"].split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    expected = match["value"].strip('"')
    return isinstance(node, str | int | float) and not isinstance(node, bool) and str(node) == expected
