"""Entry point of the ``terranb`` command (also ``python -m terranb``).

Each sub-command lives in its own ``cmd_*`` module with a ``register(subparsers)``
function, so the parts of terranb add their commands without touching each other.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from terranb._version import __version__
from terranb.cli._common import (
    EXIT_BROKEN_PIPE,
    EXIT_USAGE,
    interrupted,
    run_handler,
    silence_stdout,
)
from terranb.redact import install_log_filter

# Order is the order of `terranb --help`.
COMMAND_MODULES = [
    "terranb.cli.cmd_config",     # configure
    "terranb.cli.cmd_api",        # resources, files, models, media
    "terranb.cli.cmd_dataset",    # sample-data, preflight, mosaic
    "terranb.cli.cmd_jobs",       # submit, jobs, download
    "terranb.cli.cmd_results",    # info, stac
    "terranb.cli.cmd_preview",    # preview (no download)
    "terranb.cli.cmd_fh2",        # fh2 status|projects|tasks|media|preflight|models|create
    "terranb.cli.cmd_emulator",   # emulator
    "terranb.cli.cmd_demo",       # demo, report
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="terranb",
        description="Drive DJI cloud reconstruction (TerraAPI v2, FlightHub 2) and its results.",
    )
    parser.add_argument("--version", action="version", version=f"terranb {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v info, -vv debug); secrets are never logged")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 error, 2 usage, 141 broken pipe)."""
    try:
        return _main(argv)
    except BrokenPipeError:  # `terranb --help | head`: the reader left, nothing to report
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:  # Ctrl-C before a handler runs (the sub-commands import)
        return interrupted()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # -v/-vv/--verbose may stand anywhere (`terranb resources list -vv`), not only before
    # the sub-command: count them here and hand argparse the rest.
    verbose = 0
    rest: list[str] = []
    for i, token in enumerate(argv):
        if token == "--":
            rest += argv[i:]
            break
        if token == "--verbose" or (token.startswith("-v") and set(token[1:]) == {"v"}):
            verbose += 1 if token == "--verbose" else len(token) - 1
        else:
            rest.append(token)
    try:
        args = parser.parse_args(rest)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        sys.stdout.flush()
        return int(exc.code or 0)
    args.verbose = verbose
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")
    # Every handler that can print a record -- the root handlers (botocore, urllib3 and
    # s3transfer records end there too) and logging's last-resort handler used without
    # -v -- masks the secrets terranb knows of and credential-shaped values.
    install_log_filter()
    if logging.lastResort is not None:
        install_log_filter(handlers=[logging.lastResort])
    handler = getattr(args, "func", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return run_handler(handler, args)


if __name__ == "__main__":
    sys.exit(main())
