"""``terranb sample-data``, ``terranb preflight`` and ``terranb mosaic``.

* ``sample-data DIR`` writes a synthetic DJI flight (photos, ground truth, LAS);
* ``preflight DIR --backend terra|flighthub --type 2d|3d|lidar|3dgs`` checks a
  data set before upload and exits 1 when it has errors;
* ``mosaic DIR OUT.tif`` builds a direct-georeferenced preview GeoTIFF.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from terranb.cli._common import EXIT_ERROR, EXIT_OK, add_command, cli_path, emit
from terranb.errors import ValidationError


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def _fraction(text: str) -> float:
    """Accept 0.75 or 75 (percent)."""
    v = _positive_float(text)
    if v > 1:
        v /= 100.0
    if not 0 < v < 0.98:
        raise argparse.ArgumentTypeError(f"overlap must be between 0 and 98 %: {text!r}")
    return v


def register(subparsers: Any) -> None:
    """Add the dataset commands."""
    p = add_command(subparsers, "sample-data", _sample_data,
        help="write a synthetic DJI flight (photos, ground truth, LAS)",
        description="Write a realistic, deterministic synthetic DJI mapping flight: JPEGs with "
                    "DJI EXIF/XMP in DIR/images, the ground truth DIR/truth.tif and DIR/scene.las.")
    p.add_argument("dir", type=cli_path, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--photos", type=int, help="number of photos (instead of --rows/--cols)")
    p.add_argument("--rows", type=int, help="photos per flight line (default 6)")
    p.add_argument("--cols", type=int, help="number of flight lines (default 6)")
    p.add_argument("--gsd", type=_positive_float, default=0.05, help="m/pixel (default 0.05)")
    p.add_argument("--overlap", type=_fraction, default=0.75,
                   help="forward overlap, 0.75 or 75 (default 75 %%)")
    p.add_argument("--sidelap", type=_fraction, default=0.70,
                   help="side overlap, 0.70 or 70 (default 70 %%)")
    p.add_argument("--heading", type=float, default=0.0,
                   help="flight-line direction, degrees from north (default 0)")
    p.add_argument("--size", default="1200x800", help="photo size WxH (default 1200x800)")
    p.add_argument("--no-lidar", action="store_true", help="skip the LAS cloud")
    p.add_argument("--lidar-folder", action="store_true",
                   help="also write a LiDAR-style folder with named stand-in raw files")

    p = add_command(subparsers, "preflight", _preflight,
        help="check photos against TerraAPI / FlightHub 2 rules before upload",
        description="Scan a folder (recursively) and report errors, warnings and notes. "
                    "Exit code 1 when there are errors.")
    p.add_argument("dir", type=cli_path, help="folder of photos (or LiDAR data)")
    p.add_argument("--backend", choices=["terra", "flighthub"], default="terra",
                   help="whose limits to check against (default terra)")
    p.add_argument("--type", dest="job_type", choices=["2d", "3d", "lidar", "3dgs"], default="2d",
                   help="job type the data set is meant for (default 2d)")
    p.add_argument("--bandwidth", type=_positive_float, metavar="MBIT",
                   help="upload speed in Mbit/s for the time estimate (default 50)")
    _add_ground_elevation(p)

    p = add_command(subparsers, "mosaic", _mosaic,
        help="quick direct-georeferenced orthomosaic (GeoTIFF + .tfw + .prj)",
        description="Build a preview orthomosaic from photo positions and attitudes "
                    "(no bundle adjustment).")
    p.add_argument("dir", type=cli_path, help="folder of photos (recursive) or one photo")
    p.add_argument("out", type=cli_path, help="output GeoTIFF")
    p.add_argument("--crs", help="output CRS, e.g. EPSG:32633 (default: UTM zone of the photos)")
    p.add_argument("--gsd", type=_positive_float, help="pixel size in CRS units (default: auto)")
    _add_ground_elevation(p)


def _add_ground_elevation(p: argparse.ArgumentParser) -> None:
    # preflight and mosaic both place photos on the ground; one flag, one meaning
    p.add_argument("--ground-elevation", type=float,
                   help="ground height in m for photos without RelativeAltitude (default: none)")


def _sample_data(args: argparse.Namespace) -> int:
    from terranb.dataset.synthetic import make_sample_flight

    try:
        w, h = (int(v) for v in str(args.size).lower().split("x"))
    except ValueError:
        raise ValidationError(f"--size must look like 1200x800, not {args.size!r}") from None
    flight = make_sample_flight(
        args.dir, seed=args.seed, photos=args.photos, rows=args.rows, cols=args.cols,
        gsd=args.gsd, overlap=args.overlap, sidelap=args.sidelap, heading_deg=args.heading,
        image_size=(w, h), lidar=not args.no_lidar, lidar_folder=args.lidar_folder)
    value = {"dir": flight.out_dir, "photos": len(flight.photos),
             "images": flight.out_dir / "images",
             "truth_tif": flight.truth_tif, "lidar_las": flight.lidar_las,
             "lidar_dir": flight.lidar_dir, "epsg": flight.epsg, "gsd": flight.gsd,
             "height_m": flight.height, "bytes": flight.total_bytes}
    text = (f"wrote {len(flight.photos)} photos ({flight.total_bytes / 1e6:.1f} MB) to "
            f"{flight.out_dir / 'images'}\nground truth: {flight.truth_tif} (EPSG:{flight.epsg}, "
            f"{flight.gsd} m)\n"
            + (f"LiDAR cloud: {flight.lidar_las}\n" if flight.lidar_las else "")
            + (f"LiDAR folder: {flight.lidar_dir}\n" if flight.lidar_dir else "")).rstrip()
    return emit(args, value, text)


def _preflight(args: argparse.Namespace) -> int:
    from terranb.dataset.preflight import preflight

    rep = preflight(args.dir, backend=args.backend, job_type=args.job_type,
                    bandwidth_bps=args.bandwidth * 1e6 if args.bandwidth else None,
                    ground_elevation=args.ground_elevation)
    emit(args, rep.to_dict(), rep.to_text())
    return EXIT_OK if rep.ok else EXIT_ERROR


def _unit(crs_wkt: str) -> str:
    """Short name of a CRS's horizontal unit ("m", "degree", "US survey foot" ...)."""
    import pyproj

    axes = pyproj.CRS.from_wkt(crs_wkt).axis_info
    name = axes[0].unit_name if axes else "unit"
    return {"metre": "m", "meter": "m"}.get(name, name)


def _mosaic(args: argparse.Namespace) -> int:
    from terranb.dataset.exif import IMAGE_SUFFIXES
    from terranb.dataset.mosaic import quick_mosaic

    src: Path = args.dir
    if src.is_dir():
        photos = sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    elif src.is_file():
        photos = [src]
    else:
        raise ValidationError(f"{src} does not exist; give a folder of photos")
    if not photos:
        raise ValidationError(f"no JPEG photos in {src}; give the folder of the flight's "
                              "photos (.jpg)")
    if Path(args.out).is_dir():  # found now, not after the mosaic is computed
        raise ValidationError(f"{args.out} is a folder; give the mosaic a file name, e.g. "
                              f"{Path(args.out) / 'mosaic.tif'}")
    show = not getattr(args, "json", False) and sys.stderr.isatty()

    def progress(frac: float) -> None:
        if show:
            print(f"\rmosaic {frac:4.0%}", end="", file=sys.stderr, flush=True)

    res = quick_mosaic(photos, args.out, crs=args.crs, gsd=args.gsd, on_progress=progress,
                       ground_elevation=args.ground_elevation)
    if show:
        print(file=sys.stderr)
    unit = _unit(res.crs_wkt)
    text = (f"wrote {res.path} ({res.width}x{res.height}, {res.gsd:g} {unit}/pixel, "
            f"EPSG:{res.crs_epsg}) from {res.photos_used} photos; coverage {res.coverage:.0%}"
            + "".join(f"\n  skipped {p.name}: {why}" for p, why in res.skipped))
    return emit(args, res.to_dict(), text)
