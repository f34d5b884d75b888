"""Request-level errors of the local control plane, independent of moto.

The control plane raises :class:`ApiError`; the moto adapter (:mod:`hyperpod_local.plane._moto`) turns it
into a moto ``ServiceException``, which moto serialises as an AWS JSON 1.1 error (HTTP 400) so boto3
raises ``ClientError`` with ``Error.Code`` equal to :attr:`ApiError.code`.

Per-entry failures (``Failed[]`` in Batch* responses) are *not* errors: they are ordinary response
data and never go through this module.
"""

from __future__ import annotations


class ApiError(Exception):
    """A whole-request failure, answered as an AWS error response."""

    code: str = "InternalFailure"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationException(ApiError):
    """Invalid parameters (limits, patterns, combinations). Real service: HTTP 400."""

    code = "ValidationException"


class ResourceNotFound(ApiError):
    """Unknown cluster (and, for DescribeClusterNode, unknown node). Real service: HTTP 400."""

    code = "ResourceNotFound"


class ThrottlingException(ApiError):
    """Injected throttling; the real service answers ``Rate exceeded`` with HTTP 400."""

    code = "ThrottlingException"

    def __init__(self, message: str = "Rate exceeded") -> None:
        super().__init__(message)


class InjectedError(ApiError):
    """A whole-request error a test injected for one cluster (``ControlPlane.fail_calls``), with the code
    the test chose, e.g. ``AccessDeniedException``. Real service: HTTP 400 for all of them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
