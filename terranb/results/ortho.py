"""Orthomosaics (and DSMs): georeferencing with provenance, previews in bounded memory, COG export.

A DJI Terra 2D result is ``map/result.tif`` with ``result.tfw``, ``result.prj`` and
``map/report/map_report.json`` beside it. :class:`Orthomosaic` reconciles them:

* the geotransform comes from the GeoTIFF tags, else from the world file; when
  both exist and disagree a warning says so (a half-pixel shift usually means
  the world file was written with the corner convention);
* the CRS comes from, in order, the GeoTIFF tags, the ``.prj``, the map report's
  ``"output coordinate"``, the job's ``geo_desc`` parameters. ``crs_source`` says
  which one was used; a world file alone has no CRS and a finding says so;
* :meth:`Orthomosaic.read_preview` decimates through overviews when the file has
  them and otherwise reads horizontal bands with ``out_shape`` decimation under a
  small GDAL block cache, so a 16k x 16k RGBA file previews in a few tens of MB.

Any raster GDAL reads works (a JPEG with a ``.wld`` too), not only GeoTIFF.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from terranb.errors import ResultFormatError, require
from terranb.results.crs import (
    bounds_to_wgs84,
    crs_from_geo_desc,
    crs_from_text,
    crs_to_json,
    linear_unit_m,
    ring_to_wgs84,
)
from terranb.results.findings import Finding, read_sidecar
from terranb.results.reports import MapReport, Report, load_report
from terranb.results.worldfile import find_world_file, read_world_file

if TYPE_CHECKING:
    import numpy as np
    from affine import Affine
    from pyproj import CRS

__all__ = ["DEFAULT_PREVIEW_PIXELS", "Orthomosaic"]

#: Default pixel budget of a preview (about 1000 x 1000).
DEFAULT_PREVIEW_PIXELS = 1_000_000
#: Bytes of source pixels read per band of rows while decimating (and GDAL's cache then).
_CHUNK_BYTES = 16 * 2**20


def _rasterio() -> Any:
    return require("rasterio", "geo")


def _find_prj(raster: Path) -> Path | None:
    if not raster.parent.is_dir():
        return None
    names = {q.name.lower(): q for q in raster.parent.iterdir() if q.is_file()}
    for cand in (raster.stem + ".prj", raster.name + ".prj"):
        hit = names.get(cand.lower())
        if hit is not None:
            return hit
    return None


def _find_map_report(raster: Path) -> Path | None:
    for cand in (raster.parent / "report" / "map_report.json", raster.parent / "map_report.json"):
        if cand.is_file():
            return cand
    return None


def _apply(t: Affine, col: float, row: float) -> tuple[float, float]:
    """Pixel (col, row) to CRS coordinates: ``t * (col, row)`` without the deprecated operator."""
    return (t.a * col + t.b * row + t.c, t.d * col + t.e * row + t.f)


def _transforms_differ(t1: Affine, t2: Affine) -> bool:
    """True when two transforms place pixels more than 1 % of a pixel apart."""
    px = max(abs(t1.a), abs(t1.e), abs(t1.b), abs(t1.d), 1e-12)
    scale_diff = max(abs(t1.a - t2.a), abs(t1.b - t2.b), abs(t1.d - t2.d), abs(t1.e - t2.e))
    offset_diff = max(abs(t1.c - t2.c), abs(t1.f - t2.f))
    return scale_diff > 1e-6 * px or offset_diff > 0.01 * px


@dataclass
class Orthomosaic:
    """One georeferenced raster: orthomosaic, DSM or a band of a multispectral map.

    Create it with :meth:`open`. Attributes are read from headers and sidecars only;
    pixel data is read by :meth:`read_preview` / :meth:`read_preview_rgba`.

    Attributes:
        path: the raster file.
        width, height, count: size in pixels and number of bands.
        dtype: numpy dtype name of band 1.
        transform: corner-based :class:`affine.Affine` (pixel -> CRS), as resolved.
        transform_source: ``"geotiff"`` (embedded tags), ``"world_file"`` or ``None``.
        crs: a :class:`pyproj.CRS`, or ``None`` when no source gives one.
        crs_source: ``"geotiff"``, ``"prj"``, ``"map_report"``, ``"job_parameters"`` or ``None``.
        nodata: the nodata value, if any.
        has_alpha: a band is marked as alpha (DJI Terra's result.tif is RGBA).
        overview_factors: decimation factors of the internal/external overviews.
        world_file, prj_file: sidecars found beside the raster.
        map_report: the parsed map_report.json, when found or given.
        findings: problems found while opening.
    """

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    transform: Affine
    transform_source: str | None
    crs: CRS | None
    crs_source: str | None
    nodata: float | None
    has_alpha: bool
    colorinterp: list[str]
    overview_factors: list[int]
    block_shape: tuple[int, int]
    driver: str
    world_file: Path | None = None
    prj_file: Path | None = None
    map_report: MapReport | None = None
    findings: list[Finding] = field(default_factory=list)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, map_report: Any = None,
             job_parameters: Any = None) -> Orthomosaic:
        """Open a raster and resolve its georeferencing from tags and sidecars.

        Args:
            path: ``result.tif`` (or any raster GDAL reads, e.g. a JPEG with ``.wld``).
            map_report: a :class:`MapReport`, a path to map_report.json, or ``None``
                to look for ``report/map_report.json`` beside the raster.
            job_parameters: the job's ``parameters`` (dict or JSON string); its
                ``geo_desc`` is the last resort for the CRS.

        Raises:
            ResultFormatError: the file is missing or GDAL cannot read it.
        """
        rasterio = _rasterio()
        affine = require("affine", "geo")
        p = Path(path)
        if not p.is_file():
            raise ResultFormatError(
                f"raster {p} does not exist; check the path or download it again")
        findings: list[Finding] = []
        # EMPTY_DIR hides sidecar files from GDAL, so we see only what the file itself says
        # and can tell the GeoTIFF's own georeferencing from the world file's.
        try:
            with warnings.catch_warnings(), rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
                warnings.simplefilter("ignore")
                with rasterio.open(p) as ds:
                    driver = ds.driver
                    width, height, count = ds.width, ds.height, ds.count
                    dtype = ds.dtypes[0]
                    embedded_t = ds.transform
                    embedded_crs = ds.crs
                    nodata = ds.nodata
                    colorinterp = [ci.name for ci in ds.colorinterp]
                    overviews = list(ds.overviews(1)) if count else []
                    block = tuple(ds.block_shapes[0]) if count else (0, 0)
                    end = _tiff_data_end(ds) if driver == "GTiff" and count else 0
        except rasterio.errors.RasterioError as exc:
            raise ResultFormatError(f"cannot read raster {p}: {exc}; the file may be cut short "
                                    "or not a GeoTIFF, so download it again") from exc
        if end > p.stat().st_size:
            raise ResultFormatError(
                f"raster {p} is truncated: its pixel blocks reach byte {end} but the file is "
                f"{p.stat().st_size} bytes; download it again")
        has_alpha = "alpha" in colorinterp

        # --- geotransform
        has_embedded = not embedded_t.is_identity
        wf = find_world_file(p)
        wf_t = read_sidecar(wf, read_world_file, "ortho.bad_world_file", findings)
        if has_embedded:
            transform, t_source = embedded_t, "geotiff" if driver == "GTiff" else "embedded"
            if wf_t is not None and _transforms_differ(embedded_t, wf_t):
                ea, ee = abs(embedded_t.a), abs(embedded_t.e)
                half = (abs(abs(embedded_t.c - wf_t.c) - ea / 2) < 0.01 * ea
                        and abs(abs(embedded_t.f - wf_t.f) - ee / 2) < 0.01 * ee)
                hint = (" They differ by half a pixel: the world file was probably written with "
                        "the pixel-corner instead of the pixel-centre convention." if half else "")
                findings.append(Finding.make(
                    "warning", "ortho.worldfile_mismatch",
                    f"the world file and the GeoTIFF tags disagree (GeoTIFF origin "
                    f"{embedded_t.c:.3f}, {embedded_t.f:.3f}, pixel {embedded_t.a:g}; world file "
                    f"origin {wf_t.c:.3f}, {wf_t.f:.3f}, pixel {wf_t.a:g}); using the GeoTIFF tags."
                    + hint, wf))
        elif wf_t is not None:
            transform, t_source = wf_t, "world_file"
        else:
            transform, t_source = affine.Affine.identity(), None
            findings.append(Finding.make(
                "error", "ortho.not_georeferenced",
                "the raster has no georeferencing: no GeoTIFF tags and no world file "
                "(.tfw/.wld) beside it; download the .tfw with the .tif", p))

        # --- map report
        rep: MapReport | None = None
        if isinstance(map_report, MapReport):
            rep = map_report
        elif isinstance(map_report, (str, os.PathLike)):
            loaded = load_report(map_report, kind="map_report")
            rep = loaded if isinstance(loaded, MapReport) else None
        elif map_report is None:
            mp = _find_map_report(p)
            if mp is not None:
                try:
                    loaded2: Report = load_report(mp, kind="map_report")
                    rep = loaded2 if isinstance(loaded2, MapReport) else None
                except ResultFormatError as exc:
                    findings.append(Finding.make("warning", "ortho.bad_map_report", str(exc), mp))

        # --- CRS, in order of trust
        prj = _find_prj(p)
        crs: CRS | None = None
        crs_source: str | None = None
        if embedded_crs is not None:
            crs = crs_from_text(embedded_crs.to_wkt())
            crs_source = "geotiff" if driver == "GTiff" else "embedded"
        if crs is None and prj is not None:
            try:
                text = prj.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            crs = crs_from_text(text)
            if crs is not None:
                crs_source = "prj"
            else:
                findings.append(Finding.make(
                    "warning", "ortho.bad_prj", "the .prj file holds no CRS pyproj understands",
                    prj))
        if crs is None and rep is not None and rep.output_coordinate:
            crs = crs_from_text(rep.output_coordinate)
            if crs is not None:
                crs_source = "map_report"
        if crs is None and job_parameters is not None:
            crs = crs_from_geo_desc(job_parameters)
            if crs is not None:
                crs_source = "job_parameters"
        if crs is None and t_source is not None:
            only_wf = t_source == "world_file"
            findings.append(Finding.make(
                "warning", "ortho.no_crs",
                ("a world file alone has no coordinate reference system" if only_wf else
                 "the raster has a geotransform but no coordinate reference system")
                + ": bounds are in unknown units and cannot be placed on a map. Put the "
                "result.prj beside it, or pass map_report= / job_parameters= naming the CRS.", p))
        elif crs is not None and embedded_crs is not None and prj is not None:
            prj_crs = crs_from_text(prj.read_text(encoding="utf-8", errors="replace"))
            if prj_crs is not None and not prj_crs.equals(crs, ignore_axis_order=True):
                findings.append(Finding.make(
                    "warning", "ortho.prj_mismatch",
                    f"the .prj names {prj_crs.name!r} but the GeoTIFF says {crs.name!r}; "
                    "using the GeoTIFF's", prj))

        ortho = cls(path=p, width=width, height=height, count=count, dtype=str(dtype),
                    transform=transform, transform_source=t_source, crs=crs,
                    crs_source=crs_source, nodata=nodata, has_alpha=has_alpha,
                    colorinterp=colorinterp, overview_factors=[int(o) for o in overviews],
                    block_shape=(int(block[0]), int(block[1])), driver=driver, world_file=wf,
                    prj_file=prj, map_report=rep, findings=findings)
        ortho._check_report()
        return ortho

    def _check_report(self) -> None:
        """Compare our WGS 84 bounds with the report's ``gps corner`` (catches a wrong CRS)."""
        rep = self.map_report
        b = self.bounds_wgs84
        if rep is None or rep.gps_corner is None or b is None:
            return
        w, s, e, n = rep.gps_corner.bbox
        span = max(e - w, n - s, 1e-9)
        off = max(abs(w - b[0]), abs(s - b[1]), abs(e - b[2]), abs(n - b[3]))
        if off > 0.25 * span:
            self.findings.append(Finding.make(
                "warning", "ortho.report_bounds_mismatch",
                f"the raster's WGS 84 bounds {tuple(round(v, 6) for v in b)} are far from the "
                f"map report's gps corner {tuple(round(v, 6) for v in (w, s, e, n))}: the CRS or "
                "the world file may be wrong", self.path))

    # --------------------------------------------------------------- geometry
    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in the raster's CRS (pixel units when not georeferenced)."""
        t = self.transform
        xs, ys = zip(*(_apply(t, c, r) for c, r in  # noqa: B905
                       ((0, 0), (self.width, 0), (self.width, self.height), (0, self.height))))
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def bounds_wgs84(self) -> tuple[float, float, float, float] | None:
        """(west, south, east, north) in degrees, or ``None`` without a CRS."""
        if self.transform_source is None:
            return None
        return bounds_to_wgs84(self.crs, self.bounds)

    def footprint_wgs84(self) -> list[list[float]] | None:
        """The raster outline as a closed GeoJSON ring in WGS 84 (handles rotated transforms)."""
        if self.transform_source is None:
            return None
        t = self.transform
        # Counter-clockwise for a north-up image, as RFC 7946 asks of exterior rings.
        ring = [_apply(t, 0, 0), _apply(t, 0, self.height), _apply(t, self.width, self.height),
                _apply(t, self.width, 0)]
        return ring_to_wgs84(self.crs, ring, densify=4)

    @property
    def pixel_size(self) -> tuple[float, float]:
        """(x, y) pixel size in CRS units (positive)."""
        t = self.transform
        return (math.hypot(t.a, t.d), math.hypot(t.b, t.e))

    @property
    def gsd_m(self) -> float | None:
        """Ground sampling distance in metres (mean of x and y), ``None`` without a metric CRS.

        For a geographic CRS the degree size is converted at the centre latitude.
        """
        if self.crs is None or self.transform_source is None:
            return None
        px, py = self.pixel_size
        unit = linear_unit_m(self.crs)
        if unit is not None:
            return (px + py) / 2 * unit
        if self.crs.is_geographic:
            b = self.bounds
            lat = math.radians((b[1] + b[3]) / 2)
            return (px * 111_320.0 * math.cos(lat) + py * 110_574.0) / 2
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no pixel data)."""
        return {
            "kind": "ortho", "path": str(self.path), "driver": self.driver,
            "width": self.width, "height": self.height, "count": self.count, "dtype": self.dtype,
            "transform": list(tuple(self.transform)[:6]), "transform_source": self.transform_source,
            "crs": crs_to_json(self.crs), "crs_source": self.crs_source,
            "bounds": list(self.bounds), "bounds_wgs84":
                list(self.bounds_wgs84) if self.bounds_wgs84 else None,
            "pixel_size": list(self.pixel_size), "gsd_m": self.gsd_m, "nodata": self.nodata,
            "has_alpha": self.has_alpha, "colorinterp": self.colorinterp,
            "overview_factors": self.overview_factors,
            "world_file": str(self.world_file) if self.world_file else None,
            "prj_file": str(self.prj_file) if self.prj_file else None,
            "map_report": self.map_report.to_dict() if self.map_report else None,
            "findings": [f.to_dict() for f in self.findings],
        }

    # ------------------------------------------------------------- pixel reads
    def preview_shape(self, max_pixels: int = DEFAULT_PREVIEW_PIXELS) -> tuple[int, int]:
        """(rows, cols) of a preview within ``max_pixels``, keeping the aspect ratio."""
        if max_pixels < 1:
            raise ValueError("max_pixels must be at least 1")
        factor = max(1.0, math.sqrt(self.width * self.height / max_pixels))
        cols = max(1, min(self.width, math.floor(self.width / factor)))
        rows = max(1, min(self.height, math.floor(self.height / factor)))
        while rows * cols > max_pixels:  # floor rounding can still overshoot by a row
            if rows >= cols:
                rows -= 1
            else:
                cols -= 1
        return rows, cols

    def read_preview(self, max_pixels: int = DEFAULT_PREVIEW_PIXELS, *,
                     bands: list[int] | None = None,
                     resampling: str = "nearest") -> tuple[np.ndarray, Affine]:
        """Read the whole raster decimated to at most ``max_pixels`` pixels, in bounded memory.

        GDAL picks an overview when the file has one. Without overviews the raster is
        read in horizontal bands of about 16 MB of source pixels, each decimated with
        ``out_shape`` straight into the output array, under a GDAL block cache of the
        same size, so memory stays near the output size plus 32 MB whatever the file
        size (a 16k x 16k RGBA file previews in a few tens of MB instead of 1 GiB).

        Args:
            max_pixels: pixel budget (rows x cols) of the result.
            bands: 1-based band indexes (default: all bands, alpha included).
            resampling: a :class:`rasterio.enums.Resampling` name; ``"nearest"`` is the
                cheapest, ``"average"`` is smoother but reads every source pixel.

        Returns:
            ``(array, transform)``: array of shape (bands, rows, cols) in the file's
            dtype, and the corner-based transform of the preview's pixels in the
            raster's CRS (``self.crs``).
        """
        rasterio = _rasterio()
        np_ = require("numpy", "geo")
        from affine import Affine
        from rasterio.enums import Resampling
        from rasterio.windows import Window

        idx = list(bands) if bands else list(range(1, self.count + 1))
        rows, cols = self.preview_shape(max_pixels)
        sy, sx = self.height / rows, self.width / cols
        itemsize = np_.dtype(self.dtype).itemsize
        src_row_bytes = self.width * len(idx) * itemsize * sy  # source bytes per output row
        per_chunk = max(1, int(_CHUNK_BYTES // max(src_row_bytes, 1)))
        out = np_.empty((len(idx), rows, cols), dtype=self.dtype)
        resample = Resampling[resampling]
        with warnings.catch_warnings(), rasterio.Env(GDAL_CACHEMAX=_CHUNK_BYTES):
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning on world-file rasters
            with _read_errors(self.path), rasterio.open(self.path) as ds:
                if self.overview_factors:
                    # An overview serves the whole read at once: GDAL reads only it.
                    ds.read(idx, out=out, resampling=resample)
                else:
                    for r0 in range(0, rows, per_chunk):
                        r1 = min(rows, r0 + per_chunk)
                        # Fractional windows keep every band aligned with the single-read grid.
                        win = Window(0, r0 * sy, self.width, (r1 - r0) * sy)
                        ds.read(idx, window=win, out=out[:, r0:r1, :], resampling=resample)
        t = self.transform
        # t composed with a scale, spelled out (affine 3 deprecates the * operator).
        transform = Affine(t.a * sx, t.b * sy, t.c, t.d * sx, t.e * sy, t.f)
        return out, transform

    def read_preview_rgba(self, max_pixels: int = DEFAULT_PREVIEW_PIXELS
                          ) -> tuple[np.ndarray, Affine]:
        """A display-ready preview: uint8 array (rows, cols, 4) RGBA, and its transform.

        Colour bands are the bands marked red/green/blue (else the first three; a
        single band is shown as grey). Non-uint8 data (a DSM) is stretched between
        its 2nd and 98th percentile. Alpha comes from the alpha band, else from the
        nodata value (and non-finite values), else is opaque.
        """
        np_ = require("numpy", "geo")
        ci = self.colorinterp
        alpha_band = ci.index("alpha") + 1 if "alpha" in ci else None
        if all(c in ci for c in ("red", "green", "blue")):
            colour = [ci.index(c) + 1 for c in ("red", "green", "blue")]
        else:
            non_alpha = [i for i in range(1, self.count + 1) if i != alpha_band]
            colour = non_alpha[:3] if len(non_alpha) >= 3 else non_alpha[:1]
        wanted = colour + ([alpha_band] if alpha_band else [])
        arr, transform = self.read_preview(max_pixels, bands=wanted)
        data = arr[: len(colour)]
        if alpha_band:
            alpha = arr[-1].astype(np_.uint8) if arr.dtype == np_.uint8 else (
                (arr[-1] > 0).astype(np_.uint8) * 255)
        else:
            valid = np_.ones(data.shape[1:], dtype=bool)
            if self.nodata is not None and not (isinstance(self.nodata, float) and
                                                math.isnan(self.nodata)):
                valid &= ~np_.all(data == self.nodata, axis=0)
            if data.dtype.kind == "f":
                valid &= np_.all(np_.isfinite(data), axis=0)
            alpha = valid.astype(np_.uint8) * 255
        if data.dtype != np_.uint8:
            valid_mask = alpha > 0
            scaled = np_.zeros(data.shape, dtype=np_.uint8)
            for i in range(data.shape[0]):
                band = data[i].astype(np_.float64)
                vals = band[valid_mask & np_.isfinite(band)]
                if vals.size == 0:
                    continue
                lo, hi = np_.percentile(vals, [2, 98])
                span = hi - lo if hi > lo else 1.0
                scaled[i] = np_.clip((np_.nan_to_num(band, nan=lo) - lo) / span * 255, 0, 255)
            data = scaled
        if data.shape[0] == 1:
            data = np_.repeat(data, 3, axis=0)
        rgba = np_.concatenate([data, alpha[None]], axis=0)
        return np_.ascontiguousarray(np_.moveaxis(rgba, 0, -1)), transform

    # ------------------------------------------------------------------ export
    def _needs_vrt(self) -> bool:
        return self.transform_source not in ("geotiff", "embedded") or self.crs_source not in (
            "geotiff", "embedded")

    def _write_vrt(self, vrt: Path) -> None:
        """A VRT applying the resolved CRS and transform (sidecar georeferencing) to the file."""
        rasterio = _rasterio()
        dtypes = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
                  "int32": "Int32", "float32": "Float32", "float64": "Float64", "int8": "Int8"}
        t = self.transform
        parts = [f'<VRTDataset rasterXSize="{self.width}" rasterYSize="{self.height}">']
        if self.crs is not None:
            parts.append(f"<SRS>{escape(self.crs.to_wkt())}</SRS>")
        if self.transform_source is not None:
            parts.append(f"<GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}"
                         "</GeoTransform>")
        with warnings.catch_warnings(), rasterio.open(self.path) as ds:
            warnings.simplefilter("ignore")
            for i in range(1, self.count + 1):
                parts.append(f'<VRTRasterBand dataType="{dtypes[ds.dtypes[i - 1]]}" band="{i}">')
                parts.append(f"<ColorInterp>{self.colorinterp[i - 1].capitalize()}</ColorInterp>")
                if self.nodata is not None:
                    parts.append(f"<NoDataValue>{self.nodata!r}</NoDataValue>")
                bh, bw = ds.block_shapes[i - 1]
                parts.append(
                    f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(str(self.path))}'
                    f"</SourceFilename><SourceBand>{i}</SourceBand>"
                    f'<SourceProperties RasterXSize="{self.width}" RasterYSize="{self.height}" '
                    f'DataType="{dtypes[ds.dtypes[i - 1]]}" BlockXSize="{bw}" BlockYSize="{bh}"/>'
                    "</SimpleSource></VRTRasterBand>")
        parts.append("</VRTDataset>")
        vrt.write_text("\n".join(parts), encoding="utf-8")

    def to_cog(self, out: str | os.PathLike[str], *, compress: str = "DEFLATE",
               overview_resampling: str = "AVERAGE", blocksize: int = 512) -> Path:
        """Write a Cloud-Optimised GeoTIFF with internal overviews (GDAL's COG driver).

        Georeferencing from sidecars (world file, .prj, report) is written into the
        COG's tags, so the result stands alone. Written to ``out.part`` then renamed.

        Args:
            out: destination ``.tif``.
            compress: COG compression (``DEFLATE``, ``LZW``, ``ZSTD``, ``WEBP`` ...).
            overview_resampling: resampling for overviews (``AVERAGE``, ``NEAREST`` ...).
            blocksize: internal tile size.

        Returns:
            The path written.
        """
        rasterio = _rasterio()
        from rasterio.shutil import copy as rio_copy

        dest = Path(out)
        part = dest.with_name(dest.name + ".part")
        vrt = dest.with_name(dest.name + ".src.vrt")
        src: str = str(self.path)
        try:
            if self._needs_vrt():
                self._write_vrt(vrt)
                src = str(vrt)
            with warnings.catch_warnings(), rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"
                                                         if not self._needs_vrt() else "FALSE"):
                warnings.simplefilter("ignore")
                rio_copy(src, str(part), driver="COG", COMPRESS=compress, BLOCKSIZE=str(blocksize),
                         OVERVIEW_RESAMPLING=overview_resampling, OVERVIEWS="IGNORE_EXISTING",
                         BIGTIFF="IF_SAFER")
            os.replace(part, dest)
        finally:
            for tmp in (part, vrt):
                try:
                    tmp.unlink()
                except FileNotFoundError:
                    pass
        return dest


def _tiff_data_end(ds: Any, limit: int = 4096) -> int:
    """The byte where the GeoTIFF's pixel blocks end (GDAL's TIFF metadata domain).

    A cut download keeps a valid header but loses the last blocks, which GDAL only
    notices when reading pixels; every block is checked up to ``limit`` per band,
    else the last row of blocks (where a cut shows first: writers go top down).
    """
    bh, bw = ds.block_shapes[0]
    nx, ny = -(-ds.width // max(bw, 1)), -(-ds.height // max(bh, 1))
    rows = range(ny) if nx * ny <= limit else range(ny - 1, ny)
    end = 0
    bands = range(1, ds.count + 1) if ds.profile.get("interleave") == "band" else (1,)
    for b in bands:
        for y in rows:
            for x in range(nx):
                off = ds.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=b)
                size = ds.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=b)
                if off and size:
                    end = max(end, int(off) + int(size))
    return end


@contextlib.contextmanager
def _read_errors(path: Path) -> Iterator[None]:
    """GDAL failures while reading pixels, as :class:`ResultFormatError` naming the file."""
    import rasterio

    try:
        yield
    except rasterio.errors.RasterioError as exc:
        raise ResultFormatError(f"cannot read the pixels of {path}: {exc}; the file is damaged "
                                "or cut, download it again") from None
