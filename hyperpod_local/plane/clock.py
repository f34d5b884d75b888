"""Simulated time for the local control plane.

Every duration in the control plane (reboot, replacement, deletion, provisioning, busy windows, the
8-hour ClientToken window) is measured on a :class:`ControlPlaneClock`, never on the wall clock
directly. The clock follows real time by default, can run faster (``scale``) so a demo shrinks a
10-minute replacement to seconds, can be frozen (``scale=0``) for fully deterministic tests, and can
be pushed forward with :meth:`ControlPlaneClock.advance`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class ControlPlaneClock:
    """A thread-safe simulated UTC clock: ``start + elapsed_real * scale + advanced``.

    Args:
        scale: simulated seconds per real second. ``1.0`` is real time, ``60.0`` makes one real
            second a simulated minute, ``0.0`` freezes the clock (only :meth:`advance` moves it).
        start: simulated time at construction; defaults to the current UTC time.
        monotonic: the real-time source (injectable for tests of the clock itself).
    """

    def __init__(
        self,
        *,
        scale: float = 1.0,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if scale < 0:
            raise ValueError(f"scale must be >= 0, got {scale}")
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._scale = scale
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._origin = (start or datetime.now(UTC)).astimezone(UTC)
        self._real_origin = monotonic()
        self._advanced = 0.0

    @classmethod
    def frozen(cls, start: datetime | None = None) -> ControlPlaneClock:
        """A clock that only moves when :meth:`advance` is called."""
        return cls(scale=0.0, start=start)

    @property
    def scale(self) -> float:
        return self._scale

    def now(self) -> datetime:
        """The current simulated time (timezone-aware UTC)."""
        with self._lock:
            elapsed = (self._monotonic() - self._real_origin) * self._scale + self._advanced
            return self._origin + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> None:
        """Move simulated time forward by ``seconds`` (never backwards)."""
        if seconds < 0:
            raise ValueError(f"cannot move the clock backwards ({seconds} s)")
        with self._lock:
            self._advanced += seconds

    def restart(self) -> None:
        """Forget every :meth:`advance` and restart from the current UTC time (same scale)."""
        with self._lock:
            self._origin = datetime.now(UTC)
            self._real_origin = self._monotonic()
            self._advanced = 0.0
