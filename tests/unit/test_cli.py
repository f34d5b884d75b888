"""The operator CLI's pure parts: id checks, stack resolution, the read-only guard, error lines,
rendering and event files. No network (the unit conftest refuses connections)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from botocore.stub import Stubber

from autoheal.adapters import dynamo
from autoheal.adapters.attempts import LedgerAttempts
from autoheal.adapters.dynamo import LedgerError
from autoheal.adapters.open_nodes import LedgerOpenNodes
from autoheal.adapters.queue import QueueNotFoundError
from autoheal.intake.logs import decode
from autoheal_cli import ids
from autoheal_cli.aws import Clients, ReadOnlyClient, read_only
from autoheal_cli.errors import CliError, MutatingCallRefused, Where, explain
from autoheal_cli.events import load_events, refreshed
from autoheal_cli.render import ago, jsonable, table
from autoheal_cli.resolve import PARAMETER_ENV, resolve
from hyperpod_local.stack.template import FUNCTIONS, TEMPLATE_PATH, load_template, template_function_env

# ---------------------------------------------------------------- ids


@pytest.mark.parametrize("good", ["i-0123456789abcdef0", "i-01234567", "gpu-a-1", "0b1c5d2e-7f3a-4a9b"])
def test_node_refs_accept_instance_and_logical_ids(good: str) -> None:
    assert ids.node_ref(good) == good


@pytest.mark.parametrize("bad", ["x", "bad id!", "-leading", "trailing-", "a" * 129, "../etc"])
def test_node_refs_reject_anything_else(bad: str) -> None:
    with pytest.raises(CliError, match="not a NodeLogicalId or EC2 instance id"):
        ids.node_ref(bad)


def test_cluster_refs_take_names_and_arns_only() -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:cluster/abcdef012345"
    assert ids.cluster_ref("ml-cluster") == "ml-cluster"
    assert ids.cluster_ref(arn) == arn
    assert ids.cluster_ref(None) is None
    with pytest.raises(CliError, match="not a HyperPod cluster name or ARN"):
        ids.cluster_ref("bad_cluster!")


# ---------------------------------------------------------------- resolution


class FakeCloudFormation:
    def __init__(self, stacks: dict[str, dict[str, Any]]) -> None:
        self.stacks = stacks

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName not in self.stacks:
            error = {"Code": "ValidationError", "Message": f"Stack with id {StackName} does not exist"}
            raise ClientError({"Error": error}, "DescribeStacks")
        return {"Stacks": [self.stacks[StackName]]}


STACK = {
    "StackName": "autoheal-prod",
    "Outputs": [
        {"OutputKey": "LedgerTableName", "OutputValue": "prod-ledger"},
        {"OutputKey": "FaultQueueUrl", "OutputValue": "https://sqs/q"},
        {"OutputKey": "NeedsHumanTopicArn", "OutputValue": "arn:aws:sns:us-east-1:1:t"},
    ],
    "Parameters": [
        {"ParameterKey": "EscalationWindowMinutes", "ParameterValue": "90"},
        {"ParameterKey": "Stage", "ParameterValue": "prod"},
    ],
}


def clients_with(cfn: FakeCloudFormation) -> Any:
    return lambda service: cfn if service == "cloudformation" else pytest.fail(f"unexpected client {service}")


def test_a_stack_gives_table_queue_topic_and_the_functions_policy() -> None:
    env = {"AUTOHEAL_TABLE_NAME": "env-table", "AUTOHEAL_ESCALATION_WINDOW_MINUTES": "30"}
    service = resolve(
        clients_with(FakeCloudFormation({"autoheal-prod": STACK})),
        stack="autoheal-prod",
        table=None,
        queue_url=None,
        environ=env,
    )
    assert (service.table_name, service.queue_url, service.topic_arn) == (
        "prod-ledger",
        "https://sqs/q",
        "arn:aws:sns:us-east-1:1:t",
    )
    assert service.settings().escalation_window_minutes == 90  # the stack's parameter beats the env


def test_flags_beat_the_stack_and_the_stack_beats_the_environment() -> None:
    service = resolve(
        clients_with(FakeCloudFormation({"autoheal-prod": STACK})),
        stack="autoheal-prod",
        table="flag-table",
        queue_url=None,
        environ={"AUTOHEAL_QUEUE_URL": "https://sqs/env"},
    )
    assert (service.table_name, service.queue_url) == ("flag-table", "https://sqs/q")


def test_without_a_stack_the_environment_is_used_and_nothing_is_called() -> None:
    service = resolve(
        lambda service: pytest.fail("no client without --stack"),
        stack=None,
        table=None,
        queue_url=None,
        environ={"AUTOHEAL_TABLE_NAME": "t", "AUTOHEAL_QUEUE_URL": "https://sqs/q"},
    )
    assert (service.require_table(), service.require_queue()) == ("t", "https://sqs/q")


def test_missing_pieces_say_how_to_name_them() -> None:
    bare = resolve(lambda s: None, stack=None, table=None, queue_url=None, environ={})
    with pytest.raises(
        CliError, match="no ledger table: pass --stack NAME or --table, or set AUTOHEAL_TABLE_NAME"
    ):
        bare.require_table()
    with pytest.raises(CliError, match="no fault queue: pass --stack NAME or --queue-url"):
        bare.require_queue()
    partial = {**STACK, "Outputs": []}
    service = resolve(
        clients_with(FakeCloudFormation({"s": partial})), stack="s", table=None, queue_url=None, environ={}
    )
    with pytest.raises(CliError, match="stack 's' has no LedgerTableName output"):
        service.require_table()


def test_a_missing_stack_is_a_clear_error() -> None:
    with pytest.raises(CliError, match="stack 'nope' not found in eu-west-1"):
        resolve(
            clients_with(FakeCloudFormation({})),
            stack="nope",
            table=None,
            queue_url=None,
            environ={},
            region="eu-west-1",
        )


def test_stack_parameters_map_to_the_variables_the_template_sets() -> None:
    """PARAMETER_ENV must follow template.yaml: each AUTOHEAL_* variable set from a parameter."""
    template = load_template(TEMPLATE_PATH)
    from_template = {
        value["Ref"]: name
        for fn in FUNCTIONS
        for name, value in template_function_env(template, fn).items()
        if name.startswith("AUTOHEAL_")
        and isinstance(value, dict)
        and value.get("Ref") in template["Parameters"]
    }
    assert dict(PARAMETER_ENV) == from_template


# ---------------------------------------------------------------- clients


def test_loopback_endpoints_get_test_credentials_only_when_none_are_configured() -> None:
    local = Clients(endpoint_url="http://127.0.0.1:5000", region="us-east-1", environ={})
    assert local._boto_session().get_credentials().access_key == "testing"
    from_env = Clients(region="us-east-1", environ={"AWS_ENDPOINT_URL": "http://localhost:1"})
    assert from_env._boto_session().get_credentials().access_key == "testing"
    with_keys = Clients(
        endpoint_url="http://127.0.0.1:5000", region="us-east-1", environ={"AWS_ACCESS_KEY_ID": "AKIA"}
    )
    assert with_keys._has_credentials_config()


def test_endpoint_urls_are_checked() -> None:
    with pytest.raises(CliError, match="--endpoint-url must be an http"):
        Clients(endpoint_url="127.0.0.1:5000")


class FakeSageMaker:
    def __init__(self) -> None:
        self.called: list[str] = []

    def list_cluster_nodes(self, **kwargs: Any) -> dict[str, Any]:
        self.called.append("list_cluster_nodes")
        return {"ClusterNodeSummaries": []}

    def batch_reboot_cluster_nodes(self, **kwargs: Any) -> dict[str, Any]:
        self.called.append("batch_reboot_cluster_nodes")
        return {}

    def get_paginator(self, name: str) -> str:
        return f"paginator:{name}"


def test_the_read_only_client_lets_reads_through_and_refuses_the_rest_unsent() -> None:
    inner = FakeSageMaker()
    client = ReadOnlyClient("sagemaker", inner)
    assert client.list_cluster_nodes(ClusterName="c") == {"ClusterNodeSummaries": []}
    assert client.get_paginator("list_cluster_nodes") == "paginator:list_cluster_nodes"
    with pytest.raises(MutatingCallRefused, match=r"sagemaker\.batch_reboot_cluster_nodes"):
        client.batch_reboot_cluster_nodes(ClusterName="c", NodeIds=["i-01234567"])
    with pytest.raises(MutatingCallRefused):
        client.get_paginator("batch_delete_cluster_nodes")
    assert inner.called == ["list_cluster_nodes"]


@pytest.mark.parametrize("method", ["put_item", "delete_item", "batch_write_item", "update_item"])
def test_the_read_only_factory_guards_every_service(method: str) -> None:
    factory = read_only(lambda service: object())
    with pytest.raises(MutatingCallRefused, match=f"dynamodb.{method}"):
        getattr(factory("dynamodb"), method)()


# ---------------------------------------------------------------- error lines


def client_error(code: str, operation: str = "Query", **extra: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "msg", **extra}}, operation)


WHERE = Where(endpoint_url=None, region="us-east-1", table_name="ledger", queue_url="https://sqs/q")


def wrapped(cause: BaseException, outer: type[Exception], message: str) -> Exception:
    try:
        raise outer(message) from cause
    except Exception as exc:  # the chain as the adapters build it
        return exc


def translated(cause: ClientError) -> LedgerError:
    try:
        raise dynamo.error_for(cause, "query") from cause
    except LedgerError as exc:  # the chain as the DynamoDB plumbing builds it
        return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (NoCredentialsError(), "no AWS credentials found"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "cannot reach http://127.0.0.1:1"),
        (client_error("ResourceNotFoundException"), "ledger table 'ledger' not found in us-east-1"),
        (
            translated(client_error("ResourceNotFoundException")),
            "ledger table 'ledger' not found",
        ),
        (
            wrapped(
                client_error(
                    "AWS.SimpleQueueService.NonExistentQueue",
                    "SendMessageBatch",
                    QueryErrorCode="QueueDoesNotExist",
                ),
                QueueNotFoundError,
                "SQS SendMessageBatch failed",
            ),
            "fault queue https://sqs/q does not exist",
        ),
        (client_error("ExpiredTokenException"), "AWS rejected the credentials (ExpiredTokenException)"),
        (client_error("AccessDeniedException", "Scan"), "access denied to Scan (AccessDeniedException)"),
        (client_error("Whatever", "Scan"), "Scan failed (Whatever): msg"),
        (MutatingCallRefused("dry run refused a mutating call: x.y"), "(a bug: nothing was sent)"),
    ],
)
def test_errors_become_one_clear_line(exc: BaseException, expected: str) -> None:
    line = explain(exc, WHERE)
    assert expected in line
    assert "\n" not in line


# ---------------------------------------------------------------- rendering and event files


def test_tables_align_columns_and_show_missing_values_as_dashes() -> None:
    lines = table(("node", "status"), [("n1", "in_progress"), ("node-22", None)])
    assert lines == ["NODE     STATUS", "n1       in_progress", "node-22  -"]


def test_json_values_are_plain() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert jsonable({"at": at, "ids": ("a",)}) == {"at": "2026-01-02T03:04:05+00:00", "ids": ["a"]}
    assert ago(datetime(2026, 1, 1, tzinfo=UTC), at) == "1d3h"


def test_event_files_hold_one_event_or_a_list(tmp_path: Path) -> None:
    one, many, bad, empty = (tmp_path / n for n in ("one.json", "many.json", "bad.json", "empty.json"))
    one.write_text(json.dumps({"id": "e1"}))
    many.write_text(json.dumps([{"id": "e1"}, {"id": "e2"}]))
    bad.write_text("{not json")
    empty.write_text("[]")
    assert load_events(str(one)) == [{"id": "e1"}]
    assert len(load_events(str(many))) == 2
    with pytest.raises(CliError, match=r"bad\.json: invalid JSON at line 1"):
        load_events(str(bad))
    with pytest.raises(CliError, match="must hold an event"):
        load_events(str(empty))
    with pytest.raises(CliError, match=r"missing\.json: cannot read: No such file"):
        load_events(str(tmp_path / "missing.json"))


def test_fresh_events_get_a_new_id_and_time() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = refreshed({"id": "old", "time": "2020-01-01T00:00:00Z", "detail": {}}, now)
    assert event["id"] != "old" and event["time"] == "2026-01-02T03:04:05Z"
    assert refreshed("not an event", now) == "not an event"


def test_a_fresh_hma_delivery_gets_new_log_event_ids_and_times() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    path = Path(__file__).resolve().parents[2] / "events" / "hma" / "slurm-dcgm-xid79.invoke.json"
    original = json.loads(path.read_text(encoding="utf-8"))
    fresh = decode(refreshed(original, now))
    old = decode(original)
    assert [e.message for e in fresh.logEvents] == [e.message for e in old.logEvents]
    assert {e.timestamp for e in fresh.logEvents} == {now}
    assert not {e.id for e in fresh.logEvents} & {e.id for e in old.logEvents}
    assert len({e.id for e in fresh.logEvents}) == 3 and all(len(e.id) == 56 for e in fresh.logEvents)
    broken = {"awslogs": {"data": "bm90IGd6aXA="}}
    assert refreshed(broken, now) == broken  # intake will reject it with the reason


# ---------------------------------------------------------------- the ledger's operator queries, paginated


def test_operator_queries_follow_every_page() -> None:
    """Two pages per Scan/Query, the first one filtered empty (as DynamoDB may return), through
    boto3's own paginators on a stubbed client."""
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    more = {"LastEvaluatedKey": {"pk": {"S": "x"}, "sk": {"S": "y"}}}
    item = {"cluster": {"S": "c1"}, "node_key": {"S": "gpu-1"}}
    with Stubber(client) as stub:
        for operation in ("scan", "query"):
            stub.add_response(operation, {"Items": [], "Count": 0, **more})
            stub.add_response(operation, {"Items": [item], "Count": 3})
        assert LedgerOpenNodes(client, "t").find_nodes("i-0123456789abcdef0") == [("c1", "gpu-1")]
        assert LedgerAttempts(client, "t").attempt_count("c1", "gpu-1") == 3
        stub.assert_no_pending_responses()


# ---------------------------------------------------------------- conventions: exit codes, --version, examples


def test_each_failure_has_its_own_exit_code() -> None:
    from autoheal_cli.errors import EXIT_NOT_FOUND, EXIT_SERVICE, EXIT_USAGE, exit_code

    assert exit_code(CliError("no such node", EXIT_NOT_FOUND)) == 1
    assert exit_code(CliError("bad flag")) == EXIT_USAGE == 2
    assert exit_code(client_error("AccessDeniedException")) == EXIT_SERVICE == 3
    assert exit_code(client_error("ThrottlingException")) == 3
    assert exit_code(NoCredentialsError()) == 3
    assert exit_code(LedgerError("query", "ProvisionedThroughputExceededException")) == 3
    try:  # a message for the operator about an AWS refusal (the stack does not exist) is AWS's
        try:
            raise client_error("ValidationError", "DescribeStacks")
        except ClientError as exc:
            raise CliError("stack 'x' not found") from exc
    except CliError as stack_missing:
        assert exit_code(stack_missing) == 3


def test_help_lists_the_exit_codes_and_every_command_has_an_example(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from autoheal_cli.errors import EXIT_CODES
    from autoheal_cli.main import COMMANDS, main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert [code for code, _ in EXIT_CODES] == [0, 1, 2, 3, 130]
    for code, what in EXIT_CODES:
        assert f"  {code:<3}  {what}" in out
    for command in COMMANDS:
        assert command.example.startswith("autoheal "), command.name
        with pytest.raises(SystemExit):
            main([command.name, "--help"])
        assert f"example:\n  {command.example}" in capsys.readouterr().out


def test_version_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from autoheal_cli.main import main, version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"autoheal {version()}"
    with pytest.raises(SystemExit) as done:
        main(["status", "--no-such-flag"])
    assert done.value.code == 2


def test_an_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from autoheal_cli import main as cli_main

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "resolve", interrupted)
    monkeypatch.setattr(cli_main, "_service_logs", lambda verbose: contextlib.nullcontext())
    assert cli_main.main(["--table", "t", "status"]) == 130
    assert capsys.readouterr().err == "autoheal: interrupted\n"


def test_the_readme_lists_the_same_exit_codes_near_the_top() -> None:
    from autoheal_cli.errors import EXIT_CODES

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    sections = [line for line in readme.splitlines() if line.startswith("## ")]
    assert sections.index("## Operator CLI: `autoheal`") == sections.index("## First run: `make demo`") + 1
    for code, _ in EXIT_CODES:
        assert f"\n| {code} | " in readme


# ---------------------------------------------------------------- breaker reset and release


@pytest.mark.parametrize(
    ("text", "minutes"), [("30m", 30), ("2h", 120), ("1h30m", 90), ("90s", 1.5), ("24h", 1440)]
)
def test_override_durations(text: str, minutes: float) -> None:
    from datetime import timedelta

    from autoheal_cli.commands.breaker import parse_duration

    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "0m", "30", "soon", "25h", "-5m", "1d"])
def test_bad_override_durations_are_usage_errors(text: str) -> None:
    from autoheal_cli.commands.breaker import parse_duration

    with pytest.raises(CliError, match="--for must be") as raised:
        parse_duration(text)
    assert raised.value.code == 2


def test_an_override_covers_its_scope_its_cluster_or_every_cluster() -> None:
    from autoheal.adapters.control import BreakerState, covers

    until = datetime(2026, 1, 1, tzinfo=UTC)
    group = BreakerState(tripped={}, overrides={"train/gpu": until})
    assert group.overridden("train/gpu")
    assert not group.overridden("train/*")  # the cluster-wide breaker still counts every group
    assert not group.overridden("train/cpu")
    cluster = BreakerState(tripped={}, overrides={"train": until})
    assert cluster.overridden("train/gpu") and cluster.overridden("train/*")
    assert not cluster.overridden("other/*")
    assert BreakerState(tripped={}, overrides={"*": until}).overridden("other/gpu")
    assert covers("train", "train/gpu") and covers("train", "train/*") and not covers("train", "trainee/*")
    assert covers("train/gpu", "train/gpu") and not covers("train/gpu", "train/*")
    assert covers("*", "any/*")


def test_a_release_starts_the_ladder_again_and_records_who_and_why() -> None:
    from autoheal.core import transitions
    from autoheal.core.state import NodeState, NodeStatus
    from autoheal.policy import Action

    now = datetime(2026, 1, 1, tzinfo=UTC)
    stuck = NodeState(
        cluster="train",
        node_key="n1",
        version=7,
        status=NodeStatus.NEEDS_HUMAN,
        step=1,
        transient_retries=3,
        action_times={Action.REBOOT: (now,)},
    )
    back = transitions.handed_back(
        stuck, 7, by="arn:aws:sts::1:assumed-role/oncall/alice", reason="fixed", now=now
    )
    assert (back.status, back.version, back.step, back.transient_retries) == (NodeStatus.IDLE, 8, -1, 0)
    assert back.action_times == stuck.action_times  # the budget still counts them
    assert (back.released_by, back.released_at, back.release_reason) == (
        "arn:aws:sts::1:assumed-role/oncall/alice",
        now,
        "fixed",
    )


def test_a_cluster_that_cannot_be_read_is_one_line_and_a_service_error() -> None:
    from autoheal.adapters.directory import ClusterUnreachable
    from autoheal_cli.errors import EXIT_SERVICE, HANDLED, Where, exit_code, explain

    exc = ClusterUnreachable("train", "AccessDeniedException", "not authorized")
    assert isinstance(exc, HANDLED) and exit_code(exc) == EXIT_SERVICE
    assert explain(exc, Where()) == "cluster train cannot be read (AccessDeniedException): not authorized"
