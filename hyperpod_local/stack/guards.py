"""The guard settings a local stack runs with, and the template's production values for the same settings.

Plain data, no imports: the in-memory benchmark uses them without loading moto or the local stack.
"""

from __future__ import annotations

#: The local world's defaults: retries come back at once, and the safety guards that limit how much
#: is done at a time (circuit breaker, per-node cool-down) are opened wide, so that the core loop can
#: be shown and tested at scale; canary waves (which hold a storm of one signal behind one canary) are
#: off. Guard scenarios pass the production defaults back in `env`.
RELAXED = {
    "AUTOHEAL_RETRY_BACKOFF_SECONDS": "0",
    "AUTOHEAL_BREAKER_GROUP_MAX_NODES": "10000",
    "AUTOHEAL_BREAKER_GROUP_MAX_PERCENT": "100",
    "AUTOHEAL_BREAKER_CLUSTER_MAX_NODES": "10000",
    "AUTOHEAL_BREAKER_CLUSTER_MAX_PERCENT": "100",
    "AUTOHEAL_NODE_COOLDOWN_MINUTES": "0",
    "AUTOHEAL_FLEET_BREAKER_CLUSTERS": "0",
    "AUTOHEAL_FLEET_BREAKER_PERCENT": "0",
    "AUTOHEAL_CANARY_WAVES": "false",
}
#: The template's defaults for the same settings (what a deployed stack runs with).
PRODUCTION_GUARDS = {
    "AUTOHEAL_BREAKER_GROUP_MAX_NODES": "25",
    "AUTOHEAL_BREAKER_GROUP_MAX_PERCENT": "20",
    "AUTOHEAL_BREAKER_CLUSTER_MAX_NODES": "50",
    "AUTOHEAL_BREAKER_CLUSTER_MAX_PERCENT": "20",
    "AUTOHEAL_NODE_COOLDOWN_MINUTES": "30",
    "AUTOHEAL_FLEET_BREAKER_CLUSTERS": "3",
    "AUTOHEAL_FLEET_BREAKER_PERCENT": "10",
}
