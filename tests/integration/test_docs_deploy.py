"""docs/deploy.md's local rehearsal, run as written: the local stack in the background, then each
`autoheal` command against it (the documented port swapped for a free one). Each must exit 0, and the
kill switch must do what the guide says."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO

import pytest

from hyperpod_local.stack.template import REPO_ROOT
from tests.deploy_guide import GUIDE, rehearsal

pytestmark = pytest.mark.integration

#: How the guide's programs run here: this interpreter, this checkout (not an installed copy).
PROGRAMS = {"python": [sys.executable], "autoheal": [sys.executable, "-m", "autoheal_cli"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    """This checkout on the path; nothing from the machine that points the CLI elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "AUTOHEAL_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "layers" / "autoheal"), str(REPO_ROOT)])
    return env


def _argv(words: Sequence[str], documented: str, port: int) -> list[str]:
    swapped = [w.replace(f"127.0.0.1:{documented}", f"127.0.0.1:{port}") for w in words]
    swapped = [
        str(port) if prev == "--port" else w for prev, w in zip(["", *swapped[:-1]], swapped, strict=True)
    ]
    return [*PROGRAMS[swapped[0]], *swapped[1:]]


def _lines(stream: IO[str]) -> queue.Queue[str]:
    """The server's output, line by line, readable with a timeout."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_the_guides_local_rehearsal_runs_as_written() -> None:
    server, *cli = rehearsal(GUIDE.read_text())
    words = server.words
    assert words[-1] == "&", "the guide starts the local stack in the background"
    documented, stack = words[words.index("--port") + 1], words[words.index("--stack") + 1]
    port, env = _free_port(), _env()
    process = subprocess.Popen(
        _argv(words[:-1], documented, port),
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    outputs: list[str] = []
    try:
        assert process.stdout is not None
        lines = _lines(process.stdout)
        assert lines.get(timeout=60) == f"http://127.0.0.1:{port}"
        assert lines.get(timeout=60).startswith(f"stack {stack}: table ")
        for command in cli:
            argv = _argv(command.words, documented, port)
            done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"line {command.line}: {command.text}\n{done.stdout}{done.stderr}"
            outputs.append(done.stdout)
    finally:
        process.terminate()
        process.wait(timeout=30)
    paused = [i for i, out in enumerate(outputs) if "PAUSED every cluster" in out]
    assert paused, "the rehearsal's pause shows up in status"
    assert "resumed every cluster" in outputs[-1]
