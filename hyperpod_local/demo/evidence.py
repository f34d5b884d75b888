"""The evidence bundles a demo run left in the stack's evidence bucket, for its summary, and the HMA
detection record the demo writes to a node's stream when it reports the node unhealthy."""

from __future__ import annotations

import json
from typing import Any

from hyperpod_local.stack.world import LocalWorld


def health_record(fault_type: str) -> str:
    """An HMA detection record naming the fault (what the agent logs before HyperPod's event)."""
    return json.dumps(
        {
            "msg": "NPD caught event",
            "details: ": {"severity": "warn", "reason": fault_type},
            "HealthMonitoringAgentDetectionEvent": "HealthEvent",
        }
    )


def evidence_bundles(world: LocalWorld) -> list[dict[str, Any]]:
    """Every bundle in the evidence bucket, oldest first: its URI and its manifest."""
    s3 = world.aws.client("s3")
    bucket = world.stack.evidence_bucket
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
        if o["Key"].endswith("/manifest.json")
    ]
    out = []
    for key in keys:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        out.append({"uri": f"s3://{bucket}/{key.removesuffix('manifest.json')}", "manifest": manifest})
    return sorted(out, key=lambda b: (b["manifest"]["time"], b["uri"]))
