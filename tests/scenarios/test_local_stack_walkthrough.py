"""README's local walkthrough, end to end, as an operator runs it (issue 19): every step a subprocess.

`python -m hyperpod_local --stack NAME --scale 600` starts the whole service; `autoheal replay` injects
the sample fault it wrote; the reboot goes out, the node comes back, reconcile records it healed;
`autoheal status` says nothing is under remediation; a pause holds the next fault, a resume lets it
through; SIGINT stops the stack cleanly. The fixture kills the stack's process group whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from hyperpod_local.live.runtime import READY_LINE
from hyperpod_local.live.seed import UNHEALTHY_EVENT_FILE
from hyperpod_local.stack.hma_logs import dcgm_record
from hyperpod_local.stack.hma_logs import log_stream as log_stream_name

REPO = Path(__file__).resolve().parents[2]
STACK = "autoheal-walkthrough"
#: Ten simulated minutes a second: a reboot (2 min) takes 0.2 s, reconcile runs every 0.2 s.
SCALE = "600"
START_TIMEOUT = 120.0  # a loaded CI machine; alone it takes a few seconds
WAIT_TIMEOUT = 60.0


@dataclass
class Stack:
    process: subprocess.Popen[str]
    lines: list[str]
    env: dict[str, str]
    events_dir: Path

    @property
    def endpoint(self) -> str:
        return self.lines[0]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "autoheal_cli", "--stack", STACK, *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def event(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.events_dir / UNHEALTHY_EVENT_FILE).read_text("utf-8"))
        return loaded


def _env(endpoint: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTOHEAL_", "POWERTOOLS_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO / "layers" / "autoheal"), str(REPO)]),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The local stack, started as `make local` does; `@pytest.mark.parametrize("stack", [[ARGS]],
    indirect=True)` adds arguments."""
    extra: list[str] = list(getattr(request, "param", []))
    command = ["-m", "hyperpod_local", "--stack", STACK, "--scale", SCALE, "--events-dir", str(tmp_path)]
    process = subprocess.Popen(
        [sys.executable, *command, *extra],
        env=_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the teardown can kill everything it started
    )
    try:
        lines = _read_until_ready(process)
        yield Stack(process, lines, _env(lines[0]), tmp_path)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _read_until_ready(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            err = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"the local stack exited before it was ready: {lines}\n{err}")
        lines.append(line.rstrip("\n"))
        if lines[-1] == READY_LINE:
            return lines
    raise AssertionError(f"the local stack was not ready in {START_TIMEOUT} s: {lines}")


def _until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_TIMEOUT
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"not within {WAIT_TIMEOUT} s: {what}")


def _history(stack: Stack, instance_id: str) -> dict[str, Any]:
    """The node's ledger record (`state`) and its `attempts`, as `autoheal history` shows them."""
    run = stack.cli("history", instance_id, "--json")
    nodes = json.loads(run.stdout)["nodes"] if run.returncode == 0 else []
    found: dict[str, Any] = nodes[0] if nodes else {"state": {}, "attempts": []}
    return found


def test_the_readme_walkthrough_heals_a_node_and_honours_a_pause(stack: Stack) -> None:
    assert stack.endpoint.startswith("http://127.0.0.1:")
    assert stack.lines[1].startswith(f"stack {STACK}: table ")
    assert f"export AWS_ENDPOINT_URL={stack.endpoint} " in stack.lines[2]
    event = stack.event()
    node = event["detail"]["InstanceId"]
    sagemaker = boto3.client(
        "sagemaker", endpoint_url=stack.endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )  # fmt: skip
    listed = sagemaker.list_cluster_nodes(ClusterName=event["detail"]["ClusterName"])["ClusterNodeSummaries"]
    assert node in {n["InstanceId"] for n in listed}

    replay = stack.cli("replay", str(stack.events_dir / UNHEALTHY_EVENT_FILE))
    assert replay.returncode == 0, replay.stderr
    assert "1 fault(s) enqueued" in replay.stdout

    healed = _until(
        lambda: (h := _history(stack, node))["state"].get("last_outcome") == "healed" and h, "healed"
    )
    assert (healed["state"]["last_action"], healed["state"]["status"]) == ("reboot", "idle")
    status = stack.cli("status")
    assert status.returncode == 0 and "no nodes under remediation" in status.stdout, status.stdout

    pause = stack.cli("pause", "--cluster", event["detail"]["ClusterName"], "--reason", "walkthrough")
    assert pause.returncode == 0, pause.stderr
    _until(lambda: stack.event()["id"] != event["id"], "a fresh sample event")  # rewritten every second
    assert stack.cli("replay", str(stack.events_dir / UNHEALTHY_EVENT_FILE)).returncode == 0
    held = _until(lambda: "held:paused" in (out := stack.cli("status").stdout) and out, "the fault held")
    assert "PAUSED cluster" in held and "HELD: 1 fault(s)" in held

    assert stack.cli("resume", "--cluster", event["detail"]["ClusterName"]).returncode == 0
    _until(
        lambda: len(_history(stack, node)["attempts"]) > len(healed["attempts"]), "the held fault acted on"
    )
    _until(lambda: "no nodes under remediation" in stack.cli("status").stdout, "nothing left open")

    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=60) == 0
    assert stack.process.stdout is not None
    assert f"local stack {STACK} stopped (0 failed invocation(s))" in stack.process.stdout.read()


SCENARIO = REPO / "hyperpod_local" / "demo" / "examples" / "slurm-hma.json"


@pytest.mark.parametrize("stack", [["--scenario", str(SCENARIO)]], indirect=True)
def test_a_scenario_s_clusters_are_seeded_and_an_hma_record_reaches_intake(stack: Stack) -> None:
    """The scenario's cluster (and no default one), its log group subscribed: a DCGM Xid record put
    there with PutLogEvents is a fault remediate acts on, as HyperPod's agent writing it would be."""
    clusters = [line for line in stack.lines if line.startswith("cluster ")]
    assert len(clusters) == 1 and clusters[0].startswith("cluster slurm-p5 ")
    assert clusters[0].endswith(": controller 1, gpu 16")
    (log_group,) = [line.split(" ", 3)[3] for line in stack.lines if line.startswith("hma log group ")]
    node = stack.event()["detail"]["InstanceId"]  # the last gpu node
    logs = boto3.client(
        "logs", endpoint_url=stack.endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )  # fmt: skip
    log_stream = log_stream_name("gpu", node)
    logs.create_log_stream(logGroupName=log_group, logStreamName=log_stream)
    record = {"timestamp": int(time.time() * 1000), "message": dcgm_record(79)}
    logs.put_log_events(logGroupName=log_group, logStreamName=log_stream, logEvents=[record])

    acted = _until(lambda: (h := _history(stack, node))["attempts"] and h, "the HMA fault acted on")
    assert acted["state"]["cluster"] == "slurm-p5"
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=60) == 0
