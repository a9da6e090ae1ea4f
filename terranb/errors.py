"""Every exception terranb raises, in one tree.

Errors are split by who is at fault: the service (``ApiError``), the network
(``TransportError``) or the caller's own data, settings and files
(``ClientError``). Messages say what was wrong and what to do about it, and they
never contain a secret (SK, STS keys, session tokens, user tokens).

::

    TerranbError
    ├── ApiError                      the service answered with an error
    │   ├── AuthenticationError       401 / TerraAPI 701 / gateway {"message"}
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404 / 102002 / 102114
    │   ├── UnsupportedRouteError     404/405 with no business code: the server lacks the route
    │   ├── InvalidParameterError     102001 / 400
    │   ├── InvalidOperationError     102003 / 409 (e.g. starting a job twice)
    │   ├── JobLimitError             801 / 429 (too many unfinished jobs)
    │   ├── BillingError              102116
    │   └── ServerError               5xx / 102000
    ├── TransportError                connection refused, reset, timed out
    ├── SignatureError                a request signature failed verification (emulator side)
    └── ClientError                   the problem is on this side
        ├── ConfigError               missing or malformed settings / credentials
        ├── ValidationError           bad parameters or data set (also a ValueError)
        │   └── PreflightError        a data set failed preflight; carries the findings
        ├── TransferError             upload or download failed after retries
        │   ├── CredentialsExpiredError   STS credentials expired and could not be renewed
        │   ├── UnsafePathError       a remote file name would escape the destination
        │   ├── DuplicateNameError    a listing names two different files the same
        │   └── FileConflictError     a different local file is in the way (no --overwrite)
        ├── JobFailed                 a job ended failed or stopped; carries the job
        ├── JobTimeout                waiting for a job ran out of time (also a TimeoutError)
        ├── ResultFormatError         a result file is missing or malformed (also a ValueError)
        └── MissingDependencyError    an optional extra is not installed (also an ImportError)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BillingError",
    "ClientError",
    "ConfigError",
    "CredentialsExpiredError",
    "DuplicateNameError",
    "FileConflictError",
    "InvalidOperationError",
    "InvalidParameterError",
    "JobFailed",
    "JobLimitError",
    "JobTimeout",
    "MissingDependencyError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreflightError",
    "ResultFormatError",
    "ServerError",
    "SignatureError",
    "TerranbError",
    "TransferError",
    "TransportError",
    "UnsafePathError",
    "UnsupportedRouteError",
    "ValidationError",
    "error_for_status",
    "is_transient_service_error",
    "require",
]


class TerranbError(Exception):
    """Root of every terranb exception.

    ``str()`` masks the secrets terranb knows of and credential-shaped values
    (:func:`terranb.redact.redact`): error messages end up on consoles, in
    notebook outputs and in logs, and some quote URLs or server answers.
    """

    def __str__(self) -> str:
        from terranb.redact import redact

        return redact(super().__str__())


class ApiError(TerranbError):
    """The service answered with an error.

    Attributes:
        status_code: HTTP status of the response.
        code: the service's own error code (TerraAPI ``result.code``, FlightHub 2 /
            Cloud API ``code``), or ``None`` when the body had none.
        message: the service's message, unedited.
        request_id: the request id when one is known (FlightHub 2 ``X-Request-Id``).
        hint: what the caller can do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: int | None = None,
        request_id: str | None = None,
        hint: str | None = None,
        body: Any = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.hint = hint
        self.body = body
        super().__init__(self._text())

    def _text(self) -> str:
        parts = []
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        head = f"[{', '.join(parts)}] " if parts else ""
        text = f"{head}{self.message}"
        if self.hint:
            text += f" -- {self.hint}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class AuthenticationError(ApiError):
    """Credentials were rejected (wrong AK/SK, clock skew, expired token)."""


class PermissionDeniedError(ApiError):
    """The credentials are valid but may not do this."""


class NotFoundError(ApiError):
    """The resource, file, job or model does not exist."""


class UnsupportedRouteError(ApiError):
    """The server does not offer this route at all (HTTP 404/405 without a business code).

    Not a :class:`NotFoundError`: the object may well exist, the server just has
    no such endpoint (a gateway's ``no Route matched``, a strict implementation
    of only DJI's documented endpoints). Callers with another documented way to
    the same answer fall back to it; others report the route as unsupported.

    Attributes:
        route: ``"METHOD /path"`` that was refused.
    """

    def __init__(self, message: str, *, route: str = "", **kwargs: Any) -> None:
        self.route = route
        super().__init__(message, **kwargs)


class InvalidParameterError(ApiError):
    """The service rejected a parameter."""


class InvalidOperationError(ApiError):
    """The operation is not allowed in the object's current state."""


class JobLimitError(ApiError):
    """Too many unfinished jobs for this account (TerraAPI 801)."""


class BillingError(ApiError):
    """The service could not bill the job (TerraAPI 102116)."""


class ServerError(ApiError):
    """The service failed (5xx or TerraAPI 102000)."""


class TransportError(TerranbError):
    """The request did not get an answer: connection refused, reset or timed out."""


class SignatureError(TerranbError):
    """A request's HMAC signature failed verification.

    ``message`` is the gateway's exact text (Kong hmac-auth wording), so the
    emulator can return it verbatim as ``{"message": ...}``.
    """

    def __init__(self, message: str, *, reason: str = "") -> None:
        self.message = message
        self.reason = reason
        super().__init__(f"{message}" + (f" ({reason})" if reason else ""))


class ClientError(TerranbError):
    """The problem is on the caller's side: settings, data or files."""


class ConfigError(ClientError):
    """Settings or credentials are missing or malformed."""


class ValidationError(ClientError, ValueError):
    """Parameters or a data set are invalid; the message names the fix."""


class PreflightError(ValidationError):
    """A data set failed preflight; ``findings`` holds every problem found."""

    def __init__(self, message: str, findings: Any = None) -> None:
        self.findings = findings
        super().__init__(message)


class TransferError(ClientError):
    """An upload or download failed after its retries."""


class CredentialsExpiredError(TransferError):
    """Storage credentials expired and could not be renewed."""


class UnsafePathError(TransferError, ValueError):
    """A remote file name would be written outside the destination folder."""


class DuplicateNameError(TransferError):
    """A file listing has two different files that would be written to one path."""


class FileConflictError(TransferError):
    """A different local file is where a download would go; pass ``overwrite=True``."""


class JobFailed(ClientError):
    """A job ended failed, stopped or cancelled; ``job`` is its last snapshot."""

    def __init__(self, message: str, job: Any = None) -> None:
        self.job = job
        super().__init__(message)


class JobTimeout(ClientError, TimeoutError):
    """Waiting for a job ran out of time; the job itself goes on."""

    def __init__(self, message: str, job: Any = None) -> None:
        self.job = job
        super().__init__(message)


class ResultFormatError(ClientError, ValueError):
    """A result file is missing or malformed."""


class MissingDependencyError(ClientError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


# The HTTP statuses every DJI service uses the same way (TerraAPI, FlightHub 2, Cloud API).
_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidParameterError,
    401: AuthenticationError,
    402: BillingError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: InvalidOperationError,
    429: JobLimitError,
}


def error_for_status(status: int) -> type[ApiError]:
    """The error class of an HTTP status: the table above, 5xx :class:`ServerError`, else
    :class:`ApiError`."""
    return _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)


def is_transient_service_error(exc: BaseException) -> bool:
    """True for service failures worth retrying: transport errors, 5xx, gateway 5xx.

    A gateway 5xx whose body is not the service's envelope may arrive as a plain
    :class:`~terranb.errors.ApiError`; its HTTP status decides.
    """
    if isinstance(exc, (TransportError, ServerError)):
        return True
    if isinstance(exc, ApiError) and not isinstance(exc, JobLimitError):
        return exc.status_code is not None and (exc.status_code >= 500
                                                or exc.status_code == 429)
    return False


def require(module: str, extra: str) -> Any:
    """Import an optional dependency or raise an error that names the extra.

    Example:
        >>> np = require("numpy", "geo")  # doctest: +SKIP
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is needed for this feature but is not installed; "
            f"install it with: pip install 'terranb[{extra}]'"
        ) from exc
