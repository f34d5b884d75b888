"""Lint template.yaml twice: as SAM, and as the CloudFormation the SAM transform turns it into.

    python -m tools.lint_template template.yaml [--region us-east-1] [--show-transformed]

cfn-lint validates a SAM template against SAM's own schemas without transforming it, so it misses
mistakes that only exist after the transform (a bad runtime, a misspelled IAM action in a policy
statement). This tool therefore also runs aws-sam-translator in-process (local CodeUri/ContentUri paths
replaced by placeholder S3 locations, as `sam package` would) and lints the result. cfn-lint does not
read CloudWatch Metrics Insights queries (a string to it), so every query the template deploys is also
checked against the documented grammar and reserved keywords (tools.template_queries, stage "query").
Offline: no AWS credentials or network are needed. Exits 1 on a transform error, a query problem or any
cfn-lint error or warning not listed in `IGNORED`, 2 when the template cannot be read.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from boto3.session import Session
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from cfnlint.rules import Match
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from hyperpod_local.stack.template import load_template
from tools.template_queries import check_template

DEFAULT_REGION = "us-east-1"
PLACEHOLDER_BUCKET = "autoheal-lint-placeholder"
MAX_MESSAGE = 300  # cfn-lint lists every allowed value (all SageMaker actions, say); keep the start

# Local code locations the SAM transform needs replaced by S3 locations, per resource type.
_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


@dataclass(frozen=True)
class Finding:
    """One problem: a cfn-lint match (stage "sam" or "cfn"), a SAM transform error (stage "transform") or
    a Metrics Insights query problem (stage "query")."""

    stage: str
    match: Match | None = None
    message: str = ""

    def render(self, template_name: str) -> str:
        m = self.match
        if m is None:
            return f"[{self.stage}] {template_name}: {self.message}"
        where = "/".join(str(p) for p in (m.path or ())) or "-"
        if self.stage == "sam":
            location = f"{template_name}:{m.linenumber}:{m.columnnumber}"
        else:
            location = f"{template_name} (transformed) {where}"
        message = m.message if len(m.message) <= MAX_MESSAGE else m.message[:MAX_MESSAGE] + " ..."
        return f"[{self.stage}] {location}: {m.rule.id} {message}"


@dataclass(frozen=True)
class Ignored:
    """A finding we accept, with the reason. `stage` is "sam", "cfn" or "both"; `path` a prefix."""

    rule: str
    stage: str
    path: tuple[str, ...]
    reason: str

    def covers(self, finding: Finding) -> bool:
        match = finding.match
        if match is None:  # transform errors and query problems are never ignorable
            return False
        match_path = tuple(str(p) for p in (match.path or ()))
        return (
            match.rule.id == self.rule
            and self.stage in (finding.stage, "both")
            and match_path[: len(self.path)] == self.path
        )


# Every entry needs a reason a reviewer can check. Keep this list short.
IGNORED: tuple[Ignored, ...] = ()


def _placeholder_code_locations(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of `template` whose local CodeUri/ContentUri paths point at a placeholder S3 object."""
    out = copy.deepcopy(template)
    for logical_id, resource in out.get("Resources", {}).items():
        prop = _CODE_PROPERTIES.get(resource.get("Type", ""))
        if prop is None:
            continue
        properties = resource.setdefault("Properties", {})
        value = properties.get(prop)
        if isinstance(value, str) and not value.startswith("s3://"):
            properties[prop] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
    function_globals = out.get("Globals", {}).get("Function", {})
    if isinstance(function_globals.get("CodeUri"), str):
        function_globals["CodeUri"] = f"s3://{PLACEHOLDER_BUCKET}/globals.zip"
    return out


def _no_managed_policy_names() -> dict[str, str]:
    # The template names managed policies by ARN only (SAM adds the Lambda/X-Ray ones by ARN itself);
    # resolving bare names would need IAM ListPolicies, i.e. credentials and network.
    return {}


def transform(template: dict[str, Any], region: str = DEFAULT_REGION) -> dict[str, Any]:
    """The CloudFormation template the SAM transform produces, computed offline."""
    translator = Translator(
        managed_policy_map=None, sam_parser=Parser(), boto_session=Session(region_name=region)
    )
    get_map: Callable[[], dict[str, str]] = _no_managed_policy_names
    result: dict[str, Any] = translator.translate(
        _placeholder_code_locations(template), parameter_values={}, get_managed_policy_map=get_map
    )
    return result


def _lint(text: str, region: str) -> list[Match]:
    return list(lint(text, config=ManualArgs(regions=[region])))


def check(path: Path, region: str = DEFAULT_REGION, show_transformed: bool = False) -> list[Finding]:
    """cfn-lint findings for the SAM template and for its transform (or the transform's own errors), and
    the problems of its Metrics Insights queries."""
    findings = [Finding("sam", m) for m in _lint(path.read_text(encoding="utf-8"), region)]
    template = load_template(path)
    findings += [Finding("query", message=problem) for problem in check_template(template)]
    try:
        transformed = transform(template, region)
    except InvalidDocumentException as exc:
        return findings + [Finding("transform", message=cause.message) for cause in exc.causes]
    if show_transformed:
        print(json.dumps(transformed, indent=2, sort_keys=True))
    return findings + [Finding("cfn", m) for m in _lint(json.dumps(transformed), region)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("template", type=Path, nargs="?", default=Path("template.yaml"))
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument("--show-transformed", action="store_true", help="print the transformed template")
    args = parser.parse_args(argv)

    try:
        findings = check(args.template, args.region, args.show_transformed)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"[read] {args.template}: {exc}", file=sys.stderr)
        return 2

    failing: list[Finding] = []
    for finding in findings:
        ignore = next((i for i in IGNORED if i.covers(finding)), None)
        if ignore is None:
            failing.append(finding)
        else:
            print(f"ignored {finding.render(args.template.name)} ({ignore.reason})", file=sys.stderr)
    for finding in failing:
        print(finding.render(args.template.name), file=sys.stderr)
    if failing:
        print(f"{args.template}: {len(failing)} problem(s)", file=sys.stderr)
        return 1
    summary = (
        f"{args.template}: cfn-lint clean as SAM and as transformed CloudFormation ({args.region}); "
        "Metrics Insights queries sound"
    )
    print(summary, file=sys.stderr if args.show_transformed else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
