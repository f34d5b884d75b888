"""Step notifications: which kind of notice belongs to which switchable step, and when an action is
stuck.

| step | told when | kinds |
|---|---|---|
| `started` | remediate: a reboot/replace/retire call was accepted | `started` |
| `healed` | reconcile: the node runs again past the healthy delay | `healed` |
| `stuck` | reconcile: an action runs for more than 2x its expected time (told once per action) | `stuck` |
| `human` | a node, group or cluster is left for a human (every other kind, known or not) | the rest |

The default is `human,stuck`: what needs a person. `started` and `healed` are a running commentary an
on-call person may ask for (one message per cluster per batch or round, listing the nodes).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from autoheal.actions import Action

if TYPE_CHECKING:  # settings reads this module: intake's cold start needs no node state
    from autoheal.core.state import NodeState


class NotifyStep(StrEnum):
    STARTED = "started"
    HEALED = "healed"
    STUCK = "stuck"
    HUMAN = "human"


#: What the `NotifySteps` parameter defaults to.
DEFAULT_STEPS: frozenset[NotifyStep] = frozenset({NotifyStep.HUMAN, NotifyStep.STUCK})

#: How long each action usually takes until the node runs again. A replace takes about 20-30 minutes
#: (observed in an AWS sample, see docs/notifications.md); a reboot is a restart of the same instance;
#: a retire's restore adds a node, about a replace. An action running past twice this is "stuck": told
#: once, before the step's timeout climbs the ladder (defaults 30 and 45 minutes).
EXPECTED: dict[Action, timedelta] = {
    Action.REBOOT: timedelta(minutes=10),
    Action.REPLACE: timedelta(minutes=20),
    Action.RETIRE: timedelta(minutes=30),
}
STUCK_FACTOR = 2


def step_of(kind: str) -> NotifyStep:
    """The switch a notice kind answers to: its own step, or `human` for any other kind."""
    try:
        step = NotifyStep(kind)
    except ValueError:
        return NotifyStep.HUMAN
    return step


def parse_steps(value: str | Iterable[str]) -> frozenset[NotifyStep]:
    """`started,healed,stuck,human` (any subset; empty = none) as steps; a clear error names a bad one."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    out: set[NotifyStep] = set()
    for part in (p.strip().lower() for p in parts):
        if not part:
            continue
        try:
            out.add(NotifyStep(part))
        except ValueError:
            known = ", ".join(s.value for s in NotifyStep)
            raise ValueError(f"unknown notification step {part!r} (known: {known})") from None
    return frozenset(out)


def stuck_for(h: NodeState, now: datetime) -> timedelta | None:
    """How long the node's action has run, when that is more than twice its expected time."""
    from autoheal.core.state import NodeStatus

    if h.status is not NodeStatus.IN_PROGRESS or h.last_action is None or h.last_action_at is None:
        return None
    expected = EXPECTED.get(h.last_action)
    elapsed = now - h.last_action_at
    if expected is None or elapsed <= STUCK_FACTOR * expected:
        return None
    return elapsed
