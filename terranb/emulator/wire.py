"""Wire-format helpers shared by the emulator's three APIs.

* :class:`GoJSONResponse` writes JSON the way Go's ``encoding/json`` does
  (compact, ``&``/``<``/``>`` escaped as ``\\u0026``/``\\u003c``/``\\u003e``):
  DJI's FAQ shows presigned URLs "Unicode-escaped" (protocol.md §1.5.5).
* :class:`CIDict` looks keys up case-insensitively, like Go's JSON decoder
  (``resourceUUID`` and ``resourceUuid`` both work, protocol.md §1.9).
* :func:`rfc3339` formats times as ``2006-01-02T15:04:05Z07:00``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from starlette.responses import JSONResponse

__all__ = ["BodyError", "CIDict", "GoJSONResponse", "go_json", "parse_object", "rfc3339"]


def go_json(content: Any) -> bytes:
    """Serialise like Go: compact, UTF-8, HTML-sensitive characters escaped."""
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # Outside strings JSON never contains these characters, so a plain replace is exact.
    text = (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return text.encode("utf-8")


class GoJSONResponse(JSONResponse):
    """A JSON response rendered by :func:`go_json`."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Render the body."""
        return go_json(content)


def rfc3339(ts: float | None) -> str | None:
    """Unix seconds -> ``2024-01-01T00:00:00Z`` (``None`` stays ``None``)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class CIDict:
    """Read-only view of a JSON object with case-insensitive key lookup.

    An exact match wins over a case-insensitive one, as in Go.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)
        self._lower: dict[str, str] = {}
        for key in self.data:
            self._lower.setdefault(key.lower(), key)

    def has(self, key: str) -> bool:
        """True when the key is present in any case."""
        return key in self.data or key.lower() in self._lower

    def get(self, key: str, default: Any = None) -> Any:
        """Value of ``key`` in any letter case, else ``default``."""
        if key in self.data:
            return self.data[key]
        real = self._lower.get(key.lower())
        return self.data[real] if real is not None else default


class BodyError(ValueError):
    """The request body is not the JSON object the endpoint expects."""


def parse_object(body: bytes, *, allow_empty: bool = True) -> CIDict:
    """Decode a request body that must be a JSON object.

    Args:
        body: raw bytes.
        allow_empty: an empty body counts as ``{}``.

    Raises:
        BodyError: invalid UTF-8/JSON, or not an object.
    """
    if not body.strip():
        if allow_empty:
            return CIDict({})
        raise BodyError("request body is empty; send a JSON object")
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BodyError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BodyError(f"request body must be a JSON object, got {type(value).__name__}")
    return CIDict(value)
