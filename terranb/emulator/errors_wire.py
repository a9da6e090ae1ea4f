"""Business errors of the three emulated APIs and how each is put on the wire.

* TerraAPI: ``{"result": {"code", "msg", "desc"}, "data": null}`` with the HTTP
  statuses the team fixed for the protocol's unknowns (NOTES.md): 400 for
  102001, 404 for 102002/102114, 409 for 102003, 429 for 801, 402 for 102116,
  500 for 102000, 401 for 701.
* FlightHub 2: HTTP 200 ``{"code", "message", "data": {}}``.
* Cloud API demo: HTTP 200 ``{"code": -1, "message"}`` (the demo's ``error(msg)``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TERRA_STATUS",
    "CloudApiError",
    "FH2Error",
    "TerraError",
    "openapi_body",
]

# TerraAPI result codes (protocol.md §1.3).
OK = 0
AUTH = 701
JOB_LIMIT = 801
SERVICE_FAILURE = 102000
PARAMETER = 102001
RESOURCE_NOT_FOUND = 102002
INVALID_OPERATION = 102003
JOB_NOT_FOUND = 102114
BILLING = 102116

TERRA_STATUS = {
    PARAMETER: 400,
    RESOURCE_NOT_FOUND: 404,
    JOB_NOT_FOUND: 404,
    INVALID_OPERATION: 409,
    JOB_LIMIT: 429,
    BILLING: 402,
    SERVICE_FAILURE: 500,
    AUTH: 401,
}

# Short texts per code; ``desc`` carries the specific explanation and the fix.
TERRA_MSG = {
    PARAMETER: "parameter error",
    RESOURCE_NOT_FOUND: "can not find resource",
    JOB_NOT_FOUND: "job does not exist",
    INVALID_OPERATION: "invalid operation",
    JOB_LIMIT: "too many requests: jobs over limit",  # the real text (protocol.md §1.3)
    BILLING: "billing failure",
    SERVICE_FAILURE: "service invocation failure",
    AUTH: "authentication error",
}


class TerraError(Exception):
    """A TerraAPI business error.

    Args:
        code: result code (e.g. 102001).
        desc: what exactly was wrong and what to do about it.
    """

    def __init__(self, code: int, desc: str) -> None:
        super().__init__(desc)
        self.code = code
        self.msg = TERRA_MSG.get(code, "error")
        self.desc = desc
        self.status = TERRA_STATUS.get(code, 400)

    def body(self) -> dict[str, Any]:
        """The response envelope."""
        return {"result": {"code": self.code, "msg": self.msg, "desc": self.desc}, "data": None}


# FlightHub 2 codes. DJI's error-code pages were not retrievable (protocol.md §6.15); these
# follow the AERO contract fixtures (synthetic, unverified) so every error has a stable
# non-zero code. Documented in the emulator's OpenAPI description.
FH2_PARAMETER = 200400
FH2_NOT_FOUND = 200404
FH2_INVALID_STATE = 200409
FH2_MISSING_PARAMETER = 200610
FH2_TOO_MANY = 210429
FH2_SERVER = 210500
# The emulator's own codes for the rules flighthub2-cli found on the live service
# (docs/flighthub2-notes.md). The last three digits are an HTTP status, like the others,
# so a client that types codes by their tail gets InvalidParameter / NotFound.
FH2_NOT_BATCH = 211400  # resource_uuid is not the batch of the callback's store_path
FH2_TOO_MANY_FILES = 212400  # more than 100 files in one upload_callback
FH2_NO_ROUTE = 200501  # (HTTP 404) the emulator does not serve this FlightHub 2 route


class FH2Error(Exception):
    """A FlightHub 2 business error (answered with HTTP 200)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """The response envelope."""
        return {"code": self.code, "message": self.message, "data": {}}


class CloudApiError(Exception):
    """A Cloud API demo business error (HTTP 200, ``code`` -1 unless given)."""

    def __init__(self, message: str, code: int = -1) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """The response envelope (the demo omits ``data`` on errors)."""
        return {"code": self.code, "message": self.message}


def openapi_body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its JSON body itself."""
    return {
        "requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}
    }
