"""The per-kind table of the renderer: for each notice kind, what a person reads.

Templates are filled from the message's values (`cluster`, `n` = nodes in the message, `node` = the
node when there is one, else `NODE`) and the first node's structured `details` (`group`, `until`, ...);
a name a template uses but a notice lacks renders as `?`, never an error. A kind missing here is
rendered by `GENERIC` with all its structured fields listed, so a new kind is readable before it gets
a row.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoheal.alerts.steps import NotifyStep, step_of


@dataclass(frozen=True)
class KindText:
    title: str  # the subject's text after "[autoheal] <cluster>: "
    happened: str
    did: str
    needs: str
    commands: tuple[str, ...]
    severity: str = "page"  # a message attribute: subscribers filter on it (page, warning, info)


RELEASE = "autoheal release {node} --cluster {cluster} --reason TEXT"
HISTORY = "autoheal history {node} --cluster {cluster}"
STATUS = "autoheal status --cluster {cluster}"
WAVES = "autoheal waves"

KINDS: dict[str, KindText] = {
    "needs_human": KindText(
        title="{n} node(s) need a human",
        happened="remediation stopped for these nodes; each line says why (ladder exhausted, budget "
        "spent, a permanent API error, a protected node type, a fault held too long, ...).",
        did="it stopped acting on them; their faults are recorded and nothing more is sent for them.",
        needs="inspect each node, fix or replace it by hand, then hand it back to automation.",
        commands=(HISTORY, RELEASE, STATUS),
    ),
    "breaker_open": KindText(
        title="circuit breaker open for {scope}",
        happened="more nodes of {scope} are under remediation within the window than allowed (each "
        "line: the nodes counted and how many are allowed).",
        did="it holds every new fault there (nothing is dropped) until {until}.",
        needs="judge whether the failures are real: if they are, reset the breaker; if not (a bad "
        "rollout, a false positive), leave it and find the common cause.",
        commands=(STATUS, "autoheal breaker reset --cluster {cluster}{group_flag}"),
    ),
    "capacity_cooldown": KindText(
        title="no capacity to replace in {group}",
        happened="a replace in group {group} found no capacity.",
        did="no replace is sent to group {group} until {until}; its faults are held, reboots go on.",
        needs="add capacity (a training plan, another instance type or AZ) or wait for the cool-down.",
        commands=(STATUS, HISTORY),
    ),
    "cluster_unreachable": KindText(
        title="cluster cannot be read ({error_code})",
        happened="reading the cluster failed: {error_code}.",
        did="its faults are held and retried; nothing is done there until it can be read. Told at "
        "most once an hour per cluster and error; other clusters are not affected.",
        needs="check the remediate role's permissions and the cluster itself.",
        commands=(STATUS,),
    ),
    "restore_failed": KindText(
        title="retired node's group not restored",
        happened="a lemon was retired but adding its replacement to group {group} failed.",
        did="it stopped: the group is one node short.",
        needs="restore the group by hand (BatchAddClusterNodes) or accept it smaller, then release the node.",
        commands=(HISTORY, RELEASE),
    ),
    "restore_deadline": KindText(
        title="restored node not running in time",
        happened="a node added to replace a retired lemon is not Running by the restore deadline.",
        did="it stopped waiting; what is known is in each line.",
        needs="look at the added node (capacity, say); fix it or accept the group smaller.",
        commands=(HISTORY, RELEASE),
    ),
    "approval_pending": KindText(
        title="{n} action(s) waiting for approval",
        happened="an action that needs a person's yes (ApprovalRequiredFor) was chosen; each line: the "
        "action, why, the approval ID, the deadline, the default, and the evidence bundle captured for "
        "a replace or retire.",
        did="it recorded a pending approval and holds the fault (nothing done, nothing dropped) until a "
        "decision, or the deadline, when the default applies.",
        needs="approve or deny each before its deadline (the evidence link shows the node as it was).",
        commands=("autoheal approvals --cluster {cluster}",),
    ),
    "canary_started": KindText(
        title="correlated fault in {group}: canary first",
        happened="{count} nodes of group {group} reported the same signal {signal} within a short window "
        "(a bad driver, agent or AMI rollout, or a false positive).",
        did="it acts on one canary node ({canary}) and holds the rest; once the canary is verified "
        "healthy it releases them in growing waves (episode {episode}).",
        needs="find why they all said the same thing (a false positive heals under any action): stop "
        "the waves if the signal is wrong, or release them all if it is real.",
        commands=(WAVES, "autoheal waves stop {episode} --reason TEXT", "autoheal waves release {episode}"),
    ),
    "canary_stopped": KindText(
        title="canary waves stopped in {group}",
        happened="the canary waves of episode {episode} (signal {signal}) stopped at wave {wave}: the "
        "fault recurred or an action failed.",
        did="it holds the {held} node(s) not released ({verified} verified healthy); nothing more is "
        "done for them (they reach a human at the hold ceiling).",
        needs="read the evidence of the nodes acted on and find the common cause; release the rest "
        "only if it is safe.",
        commands=(
            WAVES,
            "autoheal history NODE --cluster {cluster}",
            "autoheal waves release {episode} --reason TEXT",
        ),
    ),
    "fleet_breaker_open": KindText(
        title="fleet breaker open: every action held",
        happened="across every cluster this stack serves, too many clusters tripped their breaker or "
        "too large a share of all nodes is under remediation within the window (a regional "
        "incident, a bad AMI everywhere?).",
        did="it holds every mutating action of every cluster (nothing is dropped) until an operator "
        "resets it.",
        needs="find the common cause; once it is fixed or the failures are real, reset the fleet breaker.",
        commands=("autoheal breaker", "autoheal breaker reset --fleet --reason TEXT"),
    ),
    "retired_and_restored": KindText(
        title="lemon retired, group {group} restored",
        happened="node {node} was retired as a lemon (replaced too often) and a node was added to "
        "group {group} in its place.",
        did="it tracks the added node until it runs (you are told then).",
        needs="nothing (information); look at the lemon's history if its group keeps producing them.",
        commands=(HISTORY,),
        severity="info",
    ),
    "retired": KindText(
        title="lemon retired, group {group} kept its size",
        happened="node {node} was retired as a lemon (replaced too often); group {group} was not "
        "below its target, so nothing was added.",
        did="it closed the node's remediation.",
        needs="nothing (information); restore the group by hand if you want it larger.",
        commands=(HISTORY,),
        severity="info",
    ),
    "restore_running": KindText(
        title="group {group} back to size",
        happened="the node added to group {group} in place of a retired lemon is Running.",
        did="it closed the retire.",
        needs="nothing (information).",
        commands=(HISTORY,),
        severity="info",
    ),
    NotifyStep.STARTED.value: KindText(
        title="{n} action(s) started",
        happened="HyperPod accepted these actions.",
        did="it recorded them; reconcile verifies each one.",
        needs="nothing (this is a step notification).",
        commands=(STATUS,),
        severity="info",
    ),
    NotifyStep.HEALED.value: KindText(
        title="{n} node(s) healed",
        happened="these nodes run again after their action, with no new fault.",
        did="it closed their remediation.",
        needs="nothing (this is a step notification).",
        commands=(HISTORY,),
        severity="info",
    ),
    NotifyStep.STUCK.value: KindText(
        title="{n} action(s) running over 2x expected time",
        happened="these actions run for more than twice their expected time.",
        did="nothing yet: at the step's timeout the node climbs the ladder (or goes to a human).",
        needs="look at the node in the HyperPod console or its logs; act by hand if it is wedged.",
        commands=(HISTORY, STATUS),
        severity="warning",
    ),
}

GENERIC = KindText(
    title="{kind_words} ({n} node(s))",
    happened="{kind_words}: see each line.",
    did="see each line (the service records every notice in its ledger).",
    needs="see each line; `autoheal status` shows every hold and pending decision.",
    commands=(STATUS, HISTORY),
)


def text_for(kind: str) -> KindText:
    """The kind's row, or the generic one (its severity from the kind's step)."""
    row = KINDS.get(kind)
    if row is not None:
        return row
    step = step_of(kind)
    severity = "page" if step is NotifyStep.HUMAN else "info"
    return KindText(GENERIC.title, GENERIC.happened, GENERIC.did, GENERIC.needs, GENERIC.commands, severity)
