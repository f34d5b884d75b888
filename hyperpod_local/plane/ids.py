"""Realistic identifiers for local clusters and nodes.

Faithful shapes: EC2 instance ids are ``i-`` + 17 lowercase hex (the modern form; the model also
accepts the legacy 8-hex form), NodeLogicalIds are UUID-like, cluster ARNs end in a 12-character
lowercase alphanumeric cluster id (``arn:aws:sagemaker:<region>:<account>:cluster/<id>``), private
addresses are RFC 1918 with ``ip-a-b-c-d.<region>.compute.internal`` host names.
Simplified: node ARNs do not exist in the real API; each node gets a unique synthetic ``arn`` only
because moto's paginator keys on that attribute.
All values come from one seedable RNG so a demo can be replayed; ids are never reused.
"""

from __future__ import annotations

import random
import string
import threading
import uuid
from collections.abc import Callable

_CLUSTER_ID_ALPHABET = string.ascii_lowercase + string.digits


class IdFactory:
    """Thread-safe generator of unique, realistic ids (seedable for reproducible runs)."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._issued: set[str] = set()

    def _draw(self, make: Callable[[random.Random], str]) -> str:
        with self._lock:
            while True:
                candidate = make(self._rng)
                if candidate not in self._issued:
                    self._issued.add(candidate)
                    return candidate

    def instance_id(self) -> str:
        """``i-0`` followed by 16 hex digits (17 hex in total), like current EC2 ids."""
        return self._draw(lambda rng: f"i-0{rng.getrandbits(64):016x}")

    def logical_id(self) -> str:
        """A random (version 4) UUID string, the shape HyperPod uses for NodeLogicalId."""
        return self._draw(lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)))

    def cluster_id(self) -> str:
        """The 12-character id at the end of a real HyperPod cluster ARN."""
        return self._draw(lambda rng: "".join(rng.choices(_CLUSTER_ID_ALPHABET, k=12)))

    def event_id(self) -> str:
        """A UUID for a cluster event."""
        return self._draw(lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)))

    def private_ip(self) -> str:
        """A unique address in 10.1.0.0/16 (up to ~65k nodes per control plane)."""
        return self._draw(lambda rng: f"10.1.{rng.randrange(256)}.{rng.randrange(1, 255)}")


def private_dns_hostname(ip: str, region: str) -> str:
    """The EC2 private DNS name for ``ip`` (``ip-10-1-2-3.us-west-2.compute.internal``)."""
    suffix = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return "ip-" + ip.replace(".", "-") + "." + suffix
