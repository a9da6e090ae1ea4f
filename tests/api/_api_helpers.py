"""Shared constants and helpers of the API wire tests (imported by name; unique module name)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

AK = "AK-test-7f3a9c"
SK = "SK-secret-4b1d8e2f9a"
DATE = "Mon, 01 Jan 2024 00:00:00 GMT"
US = "https://openapi-us.dji.com"
FH_TOKEN = "FH2-user-token-e5c7a1d3"
FH_PROJECT = "prj-1111-2222"
FH_US = "https://es-flight-api-us.djigate.com"
CA_BASE = "http://cloudapi.test:6789"
CA_PASSWORD = "CA-password-9d8c7b"
CA_TOKEN = "eyJ.CA-token-first.sig"
CA_TOKEN2 = "eyJ.CA-token-second.sig"


def reference_authorization(method: str, target: str, body: bytes, date: str = DATE,
                            ak: str = AK, sk: str = SK) -> tuple[str, str]:
    """(Digest, Authorization) computed straight from protocol.md §1.2, not via terranb."""
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    text = f"date: {date}\n@request-target: {method.lower()} {target}\ndigest: SHA-256={digest}"
    sig = base64.b64encode(hmac.new(sk.encode(), text.encode(), hashlib.sha256).digest()).decode()
    return (f"SHA-256={digest}",
            f'hmac username="{ak}", algorithm="hmac-sha256", '
            f'headers="date @request-target digest", signature="{sig}"')


def ok(data: Any = None) -> dict[str, Any]:
    """TerraAPI success envelope."""
    return {"result": {"code": 0, "msg": "", "desc": ""}, "data": data}


class Sleeps(list):
    """Records the delays a client would have slept."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
