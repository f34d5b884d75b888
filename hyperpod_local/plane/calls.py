"""The log of Batch* requests the control plane received, with their outcomes.

Not thread-safe by itself: callers hold the control-plane lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hyperpod_local.plane.clock import ControlPlaneClock
from hyperpod_local.plane.errors import ApiError
from hyperpod_local.plane.model import BatchCall


@dataclass
class CallDraft:
    """A call being answered; becomes a frozen :class:`~hyperpod_local.plane.model.BatchCall` when done."""

    action: str
    cluster: str
    node_ids: tuple[str, ...] = ()
    node_logical_ids: tuple[str, ...] = ()
    nodes_to_add: tuple[tuple[str, int], ...] = ()
    client_token: str | None = None
    error_code: str | None = None
    failed_codes: list[str] = field(default_factory=list)


class CallLog:
    def __init__(self, clock: ControlPlaneClock) -> None:
        self._clock = clock
        self._calls: list[BatchCall] = []

    @contextmanager
    def recording(self, draft: CallDraft) -> Iterator[CallDraft]:
        """Log the call when the block ends, with the code of any whole-request error it raised."""
        received_at, received_monotonic = self._clock.now(), time.monotonic()
        try:
            yield draft
        except ApiError as error:
            draft.error_code = error.code
            raise
        except Exception:
            draft.error_code = "InternalFailure"
            raise
        finally:
            self._calls.append(
                BatchCall(
                    action=draft.action,
                    cluster=draft.cluster,
                    node_ids=draft.node_ids,
                    node_logical_ids=draft.node_logical_ids,
                    nodes_to_add=draft.nodes_to_add,
                    client_token=draft.client_token,
                    at=received_at,
                    monotonic=received_monotonic,
                    error_code=draft.error_code,
                    failed_codes=tuple(draft.failed_codes),
                )
            )

    def snapshot(self) -> list[BatchCall]:
        return list(self._calls)

    def clear(self) -> None:
        self._calls.clear()
