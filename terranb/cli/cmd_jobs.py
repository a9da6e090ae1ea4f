"""``terranb submit``, ``terranb jobs list|show|wait|cancel|attach`` and ``terranb download``.

Thin over :class:`terranb.jobs.job.Job`: settings come from the environment or
the profile (``--profile``), progress is shown with tqdm bars on stderr, and
``--json`` prints machine-readable results on stdout.

Examples::

    terranb submit flight/ --type 2d --crs EPSG:32650 --wait
    terranb jobs list
    terranb jobs wait 4559de9a
    terranb download 4559de9a results/ --zip
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from terranb.cli._common import (
    add_command,
    add_json_flag,
    add_service_flags,
    cli_path,
    emit,
)

__all__ = ["register"]


def _positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (usage error, exit 2, otherwise)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _common(p: argparse.ArgumentParser, backend: bool = False) -> None:
    add_json_flag(p)
    add_service_flags(p, ledger=True, backend=backend)


def _with_backend(p: argparse.ArgumentParser) -> None:
    _common(p, backend=True)


def _wait_flags(p: argparse.ArgumentParser, timeout_help: str) -> None:
    """``--timeout``, ``--interval``, ``--no-progress`` of the commands that wait for a job."""
    p.add_argument("--timeout", type=float, default=None, help=timeout_help)
    p.add_argument("--interval", type=float, default=5.0,
                   help="poll interval in seconds (default 5)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def register(subparsers: Any) -> None:
    """Add ``submit``, ``jobs`` and ``download``."""
    p = add_command(subparsers, "submit", _cmd_submit, common=_with_backend,
                    help="upload a data set and start a reconstruction job",
                    description="Preflight, upload (parallel, resumable), bind and start a job. "
                                "Re-running after a crash resumes the upload; the same data set "
                                "is never uploaded twice.")
    p.add_argument("dataset", type=cli_path, help="folder of photos (2D/3D) or LiDAR files")
    p.add_argument("--type", dest="job_type", required=True, choices=["2d", "3d", "lidar"],
                   help="reconstruction to run (required)")
    p.add_argument("--crs", default=None, help="output coordinate system, e.g. EPSG:32650")
    p.add_argument("--params", default=None,
                   help="algorithm parameters as JSON, or @file.json (merged before --crs)")
    p.add_argument("--name", default=None, help="job and resource name")
    p.add_argument("--resource", default=None, help="use this already uploaded resource")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="parallel uploads, a whole number >= 1 (default: found by measuring "
                   "the link, up to 32)")
    p.add_argument("--force", action="store_true", help="submit despite preflight errors")
    p.add_argument("--no-preflight", action="store_true", help="skip the preflight check")
    p.add_argument("--wait", action="store_true", help="wait for the job to finish")
    _wait_flags(p, "seconds to wait with --wait (default: forever)")

    jobs = subparsers.add_parser("jobs", help="list, show, wait for, cancel or attach jobs")
    sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION")
    q = add_command(sub, "list", _cmd_list, common=_with_backend,
                    help="jobs in the ledger (or at the service with --remote)")
    q.add_argument("--remote", action="store_true", help="ask the service instead")
    q.add_argument("--limit", type=int, default=50, help="show at most N jobs (default 50)")
    for name, func, text in (("show", _cmd_show, "a job's current status"),
                             ("wait", _cmd_wait, "wait until a job ends"),
                             ("cancel", _cmd_cancel, "stop a running job"),
                             ("attach", _cmd_attach, "add a job to the ledger / find it again")):
        q = add_command(sub, name, func, common=_with_backend, help=text)
        q.add_argument("job", help="job (or FlightHub 2 model) uuid, or a unique prefix")
        if name == "wait":
            _wait_flags(q, "give up after this many seconds (default: wait forever)")
    jobs.set_defaults(func=lambda args: _usage(jobs))

    d = subparsers.add_parser("download", help="download a finished job's results")
    d.add_argument("job", help="job uuid (or unique prefix)")
    d.add_argument("dest", type=cli_path, help="destination folder")
    d.add_argument("--zip", action="store_true",
                   help="also zip the tree for import into DJI Terra (pc_dir_structure layout)")
    d.add_argument("--overwrite", action="store_true",
                   help="replace local files that differ from the service's (default: refuse "
                        "and write nothing; identical files are always skipped)")
    d.add_argument("--rename-duplicates", action="store_true",
                   help="when the service lists two different files of one name, keep both as "
                        "<name>~2 (default: refuse and write nothing)")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    _common(d, backend=True)
    d.set_defaults(func=_cmd_download)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _ledger(args: argparse.Namespace) -> Any:
    from terranb.jobs.ledger import Ledger

    return Ledger(args.ledger) if args.ledger else Ledger()


def _backend(kind: str | None, args: argparse.Namespace,
             remembered: dict[str, str] | None = None) -> Any:
    from terranb.config import Settings
    from terranb.jobs.factory import make_backend

    # One precedence rule (config.py): explicit > environment > profile > ledger > default.
    settings = Settings.load(getattr(args, "profile", None), remembered=remembered)
    return make_backend(kind or "terra", settings=settings)


def _attach(args: argparse.Namespace) -> Any:
    from terranb.jobs.job import Job
    from terranb.jobs.origin import origin_note, remembered_origin

    ledger = _ledger(args)
    record = ledger.get(args.job)
    kind = args.backend or (record.backend if record else None)
    same_kind = record is not None and kind == record.backend
    backend = _backend(kind, args, remembered_origin(record) if same_kind else None)
    note = origin_note(record, backend) if same_kind else None
    if note:  # stderr: --json output on stdout stays clean
        print(f"terranb: note: {note}", file=sys.stderr)
    return Job.attach(args.job, backend=backend, ledger=ledger)


def _read_params_file(path: Path) -> str:
    """The text of a ``--params @file``, or a ValidationError naming the file and the fix."""
    from terranb.errors import ValidationError

    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        why = "it does not exist"
    except IsADirectoryError:
        why = "it is a folder"
    except PermissionError:
        why = "it is not readable (permission denied)"
    except UnicodeDecodeError:
        why = "it is not UTF-8 text"
    except OSError as exc:
        why = f"it cannot be read ({exc.strerror or type(exc).__name__})"
    raise ValidationError(f"--params @{path}: {why}; give a readable JSON file after @ "
                          "(or the JSON itself)")


def _params(args: argparse.Namespace) -> Any:
    from terranb.params import GeoDesc, parameters_from_json, params_class

    if args.params:
        text = args.params
        if text.startswith("@"):
            text = _read_params_file(cli_path(text[1:]))
        params = parameters_from_json(args.job_type, text)
    else:
        params = params_class(args.job_type)()
    if args.crs:
        params = dataclasses.replace(params, output_geo_desc=GeoDesc(args.crs))
    return params


class _Bars:
    """tqdm bars for upload / download bytes and job progress (on stderr)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, Any] = {}

    def __call__(self, event: Any) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        from terranb.jobs.job import SubmitProgress
        from terranb.transfer.progress import ProgressEvent

        if isinstance(event, SubmitProgress):
            # A new step ends the byte phases before it: close their bars, so they keep
            # their final rate and are not drawn again under later output.
            for phase in [k for k in self.bars if k != "job"]:
                self.bars.pop(phase).close()
            tqdm.write(f"{event.step}: {event.message}", file=sys.stderr)
            return
        if not isinstance(event, ProgressEvent):
            return
        bar = self.bars.get(event.phase)
        if bar is None:
            unit = "file" if event.phase == "bind" else "B"
            bar = tqdm(total=event.total_bytes or None, unit=unit, unit_scale=unit == "B",
                       desc=event.phase, file=sys.stderr, leave=True)
            self.bars[event.phase] = bar
        if event.total_bytes and bar.total != event.total_bytes:
            bar.total = event.total_bytes
        bar.n = event.total_done
        bar.set_postfix(files=f"{event.files_done}/{event.files_total}", refresh=False)
        bar.refresh()

    def job(self, status: Any) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get("job")
        if bar is None:
            bar = tqdm(total=100, desc="job", unit="%", file=sys.stderr, leave=True)
            self.bars["job"] = bar
        bar.n = round(status.progress * 100)
        bar.set_postfix_str(status.describe(), refresh=False)
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def _status_dict(job: Any, status: Any) -> dict[str, Any]:
    return {"job_id": job.id, "backend": job.backend.kind, "state": status.state.value,
            "raw_status": status.raw_status, "progress": status.progress,
            "message": status.message, "resource_uuid": job.resource_uuid,
            "output": status.output_ref}


def _cmd_submit(args: argparse.Namespace) -> int:
    from terranb.jobs.job import Job

    params = _params(args)  # the user's own inputs first: no credentials needed to refuse them
    backend = _backend(args.backend, args)
    bars = _Bars(not args.no_progress and not args.json)
    try:
        job = Job.submit(args.dataset, params, backend=backend, job_type=args.job_type,
                         name=args.name, force=args.force, ledger=_ledger(args),
                         on_progress=bars, resource=args.resource, workers=args.workers,
                         preflight=not args.no_preflight)
        status = job.last_status
        if args.wait:
            status = job.wait(on_update=bars.job, timeout=args.timeout, interval=args.interval)
    finally:
        bars.close()
    value = {"job_id": job.id, "backend": backend.kind, "resource_uuid": job.resource_uuid}
    if status is not None:
        value = _status_dict(job, status)
    return emit(args, value, f"job {job.id} on {backend.kind}" +
                (f": {status.describe()}" if status is not None else " started") +
                f"\nresource {job.resource_uuid}")


def _cmd_list(args: argparse.Namespace) -> int:
    if args.remote:
        backend = _backend(args.backend, args)
        items = [{"job_id": s.job_id, "state": s.state.value, "raw_status": s.raw_status,
                  "progress": s.progress, "message": s.message}
                 for s in backend.list_remote(limit=args.limit)]
        lines = [f"{i['job_id']}  {i['state']:<10} {i['progress'] * 100:5.1f}%  {i['message']}"
                 for i in items]
        return emit(args, items, "\n".join(lines) if lines else "no jobs at the service")
    records = _ledger(args).list(backend=args.backend, limit=args.limit)
    import time

    lines = [f"{r.job_id}  {r.backend:<9} {r.job_type:<5} {r.state:<10} "
             f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(r.submitted_at))}  {r.name}"
             for r in records]
    return emit(args, [r.to_dict() for r in records],
                "\n".join(lines) if lines else "no jobs in the ledger")


def _cmd_show(args: argparse.Namespace) -> int:
    job = _attach(args)
    status = job.status()
    value = {**job.record.to_dict(), **_status_dict(job, status)}
    text = "\n".join(f"{k}: {_readable(k, v)}" for k, v in value.items()
                     if k not in ("parameters", "outputs") and v not in ("", None))
    return emit(args, value, text)


def _readable(key: str, value: Any) -> Any:
    """Unix times as local date and time, seconds rounded (the --json output keeps the raw)."""
    import time

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if key.endswith("_at"):
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
        if key.endswith("_seconds"):
            return f"{value:.1f} s"
    return value


def _cmd_wait(args: argparse.Namespace) -> int:
    job = _attach(args)
    bars = _Bars(not args.no_progress and not args.json)
    try:
        status = job.wait(on_update=bars.job, timeout=args.timeout, interval=args.interval)
    finally:
        bars.close()
    return emit(args, _status_dict(job, status), f"job {job.id}: {status.describe()}")


def _cmd_cancel(args: argparse.Namespace) -> int:
    job = _attach(args)
    status = job.cancel()
    return emit(args, _status_dict(job, status), f"job {job.id}: {status.describe()}")


def _cmd_attach(args: argparse.Namespace) -> int:
    job = _attach(args)
    status = job.status()
    return emit(args, _status_dict(job, status),
                f"attached job {job.id} ({job.backend.kind}): {status.describe()}")


def _cmd_download(args: argparse.Namespace) -> int:
    job = _attach(args)
    bars = _Bars(not args.no_progress and not args.json)
    try:
        dest = job.results(args.dest, on_progress=bars, overwrite=args.overwrite,
                           duplicates="rename" if args.rename_duplicates else "error")
    finally:
        bars.close()
    on_disk = [n for n in job.record.outputs if (Path(dest) / n).is_file()]
    value: dict[str, Any] = {"job_id": job.id, "dest": str(dest), "files": on_disk}
    text = f"{len(on_disk)} files in {dest}"  # counted on disk, not from the listing
    if args.zip:
        from terranb.transfer.zipper import zip_result_tree

        archive = zip_result_tree(dest)
        value["zip"] = str(archive)
        text += f"\nzip for DJI Terra: {archive}"
    return emit(args, value, text)

