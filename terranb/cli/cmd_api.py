"""``terranb resources|files|models|media``: thin commands over the API clients.

* ``resources list|show|create|delete`` and ``files list|show|delete``: TerraAPI v2;
* ``models show|stop|delete|running``: FlightHub 2 open modeling;
* ``media list``: DJI Cloud API media files.

Every command takes --profile and --json. Exit codes: 0 ok, 1 service or
data error, 2 usage. (``terranb jobs ...`` lives in ``cmd_jobs``.)
"""

from __future__ import annotations

import argparse
from typing import Any

from terranb.cli._common import Handler, add_command, add_json_flag, add_service_flags, emit
from terranb.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(getattr(args, "profile", None))


def _terra(args: argparse.Namespace) -> Any:
    from terranb.api.terra import TerraClient

    return TerraClient(settings=_settings(args))


def _flighthub(args: argparse.Namespace) -> Any:
    from terranb.api.flighthub import FlightHubClient

    return FlightHubClient(settings=_settings(args))


def _cloudapi(args: argparse.Namespace) -> Any:
    from terranb.api.cloudapi import CloudApiClient

    return CloudApiClient(base_url=args.base_url, username=args.username,
                          workspace_id=args.workspace_id, settings=_settings(args))


def _common(p: argparse.ArgumentParser) -> None:
    add_service_flags(p)
    add_json_flag(p)


def _command(group: Any, name: str, func: Handler, help: str) -> argparse.ArgumentParser:
    return add_command(group, name, func, common=_common, help=help)


def register(subparsers: Any) -> None:
    """Add ``resources``, ``files``, ``models`` and ``media`` to the ``terranb`` parser."""
    # resources
    res = subparsers.add_parser("resources", help="TerraAPI resources (sets of files)")
    rs = res.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _command(rs, "list", resources_list, help="list resources")
    p.add_argument("--search", default=None, help="only resources whose name contains this text")
    p.add_argument("--type", choices=["map", "job_output"], default=None,
                   help="only uploaded inputs (map) or job outputs (default: both)")
    p.add_argument("--limit", type=int, default=None,
                   help="stop after N resources (default: all)")
    p = _command(rs, "show", resources_show, help="show one resource with its file and job uuids")
    p.add_argument("uuid", help="resource uuid")
    p = _command(rs, "create", resources_create, help="create an empty resource")
    p.add_argument("name", help="resource name")
    p.add_argument("--meta", default=None,
                   help="free text stored with the resource (default: none)")
    p = _command(rs, "delete", resources_delete, help="delete a resource")
    p.add_argument("uuid", help="resource uuid")
    p.add_argument("--delete-files", action="store_true",
                   help="also delete files no other resource uses (deleteMode=1)")

    # files
    fil = subparsers.add_parser("files", help="TerraAPI files")
    fs = fil.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _command(fs, "list", files_list, help="list files")
    p.add_argument("--resource", default=None, help="only files of this resource uuid")
    p.add_argument("--search", default=None, help="only files whose name contains this text")
    p.add_argument("--url", action="store_true", help="include presigned download URLs")
    p.add_argument("--limit", type=int, default=None, help="stop after N files (default: all)")
    p = _command(fs, "show", files_show, help="show one file (with its download URL)")
    p.add_argument("uuid", help="file uuid")
    p = _command(fs, "delete", files_delete, help="delete a file")
    p.add_argument("uuid", help="file uuid")

    # models (FlightHub 2)
    mod = subparsers.add_parser("models", help="FlightHub 2 open-modeling models")
    ms = mod.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, func, text in (("show", models_show, "show a model's status"),
                             ("stop", models_stop, "stop a running reconstruction"),
                             ("delete", models_delete, "delete a model")):
        p = _command(ms, name, func, help=text)
        p.add_argument("uuid", help="model uuid")
    p = _command(ms, "running", models_running, help="list running reconstructions")

    # media (Cloud API)
    med = subparsers.add_parser("media", help="DJI Cloud API media files")
    mds = med.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _command(mds, "list", media_list, help="list media files of a workspace")
    p.add_argument("--base-url", default=None, help="Cloud API server (else settings)")
    p.add_argument("--username", default=None,
                   help="login user (password from TERRANB_CLOUDAPI_PASSWORD or the profile)")
    p.add_argument("--workspace-id", default=None,
                   help="workspace (default: the one of the login, or the settings)")
    p.add_argument("--limit", type=int, default=None,
                   help="stop after N media files (default: all)")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


# ----------------------------------------------------------------- resources


def resources_list(args: argparse.Namespace) -> int:
    """``terranb resources list``."""
    with _terra(args) as c:
        items = list(c.resources.list(search=args.search, type=args.type, limit=args.limit))
    lines = [f"{r.uuid}  {r.type:<10} {r.file_count:>6} files  {_size(r.total_size):>9}  {r.name}"
             for r in items] or ["(no resources)"]
    return emit(args, items, "\n".join(lines))


def resources_show(args: argparse.Namespace) -> int:
    """``terranb resources show UUID``."""
    with _terra(args) as c:
        d = c.resources.get(args.uuid)
    s = d.summary
    text = (f"{s.uuid}  {s.name!r}  type={s.type}  files={len(d.file_uuids)}  "
            f"size={_size(s.total_size)}\n  input jobs: {', '.join(d.input_job_uuids) or '-'}\n"
            f"  output jobs: {', '.join(d.output_job_uuids) or '-'}")
    return emit(args, d, text)


def resources_create(args: argparse.Namespace) -> int:
    """``terranb resources create NAME``."""
    with _terra(args) as c:
        r = c.resources.create(args.name, meta=args.meta)
    return emit(args, r, r.uuid)


def resources_delete(args: argparse.Namespace) -> int:
    """``terranb resources delete UUID``."""
    with _terra(args) as c:
        c.resources.delete(args.uuid, delete_mode=1 if args.delete_files else 0)
    return emit(args, {"deleted": args.uuid}, f"deleted resource {args.uuid}")


# ----------------------------------------------------------------- files


def files_list(args: argparse.Namespace) -> int:
    """``terranb files list``."""
    from terranb.errors import UnsupportedRouteError

    with _terra(args) as c:
        if args.resource and not args.search:
            # Seed 001's documented path (resource detail -> fileUuids -> file detail),
            # the paged list only as a shortcut the server may lack.
            from terranb.jobs.terra_backend import TerraBackend

            items = TerraBackend(c).resource_files(args.resource, need_url=args.url)
            items = items[:args.limit] if args.limit is not None else items
        else:
            try:
                items = list(c.files.list(resource_uuid=args.resource, need_url=args.url,
                                          search=args.search, limit=args.limit))
            except UnsupportedRouteError as exc:
                raise UnsupportedRouteError(
                    exc.message, status_code=exc.status_code, route=exc.route, body=exc.body,
                    hint="this server has only DJI's documented calls; list one resource's "
                         "files with `terranb files list --resource UUID` (no --search)",
                ) from exc
    lines = [f"{f.uuid}  {_size(f.size):>9}  {f.name}" + (f"\n    {f.url}" if args.url else "")
             for f in items] or ["(no files)"]
    return emit(args, items, "\n".join(lines))


def files_show(args: argparse.Namespace) -> int:
    """``terranb files show UUID`` (prints the presigned URL: treat it as a secret link)."""
    with _terra(args) as c:
        f = c.files.get(args.uuid)
    return emit(args, f, f"{f.uuid}  {f.name}  {_size(f.size)}  checksum={f.checksum}\n  {f.url}")


def files_delete(args: argparse.Namespace) -> int:
    """``terranb files delete UUID``."""
    with _terra(args) as c:
        c.files.delete(args.uuid)
    return emit(args, {"deleted": args.uuid}, f"deleted file {args.uuid}")


# ----------------------------------------------------------------- models


def _model_line(m: Any) -> str:
    return (f"{m.model_uuid}  {m.model_type.name:<18} {m.model_status.name:<24} "
            f"{m.reconstruction_progress:>3}%  zip={m.zip_status.name}")


def models_show(args: argparse.Namespace) -> int:
    """``terranb models show UUID``."""
    with _flighthub(args) as c:
        m = c.get_model(args.uuid)
    return emit(args, m, _model_line(m))


def models_stop(args: argparse.Namespace) -> int:
    """``terranb models stop UUID``."""
    with _flighthub(args) as c:
        c.stop_model(args.uuid)
    return emit(args, {"stopped": args.uuid}, f"stop requested for model {args.uuid}")


def models_delete(args: argparse.Namespace) -> int:
    """``terranb models delete UUID``."""
    with _flighthub(args) as c:
        c.delete_model(args.uuid)
    return emit(args, {"deleted": args.uuid}, f"deleted model {args.uuid}")


def models_running(args: argparse.Namespace) -> int:
    """``terranb models running``."""
    with _flighthub(args) as c:
        items = c.running_models()
    return emit(args, items, "\n".join(_model_line(m) for m in items) or "(no running models)")


# ----------------------------------------------------------------- media


def media_list(args: argparse.Namespace) -> int:
    """``terranb media list``."""
    with _cloudapi(args) as c:
        items = list(c.list_media(args.workspace_id, limit=args.limit))
    lines = [f"{m.file_id}  {m.drone:<16} {m.file_name}" for m in items] or ["(no media files)"]
    return emit(args, items, "\n".join(lines))
