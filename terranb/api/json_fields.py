"""JSON in and out of the three services, read and written one way.

TerraAPI, FlightHub 2 and the Cloud API all answer JSON envelopes with a numeric
``code`` and take job parameters as a JSON *string* inside a JSON body; the
decoders in ``terra.py``, ``flighthub.py`` and ``cloudapi.py`` and the job calls
use these helpers for the parts they share.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests

from terranb.errors import ValidationError

__all__ = ["answer_json", "envelope_code", "parameters_string"]


def answer_json(resp: requests.Response) -> Any:
    """The decoded body of ``resp``; ``None`` when it is empty or not JSON.

    Decoders classify by status first, so a body that is not JSON is not an error here.
    """
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def envelope_code(value: Any) -> int:
    """An envelope's ``code`` as an int: 0 when absent or empty, -1 when not a number.

    -1 is never a success code, so an envelope with a garbled code is an error.
    """
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return -1


def parameters_string(value: Any, what: str = "parameters", *, check_json: bool = False) -> str:
    """Job parameters as the JSON string the services take (``""`` for none).

    ``value`` is a params object (anything with ``to_json()``, see :mod:`terranb.params`),
    a mapping, or a JSON string that is sent as given; with ``check_json`` a string must
    hold a JSON object (FlightHub 2 rejects anything else with an opaque code).

    Raises:
        ValidationError: another type, or with ``check_json`` a string that is not a
            JSON object; the message names ``what``.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        if check_json:
            try:
                obj = json.loads(value)
            except ValueError as exc:
                raise ValidationError(f"{what} is not valid JSON: {exc}") from exc
            if not isinstance(obj, dict):
                raise ValidationError(f"{what} must be a JSON object string")
        return value
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return str(to_json())
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    raise ValidationError(f"{what} must be a params object (terranb.params), a dict or a JSON "
                          f"string, not {type(value).__name__}")
