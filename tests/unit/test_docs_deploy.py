"""docs/deploy.md stays true: every command in it is run by a test or marked as needing an AWS account,
and every stack parameter and output it names exists in template.yaml."""

from __future__ import annotations

import re

import pytest

from autoheal_cli.main import build_parser
from hyperpod_local.stack.template import REPO_ROOT, TEMPLATE_PATH, load_template
from tests.deploy_guide import (
    AWS_MARK,
    GUIDE,
    LOCAL_SERVER,
    commands,
    output_names,
    parameter_names,
    rehearsal,
)
from tools.sam_build import BUILD, VALIDATE

TEXT = GUIDE.read_text()
TEMPLATE = load_template(TEMPLATE_PATH)
MAKEFILE = (REPO_ROOT / "Makefile").read_text()
#: Commands of the guide that tests run, outside the rehearsal block (which the integration test
#: tests/integration/test_docs_deploy.py runs as written), with where they run.
RUN_BY_TESTS = {
    "sam " + " ".join(VALIDATE): "make sam-build (tools/sam_build.py)",
    "sam " + " ".join(BUILD): "make sam-build (tools/sam_build.py)",
    "make demo": "the Makefile's demo target: python -m hyperpod_local.demo, run by tests/scenarios/test_demo.py",
}
INTEGRATION_TEST = REPO_ROOT / "tests" / "integration" / "test_docs_deploy.py"


def unaccounted(markdown: str) -> list[str]:
    """Commands that are neither run by a test nor marked as needing an AWS account."""
    local = {c.text for c in rehearsal(markdown)} if LOCAL_SERVER in markdown else set()
    return [
        f"line {c.line}: {c.text}"
        for c in commands(markdown)
        if not c.needs_aws and c.text not in RUN_BY_TESTS and c.text not in local
    ]


def unknown_parameters(markdown: str) -> set[str]:
    return parameter_names(markdown) - set(TEMPLATE["Parameters"])


# ---------------------------------------------------------------- the guide


def test_every_command_is_run_by_a_test_or_needs_an_aws_account() -> None:
    assert commands(TEXT), "no commands found: the code-block parser is broken"
    assert unaccounted(TEXT) == []


def test_each_command_a_test_runs_is_in_the_guide() -> None:
    """The tested list holds no stale entries: each one is a command of the guide."""
    assert set(RUN_BY_TESTS) <= {c.text for c in commands(TEXT)}


def test_sam_validate_and_build_are_what_make_sam_build_runs() -> None:
    sam_build = re.search(r"^sam-build:.*\n((?:\t.*\n)+)", MAKEFILE, re.MULTILINE)
    assert sam_build and "-m tools.sam_build" in sam_build.group(1)
    assert "sam-build" in re.search(r"^test:(.*)$", MAKEFILE, re.MULTILINE).group(1)  # type: ignore[union-attr]


def test_make_demo_runs_the_demo_the_scenario_tests_run() -> None:
    demo = re.search(r"^demo:.*\n((?:\t.*\n)+)", MAKEFILE, re.MULTILINE)
    assert demo and "-m hyperpod_local.demo" in demo.group(1)
    assert '"hyperpod_local.demo"' in (REPO_ROOT / "tests" / "scenarios" / "test_demo.py").read_text()


def test_the_local_rehearsal_starts_the_local_stack_then_talks_to_it() -> None:
    """What tests/integration/test_docs_deploy.py runs, as written: the server in the background, then
    the operator CLI pointed at its endpoint and stack."""
    server, *cli = rehearsal(TEXT)
    words = server.words
    assert words[:3] == ["python", "-m", "hyperpod_local"] and words[-1] == "&"
    port, stack = words[words.index("--port") + 1], words[words.index("--stack") + 1]
    assert cli, "the rehearsal runs no CLI command"
    for command in cli:
        assert command.words[0] == "autoheal" and not command.needs_aws
        assert f"http://127.0.0.1:{port}" in command.words and stack in command.words
    assert INTEGRATION_TEST.is_file() and "rehearsal(" in INTEGRATION_TEST.read_text()


def test_selftest_is_the_step_right_after_deploy() -> None:
    found = commands(TEXT)
    deploy = next(i for i, c in enumerate(found) if c.text == "sam deploy --guided")
    selftest = found[deploy + 1]
    assert selftest.words == ["autoheal", "--stack", "<stack>", "selftest"] and selftest.needs_aws


def test_every_autoheal_command_of_the_guide_parses_with_the_cli() -> None:
    """Flags and commands as the CLI takes them (placeholders stand for values)."""
    parser = build_parser()
    found = [c for c in commands(TEXT) if c.words and c.words[0] == "autoheal"]
    assert found
    for command in found:
        args = [w for w in command.words[1:] if w != "&"]
        try:
            parser.parse_args(args)
        except SystemExit as exit_:  # argparse's way of refusing
            raise AssertionError(f"the guide's {command.text!r} does not parse") from exit_


def test_every_parameter_the_guide_names_exists_in_the_template() -> None:
    names = parameter_names(TEXT)
    assert {"DryRun", "ClusterArns", "ClusterArnPattern", "AlarmNamePrefix", "NotificationEmail"} <= names
    assert unknown_parameters(TEXT) == set()


def test_every_output_the_guide_names_exists_in_the_template() -> None:
    names = output_names(TEXT)
    assert "DashboardUrl" in names
    assert names <= set(TEMPLATE["Outputs"])


def test_the_readme_points_at_the_guide() -> None:
    assert "(docs/deploy.md)" in (REPO_ROOT / "README.md").read_text()


# ---------------------------------------------------------------- the checks themselves


SAMPLE = f"""
| parameter | value |
|---|---|
| `DryRun` / `NoSuchParameter` | x |

Set the parameter `AlsoMissing` with care.

```bash
sam build
# a comment line is not a command
aws s3 ls  {AWS_MARK}
aws sts get-caller-identity
sam deploy --parameter-overrides \\
  DryRun=true Invented=1  {AWS_MARK}
```

```json
{{"not": "shell"}}
```
"""


def test_an_unmarked_untested_command_is_reported_with_its_line() -> None:
    assert unaccounted(SAMPLE) == ["line 12: aws sts get-caller-identity"]


def test_continued_lines_are_one_command_and_the_mark_is_read_at_its_end() -> None:
    (*_, deploy) = commands(SAMPLE)
    assert deploy.text == "sam deploy --parameter-overrides DryRun=true Invented=1" and deploy.needs_aws


def test_unknown_parameters_are_found_in_tables_prose_and_overrides() -> None:
    assert unknown_parameters(SAMPLE) == {"NoSuchParameter", "AlsoMissing", "Invented"}


@pytest.mark.parametrize("broken", ["```bash\nsam build\n", "```bash\nsam build \\\n```\n"])
def test_a_broken_block_is_an_error(broken: str) -> None:
    with pytest.raises(ValueError, match=r"deploy\.md"):
        commands(broken)
