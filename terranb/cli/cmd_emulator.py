"""``terranb emulator``: run the local DJI cloud emulator in the foreground.

The first stdout line is one JSON object (``base_url``, ``s3_endpoint_url``,
``app_key``, ``secret_key``, ``user_token``, ``project_uuid``, ``workspace_id``,
``cloudapi_username``, ``cloudapi_password``, ``data_dir`` ...) so scripts can
read it; everything else goes to stderr. SIGTERM or Ctrl-C stop it cleanly.
"""

from __future__ import annotations

import argparse

from terranb.cli._common import cli_path
from terranb.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``emulator`` sub-command."""
    p = subparsers.add_parser(
        "emulator",
        help="run the local TerraAPI / FlightHub 2 / Cloud API emulator",
        description="Run a local emulator of DJI's cloud APIs with an embedded S3 endpoint. "
        "Prints one JSON line with URLs and keys first (the keys are for this local "
        "emulator only), then runs until SIGTERM or Ctrl-C.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="API port (default 0 = any free port)")
    p.add_argument("--app-key", help="TerraAPI AK to accept (default: stored or random)")
    p.add_argument("--secret-key", help="TerraAPI SK to accept (default: stored or random)")
    p.add_argument("--user-token", help="FlightHub 2 organization key (default: stored or random)")
    p.add_argument("--project-uuid", help="FlightHub 2 project uuid (default: stored or random)")
    p.add_argument(
        "--data-dir",
        type=cli_path,
        help="keep state and objects here (default: a temporary folder "
        "removed at exit); restart with the same folder to keep everything",
    )
    p.add_argument("--seed", type=int, default=None, help="seed for faults and outputs")
    p.add_argument("--latency-ms", type=float, default=0.0,
                   help="delay added to every request, ms (default 0)")
    p.add_argument(
        "--bandwidth",
        type=float,
        default=0.0,
        help="S3 bytes/s per connection (default 0 = unlimited)",
    )
    p.add_argument(
        "--bandwidth-total",
        type=float,
        default=0.0,
        help="S3 bytes/s over all connections (default 0 = unlimited)",
    )
    p.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        help="probability of an injected 500/503 or dropped connection (API and S3)",
    )
    p.add_argument(
        "--token-ttl",
        type=float,
        default=600.0,
        help="lifetime of issued STS credentials in seconds (default 600, as DJI)",
    )
    p.add_argument(
        "--job-seconds",
        type=float,
        default=20.0,
        help="least duration of a job from start to finish (default 20)",
    )
    p.add_argument(
        "--clock-skew",
        type=float,
        default=300.0,
        help="largest accepted Date offset of signed requests in seconds (default 300)",
    )
    # The first stdout line is JSON whatever the flag says; accepted so that "every command
    # takes --json" holds and scripts can pass it uniformly.
    p.add_argument("--json", action="store_true",
                   help="accepted for uniformity: the first stdout line is always one JSON object")
    p.add_argument(
        "--no-range",
        action="store_true",
        help="S3 ignores Range headers (answers 200 with the whole object), to try previews "
        "against such a bucket (default: Range honoured)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import os

    from terranb.emulator import EmulatorOptions, run_forever

    if args.no_range:
        os.environ["TERRANB_EMULATOR_NO_RANGE"] = "1"

    options = EmulatorOptions(
        host=args.host,
        port=args.port,
        app_key=args.app_key,
        secret_key=args.secret_key,
        user_token=args.user_token,
        project_uuid=args.project_uuid,
        data_dir=args.data_dir,
        seed=args.seed,
        latency_ms=args.latency_ms,
        bandwidth=args.bandwidth,
        bandwidth_total=args.bandwidth_total,
        fail_rate=args.fail_rate,
        token_ttl=args.token_ttl,
        job_seconds=args.job_seconds,
        clock_skew=args.clock_skew,
    )
    try:
        options.validate()
    except ValueError as exc:
        raise ConfigError(f"{exc}; see terranb emulator --help for the valid ranges") from None
    if args.secret_key and not args.app_key:
        raise ConfigError("--secret-key needs --app-key too; pass both, or neither "
                          "for stored or random keys")
    return run_forever(options)
