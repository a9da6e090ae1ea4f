"""``terranb configure``: write a profile to the config file (mode 0600), or show settings.

The secret key is prompted with ``getpass`` when ``--secret-key`` is omitted and
stdin is a terminal (Enter keeps the stored one), so it does not land in the
shell history. ``--show`` prints the resolved settings with secrets masked.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from terranb.cli._common import add_command, emit
from terranb.config import DEFAULT_PROFILE, Settings, config_path, read_config_file, save_profile

# option -> setting name (all plain strings)
_OPTIONS = {
    "app_key": "--app-key",
    "secret_key": "--secret-key",
    "region": "--region",
    "base_url": "--base-url",
    "s3_endpoint_url": "--s3-endpoint-url",
    "fh2_user_token": "--fh2-user-token",
    "fh2_project_uuid": "--fh2-project-uuid",
    "fh2_base_url": "--fh2-base-url",
    "fh2_region": "--fh2-region",
    "fh2_api_version": "--fh2-api-version",
    "language": "--language",
    "cloudapi_base_url": "--cloudapi-base-url",
    "cloudapi_username": "--cloudapi-username",
    "cloudapi_password": "--cloudapi-password",
    "cloudapi_workspace_id": "--cloudapi-workspace-id",
}


def register(subparsers: Any) -> None:
    """Add ``configure`` to the ``terranb`` parser."""
    p = add_command(subparsers, "configure", run,
        help="store credentials and endpoints in a profile (file mode 0600)",
        description="Write settings to [profile.NAME] of the terranb config file. Options not "
                    "given keep their stored value; pass an empty string to remove one.")
    p.add_argument("--profile", default=None,
                   help=f"profile name (default: $TERRANB_PROFILE or {DEFAULT_PROFILE!r})")
    for name, flag in _OPTIONS.items():
        extra: dict[str, Any] = {}
        if name == "region":
            extra["choices"] = ["us", "cn"]
        elif name == "fh2_region":
            extra["choices"] = ["us", "cn", "eu"]
        elif name == "fh2_api_version":
            extra["choices"] = ["v0.1", "v2.0"]
        p.add_argument(flag, dest=name, default=None, help=_help(name), **extra)
    p.add_argument("--no-prompt", action="store_true",
                   help="never prompt for the secret key")
    p.add_argument("--show", action="store_true",
                   help="print the resolved settings (secrets masked) and the file path; "
                        "writes nothing")


def _help(name: str) -> str:
    if name == "secret_key":
        return "TerraAPI secret key (prompted without echo when omitted on a terminal)"
    return name.replace("_", " ").replace("fh2", "FlightHub 2").replace("cloudapi", "Cloud API")


def run(args: argparse.Namespace) -> int:
    """Handle ``terranb configure``."""
    import os

    profile = args.profile or os.environ.get("TERRANB_PROFILE") or DEFAULT_PROFILE
    path = config_path()
    if args.show:
        settings = Settings.load(profile if profile != DEFAULT_PROFILE else None)
        info = {"config_file": str(path), "profile": settings.profile,
                "settings": settings.to_dict(), "sources": settings.sources}
        lines = [f"config file: {path}", f"profile: {settings.profile}"]
        for key, value in settings.to_dict().items():
            if value is not None and key != "profile":
                lines.append(f"  {key} = {value}  ({settings.sources.get(key, '?')})")
        return emit(args, info, "\n".join(lines))
    values: dict[str, Any] = {name: getattr(args, name) for name in _OPTIONS}
    if values["secret_key"] is None and not args.no_prompt and sys.stdin.isatty():
        stored = (read_config_file(path).get("profile", {}) or {}).get(profile, {}) or {}
        note = " (Enter keeps the stored one)" if stored.get("secret_key") else ""
        entered = getpass.getpass(f"DJI TerraAPI secret key{note}: ")
        values["secret_key"] = entered or None
    written = save_profile(values, profile, path=path)
    changed = sorted(k for k, v in values.items() if v is not None)
    return emit(args, {"config_file": str(written), "profile": profile, "updated": changed},
                f"saved profile {profile!r} to {written}"
                + (f" (updated: {', '.join(changed)})" if changed else " (nothing changed)"))
