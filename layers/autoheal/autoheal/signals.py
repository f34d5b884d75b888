"""The signal table: which rung of the ladder a fault starts on (`none`, `reboot`, `replace`), as data.

Every entry carries its reason and its sources (keys of `SOURCES`, public URLs). The first rung only
moves where the ladder *starts*; escalation (recurrence, failure, budgets) works as before from there.
Pure: no I/O, no boto3 (`autoheal.core.ladder` calls `first_rung`).

Precedence, first match wins (each decision records which one chose its rung, `FirstRung.rule`):

1. **override** -- the operator's `SignalFirstRung` entry for the fault's signal, else for its Xid
   (`XidError:<n>`). AWS documents the same knob for EKS node repair (`nodeRepairConfigOverrides`,
   whose own example sets XID 64 -> Replace and XID 31 -> NoAction; `eks-node-repair` below).
2. **verdict** -- HMA's or HyperPod's explicit verdict, the fault's `repair_action` Replace or Reboot
   (HMA's `Action`, a `...PendingReplacement`/`...PendingReboot` reason or an `...Reboot`/`...Terminate`
   condition, a Node Health Event's `RepairAction`). It wins over the Xid table: HMA sees more than
   the Xid number (SXid, Xid 154's text, counts, its own hardware outcomes), and HyperPod's per-fault
   rule is not published. Not (yet) a verdict: a Node Health Event's `Recommendation` text ("Please
   Replace the Faulty Node.") and its fault type alone (`NvidiaErrorTerminate`) -- HyperPod writes them
   on events whose `RepairAction` is None, and what they promise is not documented.
3. **table** -- the Xid rule (`XidError:<n>`, the Xid parsed from the signal), then the exact signal.
4. **default** -- step 0 of the ladder (reboot), as before this table existed.

How disagreements between sources were settled: NVIDIA's resolution bucket says what the fault needs
(RESTART_APP / IGNORE -> none; RESET_GPU, RESTART_VM -> reboot; RESTART_BM, CHECK_MECHANICALS,
CONTACT_SUPPORT -> replace: HyperPod offers an EC2 reboot on the same host or a new host, no GPU reset
and no bare-metal power cycle); where both AWS-run platforms (EKS node auto-repair and HyperPod's HMA)
say replace, replace first; the EKS node monitoring agent's current code beats the older EKS doc table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from autoheal.faults import NodeFault, RepairAction


class Rung(StrEnum):
    """Where the ladder starts for a signal."""

    NONE = "none"  # no node action: the decision is IGNORE with the entry's `ignore_as` reason
    REBOOT = "reboot"
    REPLACE = "replace"


#: Rung strength, for a batch with several faults of one node: the strongest wins.
STRENGTH = {Rung.NONE: 0, Rung.REBOOT: 1, Rung.REPLACE: 2}

APPLICATION_FAULT = "application_fault"
HOST_MAINTENANCE = "aws_host_maintenance"

SOURCES: Mapping[str, str] = {
    "nvidia-xid": "https://docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html",
    "nvidia-rma": "https://docs.nvidia.com/deploy/a100-gpu-mem-error-mgmt/index.html",
    "eks-nma": "https://docs.aws.amazon.com/eks/latest/userguide/node-health-nma.html#nvidia-xid-codes",
    "eks-node-repair": "https://docs.aws.amazon.com/eks/latest/userguide/node-repair.html",
    "eks-agent": "https://github.com/aws/eks-node-monitoring-agent/blob/main/monitors/nvidia/dcgm/dcgm_policies.go",
    "hma": "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-health-monitoring-agent.html",
    "hma-labels": "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-node-labels.html",
    "hyperpod-events": "https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html",
    "health-schema": "https://docs.aws.amazon.com/health/latest/ug/aws-health-events-eventbridge-schema.html",
    "ec2-retirement": "https://repost.aws/knowledge-center/ec2-linux-degraded-hardware",
    "ec2-events": "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceStatusEvent.html",
}


@dataclass(frozen=True)
class SignalRule:
    rung: Rung
    reason: str
    sources: tuple[str, ...]
    ignore_as: str = APPLICATION_FAULT  # the IGNORE reason of a `none` rung


def _rule(rung: Rung, reason: str, *sources: str, ignore_as: str = APPLICATION_FAULT) -> SignalRule:
    return SignalRule(rung, reason, sources, ignore_as)


_APP = "NVIDIA RESTART_APP: the application's fault, not the node's"
_RESET = "NVIDIA RESET_GPU: a reboot resets the GPU; replace if it recurs"

#: Xid rules, keyed `XidError:<n>` (the signal HMA's DCGM record gives; any fault whose Xid is known).
XID_TABLE: Mapping[int, SignalRule] = {
    # application class (NVIDIA RESTART_APP / IGNORE; the EKS agent dropped 13, 31, 94, 121 from its
    # well-known list in 2026, the EKS doc table still says Reboot for 13/31/94: stale)
    8: _rule(Rung.NONE, _APP, "nvidia-xid"),
    11: _rule(Rung.NONE, _APP, "nvidia-xid"),
    13: _rule(Rung.NONE, "Graphics Engine Exception: NVIDIA RESTART_APP; EKS agent: no repair", "nvidia-xid", "eks-agent"),
    31: _rule(Rung.NONE, "GPU memory page fault: NVIDIA RESTART_APP; EKS override example NoAction", "nvidia-xid", "eks-node-repair"),
    32: _rule(Rung.NONE, _APP, "nvidia-xid"),
    43: _rule(Rung.NONE, "GPU stopped processing (sympathetic): NVIDIA IGNORE; EKS agent: event only", "nvidia-xid", "eks-agent"),
    45: _rule(Rung.NONE, "Preemptive cleanup after another Xid: NVIDIA WORKFLOW_XID_45 (follow the other Xid)", "nvidia-xid"),
    68: _rule(Rung.NONE, _APP, "nvidia-xid"),
    69: _rule(Rung.NONE, _APP, "nvidia-xid"),
    92: _rule(Rung.NONE, "High single-bit ECC rate, a warning: NVIDIA IGNORE", "nvidia-xid"),
    94: _rule(Rung.NONE, "Contained memory error, only the app is hit: NVIDIA RESTART_APP; EKS agent: no repair", "nvidia-xid", "eks-agent"),
    121: _rule(Rung.NONE, "C2C error: NVIDIA IGNORE; EKS agent: no repair", "nvidia-xid", "eks-agent"),
    137: _rule(Rung.NONE, "NVLink privilege error (an app's illegal P2P access): NVIDIA IGNORE", "nvidia-xid"),
    # reboot: NVIDIA resets the GPU; HyperPod's nearest rung is a reboot
    46: _rule(Rung.REBOOT, _RESET, "nvidia-xid"),
    48: _rule(Rung.REBOOT, "Double-bit ECC: NVIDIA WORKFLOW_XID_48 (reset); EKS doc Reboot", "nvidia-xid", "eks-nma"),
    62: _rule(Rung.REBOOT, _RESET, "nvidia-xid"),
    63: _rule(Rung.REBOOT, "Row remap pending, a reset activates it: EKS doc Reboot", "eks-nma", "nvidia-xid"),
    95: _rule(Rung.REBOOT, "Uncontained ECC: NVIDIA RESET_GPU; EKS doc Reboot", "nvidia-xid", "eks-nma"),
    109: _rule(Rung.REBOOT, _RESET, "nvidia-xid"),
    110: _rule(Rung.REBOOT, _RESET, "nvidia-xid"),
    119: _rule(Rung.REBOOT, "GSP RPC timeout, driver side: NVIDIA RESET_GPU (EKS doc Replace, one AWS source)", "nvidia-xid", "eks-nma"),
    120: _rule(Rung.REBOOT, "GSP error, driver side: NVIDIA RESET_GPU (EKS doc Replace, one AWS source)", "nvidia-xid", "eks-nma"),
    136: _rule(Rung.REBOOT, _RESET, "nvidia-xid"),
    140: _rule(Rung.REBOOT, "ECC unrecovered error: NVIDIA RESET_GPU (EKS doc Replace, one AWS source)", "nvidia-xid", "eks-nma"),
    143: _rule(Rung.REBOOT, _RESET, "nvidia-xid"),
    151: _rule(Rung.REBOOT, "Key rotation error: NVIDIA RESTART_VM", "nvidia-xid"),
    155: _rule(Rung.REBOOT, _RESET, "nvidia-xid"),
    156: _rule(Rung.REBOOT, _RESET, "nvidia-xid"),
    158: _rule(Rung.REBOOT, _RESET, "nvidia-xid"),
    # replace: the hardware has to go
    54: _rule(Rung.REPLACE, "Auxiliary power not connected: NVIDIA CHECK_MECHANICALS", "nvidia-xid"),
    64: _rule(Rung.REPLACE, "Row-remap failure, an RMA criterion: NVIDIA RMA policy; EKS override example Replace", "nvidia-rma", "eks-node-repair"),
    74: _rule(Rung.REPLACE, "NVLink error: EKS Replace; HMA Replace", "eks-nma", "hma-labels"),
    79: _rule(Rung.REPLACE, "GPU fallen off the bus: NVIDIA RESTART_BM (no power cycle on HyperPod); EKS Replace", "nvidia-xid", "eks-nma"),
    142: _rule(Rung.REPLACE, "NVENC3 error, no automated recovery: NVIDIA CONTACT_SUPPORT", "nvidia-xid", "eks-agent"),
}  # fmt: skip

_MAINT = "AWS does the host work in its window; not a node fault to act on"

#: Rules keyed by the exact signal (conditions, HMA reasons, AWS Health event type codes).
SIGNAL_TABLE: Mapping[str, SignalRule] = {
    "XidUserAppError": _rule(Rung.NONE, "HMA classed the Xid as the application's", "hma"),
    "NvidiaGpuXidRestartApp": _rule(Rung.NONE, "HMA classed the Xid as the application's", "hma"),
    "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED": _rule(Rung.REPLACE, "Irreparable host hardware: only a new host fixes it", "health-schema", "ec2-retirement"),
    "AWS_EC2_INSTANCE_RETIREMENT_EXPEDITED": _rule(Rung.REPLACE, "Irreparable host hardware: only a new host fixes it", "ec2-retirement"),
    "AWS_EC2_INSTANCE_STOP_SCHEDULED": _rule(Rung.REPLACE, "The host is going away", "ec2-events"),
    "AWS_EC2_INSTANCE_TERMINATION_SCHEDULED": _rule(Rung.REPLACE, "The host is going away", "ec2-events"),
    "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED": _rule(Rung.REPLACE, "Degraded instance-store drive: a new host has new drives", "health-schema"),
    "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED": _rule(Rung.REBOOT, "instance-reboot: the instance, not the host, must reboot", "ec2-events"),
    "AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED": _rule(Rung.NONE, _MAINT, "ec2-events", ignore_as=HOST_MAINTENANCE),
    "AWS_EC2_INSTANCE_POWER_MAINTENANCE_SCHEDULED": _rule(Rung.NONE, _MAINT, "ec2-events", ignore_as=HOST_MAINTENANCE),
    "AWS_EC2_INSTANCE_NETWORK_MAINTENANCE_SCHEDULED": _rule(Rung.NONE, _MAINT, "ec2-events", ignore_as=HOST_MAINTENANCE),
}  # fmt: skip

XID_PREFIX = "XidError:"
_XID_SIGNAL_RE = re.compile(r"^XidError:(\d{1,3})$")
_OVERRIDE_KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


@dataclass(frozen=True)
class FirstRung:
    """Where one fault (or a node's faults) starts, and the rule that said so."""

    rung: Rung
    rule: str
    ignore_as: str = APPLICATION_FAULT
    kind: str = "table"  # override | verdict | table | default: only table and default may adapt


DEFAULT = FirstRung(Rung.REBOOT, "default: reboot (first step of the ladder)", kind="default")


def xid_of(fault: NodeFault) -> int | None:
    """The Xid a fault carries: its `xid` (HMA's record named one), else in its signal (`XidError:79`)."""
    if fault.xid is not None:
        return fault.xid
    match = _XID_SIGNAL_RE.match(fault.signal)
    return int(match.group(1)) if match else None


def first_rung(fault: NodeFault, overrides: Mapping[str, Rung]) -> FirstRung:
    """One fault's first rung by the module's precedence."""
    xid = xid_of(fault)
    keys = [fault.signal] + ([f"{XID_PREFIX}{xid}"] if xid is not None else [])
    for key in keys:
        if key in overrides:
            return FirstRung(overrides[key], f"override: {key}={overrides[key].value}", kind="override")
    verdict = _verdict(fault)
    if verdict is not None:
        return verdict
    if xid is not None and xid in XID_TABLE:
        return _from_table(f"{XID_PREFIX}{xid}", XID_TABLE[xid])
    if fault.signal in SIGNAL_TABLE:
        return _from_table(fault.signal, SIGNAL_TABLE[fault.signal])
    return DEFAULT


def strongest(faults: Iterable[NodeFault], overrides: Mapping[str, Rung]) -> FirstRung:
    """The first rung of a node's new faults: the strongest of theirs (the newest on a tie)."""
    ordered = sorted(faults, key=lambda f: f.observed_at, reverse=True)
    found = [first_rung(f, overrides) for f in ordered]
    return max(found, key=lambda r: STRENGTH[r.rung]) if found else DEFAULT


def _verdict(fault: NodeFault) -> FirstRung | None:
    if fault.repair_action is RepairAction.REPLACE:
        return FirstRung(Rung.REPLACE, "verdict: HMA/HyperPod repair action Replace", kind="verdict")
    if fault.repair_action is RepairAction.REBOOT:
        return FirstRung(Rung.REBOOT, "verdict: HMA/HyperPod repair action Reboot", kind="verdict")
    return None


def _from_table(key: str, rule: SignalRule) -> FirstRung:
    return FirstRung(rule.rung, f"table: {key} → {rule.rung.value} ({rule.reason})", rule.ignore_as)


def parse_overrides(entries: Iterable[str]) -> dict[str, Rung]:
    """`["XidError:64=replace", "XidError:31=none"]` -> `{signal: rung}`; ValueError naming the bad entry."""
    out: dict[str, Rung] = {}
    rungs = ", ".join(r.value for r in Rung)
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        key, value = key.strip(), value.strip().lower()
        if not sep or not _OVERRIDE_KEY_RE.fullmatch(key):
            raise ValueError(
                f"signal first rung {entry[:80]!r}: expected SIGNAL=RUNG, e.g. XidError:64=replace"
            )
        if value not in {r.value for r in Rung}:
            raise ValueError(f"signal first rung {entry[:80]!r}: the rung must be one of {rungs}")
        if key in out and out[key] != Rung(value):
            raise ValueError(f"signal first rung: {key} is given twice with different rungs")
        out[key] = Rung(value)
    return out


def table_rows() -> list[tuple[str, str, str, str]]:
    """The table as rows (signal, first rung, reason, sources): what README's ladder table shows."""
    rows = [(f"{XID_PREFIX}{x}", r) for x, r in sorted(XID_TABLE.items())]
    rows += sorted(SIGNAL_TABLE.items())
    return [
        (key, r.rung.value, r.reason, ", ".join(f"[{s}]({SOURCES[s]})" for s in r.sources))
        for key, r in rows
    ]  # fmt: skip


def markdown_table() -> str:
    """The table as README's "How it decides" shows it (a test keeps the two equal)."""
    lines = ["| signal | first rung | reason | sources |", "|---|---|---|---|"]
    lines += [f"| `{key}` | {rung} | {reason} | {sources} |" for key, rung, reason, sources in table_rows()]
    return "\n".join(lines)
