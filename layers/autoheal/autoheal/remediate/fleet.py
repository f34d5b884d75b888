"""Stage 4c, the fleet breaker (`autoheal.core.fleet`): after each cluster's own breaker, stop every
mutating action of every cluster when trouble is everywhere at once.

- `hold_fleet` (plan): one Query of the control partition says whether the fleet breaker is tripped
  (every action of the batch held), reset by an operator (nothing held), and which clusters have a
  breaker tripped. Only when the cluster count does not decide it and the share test is on, it counts
  the nodes under remediation fleet-wide (one Scan of the sparse open index) against the fleet's size,
  read from the API only when the cached count is older than `size_ttl`;
- `trip_fleet` (execute): caches a fresh count, records a new trip (a conditional put: of two
  invocations tripping at once, one records it) and pages once, from the one that recorded it.

Held faults are re-queued and recorded as held (`fleet_breaker_open`), never dropped; the hold ceiling
sends one held too long to a human, as for every hold. Restores (a retired node's group brought back
to size) are not held: they put capacity back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

from autoheal.adapters.fleet import TRIPPED_BY, FleetSizeUnavailable, FleetState, FleetTripRecord
from autoheal.adapters.notify import HumanNeeded
from autoheal.core.fleet import FleetCheck, FleetSize, FleetTrip, fleet_trip
from autoheal.core.guards import Scope
from autoheal.observability import Metric, logger
from autoheal.policy import RemediationPolicy
from autoheal.ports import Fleet, FleetSizeCounter, OpenNodes
from autoheal.remediate.breaker import BREAKER_COUNTED
from autoheal.remediate.model import BatchPlan, Effects, Hold, NodePlan

FLEET_HOLD = "fleet_breaker_open"
FLEET_HOLD_DETAIL = "fleet_breaker"
#: The page's cluster and node fields: the whole fleet (the pause of every cluster is keyed `*` too).
FLEET_SCOPE = "*"
RESET_COMMAND = "autoheal breaker reset --fleet"


def hold_fleet(
    plans: list[NodePlan],
    trips: dict[Scope, tuple[int, int]],
    fleet: Fleet | None,
    sizes: FleetSizeCounter | None,
    open_nodes: OpenNodes,
    policy: RemediationPolicy,
    now: datetime,
) -> tuple[list[NodePlan], FleetCheck]:
    """Hold every action of the batch while the fleet breaker is tripped, or when it trips now."""
    config = policy.guards.fleet_breaker
    wanting = [p for p in plans if p.would_act]
    if fleet is None or not config.enabled or not (wanting or trips):
        return plans, FleetCheck()
    state = fleet.state(now)
    if state.override is not None:
        return plans, FleetCheck()
    if state.trip is not None:
        return _held(plans), FleetCheck()
    tripped = state.tripped_clusters | {s.cluster for s in trips}
    size, busy = None, Counter[str]()
    if config.percent > 0 and not 0 < config.clusters <= len(tripped) and wanting:
        busy = _under_remediation(wanting, open_nodes, policy, now)
        size = _size(state, sizes, config.size_ttl, now, {p.node.ref[0] for p in wanting})
    verdict = fleet_trip(tripped, busy, size.total if size else None, config)
    fresh = size if size is not None and size is not state.size else None
    if verdict is None:
        return plans, FleetCheck(size=fresh)
    return _held(plans), FleetCheck(verdict, fresh)


def _size(
    state: FleetState, sizes: FleetSizeCounter | None, ttl: timedelta, now: datetime, acting: set[str]
) -> FleetSize | None:
    """The cached fleet size while fresh and counting every cluster the batch acts on (`acting`, by
    name: a record still keyed by an ARN is not a new cluster), else a new count (None: nothing to count
    with): a cluster created since the count would otherwise be judged against a fleet without its
    nodes (its faults over too small a total: a spurious trip). When the clusters cannot be
    listed, the last count however old, or None (the share is not judged): logged, and the
    cluster-count test still stands."""
    cached = state.size
    known = cached is not None and {c for c in acting if not c.startswith("arn:")} <= set(cached.clusters)
    if cached is not None and (sizes is None or (known and cached.fresh(now, ttl))):
        return cached
    if sizes is None:
        return None
    try:
        return sizes.count(now)
    except FleetSizeUnavailable as exc:
        logger.warning(
            "fleet size not counted; using the last count", extra={"error": exc.code, "cached": bool(cached)}
        )
        return cached


def _under_remediation(
    wanting: list[NodePlan], open_nodes: OpenNodes, policy: RemediationPolicy, now: datetime
) -> Counter[str]:
    """Nodes under remediation per cluster: acted on within the breaker window and still open (every
    cluster's, from the open index), plus those this batch would act on."""
    window = policy.guards.breaker.window
    in_batch = {p.node.ref for p in wanting}
    busy = Counter(p.node.ref[0] for p in wanting)
    for h in open_nodes.open_nodes(None):
        recent = h.last_action_at is not None and now - h.last_action_at < window
        if recent and h.status in BREAKER_COUNTED and (h.cluster, h.node_key) not in in_batch:
            busy[h.cluster] += 1
    return busy


def _held(plans: list[NodePlan]) -> list[NodePlan]:
    hold = Hold(FLEET_HOLD, FLEET_HOLD_DETAIL)
    return [replace(p, hold=hold) if p.would_act else p for p in plans]


def trip_fleet(batch: BatchPlan, fleet: Fleet | None) -> Effects:
    """Cache a fresh fleet count; record a new trip and page once (only the invocation that recorded
    it pages)."""
    out = Effects()
    if fleet is None:
        return out
    if batch.fleet.size is not None:
        fleet.save_size(batch.fleet.size)
    trip = batch.fleet.trip
    if trip is None:
        return out
    record = FleetTripRecord(
        batch.now, TRIPPED_BY, str(trip.kind), trip.reason, trip.clusters, trip.nodes, trip.total
    )
    if not fleet.trip(record):
        return out  # another invocation tripped it first, and paged
    out.metrics.add(Metric.FLEET_BREAKER_TRIPPED, Reason=str(trip.kind))
    logger.warning(
        "fleet breaker tripped",
        extra={
            "kind": str(trip.kind),
            "clusters": list(trip.clusters),
            "nodes": trip.nodes,
            "total": trip.total,
        },
    )
    out.humans.append(page(trip))
    return out


def page(trip: FleetTrip) -> HumanNeeded:
    """The one page of a trip (structured fields of the needs-human notice)."""
    return HumanNeeded(
        cluster=FLEET_SCOPE,
        node_key=FLEET_SCOPE,
        instance_id=None,
        reason=(
            f"fleet breaker open: {trip.reason}. Every mutating action of every cluster is held (never "
            f"dropped) until an operator runs `{RESET_COMMAND}`; `autoheal breaker` shows the state"
        ),
        last_action=None,
        signal=None,
        kind="fleet_breaker_open",
        details={"trip": str(trip.kind)},
    )
