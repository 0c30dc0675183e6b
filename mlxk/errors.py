"""The error tree and the one table that maps each error to an exit code and HTTP status.

    MlxkError
    ├── UsageError                 bad command-line or request input
    │   ├── InvalidRequest
    │   ├── UnsupportedParameter
    │   └── InvalidModelName
    ├── ModelNotFound / AmbiguousMatch / HashNotFound / CacheNotFound
    ├── ModelNotRunnable           not MLX, unhealthy, unsupported architecture
    ├── ContextLengthExceeded
    ├── LocksPresent / ConfirmationRequired / PermissionDenied / DeletionFailed
    ├── AccessDenied / DownloadFailed / HubUnreachable / ModelCorrupted
    ├── Unauthorized / PayloadTooLarge / HostNotAllowed
    ├── ServerBusy / InsufficientMemory / GroupUnavailable
    ├── AddressInUse / IncompatibleRuntime / ServerFailed
    ├── Interrupted
    └── InternalError

The core raises these; each edge (CLI, server) translates them once, through
:data:`ERROR_TABLE`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    exit_code: int
    http_status: int
    openai_type: str


INVALID = "invalid_request_error"

ERROR_TABLE: dict[str, ErrorKind] = {
    "usage_error": ErrorKind(2, 400, INVALID),
    "invalid_request": ErrorKind(2, 400, INVALID),
    "unsupported_parameter": ErrorKind(2, 400, INVALID),
    "invalid_model_name": ErrorKind(1, 400, INVALID),
    "model_not_found": ErrorKind(1, 404, INVALID),
    "ambiguous_match": ErrorKind(1, 409, INVALID),  # several models match the name
    "hash_not_found": ErrorKind(1, 404, INVALID),
    "cache_not_found": ErrorKind(1, 404, INVALID),
    "model_not_runnable": ErrorKind(1, 400, INVALID),
    "model_unhealthy": ErrorKind(1, 400, INVALID),
    "context_length_exceeded": ErrorKind(1, 400, INVALID),
    "locks_present": ErrorKind(1, 409, INVALID),
    "confirmation_required": ErrorKind(1, 409, INVALID),
    "permission_denied": ErrorKind(1, 403, "permission_error"),
    "deletion_failed": ErrorKind(1, 500, "server_error"),
    "access_denied": ErrorKind(1, 403, "permission_error"),
    "download_failed": ErrorKind(1, 502, "server_error"),
    "upload_failed": ErrorKind(1, 502, "server_error"),
    "network_error": ErrorKind(1, 502, "server_error"),
    "model_corrupted": ErrorKind(1, 409, INVALID),
    "unauthorized": ErrorKind(1, 401, "authentication_error"),
    "payload_too_large": ErrorKind(1, 413, INVALID),
    "host_not_allowed": ErrorKind(1, 400, INVALID),
    "address_in_use": ErrorKind(1, 500, "server_error"),
    "incompatible_runtime": ErrorKind(1, 500, "server_error"),
    "invalid_config": ErrorKind(2, 500, "server_error"),  # the operator's file, not the request
    "server_failed": ErrorKind(1, 500, "server_error"),
    "server_busy": ErrorKind(1, 503, "server_error"),
    "insufficient_memory": ErrorKind(1, 503, "server_error"),
    "group_unavailable": ErrorKind(1, 503, "server_error"),  # a host or rank of the group
    "interrupted": ErrorKind(130, 499, "server_error"),
    "internal_error": ErrorKind(1, 500, "server_error"),
}


class MlxkError(Exception):
    code = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, **details):
        super().__init__(message)
        self.message = message
        self.param = param
        self.details = details

    @property
    def kind(self) -> ErrorKind:
        return ERROR_TABLE[self.code]

    def to_dict(self) -> dict:
        """The CLI envelope's ``error`` object."""
        body = {"type": self.code, "message": self.message}
        if self.param is not None:
            body["param"] = self.param
        body.update({k: v for k, v in self.details.items() if v is not None})
        return body


def _error(name: str, code: str, base: type[MlxkError] = MlxkError) -> type[MlxkError]:
    return type(name, (base,), {"code": code, "__doc__": f"Error code ``{code}``."})


UsageError = _error("UsageError", "usage_error")
InvalidRequest = _error("InvalidRequest", "invalid_request", UsageError)
UnsupportedParameter = _error("UnsupportedParameter", "unsupported_parameter", UsageError)
InvalidModelName = _error("InvalidModelName", "invalid_model_name", UsageError)
ModelNotFound = _error("ModelNotFound", "model_not_found")
AmbiguousMatch = _error("AmbiguousMatch", "ambiguous_match")
HashNotFound = _error("HashNotFound", "hash_not_found")
CacheNotFound = _error("CacheNotFound", "cache_not_found")
ModelNotRunnable = _error("ModelNotRunnable", "model_not_runnable")
ModelUnhealthy = _error("ModelUnhealthy", "model_unhealthy", ModelNotRunnable)
ContextLengthExceeded = _error("ContextLengthExceeded", "context_length_exceeded")
LocksPresent = _error("LocksPresent", "locks_present")
ConfirmationRequired = _error("ConfirmationRequired", "confirmation_required")
PermissionDenied = _error("PermissionDenied", "permission_denied")
DeletionFailed = _error("DeletionFailed", "deletion_failed")
AccessDenied = _error("AccessDenied", "access_denied")
DownloadFailed = _error("DownloadFailed", "download_failed")
UploadFailed = _error("UploadFailed", "upload_failed")
HubUnreachable = _error("HubUnreachable", "network_error")
ModelCorrupted = _error("ModelCorrupted", "model_corrupted")
Unauthorized = _error("Unauthorized", "unauthorized")
PayloadTooLarge = _error("PayloadTooLarge", "payload_too_large", UsageError)
HostNotAllowed = _error("HostNotAllowed", "host_not_allowed", UsageError)
AddressInUse = _error("AddressInUse", "address_in_use")
IncompatibleRuntime = _error("IncompatibleRuntime", "incompatible_runtime")
InvalidConfig = _error("InvalidConfig", "invalid_config")
ServerFailed = _error("ServerFailed", "server_failed")
ServerBusy = _error("ServerBusy", "server_busy")
InsufficientMemory = _error("InsufficientMemory", "insufficient_memory")
GroupUnavailable = _error("GroupUnavailable", "group_unavailable")
Interrupted = _error("Interrupted", "interrupted")
InternalError = _error("InternalError", "internal_error")
