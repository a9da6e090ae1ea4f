"""A realistic, deterministic sample flight: photos, ground truth and a LiDAR cloud.

:func:`make_sample_flight` paints a procedural scene (crop fields with rows and
hedges, roads with markings, houses with gable roofs and shadows, trees) as a
north-up ground-truth GeoTIFF in the UTM zone of ``origin``, then photographs
it along a lawnmower plan at the requested GSD, overlap, side overlap and
heading, with the same camera model (:mod:`terranb.dataset.camera`) that the
footprints and the quick mosaic use to invert them. The photos are JPEGs with
DJI-style EXIF (Make ``DJI``, Model ``FC6310`` -- the Phantom 4 Pro camera:
13.2 x 8.8 mm sensor, 8.8 mm lens, 24 mm equivalent, 3:2 frame -- GPS, focal
length, capture time) and ``drone-dji`` XMP (relative and absolute altitude,
gimbal and flight attitude).

What is synthetic and how it differs from a real flight: the scene is flat
(photos are rendered as a planar texture, so there is no relief displacement and
a mosaic by direct georeferencing is exact up to resampling), and recorded
positions and angles are the true ones (no GNSS error) unless
``position_noise_m`` is given. The LAS cloud does carry heights of roofs and
trees (a DSM), for 3D and LiDAR demos. Everything is a function of ``seed``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.dataset.camera import (
    Camera,
    camera_for,
    pil_perspective_coeffs,
    transformer,
    true_north_bearing,
    utm_epsg_for,
)
from terranb.dataset.exif import PhotoMeta
from terranb.dataset.scene import Scene, scene_at
from terranb.errors import ValidationError, require

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LIDAR_SUFFIXES", "SENSOR", "SampleFlight", "make_lidar_folder", "make_sample_flight"]

@dataclass(frozen=True)
class _Sensor:
    make: str
    model: str
    sensor_w_mm: float
    sensor_h_mm: float
    focal_mm: float
    focal_35mm: int


#: The simulated camera: DJI FC6310 (Phantom 4 Pro), 1" sensor.
SENSOR = _Sensor("DJI", "FC6310", 13.2, 8.8, 8.8, 24)

#: File types a DJI Zenmuse L1/L2 LiDAR folder holds (DJI Terra FAQ).
LIDAR_SUFFIXES = ("IMU", "RTK", "RTB", "RTL", "RTS", "LDR", "CLC", "CLI")

_GROUND_ALT = 180.0  # metres above sea level of the synthetic ground


@dataclass
class SampleFlight:
    """What :func:`make_sample_flight` wrote.

    Attributes:
        photos: the JPEGs, in flight order.
        truth_tif: north-up RGB GeoTIFF of the scene (the ground truth), at ``gsd``
            unless ``truth_gsd`` was given.
        lidar_las: LAS 1.4 cloud of the scene with heights, or ``None``.
        epsg: UTM CRS of the truth and the cloud.
        gsd: nominal ground sample distance of the photos (m/pixel).
        height: flying height above ground (m).
        cameras: the true camera of each photo (same order as ``photos``).
        bounds: (west, south, east, north) of the truth raster in ``epsg``.
        lidar_dir: the LiDAR-style folder when ``lidar_folder=True``.
    """

    out_dir: Path
    photos: list[Path]
    truth_tif: Path
    lidar_las: Path | None
    epsg: int
    gsd: float
    height: float
    rows: int
    cols: int
    heading_deg: float
    overlap: float
    sidelap: float
    image_size: tuple[int, int]
    bounds: tuple[float, float, float, float]
    cameras: list[Camera] = field(default_factory=list)
    lidar_dir: Path | None = None

    @property
    def total_bytes(self) -> int:
        """Bytes of all photos."""
        return sum(p.stat().st_size for p in self.photos)


# --------------------------------------------------------------------------- photos

def _dms(value: float) -> tuple[Any, Any, Any]:
    from PIL.TiffImagePlugin import IFDRational

    v = abs(value)
    deg = int(v)
    minutes = int((v - deg) * 60)
    sec = (v - deg - minutes / 60) * 3600
    return (IFDRational(deg, 1), IFDRational(minutes, 1),
            IFDRational(round(sec * 1_000_000), 1_000_000))


def _dms_value(value: float) -> float:
    """The value a reader gets back from :func:`_dms` (micro-arcsecond rounding)."""
    v = abs(value)
    deg = int(v)
    minutes = int((v - deg) * 60)
    sec = round((v - deg - minutes / 60) * 3600 * 1_000_000) / 1_000_000
    out = deg + minutes / 60 + sec / 3600
    return out if value >= 0 else -out


def _xmp_packet(meta: dict[str, str]) -> bytes:
    attrs = "\n".join(f'   drone-dji:{k}="{v}"' for k, v in meta.items())
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about="DJI Meta Data"\n'
        '    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"\n'
        f'   tiff:Make="{SENSOR.make}"\n   tiff:Model="{SENSOR.model}"\n'
        f"{attrs}>\n  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>"
    ).encode()


def _signed(v: float, nd: int = 2) -> str:
    return f"{v:+.{nd}f}"


def _write_jpeg(path: Path, pixels: np.ndarray, exif: Any, xmp: bytes, quality: int) -> None:
    from PIL import Image

    tmp = path.with_name(path.name + ".part")
    Image.fromarray(pixels).save(tmp, format="JPEG", quality=quality, exif=exif, xmp=xmp)
    os.replace(tmp, path)


def _exif_for(when: datetime, lat: float, lon: float, alt: float, size: tuple[int, int]) -> Any:
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    from terranb._version import __version__

    w, h = size
    ex = Image.Exif()
    ex[0x010F] = SENSOR.make
    ex[0x0110] = SENSOR.model
    ex[0x0131] = f"terranb {__version__} synthetic"
    ex[0x0132] = when.strftime("%Y:%m:%d %H:%M:%S")
    e = ex.get_ifd(0x8769)
    e[0x9003] = when.strftime("%Y:%m:%d %H:%M:%S")
    e[0x9004] = when.strftime("%Y:%m:%d %H:%M:%S")
    e[0x920A] = IFDRational(round(SENSOR.focal_mm * 100), 100)
    e[0xA405] = int(SENSOR.focal_35mm)
    e[0xA002] = w
    e[0xA003] = h
    # Focal-plane resolution (pixels per cm) states the exact sensor size.
    e[0xA20E] = IFDRational(round(w / (SENSOR.sensor_w_mm / 10) * 1000), 1000)
    e[0xA20F] = IFDRational(round(h / (SENSOR.sensor_h_mm / 10) * 1000), 1000)
    e[0xA210] = 3
    g = ex.get_ifd(0x8825)
    g[0] = b"\x02\x03\x00\x00"
    g[1] = "N" if lat >= 0 else "S"
    g[2] = _dms(lat)
    g[3] = "E" if lon >= 0 else "W"
    g[4] = _dms(lon)
    g[5] = b"\x00" if alt >= 0 else b"\x01"
    g[6] = IFDRational(round(abs(alt) * 1000), 1000)
    return ex


def _plan(rows: int, cols: int, along: float, across: float, heading: float
          ) -> list[tuple[float, float, float, int, int]]:
    """Lawnmower waypoints (x, y offsets in metres, yaw, line, index) centred on 0."""
    out = []
    h = math.radians(heading)
    fwd = (math.sin(h), math.cos(h))
    right = (math.cos(h), -math.sin(h))
    for i in range(cols):
        c = (i - (cols - 1) / 2) * across
        order = range(rows) if i % 2 == 0 else range(rows - 1, -1, -1)
        yaw = heading if i % 2 == 0 else heading + 180.0
        for j in order:
            a = (j - (rows - 1) / 2) * along
            out.append((a * fwd[0] + c * right[0], a * fwd[1] + c * right[1],
                        (yaw + 180.0) % 360.0 - 180.0, i, j))
    return out


def make_sample_flight(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    rows: int | None = None,
    cols: int | None = None,
    photos: int | None = None,
    gsd: float = 0.05,
    overlap: float = 0.75,
    sidelap: float = 0.70,
    heading_deg: float = 0.0,
    image_size: tuple[int, int] = (1200, 800),
    origin: tuple[float, float] = (46.8429, -91.9937),
    start_time: datetime = datetime(2024, 5, 14, 10, 0, 0),
    lidar: bool = True,
    lidar_folder: bool = False,
    lidar_spacing: float = 0.5,
    jpeg_quality: int = 90,
    position_noise_m: float = 0.0,
    attitude_jitter_deg: float = 0.3,
    name_prefix: str = "DJI_",
    truth_gsd: float | None = None,
) -> SampleFlight:
    """Write a synthetic DJI mapping flight over a procedural scene.

    Args:
        out_dir: folder to write into (created); photos go to ``out_dir/images``.
        seed: everything (scene, jitter, exposure) is a function of it.
        rows: photos per flight line (default 6, or from ``photos``).
        cols: number of flight lines (default 6, or from ``photos``).
        photos: total number of photos instead of ``rows``/``cols``; the last line
            may be partial.
        gsd: ground sample distance in m/pixel; sets the flying height
            (``height = gsd * focal_px``).
        overlap: forward overlap (0-1) between consecutive photos of a line.
        sidelap: side overlap (0-1) between lines.
        heading_deg: flight-line direction, degrees clockwise from north; lines
            alternate direction and the camera turns with the aircraft.
        image_size: photo (width, height); the long side lies across the track.
        origin: (latitude, longitude) of the flight's centre.
        start_time: capture time of the first photo (local time, as DJI writes it).
        lidar: also write ``scene.las`` (LAS 1.4, RGB, classes, CRS).
        lidar_folder: also write a LiDAR-style folder (see :func:`make_lidar_folder`).
        lidar_spacing: point spacing of the cloud in metres.
        jpeg_quality: JPEG quality of the photos.
        position_noise_m: standard deviation of a GNSS-like error added to the
            recorded (not the true) positions; 0 records the truth.
        attitude_jitter_deg: spread of the random gimbal angles around nadir and
            the line heading (recorded exactly, so the mosaic can undo them).
        name_prefix: photo file-name prefix.
        truth_gsd: pixel size of the ground truth (default ``gsd``); a coarser one
            keeps big flights (benchmarks) small, at the price of softer photos.

    Returns:
        A :class:`SampleFlight` naming every file written.
    """
    np = require("numpy", "geo")
    rasterio = require("rasterio", "geo")
    from rasterio.transform import Affine

    if not (0.0 <= overlap < 0.98 and 0.0 <= sidelap < 0.98):
        raise ValidationError(
            "overlap and sidelap must be fractions between 0 and 0.98 (e.g. 0.75)")
    if gsd <= 0:
        raise ValidationError("gsd must be positive (metres per pixel, e.g. 0.05)")
    w_px, h_px = int(image_size[0]), int(image_size[1])
    if w_px < 64 or h_px < 64:
        raise ValidationError("image_size must be at least 64 x 64 pixels")
    if photos is not None:
        if photos < 1:
            raise ValidationError("photos must be at least 1; a 2D job needs 10 or more, "
                                  "e.g. 36")
        cols = cols or max(1, round(math.sqrt(photos)))
        rows = rows or math.ceil(photos / cols)
    rows, cols = rows or 6, cols or 6
    total = photos if photos is not None else rows * cols

    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)

    fx = SENSOR.focal_mm / SENSOR.sensor_w_mm * w_px
    height = round(gsd * fx, 2)
    along = (1 - overlap) * h_px * gsd
    across = (1 - sidelap) * w_px * gsd
    plan = _plan(rows, cols, along, across, heading_deg)[:total]

    lat0, lon0 = origin
    epsg = utm_epsg_for(lon0, lat0)
    to_utm = transformer(4326, epsg)
    to_geo = transformer(epsg, 4326)
    e0, n0 = to_utm.transform(lon0, lat0)

    # Recorded metadata first, then cameras from it exactly as a reader would build them.
    metas: list[PhotoMeta] = []
    xmps: list[dict[str, str]] = []
    times: list[datetime] = []
    t = start_time
    prev_line = None
    for k, (dx, dy, yaw_grid, line, _j) in enumerate(plan):
        if prev_line is not None:
            t += timedelta(seconds=2 if line == prev_line else 15)
        prev_line = line
        ex_, ny_ = e0 + dx, n0 + dy
        if position_noise_m > 0:
            ex_ += rng.normal(0, position_noise_m)
            ny_ += rng.normal(0, position_noise_m)
        lon, lat = to_geo.transform(ex_, ny_)
        lat, lon = _dms_value(lat), _dms_value(lon)
        yaw_true = yaw_grid - true_north_bearing(lon, lat, epsg)
        g_yaw = round(((yaw_true + rng.normal(0, attitude_jitter_deg)) + 180) % 360 - 180, 1)
        g_pitch = round(-90.0 + abs(rng.normal(0, attitude_jitter_deg)), 1)
        g_roll = round(rng.normal(0, attitude_jitter_deg / 3), 1)
        f_yaw = round(((yaw_true + rng.normal(0, 1.5)) + 180) % 360 - 180, 1)
        f_pitch, f_roll = round(rng.normal(0, 2.5), 1), round(rng.normal(0, 2.0), 1)
        abs_alt = round(_GROUND_ALT + height, 3)
        xmps.append({
            "AbsoluteAltitude": _signed(abs_alt), "RelativeAltitude": _signed(height),
            "GimbalRollDegree": _signed(g_roll), "GimbalYawDegree": _signed(g_yaw),
            "GimbalPitchDegree": _signed(g_pitch), "FlightRollDegree": _signed(f_roll),
            "FlightYawDegree": _signed(f_yaw), "FlightPitchDegree": _signed(f_pitch),
        })
        times.append(t)
        metas.append(PhotoMeta(
            path=img_dir / f"{name_prefix}{k + 1:04d}.JPG", size_bytes=0, width=w_px, height=h_px,
            make=SENSOR.make, model=SENSOR.model, focal_length_mm=SENSOR.focal_mm,
            focal_length_35mm=float(SENSOR.focal_35mm), latitude=lat, longitude=lon,
            absolute_altitude=abs_alt, relative_altitude=height, gimbal_yaw=g_yaw,
            gimbal_pitch=g_pitch, gimbal_roll=g_roll,
            sensor_width_mm=w_px / round(w_px / (SENSOR.sensor_w_mm / 10) * 1000) * 1000 * 10,
            sensor_height_mm=h_px / round(h_px / (SENSOR.sensor_h_mm / 10) * 1000) * 1000 * 10,
            exif_width=w_px, exif_height=h_px))
    cams = [camera_for(m, epsg=epsg) for m in metas]
    if position_noise_m > 0:  # render from the true positions, record the noisy ones
        cams_true = []
        for cam, (dx, dy, *_rest) in zip(cams, plan, strict=False):
            cams_true.append(Camera(e0 + dx, n0 + dy, cam.height, cam.yaw, cam.pitch, cam.roll,
                                    cam.intr, epsg))
    else:
        cams_true = cams

    # Ground-truth extent: every footprint plus a margin, snapped to the GSD grid.
    uu = np.array([0, w_px - 1, w_px - 1, 0], np.float64)
    vv = np.array([0, 0, h_px - 1, h_px - 1], np.float64)
    xs, ys = [], []
    for cam in cams_true:
        ge, gn, _ok = cam.pixel_to_ground(uu, vv)
        xs += list(ge)
        ys += list(gn)
    margin = 4.0
    tg = float(truth_gsd or gsd)
    west = math.floor((min(xs) - margin) / tg) * tg
    south = math.floor((min(ys) - margin) / tg) * tg
    east = math.ceil((max(xs) + margin) / tg) * tg
    north = math.ceil((max(ys) + margin) / tg) * tg
    tw, th = round((east - west) / tg), round((north - south) / tg)
    scene = scene_at(rng, th, tw, tg)
    transform = Affine(tg, 0.0, west, 0.0, -tg, north)

    truth = out / "truth.tif"
    tmp = truth.with_name(truth.name + ".part")
    with rasterio.open(tmp, "w", driver="GTiff", width=tw, height=th, count=3, dtype="uint8",
                       crs=f"EPSG:{epsg}", transform=transform, tiled=True, blockxsize=256,
                       blockysize=256, compress="deflate", predictor=2, zlevel=1,
                       photometric="RGB") as dst:
        dst.write(scene.rgb.transpose(2, 0, 1))
        dst.update_tags(SOURCE="terranb synthetic scene", SEED=str(seed), GSD=str(tg))
    os.replace(tmp, truth)

    # Photograph the scene: a planar scene seen by a pinhole camera is a homography
    # of the truth raster, which Pillow resamples in C.
    from PIL import Image

    truth_img = Image.fromarray(scene.rgb)
    ground_to_truth = np.array([[1 / tg, 0, -west / tg - 0.5], [0, -1 / tg, north / tg - 0.5],
                                [0, 0, 1.0]])
    from PIL import ImageChops

    # Lens vignetting (a few percent darker corners) and per-photo exposure, as in real photos.
    vv_g, uu_g = np.mgrid[0:h_px, 0:w_px].astype(np.float32)
    rn2 = ((uu_g - (w_px - 1) / 2) / (w_px / 2)) ** 2 + ((vv_g - (h_px - 1) / 2) / (h_px / 2)) ** 2
    vig = np.clip(255.0 * (1.0 - 0.06 * rn2), 0, 255).astype(np.uint8)
    vignette = Image.fromarray(np.repeat(vig[..., None], 3, axis=2))
    del rn2, uu_g, vv_g, vig
    paths = []
    for k, (meta, cam) in enumerate(zip(metas, cams_true, strict=False)):
        hom = ground_to_truth @ cam.ground_homography()
        shot = truth_img.transform((w_px, h_px), Image.Transform.PERSPECTIVE,
                                   pil_perspective_coeffs(hom),
                                   resample=Image.Resampling.BILINEAR)
        gain = float(rng.uniform(0.97, 1.09))
        shot = ImageChops.multiply(shot.point(lambda v, g=gain: min(255, int(v * g + 0.5))),
                                   vignette)
        img = np.asarray(shot)
        exif = _exif_for(times[k], meta.latitude or 0.0, meta.longitude or 0.0,
                         meta.absolute_altitude or 0.0, (w_px, h_px))
        _write_jpeg(meta.path, img, exif, _xmp_packet(xmps[k]), jpeg_quality)
        paths.append(meta.path)

    las_path = None
    if lidar:
        las_path = _write_las(out / "scene.las", scene, transform, epsg, rng, lidar_spacing, tg)
    flight = SampleFlight(
        out_dir=out, photos=paths, truth_tif=truth, lidar_las=las_path, epsg=epsg, gsd=gsd,
        height=height, rows=rows, cols=cols, heading_deg=heading_deg, overlap=overlap,
        sidelap=sidelap, image_size=(w_px, h_px), bounds=(west, south, east, north),
        cameras=cams)
    if lidar_folder:
        flight.lidar_dir = make_lidar_folder(out / "lidar", flight=flight, seed=seed)
    return flight


# --------------------------------------------------------------------------- LiDAR

def _write_las(path: Path, scene: Scene, transform: Any, epsg: int, rng: Any,
               spacing: float, gsd: float) -> Path:
    """A LAS 1.4 (point format 7) cloud: ground, hedges, buildings and trees with colour."""
    import numpy as np

    laspy = require("laspy", "geo")
    pyproj = require("pyproj", "geo")
    h, w = scene.dsm.shape
    step = max(1, round(spacing / gsd))
    rr, cc = np.mgrid[step // 2:h:step, step // 2:w:step]
    rr = rr.ravel()
    cc = cc.ravel()
    jr = np.clip(rr + rng.integers(-(step // 2), step // 2 + 1, rr.size), 0, h - 1)
    jc = np.clip(cc + rng.integers(-(step // 2), step // 2 + 1, cc.size), 0, w - 1)
    xs = transform.c + (jc + 0.5) * transform.a
    ys = transform.f + (jr + 0.5) * transform.e
    zs = _GROUND_ALT + scene.dsm[jr, jc].astype(np.float64) + rng.normal(0, 0.02, jr.size)
    rgb = scene.rgb[jr, jc].astype(np.uint16) * 257
    header = laspy.LasHeader(point_format=7, version="1.4")
    header.offsets = [float(np.floor(xs.min())), float(np.floor(ys.min())), 0.0]
    header.scales = [0.001, 0.001, 0.001]
    header.add_crs(pyproj.CRS.from_epsg(epsg))
    las = laspy.LasData(header)
    las.x, las.y, las.z = xs, ys, zs
    las.red, las.green, las.blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    las.classification = scene.cls[jr, jc]
    lum = rgb.mean(axis=1)
    las.intensity = np.clip(lum / 257 * 200, 0, 65535).astype(np.uint16)
    las.gps_time = np.arange(jr.size, dtype=np.float64) * 1e-4
    tmp = path.with_name(path.name + ".part")
    las.write(str(tmp), do_compress=False)
    os.replace(tmp, path)
    return path


_STANDIN_NOTE = (
    "TERRANB SYNTHETIC STAND-IN -- NOT A DJI FILE.\n"
    "DJI Zenmuse L1/L2 raw folders hold IMU, RTK, RTB, RTL, RTS, LDR, CLC and CLI files in DJI's\n"
    "own undocumented binary formats. terranb cannot produce those; this file only has the name\n"
    "and extension such a folder uses, so preflight checks and the local emulator can be\n"
    "exercised. The real point cloud of this synthetic scene is the .las file next to it.\n"
)


def make_lidar_folder(out_dir: str | os.PathLike[str], *, flight: SampleFlight | None = None,
                      seed: int = 0, stamp: datetime = datetime(2024, 5, 14, 10, 0, 0),
                      photos: bool = True) -> Path:
    """Write a LiDAR-style folder: the scene LAS plus named stand-ins for DJI's raw files.

    The IMU/RTK/RTB/RTL/RTS/LDR/CLC/CLI files are small text files that say they
    are synthetic stand-ins (DJI's raw formats are proprietary and undocumented).
    Their names follow the Zenmuse L2 user manual ("Point Cloud Data File
    Description": ``DJI_YYYYMMDDHHMM_XXX.<EXT>``), so folder-completeness checks
    and emulator LiDAR jobs have something to look at. The folder also gets the
    flight's LAS (as ``cloud.las``), its photos (a real L1/L2 folder holds the
    photos taken during the flight, for colour) and a ``README.txt`` saying all this.

    Args:
        out_dir: folder to create.
        flight: a sample flight whose LAS and photos to include; without one, a
            small flight is generated in a temporary folder.
        seed: seed for the generated flight.
        stamp: capture time used in the file names.
        photos: copy the flight's photos into the folder.
    """
    import shutil
    import tempfile

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmpdir = None
    try:
        if flight is None:
            tmpdir = tempfile.mkdtemp(prefix="terranb-lidar-")
            flight = make_sample_flight(tmpdir, seed=seed, rows=3, cols=3, image_size=(600, 400),
                                        lidar=True)
        base = f"DJI_{stamp:%Y%m%d%H%M}_001"
        for ext in LIDAR_SUFFIXES:
            target = out / f"{base}.{ext}"
            tmp = target.with_name(target.name + ".part")
            tmp.write_text(f"{_STANDIN_NOTE}extension: {ext}\nseed: {seed}\n", encoding="utf-8")
            os.replace(tmp, target)
        if flight.lidar_las is not None:
            shutil.copyfile(flight.lidar_las, out / "cloud.las")
        if photos:
            for p in flight.photos:
                shutil.copyfile(p, out / p.name)
        (out / "README.txt").write_text(_STANDIN_NOTE, encoding="utf-8")
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return out
