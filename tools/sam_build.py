"""`sam build` template.yaml into a temporary directory, without Docker, and check what it built.

    python -m tools.sam_build [template.yaml] --sam .venv-sam/bin/sam [--keep DIR]

aws-sam-cli lives in its own venv (`.venv-sam`, made by `make sam-build`: it pins an older boto3). Building a python3.13
function without a container runs `python3.13` (pip fetches the arm64 wheels), so it must be on PATH:
used as it is when it runs; otherwise, with pyenv, the newest installed 3.13 is added to PYENV_VERSION
for the build. Telemetry is off and nothing is cached, so the tree is left as it was (no .aws-sam/).

Before building, `sam validate --lint` checks the template (offline: no credentials needed). Then the
build is checked against the template: every function has its handler module, the layer has
`python/autoheal/` and dependencies built for the runtime and architecture (pydantic_core's binary for
CPython 3.13 on aarch64), the layer's own botocore knows every SageMaker call and member the service
sends (`SAGEMAKER_API`: the Lambda runtime's bundled SDK may be older), and the built template points
each resource at its own directory.
"""

from __future__ import annotations

import argparse
import gzip
import json
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
#: The sam commands `make sam-build` runs, in order (docs/deploy.md's `sam validate --lint` and `sam build`).
VALIDATE = ("validate", "--lint")
BUILD = ("build",)
#: Every SageMaker operation the service calls that the Lambda runtime's bundled botocore may not know,
#: with the request members it sends: Reboot/Replace arrived in botocore 1.41.1, Add/Delete with
#: NodeLogicalIds and ListClusterNodes' IncludeNodeLogicalIds in 1.40.3. Lambda's bundled SDK "depends on
#: the runtime version and your AWS Region" (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html),
#: so the layer pins its own boto3 and botocore (layers/autoheal/requirements.txt) and the build checks it.
SAGEMAKER_API: Mapping[str, tuple[str, ...]] = {
    "BatchRebootClusterNodes": ("ClusterName", "NodeIds", "NodeLogicalIds"),
    "BatchReplaceClusterNodes": ("ClusterName", "NodeIds", "NodeLogicalIds"),
    "BatchDeleteClusterNodes": ("ClusterName", "NodeIds", "NodeLogicalIds"),
    "BatchAddClusterNodes": ("ClusterName", "ClientToken", "NodesToAdd"),
    "ListClusterNodes": ("ClusterName", "IncludeNodeLogicalIds"),
}
SAGEMAKER_MODEL_DIR = Path("botocore", "data", "sagemaker", "2017-07-24")


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


def load_sagemaker_model(site: Path) -> dict[str, Any] | None:
    """botocore's SageMaker service model under `site` (a layer's `python/`, or site-packages), or None.

    botocore ships it gzipped (`service-2.json.gz`) since 1.32; a plain `service-2.json` is read too."""
    model_dir = site / SAGEMAKER_MODEL_DIR
    if (model_dir / "service-2.json.gz").is_file():
        with gzip.open(model_dir / "service-2.json.gz", "rt", encoding="utf-8") as f:
            model: dict[str, Any] = json.load(f)
            return model
    if (model_dir / "service-2.json").is_file():
        loaded: dict[str, Any] = json.loads((model_dir / "service-2.json").read_text(encoding="utf-8"))
        return loaded
    return None


def missing_sagemaker_api(site: Path) -> list[str]:
    """What the botocore under `site` lacks of `SAGEMAKER_API` (empty when it has every call and member)."""
    model = load_sagemaker_model(site)
    if model is None:
        return [f"no botocore SageMaker model ({SAGEMAKER_MODEL_DIR}/service-2.json.gz)"]
    operations, shapes = model.get("operations", {}), model.get("shapes", {})
    missing: list[str] = []
    for name, members in SAGEMAKER_API.items():
        if name not in operations:
            missing.append(f"botocore has no SageMaker {name}")
            continue
        request = shapes.get(operations[name].get("input", {}).get("shape", ""), {})
        missing.extend(
            f"botocore's SageMaker {name} has no {member}"
            for member in members
            if member not in request.get("members", {})
        )
    return missing


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
            problems.extend(
                f"{logical_id}: {gap} (pin boto3 and botocore in layers/autoheal/requirements.txt)"
                for gap in missing_sagemaker_api(python)
            )
            if built[logical_id]["Properties"].get("ContentUri") != logical_id:
                problems.append(f"{logical_id}: the built template does not point at its build")
    return problems


def _run_sam(sam: str, args: Sequence[str], env: Mapping[str, str]) -> None:
    done = subprocess.run([sam, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"sam {args[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def build(template_path: Path, sam: str, build_dir: Path) -> None:
    template = str(template_path.resolve())
    started = time.monotonic()
    env = build_env()
    # sam validate wants a region even for the offline lint; any region does.
    _run_sam(sam, [*VALIDATE, "--template-file", template], {"AWS_DEFAULT_REGION": "us-east-1", **env})
    _run_sam(sam, [*BUILD, "--template-file", template, "--build-dir", str(build_dir), "--no-cached"], env)
    problems = check_build(load_template(template_path), build_dir)
    if problems:
        raise BuildError("sam build is incomplete:\n  " + "\n  ".join(problems))
    print(
        f"{template_path}: sam validate --lint and sam build ok in {time.monotonic() - started:.0f} s "
        "(layer, its botocore and the functions checked)"
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
