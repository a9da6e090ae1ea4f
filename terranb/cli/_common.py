"""What every sub-command shares: exit codes, JSON output and error translation.

Exit codes: 0 ok, 1 service or data error (any :class:`~terranb.errors.TerranbError`),
2 usage error (argparse's own convention). Errors go to stderr as one line; with
``--json`` a JSON object ``{"error": {"type": ..., "message": ...}}`` goes to
stdout as well, so scripts can parse failures too.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from terranb.errors import TerranbError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


def to_jsonable(obj: Any) -> Any:
    """Turn dataclasses, enums, paths and datetimes into JSON-ready values."""
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if f.name != "raw"}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    return obj


def emit(args: argparse.Namespace, value: Any, text: str | None = None) -> None:
    """Print ``value`` as JSON with ``--json``, else ``text`` (or a JSON dump)."""
    if getattr(args, "json", False) or text is None:
        print(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))
    else:
        print(text)


def run_handler(handler: Handler, args: argparse.Namespace) -> int:
    """Run a sub-command and map terranb errors to exit code 1 with a clear message."""
    try:
        return int(handler(args) or 0)
    except TerranbError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}))
        print(f"terranb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("terranb: interrupted", file=sys.stderr)
        return 130


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Add the ``--json`` flag every command understands."""
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
