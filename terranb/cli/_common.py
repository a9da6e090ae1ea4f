"""What every sub-command shares: exit codes, JSON output and error translation.

Exit codes: 0 ok, 1 service or data error (any :class:`~terranb.errors.TerranbError`,
and any other exception), 2 usage error (argparse's own convention), 130 Ctrl-C,
141 when the reader of stdout went away (``terranb jobs list | head``).
Errors go to stderr as one ``terranb: error: ...`` line with a hint (the traceback
only with ``-v``); with ``--json`` a JSON object ``{"error": {"type": ..., "message": ...}}``
goes to stdout as well, so scripts can parse failures too.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import os
import sys
import traceback
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from terranb.errors import TerranbError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer cut off by `head`

Handler = Callable[[argparse.Namespace], int]


def to_jsonable(obj: Any) -> Any:
    """Turn dataclasses, enums, paths and datetimes into JSON-ready values."""
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # keyword-only fields last: the API models inherit ``extra`` (and the TerraAPI ones
        # their times) from a base, and a reader looks for the model's own fields first
        fields = sorted(dataclasses.fields(obj), key=lambda f: bool(f.kw_only))
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in fields if f.name != "raw"}
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


def emit(args: argparse.Namespace, value: Any, text: str | None = None) -> int:
    """Print ``value`` as JSON with ``--json``, else ``text`` (or a JSON dump).

    Returns ``EXIT_OK``, so that a handler whose last step is printing ends with
    ``return emit(...)``.
    """
    if getattr(args, "json", False) or text is None:
        print(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))
    else:
        print(text)
    return EXIT_OK


def cli_path(text: str) -> Path:
    """argparse ``type`` for paths: ``~`` expanded even when no shell did it (quoted, scripts)."""
    return Path(os.path.expanduser(text))


def _hint(exc: BaseException) -> str:
    """A next step for an exception that is not a terranb error (those carry their own)."""
    if isinstance(exc, FileNotFoundError):
        return "check that the path exists (relative paths start at the current folder)"
    if isinstance(exc, FileExistsError):
        return "a file of that name is in the way: choose another path or remove it"
    if isinstance(exc, PermissionError):
        return "check the file permissions, or choose another folder"
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return "give a file where a file is expected and a folder where a folder is"
    if isinstance(exc, MemoryError):
        return "use a smaller data set or budget"
    return "run again with -v for the traceback, and report it if the input looks right"


def one_line(text: str) -> str:
    """Messages may hold line breaks (lists of findings): the error stays one line."""
    return " / ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _fail(args: argparse.Namespace, exc: BaseException, message: str) -> int:
    if getattr(args, "verbose", 0):
        traceback.print_exception(exc, file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": {"type": type(exc).__name__, "message": message}}))
    print(f"terranb: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass


INTERRUPTED = ("terranb: error: interrupted (Ctrl-C); run the same command again: uploads "
               "and downloads resume where they stopped")


def interrupted() -> int:
    """Ctrl-C anywhere (also while the command is still loading): one line, exit 130."""
    try:
        print(INTERRUPTED, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr gone too
        pass
    return EXIT_INTERRUPTED


def run_handler(handler: Handler, args: argparse.Namespace) -> int:
    """Run a sub-command; every exception ends as one ``terranb: error:`` line and exit 1."""
    try:
        code = int(handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler's guard
        return code
    except BrokenPipeError:
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except TerranbError as exc:
        return _fail(args, exc, one_line(str(exc)))
    except KeyboardInterrupt:
        return interrupted()
    except Exception as exc:  # the last guard: no raw traceback without -v
        text = one_line(str(exc)) or "(no message)"
        return _fail(args, exc, f"{type(exc).__name__}: {text}; {_hint(exc)}")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Add the ``--json`` flag every command understands."""
    parser.add_argument("--json", action="store_true",
                        help="print machine-readable JSON on stdout (errors too)")


def add_service_flags(parser: argparse.ArgumentParser, *, ledger: bool = False,
                      backend: bool = False) -> None:
    """Add ``--profile`` (and ``--ledger``, ``--backend``) as every command that talks to a
    service spells them."""
    parser.add_argument("--profile", default=None,
                        help="settings profile (default: $TERRANB_PROFILE or 'default')")
    if ledger:
        parser.add_argument("--ledger", default=None, type=cli_path,
                            help="ledger folder or file (default: $TERRANB_LEDGER_DIR or the "
                                 "user data dir)")
    if backend:
        parser.add_argument("--backend", choices=["terra", "flighthub"], default=None,
                            help="service (default: the ledger's for known jobs, else terra)")


def add_command(subparsers: Any, name: str, func: Handler, *,
                common: Callable[[argparse.ArgumentParser], None] | None = add_json_flag,
                **parser_kw: Any) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` that runs ``func``; return its parser for the options.

    ``common`` adds the options every command of the group shares (by default
    ``--json``); ``parser_kw`` (help, description ...) go to ``add_parser``.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(name, **parser_kw)
    parser.set_defaults(func=func)
    if common is not None:
        common(parser)
    return parser
