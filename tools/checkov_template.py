"""Run checkov over template.yaml: as SAM, and as the CloudFormation the SAM transform makes of it.

    python -m tools.checkov_template [template.yaml] --checkov .venv-checkov/bin/checkov

checkov lives in its own venv (`.venv-checkov`, made by `make template-lint`: it pins boto3 1.35 and packaging<24, which the
project's venv cannot hold). This tool runs in the project's venv, where aws-sam-translator is: it writes
both forms of the template as JSON to a temporary directory and runs the given checkov on them, offline
(`--skip-download`), `--quiet --compact`, exiting with checkov's status.

First it checks that each suppression (`Metadata: checkov: skip:` on a resource) names a check and
gives a reason, so that a clean run has zero unexplained failures (exit 1 otherwise). SAM copies a
function's Metadata to the Lambda function it generates, so the same suppressions cover both forms.

Workaround: checkov 3.3.30 crashes on `Fn::Select` over a list of numbers (its renderer tests
`'Fn::' in` the selected item). Numbers in such lists are written as strings for checkov, which
CloudFormation would treat alike.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperpod_local.stack.template import load_template
from tools.lint_template import transform

CHECK_ID = re.compile(r"CKV2?_AWS_\d+")
MIN_REASON = 40  # characters: a reason, not "n/a" or "false positive"


@dataclass(frozen=True)
class Suppression:
    resource: str
    check: str
    reason: str


def suppressions(template: dict[str, Any]) -> tuple[list[Suppression], list[str]]:
    """Every checkov skip in the template, and what is wrong with those that do not explain themselves."""
    found: list[Suppression] = []
    problems: list[str] = []
    for logical_id, resource in template.get("Resources", {}).items():
        skips = ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
        for skip in skips:
            check = str(skip.get("id", "")) if isinstance(skip, dict) else str(skip)
            reason = " ".join(str(skip.get("comment", "")).split()) if isinstance(skip, dict) else ""
            if not CHECK_ID.fullmatch(check):
                problems.append(f"{logical_id}: {check!r} is not a checkov AWS check id")
            elif len(reason) < MIN_REASON:
                problems.append(f"{logical_id}: {check} is suppressed without a reason (comment)")
            else:
                found.append(Suppression(logical_id, check, reason))
    return found, problems


def checkov_safe(node: Any) -> Any:
    """`node` with the numbers of every `Fn::Select` list written as strings (see the module doc)."""
    if isinstance(node, list):
        return [checkov_safe(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "Fn::Select" and isinstance(value, list) and len(value) == 2 and isinstance(value[1], list):
            numbers = (int, float)
            value = [
                value[0],
                [str(v) if isinstance(v, numbers) and not isinstance(v, bool) else v for v in value[1]],
            ]
        out[key] = checkov_safe(value)
    return out


def run(template_path: Path, checkov: str) -> int:
    found_checkov = shutil.which(checkov)
    if found_checkov is None:
        print(f"[checkov] {checkov} not found (make template-lint installs it)", file=sys.stderr)
        return 2
    executable = str(Path(found_checkov).resolve())  # checkov runs in a temporary directory
    template = load_template(template_path)
    found, problems = suppressions(template)
    for problem in problems:
        print(f"[checkov] {template_path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    with tempfile.TemporaryDirectory(prefix="autoheal-checkov-") as tmp:
        sam = Path(tmp) / f"{template_path.name}.sam.json"
        cfn = Path(tmp) / f"{template_path.name}.cloudformation.json"
        sam.write_text(json.dumps(checkov_safe(template), indent=1))
        cfn.write_text(json.dumps(checkov_safe(transform(template)), indent=1))
        command = [executable, "--framework", "cloudformation", "--quiet", "--compact", "--skip-download"]
        status = subprocess.run([*command, "-f", str(sam), "-f", str(cfn)], cwd=tmp, check=False).returncode
    if status == 0:
        checks = ", ".join(sorted({s.check for s in found}))
        print(
            f"{template_path}: checkov clean as SAM and as CloudFormation ({len(found)} suppressions: {checks})"
        )
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("template", type=Path, nargs="?", default=Path("template.yaml"))
    parser.add_argument("--checkov", default="checkov", help="the checkov executable (its own venv)")
    args = parser.parse_args(argv)
    return run(args.template, args.checkov)


if __name__ == "__main__":
    sys.exit(main())
