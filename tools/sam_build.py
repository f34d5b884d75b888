"""`sam build` template.yaml into a temporary directory, without Docker, and check what it built.

    python -m tools.sam_build [template.yaml] --sam .venv-sam/bin/sam [--keep DIR]

aws-sam-cli lives in its own venv (`.venv-sam`, made by `make sam-build`: it pins an older boto3). Building a python3.13
function without a container runs `python3.13` (pip fetches the arm64 wheels), so it must be on PATH:
used as it is when it runs; otherwise, with pyenv, the newest installed 3.13 is added to PYENV_VERSION
for the build. Telemetry is off and nothing is cached, so the tree is left as it was (no .aws-sam/).

Then the build is checked against the template: every function has its handler module, the layer has
`python/autoheal/` and dependencies built for the runtime and architecture (pydantic_core's binary for
CPython 3.13 on aarch64), and the built template points each resource at its own directory.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hyperpod_local.stack.template import load_template

RUNTIME_PYTHON = "python3.13"
PYENV_313 = re.compile(r"3\.13\.\d+")
ARCH_TAG = {"arm64": "aarch64", "x86_64": "x86_64"}


class BuildError(RuntimeError):
    pass


def _runs(executable: str, env: Mapping[str, str]) -> bool:
    try:
        return (
            subprocess.run([executable, "-c", ""], env=env, capture_output=True, check=False).returncode == 0
        )
    except OSError:
        return False


def build_env() -> dict[str, str]:
    """This process's environment, with python3.13 runnable and SAM's telemetry off."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    if _runs(RUNTIME_PYTHON, env):
        return env
    pyenv = shutil.which("pyenv")
    if pyenv:
        listed = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True, check=False)
        found = sorted(
            (v for v in listed.stdout.split() if PYENV_313.fullmatch(v)),
            key=lambda v: tuple(int(p) for p in v.split(".")),
        )
        current = subprocess.run([pyenv, "version-name"], capture_output=True, text=True, check=False)
        if found:
            env["PYENV_VERSION"] = ":".join(v for v in (current.stdout.strip(), found[-1]) if v)
            if _runs(RUNTIME_PYTHON, env):
                return env
    raise BuildError(
        f"sam build needs {RUNTIME_PYTHON} on PATH (the functions' runtime): install it, "
        "e.g. `pyenv install 3.13`"
    )


def check_build(template: Mapping[str, Any], build_dir: Path) -> list[str]:
    """What is missing or wrong in a build of `template` (empty when it is complete)."""
    problems: list[str] = []
    built = load_template(build_dir / "template.yaml")["Resources"]
    for logical_id, resource in template["Resources"].items():
        kind, props = resource.get("Type"), resource.get("Properties", {})
        if kind == "AWS::Serverless::Function":
            module = str(props["Handler"]).rsplit(".", 1)[0].replace(".", "/")
            if not (build_dir / logical_id / f"{module}.py").is_file():
                problems.append(f"{logical_id}: no {module}.py in the build")
            if built[logical_id]["Properties"].get("CodeUri") != logical_id:
                problems.append(f"{logical_id}: the built template does not point at its build")
        elif kind == "AWS::Serverless::LayerVersion":
            python = build_dir / logical_id / "python"
            if not (python / "autoheal" / "__init__.py").is_file():
                problems.append(f"{logical_id}: no python/autoheal/ package in the build")
            arch = ARCH_TAG[props["CompatibleArchitectures"][0]]
            version = str(props["CompatibleRuntimes"][0]).removeprefix("python").replace(".", "")
            if not list(python.glob(f"pydantic_core/*.cpython-{version}-{arch}-linux-gnu.so")):
                problems.append(f"{logical_id}: pydantic_core is not built for cp{version} on {arch}")
            if built[logical_id]["Properties"].get("ContentUri") != logical_id:
                problems.append(f"{logical_id}: the built template does not point at its build")
    return problems


def build(template_path: Path, sam: str, build_dir: Path) -> None:
    command = [
        sam,
        "build",
        "--template-file",
        str(template_path.resolve()),
        "--build-dir",
        str(build_dir),
        "--no-cached",
    ]
    started = time.monotonic()
    done = subprocess.run(command, env=build_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"sam build failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    problems = check_build(load_template(template_path), build_dir)
    if problems:
        raise BuildError("sam build is incomplete:\n  " + "\n  ".join(problems))
    print(
        f"{template_path}: sam build ok in {time.monotonic() - started:.0f} s (layer and functions checked)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("template", type=Path, nargs="?", default=Path("template.yaml"))
    parser.add_argument("--sam", default="sam", help="the sam executable (its own venv)")
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temporary directory)")
    args = parser.parse_args(argv)
    try:
        if args.keep:
            build(args.template, args.sam, args.keep.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="autoheal-sam-build-") as tmp:
                build(args.template, args.sam, Path(tmp) / "build")
    except BuildError as exc:
        print(f"[sam build] {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
