"""``terranb fh2 ...``: FlightHub 2 beyond open modeling, from a dock mission to a map model.

* ``fh2 status``: whether FlightHub 2 operates normally;
* ``fh2 projects``: projects of the organization;
* ``fh2 tasks``: flight tasks of a project's docks (last 7 days by default);
* ``fh2 media TASK``: the media a flight task produced (``--preflight`` adds the check);
* ``fh2 preflight TASK``: preflight and footprints of the task's photos, read by HTTP
  Range (headers only: no photo is downloaded; the byte count is printed);
* ``fh2 models``: models on the project map;
* ``fh2 create TASK --type 2d|3d``: a cloud map model from the task's media folder
  (``Job.from_flight_task``), optionally waited for and downloaded (``--wait --out DIR``).

Settings (organization key, project, base URL) come from the environment or the
profile (``--profile``), as for ``terranb models``. Example::

    terranb fh2 tasks
    terranb fh2 preflight 1c3c... --type 2d
    terranb fh2 create 1c3c... --type 2d --wait --out ortho/
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from terranb.cli._common import EXIT_OK, add_json_flag, cli_path, emit

__all__ = ["register"]

_DAYS = 7.0


def _common(p: argparse.ArgumentParser, project: bool = True) -> None:
    p.add_argument("--profile", default=None,
                   help="settings profile (default: $TERRANB_PROFILE or 'default')")
    if project:
        p.add_argument("--project", default=None,
                       help="project name or uuid (default: the project of the settings, "
                            "TERRANB_FH2_PROJECT_UUID)")
    add_json_flag(p)


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of days above 0, not {text!r}")
    return value


def register(subparsers: Any) -> None:
    """Add ``fh2`` and its actions to the ``terranb`` parser."""
    fh2 = subparsers.add_parser(
        "fh2", help="FlightHub 2 projects, dock flight tasks, media and map models",
        description="FlightHub 2 beyond open modeling: list projects, a dock's flight tasks "
                    "and their media, preflight the media without downloading them, and "
                    "build a cloud map model from a flight task.")
    sub = fh2.add_subparsers(dest="fh2_command", metavar="ACTION")
    fh2.set_defaults(func=lambda args: _usage(fh2))

    p = sub.add_parser("status", help="whether FlightHub 2 operates normally")
    _common(p, project=False)
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("projects", help="projects of the organization")
    p.add_argument("--search", default=None,
                   help="only projects whose name contains this text (default: all)")
    _common(p, project=False)
    p.set_defaults(func=_cmd_projects)

    p = sub.add_parser("tasks", help="flight tasks of the project's docks, newest first")
    p.add_argument("--days", type=_days, default=_DAYS,
                   help=f"look back this many days (default {_DAYS:g} days)")
    p.add_argument("--dock", default=None,
                   help="only this dock serial number (default: every dock of the project)")
    _common(p)
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser("media", help="media files a flight task produced")
    p.add_argument("task", help="flight task uuid (terranb fh2 tasks lists them)")
    p.add_argument("--preflight", action="store_true",
                   help="also preflight the photos by range read (as terranb fh2 preflight)")
    p.add_argument("--type", dest="job_type", choices=["2d", "3d"], default="3d",
                   help="reconstruction the preflight checks for (default 3d)")
    _common(p)
    p.set_defaults(func=_cmd_media)

    p = sub.add_parser("preflight", help="check a flight task's photos without downloading "
                                         "them (headers read by HTTP Range)")
    p.add_argument("task", help="flight task uuid (terranb fh2 tasks lists them)")
    p.add_argument("--type", dest="job_type", choices=["2d", "3d"], default="3d",
                   help="reconstruction to check for (default 3d)")
    p.add_argument("--ground-elevation", type=float, default=None,
                   help="ground height above sea level in metres for photos without "
                        "RelativeAltitude (default: none, such photos get no footprint)")
    p.add_argument("--geojson", type=cli_path, default=None,
                   help="also write the photo footprints to this GeoJSON file (default: none)")
    _common(p)
    p.set_defaults(func=_cmd_preflight)

    p = sub.add_parser("models", help="models on the project map")
    _common(p)
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("create", help="build a cloud map model from a flight task's media",
                       description="Start a FlightHub 2 map model (POST /model/create) from "
                                   "the media folder of a dock flight task; nothing is "
                                   "uploaded. With --wait it waits, and with --out it "
                                   "downloads the result tree as every other job.")
    p.add_argument("task", help="flight task uuid (terranb fh2 tasks lists them)")
    p.add_argument("--type", dest="job_type", required=True, choices=["2d", "3d"],
                   help="reconstruction to run (required)")
    p.add_argument("--crs", default=None,
                   help="output coordinate system, e.g. EPSG:32650 (default: the UTM zone "
                        "under the task's photos, read from one photo's headers)")
    p.add_argument("--quality", choices=["high", "medium", "low"], default="medium",
                   help="reconstruction quality (default medium)")
    p.add_argument("--pointcloud", action="store_true",
                   help="3d: also a point cloud besides the mesh (default: mesh only)")
    p.add_argument("--name", default=None,
                   help="model name on the map (default: the task name and the type)")
    p.add_argument("--wait", action="store_true", help="wait for the model to finish")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds to wait with --wait (default: forever)")
    p.add_argument("--interval", type=float, default=5.0,
                   help="poll interval in seconds (default 5)")
    p.add_argument("--out", type=cli_path, default=None,
                   help="with --wait: download the results into this folder (relative to "
                        "the current folder; default: no download)")
    p.add_argument("--ledger", default=None, type=cli_path,
                   help="ledger folder or file (default: $TERRANB_LEDGER_DIR or the user "
                        "data dir)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common(p)
    p.set_defaults(func=_cmd_create)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _client(args: argparse.Namespace) -> Any:
    """A FlightHub 2 client for the settings' project, or for ``--project`` (name or uuid)."""
    from terranb.api.flighthub import FlightHubClient
    from terranb.config import Settings

    settings = Settings.load(getattr(args, "profile", None))
    wanted = getattr(args, "project", None)
    if not wanted:
        return FlightHubClient(settings=settings)
    if not settings.fh2_project_uuid:
        # Projects are listed with the organization key alone; a placeholder project
        # lets the client be built to look the wanted one up.
        settings = _with_project(settings, wanted)
    fh = FlightHubClient(settings=settings)
    if wanted == fh.project_uuid and _looks_like_uuid(wanted):
        return fh
    with fh:
        project = fh.projects.find(wanted)
    return FlightHubClient(settings=_with_project(settings, project.uuid))


def _looks_like_uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _with_project(settings: Any, project_uuid: str) -> Any:
    import dataclasses

    return dataclasses.replace(settings, fh2_project_uuid=project_uuid)


# ----------------------------------------------------------------------------- listing


def _cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as fh:
        status = fh.system.status()
    text = ("FlightHub 2 operates normally" if status.healthy else
            f"FlightHub 2 reports code {status.code}: {status.message}")
    emit(args, {"healthy": status.healthy, "code": status.code, "message": status.message},
         text)
    if not status.healthy:
        print(f"terranb: error: {text}; retry later, the service is degraded", file=sys.stderr)
        return 1
    return EXIT_OK


def _cmd_projects(args: argparse.Namespace) -> int:
    with _client(args) as fh:
        items = fh.projects.list(q=args.search)
    lines = [f"{p.uuid}  {p.name}" for p in items] or ["(no projects)"]
    emit(args, items, "\n".join(lines))
    return EXIT_OK


def _cmd_tasks(args: argparse.Namespace) -> int:
    from terranb.api.models_fh2_dock import newest_first

    with _client(args) as fh:
        if args.dock:
            end = int(time.time())
            items = newest_first(fh.flight_tasks.list(args.dock, end - int(args.days * 86400),
                                                      end))
        else:
            items = fh.flight_tasks.recent(args.days)
    # The list items carry no file counts (only the detail does): leave the column blank
    # rather than print a placeholder.
    lines = [f"{t.uuid}  {t.began}  {t.status:<10} folder={t.folder_id or '-':<6} "
             + (f"{t.uploaded_file_count:>5} files  " if t.uploaded_file_count is not None
                else " " * 13)
             + t.name for t in items]
    emit(args, items, "\n".join(lines) or f"(no flight tasks in the last {args.days:g} days)")
    return EXIT_OK


def _cmd_media(args: argparse.Namespace) -> int:
    from terranb.cli.cmd_api import _size

    with _client(args) as fh:
        items = fh.flight_tasks.media(args.task)
        pre = _preflight(fh, args) if args.preflight else None
    lines = [f"{m.uuid}  {_size(m.size):>9}  {m.name}" for m in items] or ["(no media)"]
    value: Any = items
    if pre is not None:
        lines.append(pre.headline())
        value = {"media": items, "preflight": pre.to_dict()}
    emit(args, value, "\n".join(lines))
    return EXIT_OK


def _preflight(fh: Any, args: argparse.Namespace) -> Any:
    from terranb.jobs.mission_preflight import preflight_flight_task

    return preflight_flight_task(args.task, client=fh, job_type=args.job_type,
                                 ground_elevation=getattr(args, "ground_elevation", None))


def _cmd_preflight(args: argparse.Namespace) -> int:
    with _client(args) as fh:
        pre = _preflight(fh, args)
    value = pre.to_dict()
    text = pre.to_text()
    if args.geojson is not None:
        import json

        if pre.footprints is None:
            from terranb.errors import ValidationError

            raise ValidationError("no footprints to write (no located photo with height and "
                                  "focal length); see the findings above")
        path = args.geojson.resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(pre.footprints.to_geojson()), encoding="utf-8")
        tmp.replace(path)  # whole file or nothing
        value["geojson"] = str(path)
        text += f"\nfootprints: {path}"
    emit(args, value, text)
    if not pre.ok:
        print(f"terranb: error: preflight found {len(pre.report.errors)} error(s) in flight "
              f"task {args.task}; see the table above (a model from these photos would fail "
              "or be refused)", file=sys.stderr)
        return 1
    return EXIT_OK


def _model_line(m: Any) -> str:
    from terranb.cli.cmd_api import _size

    progress = f"{m.progress:3.0f}%" if m.progress else "   -"
    return f"{m.id:>6}  {m.state:<10} {progress}  {_size(m.size):>9}  {m.name}"


def _cmd_models(args: argparse.Namespace) -> int:
    with _client(args) as fh:
        items = fh.map_models.list()
    emit(args, items, "\n".join(_model_line(m) for m in items) or "(no models on the map)")
    return EXIT_OK


# ----------------------------------------------------------------------------- create


def _params(args: argparse.Namespace, crs: str) -> Any:
    from terranb.params import GeoDesc, Params2D, Params3D

    quality = {"high": 1, "medium": 2, "low": 3}[args.quality]
    if args.job_type == "2d":
        return Params2D(quality_level=quality, output_geo_desc=GeoDesc(crs))
    return Params3D(quality_level=quality, output_geo_desc=GeoDesc(crs), output_mesh=True,
                    output_pointcloud=True if args.pointcloud else None)


def _cmd_create(args: argparse.Namespace) -> int:
    from terranb.cli.cmd_jobs import _Bars, _ledger, _status_dict
    from terranb.jobs.job import Job
    from terranb.jobs.map_model_backend import MapModelBackend
    from terranb.jobs.mission_preflight import task_crs

    if args.out is not None and not args.wait:
        from terranb.errors import ValidationError

        raise ValidationError("--out downloads the finished model: add --wait (or run "
                              "terranb jobs wait / terranb download later)")
    out = args.out.resolve() if args.out is not None else None  # before anything can chdir
    fh = _client(args)
    with fh:
        crs = args.crs or task_crs(args.task, client=fh)
        params = _params(args, crs)
        backend = MapModelBackend(fh)
        job = Job.from_flight_task(args.task, params, backend=backend, name=args.name,
                                   ledger=_ledger(args))
        status = job.last_status
        value: dict[str, Any] = {"job_id": job.id, "backend": backend.kind, "crs": crs,
                                 "folder_id": job.resource_uuid}
        text = f"map model {job.id} started from flight task {args.task} ({crs})"
        if args.wait:
            bars = _Bars(not args.no_progress and not args.json)
            try:
                status = job.wait(on_update=bars.job, timeout=args.timeout,
                                  interval=args.interval)
            finally:
                bars.close()
            value.update(_status_dict(job, status))
            value["crs"] = crs
            text = f"map model {job.id}: {status.describe()}"
        if out is not None and status is not None:
            dest = job.results(out)
            on_disk = [n for n in job.record.outputs if (dest / n).is_file()]
            value.update({"dest": str(dest), "files": on_disk})
            text += f"\n{len(on_disk)} files in {dest}"
    emit(args, value, text)
    return EXIT_OK
