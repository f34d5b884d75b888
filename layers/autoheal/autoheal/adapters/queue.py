"""The fault queue: puts `NodeFault`s on SQS as JSON, ten to a SendMessageBatch call.

Intake `send`s new faults; remediate `requeue`s faults it wants to see again later (DelaySeconds).

The boto3 SQS client is injected. Batches respect both SQS limits (10 entries, 256 KiB of bodies
plus attributes per call), which botocore does not check. Entries SQS reports as `Failed` are
retried once when the fault was not ours (`SenderFault: false`); whatever still fails, from every
batch, is raised together as `QueueSendError` so the intake Lambda fails and its event is retried.
`ClientError` codes become the domain errors below; nothing upstream reads message text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from autoheal.faults import NodeFault

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 262_144  # 256 KiB: message bodies plus attribute names, types and values
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds maximum
#: The IAM actions behind each public method of `FaultQueue` (c7n style; see tests/integration/test_iam.py).
#: SendMessageBatch is authorised by sqs:SendMessage; it has no IAM action of its own.
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "FaultQueue.send": frozenset({"sqs:SendMessage"}),
    "FaultQueue.requeue": frozenset({"sqs:SendMessage"}),
}


class SqsClient(Protocol):
    """The one SQS call the adapter makes (a boto3 `sqs` client satisfies it)."""

    def send_message_batch(self, *, QueueUrl: str, Entries: Any) -> Any: ...


# ---------------------------------------------------------------- errors


class QueueError(Exception):
    """Putting faults on the queue failed. `retryable` says whether trying again may help."""

    retryable = False

    def __init__(self, message: str, *, code: str = "", sent: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.sent = sent  # faults already on the queue when this was raised


class QueueNotFoundError(QueueError):
    """The queue URL names no queue (misconfiguration)."""


class QueueAccessDeniedError(QueueError):
    """IAM or KMS refused the send (misconfiguration)."""


class QueueThrottledError(QueueError):
    retryable = True


class QueueUnavailableError(QueueError):
    """SQS or the network failed on its side."""

    retryable = True


class QueueRequestError(QueueError):
    """SQS rejected the request's shape: a bug here, not a transient condition."""


@dataclass(frozen=True)
class FailedEntry:
    node_ref: str
    source_event_id: str
    code: str
    sender_fault: bool


class QueueSendError(QueueError):
    """Some entries still failed after one retry; `failures` aggregates them from every batch."""

    def __init__(self, failures: Sequence[FailedEntry], *, sent: int) -> None:
        codes = sorted({f.code for f in failures})
        super().__init__(
            f"{len(failures)} fault(s) not enqueued ({', '.join(codes)})", code=codes[0], sent=sent
        )
        self.failures = tuple(failures)
        self.retryable = not all(f.sender_fault for f in failures)


_CODE_ERRORS: Mapping[str, type[QueueError]] = {
    "QueueDoesNotExist": QueueNotFoundError,
    "AWS.SimpleQueueService.NonExistentQueue": QueueNotFoundError,
    "AccessDenied": QueueAccessDeniedError,
    "AccessDeniedException": QueueAccessDeniedError,
    "KmsAccessDenied": QueueAccessDeniedError,
    "KMS.AccessDeniedException": QueueAccessDeniedError,
    "KmsDisabled": QueueAccessDeniedError,
    "KmsNotFound": QueueAccessDeniedError,
    "KmsInvalidState": QueueAccessDeniedError,
    "RequestThrottled": QueueThrottledError,
    "ThrottlingException": QueueThrottledError,
    "Throttling": QueueThrottledError,
    "KmsThrottled": QueueThrottledError,
    "KMS.ThrottlingException": QueueThrottledError,
    "ServiceUnavailable": QueueUnavailableError,
    "InternalError": QueueUnavailableError,
    "InternalFailure": QueueUnavailableError,
    "TooManyEntriesInBatchRequest": QueueRequestError,
    "AWS.SimpleQueueService.TooManyEntriesInBatchRequest": QueueRequestError,
    "BatchRequestTooLong": QueueRequestError,
    "AWS.SimpleQueueService.BatchRequestTooLong": QueueRequestError,
    "BatchEntryIdsNotDistinct": QueueRequestError,
    "AWS.SimpleQueueService.BatchEntryIdsNotDistinct": QueueRequestError,
    "EmptyBatchRequest": QueueRequestError,
    "AWS.SimpleQueueService.EmptyBatchRequest": QueueRequestError,
    "InvalidBatchEntryId": QueueRequestError,
    "AWS.SimpleQueueService.InvalidBatchEntryId": QueueRequestError,
}


def translate(exc: ClientError, *, sent: int = 0) -> QueueError:
    """The domain error for a ClientError, by its code (unknown codes: a plain QueueError)."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return _CODE_ERRORS.get(code, QueueError)(f"SQS SendMessageBatch failed: {code}", code=code, sent=sent)


# ---------------------------------------------------------------- batching


def plan_batches(
    sizes: Sequence[int], *, max_entries: int = MAX_BATCH_ENTRIES, max_bytes: int = MAX_BATCH_BYTES
) -> list[list[int]]:
    """Greedy, order-keeping split of entry indexes into batches within both limits."""
    batches: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for index, size in enumerate(sizes):
        if size > max_bytes:
            raise QueueRequestError(f"message {index} is {size} bytes, over the {max_bytes}-byte limit")
        if current and (len(current) == max_entries or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(index)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


@dataclass(frozen=True)
class _Entry:
    fault: NodeFault
    body: str
    attributes: Mapping[str, Mapping[str, str]]
    delay_seconds: int = 0

    @classmethod
    def of(cls, fault: NodeFault, delay_seconds: int = 0) -> _Entry:
        attributes = {"source": str(fault.source), "node": fault.node_ref}
        if fault.cluster_ref:
            attributes["cluster"] = fault.cluster_ref
        # NodeFault.model_dump_json(), ASCII-escaped: same JSON, and no character SQS refuses.
        body = json.dumps(fault.model_dump(mode="json"), ensure_ascii=True, separators=(",", ":"))
        return cls(
            fault,
            body,
            {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()},
            delay_seconds,
        )

    @property
    def size(self) -> int:
        attrs = sum(
            len(name.encode()) + sum(len(v.encode()) for v in value.values())
            for name, value in self.attributes.items()
        )
        return len(self.body.encode()) + attrs

    def request(self, entry_id: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "Id": entry_id,
            "MessageBody": self.body,
            "MessageAttributes": dict(self.attributes),
        }
        if self.delay_seconds:
            request["DelaySeconds"] = self.delay_seconds
        return request


@dataclass(frozen=True)
class SendReport:
    sent: int
    calls: int
    retried: int


# ---------------------------------------------------------------- adapter


class FaultQueue:
    """SQS-backed fault queue (standard queue)."""

    def __init__(
        self,
        client: SqsClient,
        queue_url: str,
        *,
        max_entries: int = MAX_BATCH_ENTRIES,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        if not 1 <= max_entries <= MAX_BATCH_ENTRIES:
            raise ValueError(f"max_entries must be 1..{MAX_BATCH_ENTRIES}")
        self._client = client
        self._queue_url = queue_url
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    def send(self, faults: Sequence[NodeFault], *, delay_seconds: int = 0) -> SendReport:
        """Enqueue every fault, or raise a `QueueError` saying what did not go and why."""
        if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
            raise ValueError(f"delay_seconds must be 0..{MAX_DELAY_SECONDS}, got {delay_seconds}")
        entries = [_Entry.of(f, delay_seconds) for f in faults]
        first = self._send_all(entries, already_sent=0)
        second = self._send_all([entry for entry, _ in first.retryable], already_sent=first.sent)
        failures = [
            *first.failures,
            *second.failures,
            *(_failed(entry, code, sender_fault=False) for entry, code in second.retryable),
        ]
        sent = first.sent + second.sent
        if failures:
            raise QueueSendError(failures, sent=sent)
        return SendReport(sent=sent, calls=first.calls + second.calls, retried=len(first.retryable))

    def requeue(self, faults: Sequence[NodeFault], delay_seconds: int) -> None:
        """Put faults back for a later attempt (remediate's retries), delivered after the delay."""
        self.send(faults, delay_seconds=delay_seconds)

    def _send_all(self, entries: Sequence[_Entry], *, already_sent: int) -> _Pass:
        """One pass over every batch; entries SQS did not take are sorted into retry or failure."""
        result = _Pass()
        sizes = [e.size for e in entries]
        for batch in plan_batches(sizes, max_entries=self._max_entries, max_bytes=self._max_bytes):
            by_id = {f"m{n}": entries[i] for n, i in enumerate(batch)}  # unique per call
            request = [entry.request(entry_id) for entry_id, entry in by_id.items()]
            response = self._call(request, sent=already_sent + result.sent)
            result.calls += 1
            succeeded = {str(s.get("Id")) for s in response.get("Successful", [])} & by_id.keys()
            result.sent += len(succeeded)
            failed = {str(f.get("Id")): f for f in response.get("Failed", []) if f.get("Id") in by_id}
            for entry_id, entry in by_id.items():
                if entry_id in succeeded:
                    continue
                report = failed.get(entry_id, {"Code": "Unaccounted", "SenderFault": False})
                code = str(report.get("Code") or "Unknown")
                if report.get("SenderFault", False):
                    result.failures.append(_failed(entry, code, sender_fault=True))
                else:
                    result.retryable.append((entry, code))
        return result

    def _call(self, request_entries: list[dict[str, Any]], *, sent: int) -> Mapping[str, Any]:
        try:
            response: Mapping[str, Any] = self._client.send_message_batch(
                QueueUrl=self._queue_url, Entries=request_entries
            )
        except ClientError as exc:
            raise translate(exc, sent=sent) from exc
        except BotoCoreError as exc:
            raise QueueUnavailableError(f"SQS unreachable: {type(exc).__name__}", sent=sent) from exc
        return response


@dataclass
class _Pass:
    sent: int = 0
    calls: int = 0
    retryable: list[tuple[_Entry, str]] = field(default_factory=list)
    failures: list[FailedEntry] = field(default_factory=list)


def _failed(entry: _Entry, code: str, *, sender_fault: bool) -> FailedEntry:
    return FailedEntry(entry.fault.node_ref, entry.fault.source_event_id, code, sender_fault)
