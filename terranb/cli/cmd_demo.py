"""``terranb demo`` and ``terranb report``.

``terranb demo [--out DIR]`` runs the whole pipeline offline: it starts the
local emulator, writes the sample flight, runs a 2D, a 3D and a LiDAR job with
progress bars, downloads the results and writes the HTML survey report.

``terranb report RESULTS --out report.html`` writes the survey report of
results already downloaded (one result tree, or a folder of them).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from terranb.cli._common import add_command, cli_path, emit


def register(subparsers: Any) -> None:
    """Add the ``demo`` and ``report`` sub-commands."""
    demo = add_command(subparsers, "demo", _demo,
        help="run the full pipeline on the local emulator and write a survey report",
        description="Start the local emulator, write a sample flight, run a 2D, a 3D and a "
                    "LiDAR job, download the results and write an HTML survey report. "
                    "Needs no credentials and no network.")
    demo.add_argument("--out", default="demo-out", type=cli_path,
                      help="output folder (default: ./demo-out)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the sample flight and emulator")
    demo.add_argument("--photos", type=int, default=None,
                      help="number of photos in the sample flight (default: the sample's own)")
    demo.add_argument("--job-seconds", type=float, default=3.0,
                      help="least time each emulated job takes (default 3)")
    demo.add_argument("--types", default="2d,3d,lidar",
                      help="comma-separated job types to run (default 2d,3d,lidar)")
    demo.add_argument("--backend", choices=["terra", "flighthub"], default="terra",
                      help="which emulated service to use (default terra)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")

    report = add_command(subparsers, "report", _report,
        help="write the self-contained HTML survey report of downloaded results",
        description="Write one self-contained HTML file (map, 3D views, statistics, run card) "
                    "for a result tree or a folder of result trees.")
    report.add_argument("results", type=cli_path, help="result tree, or a folder holding several")
    report.add_argument("--out", type=cli_path, default=Path("report.html"),
                        help="HTML file to write (default report.html)")
    report.add_argument("--title", default=None, help="page title (default: Survey report)")
    _survey_options(report)


def _survey_options(report: Any) -> None:
    g = report.add_argument_group("survey deliverable")
    g.add_argument("--site", default="", help="project / site name shown first (default: none)")
    g.add_argument("--operator", default="", help="pilot or surveyor in charge (default: none)")
    g.add_argument("--notes", default="", help="free notes, e.g. weather (default: none)")
    g.add_argument("--check-points", type=Path, default=None, metavar="CSV",
                   help="surveyed check points, header name,x,y,z[,crs][,ortho_x,ortho_y]; "
                        "without it the report says absolute accuracy was not assessed")
    g.add_argument("--check-points-crs", default=None, metavar="CRS",
                   help="CRS of CSV rows without a crs column, e.g. EPSG:4326 (default: none)")
    g.add_argument("--target-size", type=float, default=0.6, metavar="M",
                   help="side of the checkerboard targets in metres (default 0.6)")
    g.add_argument("--photos", type=Path, default=None, metavar="DIR",
                   help="folder of the input photos (capture time, aircraft, RTK status); "
                        "default: the run card's inputs")
    g.add_argument("--format", choices=["html", "pdf"], default="html",
                   help="html, or pdf printed by headless Chromium (default html)")
    g.add_argument("--pdf", action="store_true",
                   help="also write a PDF beside the HTML (same name, .pdf)")


def _demo(args: argparse.Namespace) -> int:
    from terranb.demo import run_demo

    types = tuple(t.strip().lower() for t in args.types.split(",") if t.strip())
    result = run_demo(args.out, seed=args.seed, photos=args.photos,
                      job_seconds=args.job_seconds, types=types, backend=args.backend,
                      progress=not args.no_progress and not args.json)
    return emit(args, result.to_dict(),
                f"report: {result.report}\nresults: {result.results_dir}\n"
                f"total time: {result.seconds:.1f} s")


def _check_report_args(args: argparse.Namespace) -> None:
    """Refuse bad options in a second, not after the minute the report takes to build."""
    from terranb.dataset.exif import IMAGE_SUFFIXES
    from terranb.errors import ValidationError
    from terranb.report.checkpoints import read_checkpoints
    from terranb.report.photos import find_photos

    if not (math.isfinite(args.target_size) and args.target_size > 0):
        raise ValidationError(f"--target-size {args.target_size:g}: the checkerboard side must "
                              "be a positive number of metres, e.g. 0.6")
    if args.check_points is not None:
        read_checkpoints(args.check_points, args.check_points_crs)
    if args.photos is not None:
        where = args.photos.expanduser()
        if not where.exists():
            raise ValidationError(f"--photos {args.photos} does not exist; pass the folder of "
                                  "the flight's photos")
        if not [f for f in find_photos(where) if f.suffix.lower() in IMAGE_SUFFIXES]:
            raise ValidationError(f"--photos {args.photos}: no JPEG photos there; pass the "
                                  "folder of the flight's photos")


def _report(args: argparse.Namespace) -> int:
    from terranb.report import ReportOptions, build_report
    from terranb.report.pdf import build_pdf

    t0 = time.monotonic()
    _check_report_args(args)
    opts = ReportOptions(site=args.site, operator=args.operator, notes=args.notes,
                         check_points=args.check_points, check_points_crs=args.check_points_crs,
                         target_size_m=args.target_size, photos=args.photos)

    def step(text: str) -> None:
        if not args.json:
            print(f"  {text}", file=sys.stderr)

    written = []
    if args.format == "pdf":
        written.append(build_pdf(args.results, args.out.with_suffix(".pdf"), options=opts,
                                 title=args.title, on_step=step))
    else:
        written.append(build_report(args.results, args.out, title=args.title, options=opts,
                                    on_step=step))
        if args.pdf:
            written.append(build_pdf(args.results, args.out.with_suffix(".pdf"), options=opts,
                                     title=args.title, on_step=step))
    out = written[0]
    return emit(args, {"report": str(out), "bytes": out.stat().st_size,
                       "files": [str(p) for p in written],
                       "seconds": round(time.monotonic() - t0, 2)},
                "\n".join(f"{p} ({p.stat().st_size / 1e6:.1f} MB)" for p in written))
