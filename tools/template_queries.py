"""Every CloudWatch Metrics Insights query template.yaml deploys, found and checked offline.

    python -m tools.template_queries template.yaml   (also part of `python -m tools.lint_template`)

Queries live in alarms (`Metrics[].Expression` starting with SELECT) and in dashboards (a widget's
`metrics` entry whose `expression` starts with SELECT; SEARCH expressions are metric math, not Metrics
Insights, and tests/unit/test_dashboard.py reads those). Each is checked as CloudFormation would deploy
it (intrinsics evaluated), in every deployment of `deployments`: the optional parts on, once with the
parameter defaults and once with every free-text parameter set to a reserved keyword (`PROBE`), since a
parameter substituted into an identifier must be quoted whatever its value. Rules: tools.metrics_insights
(`alarm_problems` for alarms: every identifier quoted, GROUP BY with ORDER BY ... LIMIT within the
contributor ceiling; `problems` with quote_all for dashboards).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperpod_local.stack.intrinsics import Resolver, UnresolvedError
from hyperpod_local.stack.template import load_template
from tools.metrics_insights import RESERVED_KEYWORDS, QueryError, alarm_problems, parse, problems

#: Parameters that create the template's optional parts (the HMA subscription and the HMA alarm), so
#: that every alarm and dashboard row exists in the deployments checked.
OPTIONAL_PARTS: Mapping[str, str] = {
    "HmaLogGroupNames": "/aws/sagemaker/Clusters/ml-cluster/abcdef012345",
    "HmaAlarmLogGroupName": "/aws/sagemaker/Clusters/ml-cluster/abcdef012345",
}
#: The value every free-text parameter takes in the second deployment: a reserved keyword (any case).
PROBE = "Cluster"
assert PROBE.upper() in RESERVED_KEYWORDS

ALARM = "AWS::CloudWatch::Alarm"
DASHBOARD = "AWS::CloudWatch::Dashboard"


@dataclass(frozen=True)
class FoundQuery:
    where: str  # "<logical id> Metrics[<n>]" or "<logical id> widget '<title>'"
    text: str
    alarm: bool


class _FakeAttributes(Mapping[tuple[str, str], str]):
    """Fn::GetAtt of any created resource: a made-up value (the queries never name one)."""

    def __init__(self, created: frozenset[str]) -> None:
        self._created = created

    def __getitem__(self, key: tuple[str, str]) -> str:
        logical_id, attribute = key
        if logical_id not in self._created:
            raise KeyError(key)
        return f"{attribute.lower()}-{logical_id}"

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _accepts(spec: Mapping[str, Any], value: str) -> bool:
    if spec.get("Type", "String") != "String" or "AllowedValues" in spec:
        return False
    if not int(spec.get("MinLength", 0)) <= len(value) <= int(spec.get("MaxLength", 4096)):
        return False
    return "AllowedPattern" not in spec or re.fullmatch(spec["AllowedPattern"], value) is not None


def _deployment(template: Mapping[str, Any], parameters: Mapping[str, str]) -> Resolver:
    resolver = Resolver(template, parameters=parameters)
    created = frozenset(
        lid
        for lid, r in template.get("Resources", {}).items()
        if "Condition" not in r or resolver.condition(r["Condition"])
    )
    return Resolver(
        template,
        parameters=parameters,
        refs={lid: f"phys-{lid}" for lid in created},
        attrs=_FakeAttributes(created),
    )


def deployments(template: Mapping[str, Any]) -> dict[str, Resolver]:
    """Name -> deployment: the optional parts on with the defaults, and again with the probe word."""
    declared = template.get("Parameters", {})
    probed = {n: PROBE for n, spec in declared.items() if n not in OPTIONAL_PARTS and _accepts(spec, PROBE)}
    optional = {n: v for n, v in OPTIONAL_PARTS.items() if n in declared}
    checked = {"defaults": _deployment(template, optional)}
    if probed:
        checked[f"free-text parameters = {PROBE!r}"] = _deployment(template, {**optional, **probed})
    return checked


def _is_query(expression: Any) -> bool:
    return isinstance(expression, str) and expression.lstrip().upper().startswith("SELECT")


def _widget_queries(logical_id: str, body: str) -> Iterator[FoundQuery]:
    for widget in json.loads(body).get("widgets", []):
        properties = widget.get("properties", {})
        for entry in properties.get("metrics", []):
            for item in entry if isinstance(entry, list) else []:
                if isinstance(item, dict) and _is_query(item.get("expression")):
                    title = properties.get("title", "")
                    yield FoundQuery(f"{logical_id} widget {title!r}", item["expression"], alarm=False)


def find_queries(template: Mapping[str, Any], deployed: Resolver) -> list[FoundQuery]:
    """The Metrics Insights queries of the resources `deployed` creates, as deployed."""
    found: list[FoundQuery] = []
    for logical_id, resource in template.get("Resources", {}).items():
        if logical_id not in deployed.refs:
            continue
        if resource.get("Type") == ALARM:
            metrics = deployed.resolve(resource.get("Properties", {}).get("Metrics", []))
            found += [
                FoundQuery(f"{logical_id} Metrics[{n}]", m["Expression"], alarm=True)
                for n, m in enumerate(metrics)
                if _is_query(m.get("Expression"))
            ]
        elif resource.get("Type") == DASHBOARD:
            body = deployed.resolve(resource["Properties"]["DashboardBody"])
            found += _widget_queries(logical_id, body)
    return found


def _not_deployed(template: Mapping[str, Any], checked: Sequence[Resolver]) -> list[str]:
    """Alarms and dashboards no checked deployment creates: their queries would go unchecked."""
    return [
        f"{lid}: created in no deployment this check evaluates (add its parameter to OPTIONAL_PARTS)"
        for lid, r in template.get("Resources", {}).items()
        if r.get("Type") in (ALARM, DASHBOARD) and not any(lid in d.refs for d in checked)
    ]


def check_template(template: Mapping[str, Any]) -> list[str]:
    """Every problem of every Metrics Insights query the template deploys (empty when all are sound)."""
    try:
        checked = deployments(template)
    except UnresolvedError as exc:  # a resource's Condition the template does not define, say
        return [f"the template's conditions cannot be evaluated: {exc}"]
    found = _not_deployed(template, list(checked.values()))
    for name, deployed in checked.items():
        try:
            queries = find_queries(template, deployed)
        except (UnresolvedError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            found.append(f"({name}) the alarms and dashboards cannot be evaluated: {exc}")
            continue
        for query in queries:
            try:
                parsed = parse(query.text)
            except QueryError as exc:
                found.append(f"{query.where} ({name}): not a Metrics Insights query: {exc}: {query.text}")
                continue
            issues = alarm_problems(parsed) if query.alarm else problems(parsed, quote_all=True)
            found += [f"{query.where} ({name}): {issue}" for issue in issues]
    return list(dict.fromkeys(found))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0] if args else "template.yaml")
    found = check_template(load_template(path))
    for problem in found:
        print(f"[query] {path.name}: {problem}", file=sys.stderr)
    if found:
        return 1
    print(f"{path}: every Metrics Insights query reads and quotes its identifiers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
