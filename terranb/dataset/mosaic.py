"""Quick orthomosaic by direct georeferencing, in bounded memory.

Each photo is treated as a pinhole camera over flat ground at its recorded
height (RelativeAltitude), with its recorded gimbal attitude
(:mod:`terranb.dataset.camera`). No tie points, no bundle adjustment: the
result is only as good as the GNSS and attitude in the EXIF/XMP (metres for
consumer drones, centimetres for RTK), which is what a preview before upload
needs, and what the local emulator's 2D engine produces.

How it stays small: the output grid is processed in strips of rows. A photo is
decoded once, at reduced resolution (JPEG DCT scaling via Pillow ``draft``),
when the first strip that sees it starts, and dropped after the last one, so
memory holds one strip plus the photos crossing it. Within a strip each photo
is resampled with one perspective warp (the ground-to-image map of a planar
scene is a homography), and every output pixel takes the photo that sees it
closest to its image centre (the most nadir view). Strips are written to a
tiled GeoTIFF through rasterio windows.

Output: RGBA uint8 GeoTIFF (alpha 255 where a photo covers the ground), a
``.tfw`` world file (pixel-centre convention) and a ``.prj`` (ESRI WKT).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.dataset.camera import (
    Camera,
    NoGeometryError,
    camera_for,
    pil_perspective_coeffs,
    utm_epsg_for,
)
from terranb.dataset.exif import PhotoMeta, read_photo_meta
from terranb.errors import ValidationError, require

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MosaicResult", "parse_crs", "quick_mosaic", "world_file_lines"]

PhotoLike = str | os.PathLike[str] | PhotoMeta

#: GDAL block cache while writing, in MB (GDAL's default is 5 % of RAM).
GDAL_CACHE_MB = 64


@dataclass
class MosaicResult:
    """What :func:`quick_mosaic` wrote.

    Attributes:
        path: the GeoTIFF (RGBA uint8, alpha = coverage).
        tfw_path: world file next to it (pixel-centre convention).
        prj_path: ESRI WKT of the CRS next to it.
        crs_epsg: EPSG code of the output CRS, when it has one.
        crs_wkt: WKT of the output CRS.
        transform: affine (a, b, c, d, e, f) of pixel corners, as rasterio/GDAL use.
        bounds: (west, south, east, north) in the output CRS.
        gsd: pixel size in output CRS units.
        width, height: raster size in pixels.
        photos_used: photos that contributed.
        skipped: (photo path, reason) for photos left out.
        coverage: fraction of raster pixels covered by at least one photo.
    """

    path: Path
    tfw_path: Path
    prj_path: Path
    crs_epsg: int | None
    crs_wkt: str
    transform: tuple[float, float, float, float, float, float]
    bounds: tuple[float, float, float, float]
    gsd: float
    width: int
    height: int
    photos_used: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    coverage: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"path": str(self.path), "tfw_path": str(self.tfw_path),
                "prj_path": str(self.prj_path), "crs_epsg": self.crs_epsg,
                "transform": list(self.transform), "bounds": list(self.bounds), "gsd": self.gsd,
                "width": self.width, "height": self.height, "photos_used": self.photos_used,
                "skipped": [[str(p), r] for p, r in self.skipped], "coverage": self.coverage}


def parse_crs(crs: Any) -> Any:
    """A pyproj CRS from ``"EPSG:32615"``, ``32615``, WKT/PROJ text or a CRS object."""
    pyproj = require("pyproj", "geo")
    if crs is None:
        return None
    if isinstance(crs, pyproj.CRS):
        return crs
    if hasattr(crs, "to_wkt"):  # rasterio CRS
        return pyproj.CRS.from_wkt(crs.to_wkt())
    try:
        if isinstance(crs, int):
            return pyproj.CRS.from_epsg(crs)
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise ValidationError(f"unknown CRS {crs!r} ({exc}); use e.g. 'EPSG:32633'") from exc


def world_file_lines(transform: Sequence[float]) -> str:
    """World-file text for a corner-based affine (a, b, c, d, e, f); pixel-centre convention."""
    a, b, c, d, e, f = transform[:6]
    cx = c + a / 2 + b / 2
    cy = f + d / 2 + e / 2
    return "\n".join(f"{v:.10f}" for v in (a, d, b, e, cx, cy)) + "\n"


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="ascii")
    os.replace(tmp, path)


def _nice(x: float) -> float:
    """Round up to a tidy pixel size: 1, 1.2, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 x 10^k."""
    if x <= 0:
        return x
    p = 10 ** math.floor(math.log10(x))
    for m in (1, 1.2, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if x <= m * p * (1 + 1e-3):
            return m * p
    return 10 * p


@dataclass
class _Shot:
    meta: PhotoMeta
    cam: Camera
    inv: np.ndarray  # ground (e, n, 1) -> full-size pixel (u, v, 1)
    ext: tuple[float, float, float, float]  # west, south, east, north of the footprint
    row0: int = 0
    row1: int = 0
    col0: int = 0
    col1: int = 0


_SCORES: dict[tuple[int, int], Any] = {}


def _score_image(size: tuple[int, int]) -> Any:
    """A float image: squared distance from the image centre, 1.0 at the edge midpoints."""
    if size not in _SCORES:
        import numpy as np
        from PIL import Image

        w, h = size
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        sc = ((xx - (w - 1) / 2) / (w / 2)) ** 2 + ((yy - (h - 1) / 2) / (h / 2)) ** 2
        if len(_SCORES) > 8:
            _SCORES.clear()
        _SCORES[size] = Image.fromarray(sc.astype(np.float32), mode="F")
    return _SCORES[size]


def _load_reduced(path: Path, factor: int) -> Any:
    """The photo as RGB at about 1/``factor`` size (JPEG DCT scaling, then reduce)."""
    from PIL import Image

    im: Image.Image = Image.open(path)
    w, h = im.size
    if factor > 1 and hasattr(im, "draft"):
        im.draft("RGB", (max(1, w // factor), max(1, h // factor)))
    im = im.convert("RGB")
    rest = round(w / im.size[0])
    if factor // rest >= 2:
        im = im.reduce(factor // rest)
    return im


def quick_mosaic(
    photos: Sequence[PhotoLike],
    out_tif: str | os.PathLike[str],
    *,
    crs: Any = None,
    gsd: float | None = None,
    max_pixels: int = 64_000_000,
    on_progress: Callable[[float], None] | None = None,
    ground_elevation: float | None = None,
    strip_rows: int = 512,
    max_oblique_deg: float = 30.0,
    max_cache_bytes: int = 384 * 1024 * 1024,
) -> MosaicResult:
    """Build a direct-georeferenced RGBA orthomosaic GeoTIFF with .tfw and .prj.

    Args:
        photos: photo paths or :class:`PhotoMeta` objects (order does not matter:
            photos are sorted by path so the output is deterministic).
        out_tif: GeoTIFF to write (``.tfw`` and ``.prj`` go next to it).
        crs: output CRS (``"EPSG:xxxx"``, an int, a pyproj/rasterio CRS); default
            the UTM zone of the photos.
        gsd: pixel size in output CRS units; default twice the photos' median
            ground sample distance, or coarser if needed to stay within ``max_pixels``.
        max_pixels: upper limit on width x height.
        on_progress: called with the finished fraction (0.0-1.0) after each strip.
        ground_elevation: ground height for photos without RelativeAltitude.
        strip_rows: rows per processing strip (memory vs. overhead).
        max_oblique_deg: photos tilted more than this from nadir are left out.
        max_cache_bytes: memory for decoded photos kept between strips; photos that
            do not fit are decoded again for each strip they cross (slower, same result).

    Returns:
        A :class:`MosaicResult`.

    Raises:
        ValidationError: no usable photo, or ``gsd`` too fine for ``max_pixels``.
    """
    np = require("numpy", "geo")
    rasterio = require("rasterio", "geo")
    from PIL import Image
    from rasterio.enums import ColorInterp
    from rasterio.transform import Affine
    from rasterio.windows import Window

    out = Path(out_tif)
    metas = [p if isinstance(p, PhotoMeta) else read_photo_meta(p) for p in photos]
    metas.sort(key=lambda m: str(m.path))
    skipped: list[tuple[Path, str]] = []
    located: list[PhotoMeta] = []
    for m in metas:
        if not m.readable:
            skipped.append((m.path, "not a readable JPEG"))
        elif m.truncated:
            skipped.append((m.path, "the file is truncated (incomplete copy or download)"))
        elif not m.has_gps:
            skipped.append((m.path, "no GPS position"))
        else:
            located.append(m)
    if not located:
        raise ValidationError("no readable photo has a GPS position; a direct-georeferenced "
                              "mosaic needs complete, geotagged photos")
    lon_c = float(np.median([m.longitude for m in located]))
    lat_c = float(np.median([m.latitude for m in located]))
    work_epsg = utm_epsg_for(lon_c, lat_c)

    shots: list[_Shot] = []
    for m in located:
        try:
            cam = camera_for(m, epsg=work_epsg, ground_elevation=ground_elevation)
        except NoGeometryError as exc:
            skipped.append((m.path, str(exc)))
            continue
        tilt = math.degrees(math.acos(max(-1.0, min(1.0, -float(cam.R[2, 2])))))
        if tilt > max_oblique_deg:
            skipped.append((m.path, f"camera tilted {tilt:.0f} degrees from nadir"))
            continue
        k = cam.intr
        corners_u = np.array([-0.5, k.width - 0.5, k.width - 0.5, -0.5])
        corners_v = np.array([-0.5, -0.5, k.height - 0.5, k.height - 0.5])
        ge, gn, ok = cam.pixel_to_ground(corners_u, corners_v, min_depression_deg=5.0)
        if not ok.all():
            skipped.append((m.path, "the horizon is in view"))
            continue
        shots.append(_Shot(m, cam, np.linalg.inv(cam.ground_homography()),
                           (float(ge.min()), float(gn.min()), float(ge.max()), float(gn.max()))))
    if not shots:
        raise ValidationError("no photo can be placed on the ground (each lacks height, focal "
                              "length or a nadir-ish view): "
                              + "; ".join(r for _p, r in skipped[:3]))

    exts = np.array([s.ext for s in shots])
    west, south = exts[:, 0].min(), exts[:, 1].min()
    east, north = exts[:, 2].max(), exts[:, 3].max()
    native = float(np.median([s.cam.nadir_gsd for s in shots]))

    target = parse_crs(crs)
    pyproj = require("pyproj", "geo")
    work_crs = pyproj.CRS.from_epsg(work_epsg)
    same = target is None or target.equals(work_crs)

    area = (east - west) * (north - south)
    if gsd is not None and same:
        pix = float(gsd)
        if pix <= 0:
            raise ValidationError("gsd must be positive")
        if area / pix ** 2 > max_pixels:
            raise ValidationError(
                f"a {pix} m mosaic of this area needs {area / pix ** 2 / 1e6:.0f} Mpixel, over "
                f"max_pixels={max_pixels:,}; use a larger gsd or raise max_pixels")
    else:
        pix = _nice(max(2 * native, math.sqrt(area / max_pixels)))
    west = math.floor(west / pix) * pix
    north = math.ceil(north / pix) * pix
    width = max(1, math.ceil((east - west) / pix))
    height = max(1, math.ceil((north - south) / pix))
    transform = Affine(pix, 0.0, west, 0.0, -pix, north)

    for s in shots:
        e0, n0, e1, n1 = s.ext
        s.col0 = max(0, math.floor((e0 - west) / pix) - 1)
        s.col1 = min(width, math.ceil((e1 - west) / pix) + 1)
        s.row0 = max(0, math.floor((north - n1) / pix) - 1)
        s.row1 = min(height, math.ceil((north - n0) / pix) + 1)

    work_path = out if same else out.with_name(out.stem + ".utm.part.tif")
    part = out.with_name(out.name + ".part") if same else work_path
    out.parent.mkdir(parents=True, exist_ok=True)
    strip_rows = max(256, (strip_rows // 256) * 256)
    n_strips = math.ceil(height / strip_rows)
    profile = dict(driver="GTiff", width=width, height=height, count=4, dtype="uint8",
                   crs=f"EPSG:{work_epsg}", transform=transform, tiled=True, blockxsize=256,
                   blockysize=256, compress="deflate", predictor=2, zlevel=1,
                   photometric="RGB", alpha="YES", BIGTIFF="IF_SAFER")
    cache: dict[int, Any] = {}
    cached_bytes = 0
    broken: set[int] = set()  # photos whose pixels failed to decode (corrupt data)
    covered = 0
    order = sorted(range(len(shots)), key=lambda i: shots[i].row0)
    try:
        # GDAL's block cache defaults to 5 % of RAM; a small one keeps memory bounded.
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), \
                rasterio.open(part, "w", **profile) as dst:
            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue,
                               ColorInterp.alpha]
            for si in range(n_strips):
                r0 = si * strip_rows
                r1 = min(height, r0 + strip_rows)
                sh = r1 - r0
                rgba = np.zeros((sh, width, 4), np.uint8)
                best = np.full((sh, width), np.inf, np.float32)
                for i in order:
                    s = shots[i]
                    if s.row0 >= r1:
                        break
                    if s.row1 <= r0 or i in broken:
                        continue
                    if i in cache:
                        img = cache[i]
                    else:
                        factor = max(1, int(pix / s.cam.nadir_gsd + 1e-6))
                        try:
                            img = _load_reduced(s.meta.path, factor)
                        except (OSError, ValueError, SyntaxError) as exc:
                            # Headers were fine but the image data is corrupt: leave the
                            # photo out rather than fail the whole mosaic.
                            broken.add(i)
                            skipped.append((s.meta.path, f"the image data cannot be decoded "
                                                         f"({exc})"))
                            continue
                        size = img.size[0] * img.size[1] * 3
                        # Keep it for the next strips if the budget allows; else decode again then.
                        if cached_bytes + size <= max_cache_bytes and s.row1 > r1:
                            cache[i] = img
                            cached_bytes += size
                    k = s.cam.intr
                    sx, sy = img.size[0] / k.width, img.size[1] / k.height
                    a0, a1 = max(r0, s.row0), min(r1, s.row1)
                    c0, c1 = s.col0, s.col1
                    if a1 <= a0 or c1 <= c0:
                        continue
                    grid_to_ground = np.array([[pix, 0, west + (c0 + 0.5) * pix],
                                               [0, -pix, north - (a0 + 0.5) * pix], [0, 0, 1.0]])
                    to_reduced = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5],
                                           [0, 0, 1.0]])
                    hom = to_reduced @ s.inv @ grid_to_ground
                    coeffs = pil_perspective_coeffs(hom)
                    persp = Image.Transform.PERSPECTIVE
                    wa = np.asarray(img.transform((c1 - c0, a1 - a0), persp, coeffs,
                                                  resample=Image.Resampling.BILINEAR))
                    # Nadir-ness of each output pixel in this photo (squared distance from the
                    # image centre, <= 2 inside the frame), warped the same way; outside -> 9.
                    sc = np.asarray(_score_image(img.size).transform(
                        (c1 - c0, a1 - a0), persp, coeffs, resample=Image.Resampling.NEAREST,
                        fillcolor=9.0))
                    sub_best = best[a0 - r0:a1 - r0, c0:c1]
                    take = (sc < 8.0) & (sc < sub_best)
                    np.copyto(sub_best, sc, where=take)
                    sub = rgba[a0 - r0:a1 - r0, c0:c1]
                    np.copyto(sub[..., :3], wa[..., :3], where=take[..., None])
                    np.copyto(sub[..., 3], np.uint8(255), where=take)
                    if s.row1 <= r1 and i in cache:
                        gone = cache.pop(i)
                        cached_bytes -= gone.size[0] * gone.size[1] * 3
                dst.write(rgba.transpose(2, 0, 1), window=Window(0, r0, width, sh))
                covered += int((rgba[..., 3] > 0).sum())
                if on_progress is not None:
                    on_progress((si + 1) / n_strips * (1.0 if same else 0.8))
            dst.update_tags(
                SOURCE="terranb quick_mosaic (direct georeferencing, no bundle adjustment)",
                PHOTOS=str(len(shots) - len(broken)))
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    finally:
        cache.clear()

    if same:
        os.replace(part, out)
        out_crs = work_crs
        out_transform = transform
        out_w, out_h = width, height
        out_pix = pix
    else:
        try:
            out_crs, out_transform, out_w, out_h, covered = _reproject(
                work_path, out, target, gsd, max_pixels)
        finally:
            work_path.unlink(missing_ok=True)
        out_pix = abs(out_transform.a)
        if on_progress is not None:
            on_progress(1.0)

    tfw = out.with_suffix(".tfw")
    prj = out.with_suffix(".prj")
    t6 = (out_transform.a, out_transform.b, out_transform.c, out_transform.d, out_transform.e,
          out_transform.f)
    _atomic_text(tfw, world_file_lines(t6))
    _atomic_text(prj, out_crs.to_wkt(pyproj.enums.WktVersion.WKT1_ESRI))
    w_ = out_transform.c
    n_ = out_transform.f
    bounds = (w_, n_ + out_transform.e * out_h, w_ + out_transform.a * out_w, n_)
    return MosaicResult(
        path=out, tfw_path=tfw, prj_path=prj, crs_epsg=out_crs.to_epsg(),
        crs_wkt=out_crs.to_wkt(), transform=t6, bounds=bounds, gsd=out_pix, width=out_w,
        height=out_h, photos_used=len(shots) - len(broken), skipped=skipped,
        coverage=covered / float(out_w * out_h) if out_w * out_h else 0.0)


def _reproject(src_path: Path, out: Path, target: Any, gsd: float | None, max_pixels: int
               ) -> tuple[Any, Any, int, int, int]:
    """Warp the working UTM mosaic into ``target`` CRS block by block."""
    import numpy as np
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import ColorInterp, Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import calculate_default_transform
    from rasterio.windows import Window

    dst_crs = CRS.from_wkt(target.to_wkt())
    part = out.with_name(out.name + ".part")
    covered = 0
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), rasterio.open(src_path) as src:
        kwargs: dict[str, Any] = {}
        if gsd is not None:
            kwargs["resolution"] = gsd
        transform, width, height = calculate_default_transform(
            src.crs, dst_crs, src.width, src.height, *src.bounds, **kwargs)
        if width * height > max_pixels:
            raise ValidationError(
                f"a mosaic of {width}x{height} pixels in {dst_crs} is over max_pixels="
                f"{max_pixels:,}; use a larger gsd or raise max_pixels")
        with WarpedVRT(src, crs=dst_crs, transform=transform, width=width, height=height,
                       resampling=Resampling.bilinear) as vrt:
            profile = dict(driver="GTiff", width=width, height=height, count=4, dtype="uint8",
                           crs=dst_crs, transform=transform, tiled=True, blockxsize=256,
                           blockysize=256, compress="deflate", predictor=2, zlevel=1,
                           photometric="RGB", alpha="YES", BIGTIFF="IF_SAFER")
            with rasterio.open(part, "w", **profile) as dst:
                dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue,
                                   ColorInterp.alpha]
                for r0 in range(0, height, 512):
                    win = Window(0, r0, width, min(512, height - r0))
                    data = vrt.read(window=win)
                    data[3] = np.where(data[3] >= 128, 255, 0).astype(np.uint8)
                    covered += int((data[3] > 0).sum())
                    dst.write(data, window=win)
    os.replace(part, out)
    import pyproj

    return pyproj.CRS.from_wkt(dst_crs.to_wkt()), transform, width, height, covered
