"""The demo's approval step: its operator decides pending approvals through the `autoheal` CLI's own
code path (`autoheal approve|deny --all --cluster C`), against the local stack."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Approve(BaseModel):
    """``{"cluster", "decision": "approve"|"deny", "reason"}``: every pending approval of the cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str = Field(min_length=1, max_length=63)
    decision: Literal["approve", "deny"] = "approve"
    reason: str = Field(default="demo operator", min_length=1, max_length=200)


def decide(step: Approve) -> dict[str, Any]:
    """Run the command; its JSON document (who, when, the approvals decided)."""
    from autoheal_cli.main import main as autoheal  # imports Powertools: only once the demo runs

    argv = [step.decision, "--all", "--cluster", step.cluster, "--reason", step.reason, "--json"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = autoheal(argv)
    if code != 0:
        raise RuntimeError(f"autoheal {' '.join(argv)} exited {code}")
    result: dict[str, Any] = json.loads(out.getvalue())
    return result
