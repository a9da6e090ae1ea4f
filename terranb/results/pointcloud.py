"""Point clouds (LAS 1.0-1.4, LAZ, COPC): header facts, CRS, streaming statistics and previews.

``laspy.read()`` of a 50-million-point LAZ needs several GB; nothing here loads a
whole cloud. :class:`PointCloud` reads the header (counts, bounds, scales, CRS
from the WKT VLR or the GeoTIFF keys), and :meth:`PointCloud.decimate` streams the
points in chunks, keeping a uniform random sample of at most ``n`` points, so
memory is one chunk plus the sample. COPC files are sampled level by level from
the octree root and stop reading once enough points are in hand.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.errors import MissingDependencyError, ResultFormatError, require
from terranb.results.crs import bounds_to_wgs84, crs_from_text, crs_to_json, linear_unit_m
from terranb.results.findings import Finding

if TYPE_CHECKING:
    import numpy as np
    from pyproj import CRS

__all__ = ["DEFAULT_SAMPLE_POINTS", "PointCloud", "PointSample"]

#: Default preview size in points.
DEFAULT_SAMPLE_POINTS = 250_000
_CHUNK = 1_000_000

#: ASPRS LAS 1.4 standard classes (R15), for labels.
CLASS_NAMES = {
    0: "created, never classified", 1: "unclassified", 2: "ground", 3: "low vegetation",
    4: "medium vegetation", 5: "high vegetation", 6: "building", 7: "low point (noise)",
    8: "reserved / model key-point", 9: "water", 10: "rail", 11: "road surface",
    12: "reserved / overlap", 13: "wire guard", 14: "wire conductor", 15: "transmission tower",
    16: "wire connector", 17: "bridge deck", 18: "high noise",
}


def _laspy() -> Any:
    return require("laspy", "geo")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _reader_error(path: Path, exc: BaseException) -> Exception:
    """A laspy/lazrs/numpy failure while reading points, as a terranb error."""
    text = _first_line(exc)
    if "LazBackend" in text:  # laspy: "No LazBackend selected, cannot decompress data"
        return MissingDependencyError(
            f"cannot decompress {path}: no LAZ backend is installed; install it with "
            "pip install 'terranb[geo]' (laspy[lazrs])")
    return ResultFormatError(f"point cloud {path} is damaged: {text}; download it again")


def _check_size(p: Path, h: Any, compressed: bool) -> None:
    """Refuse a file too short for what its header announces (a cut download).

    Uncompressed: the point records must fit between the header's offset to point
    data and the end of the file; the message gives how many whole points are there.
    LAZ: the point data must at least hold the 8-byte chunk-table offset, and that
    offset (when written) must lie inside the file.
    """
    size = p.stat().st_size
    start = int(h.offset_to_point_data)
    count = int(h.point_count)
    if size < start:
        raise ResultFormatError(
            f"point cloud {p} is truncated: {size} bytes, but its header and VLRs alone "
            f"take {start} bytes (the header announces {count} points, the file holds 0); "
            "download it again")
    if not count:
        return
    if not compressed:
        rec = int(h.point_format.size)
        need = start + count * rec
        if size < need:
            held = (size - start) // rec
            raise ResultFormatError(
                f"point cloud {p} is truncated: the header announces {count} points "
                f"({need} bytes) but the file is {size} bytes and holds {held} whole points; "
                "download it again")
        return
    if size < start + 8:
        raise ResultFormatError(
            f"point cloud {p} is truncated: the LAZ point data is cut before its chunk "
            f"table offset ({size} bytes, the header announces {count} points); download "
            "it again")
    with p.open("rb") as fh:
        fh.seek(start)
        table = int.from_bytes(fh.read(8), "little", signed=True)
    if table > 0 and table + 8 > size:
        raise ResultFormatError(
            f"point cloud {p} is truncated: its LAZ chunk table should be at byte {table} but "
            f"the file is {size} bytes (the header announces {count} points); download it "
            "again")


@dataclass
class PointSample:
    """A decimated set of points, ready for a viewer or a map layer.

    Attributes:
        xyz: float64 array (n, 3) of real-world coordinates in ``crs``.
        rgb: uint8 array (n, 3), or ``None`` when the format has no colour. LAS colours
            are 16-bit; they are scaled to 8 bits (or kept when a file stores 8-bit
            values in the 16-bit fields, as some writers do).
        classification: uint8 array (n,), or ``None``.
        intensity: uint16 array (n,), or ``None``.
        crs: the CRS of ``xyz`` (``None`` when unknown).
        source_count: number of points in the file the sample was drawn from.
    """

    xyz: np.ndarray
    rgb: np.ndarray | None
    classification: np.ndarray | None
    intensity: np.ndarray | None
    crs: CRS | None
    source_count: int

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    def to_crs(self, crs: Any) -> PointSample:
        """The same points reprojected with pyproj (``crs``: anything ``pyproj.CRS`` accepts).

        Heights are transformed too when both CRSs have a vertical part.

        Raises:
            ResultFormatError: the sample has no CRS to transform from.
        """
        pyproj = require("pyproj", "geo")
        np_ = require("numpy", "geo")
        if self.crs is None:
            raise ResultFormatError("the point cloud has no CRS, so it cannot be reprojected; "
                                    "pass the source CRS with PointCloud.open(path, crs=...)")
        dst = pyproj.CRS.from_user_input(crs)
        tr = pyproj.Transformer.from_crs(self.crs, dst, always_xy=True)
        x, y, z = tr.transform(self.xyz[:, 0], self.xyz[:, 1], self.xyz[:, 2])
        xyz = np_.column_stack([x, y, z]).astype(np_.float64)
        return PointSample(xyz, self.rgb, self.classification, self.intensity, dst,
                           self.source_count)


def _rgb8(record: Any, np_: Any) -> np.ndarray | None:
    names = set(record.point_format.dimension_names)
    if not {"red", "green", "blue"} <= names:
        return None
    rgb = np_.column_stack([np_.asarray(record["red"]), np_.asarray(record["green"]),
                            np_.asarray(record["blue"])])
    if rgb.size and int(rgb.max()) > 255:
        rgb = rgb >> 8
    return rgb.astype(np_.uint8)


def _sample_from_record(record: Any, np_: Any) -> dict[str, Any]:
    names = set(record.point_format.dimension_names)
    return {
        "xyz": np_.column_stack([np_.asarray(record.x), np_.asarray(record.y),
                                 np_.asarray(record.z)]).astype(np_.float64),
        "rgb": _rgb8(record, np_),
        "classification": np_.asarray(record["classification"]).astype(np_.uint8)
        if "classification" in names else None,
        "intensity": np_.asarray(record["intensity"]).astype(np_.uint16)
        if "intensity" in names else None,
    }


def _concat(parts: list[dict[str, Any]], np_: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("xyz", "rgb", "classification", "intensity"):
        vals = [p[key] for p in parts if p[key] is not None]
        if key == "xyz":
            out[key] = np_.concatenate(vals) if vals else np_.empty((0, 3))
        else:
            out[key] = np_.concatenate(vals) if vals and len(vals) == len(parts) else None
    return out


@dataclass
class PointCloud:
    """A LAS/LAZ/COPC file, opened by its header only.

    Attributes:
        path: the file.
        version: LAS version, e.g. ``"1.4"``.
        point_format: point data record format id (0-10).
        point_count: number of points from the header.
        scales, offsets: the integer-to-coordinate scales and offsets.
        mins, maxs: (x, y, z) bounds from the header.
        crs: a :class:`pyproj.CRS` or ``None``.
        crs_source: ``"wkt_vlr"``, ``"geotiff_keys"``, ``"given"`` or ``None``.
        compressed: LAZ; copc: a COPC file (octree-ordered LAZ 1.4).
        generating_software, system_identifier: header strings.
        creation_date: ISO date from the header, if set.
        findings: problems found while opening.
    """

    path: Path
    version: str
    point_format: int
    point_count: int
    scales: tuple[float, float, float]
    offsets: tuple[float, float, float]
    mins: tuple[float, float, float]
    maxs: tuple[float, float, float]
    crs: CRS | None
    crs_source: str | None
    compressed: bool
    copc: bool
    dimensions: list[str]
    generating_software: str
    system_identifier: str
    creation_date: str | None
    vlr_names: list[str]
    findings: list[Finding] = field(default_factory=list)
    _histogram: dict[int, int] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, crs: Any = None) -> PointCloud:
        """Read the header of a LAS/LAZ/COPC file.

        Args:
            path: the file.
            crs: CRS to use when the file names none (e.g. from a DJI Terra report's
                ``"output coordinate"``); ignored when the file has its own.

        Raises:
            ResultFormatError: the file is missing or is not LAS/LAZ.
        """
        laspy = _laspy()
        p = Path(path)
        if not p.is_file():
            raise ResultFormatError(f"point cloud {p} does not exist; check the path")
        findings: list[Finding] = []
        try:
            with laspy.open(p) as reader:
                h = reader.header
                vlrs = list(h.vlrs) + list(h.evlrs or [])
        except Exception as exc:
            raise ResultFormatError(f"cannot read point cloud {p}: {_first_line(exc)}; check "
                                    "that it is a LAS/LAZ file and download it again") from None
        vlr_names = [type(v).__name__ for v in vlrs]
        copc = "CopcInfoVlr" in vlr_names
        compressed = ("LasZipVlr" in vlr_names or p.suffix.lower() == ".laz"
                      or bool(getattr(h, "are_points_compressed", False)))
        _check_size(p, h, compressed)

        parsed: CRS | None = None
        source: str | None = None
        try:
            parsed = h.parse_crs()
        except Exception as exc:
            findings.append(Finding.make("warning", "pointcloud.bad_crs_vlr",
                                         f"the CRS VLRs could not be parsed: {exc}", p))
        if parsed is not None:
            source = "wkt_vlr" if "WktCoordinateSystemVlr" in vlr_names else "geotiff_keys"
        elif crs is not None:
            parsed = crs_from_text(str(crs)) if not hasattr(crs, "to_wkt") else crs
            source = "given" if parsed is not None else None
        if parsed is None:
            findings.append(Finding.make(
                "warning", "pointcloud.no_crs",
                "the file names no CRS (no WKT VLR and no usable GeoTIFF keys): coordinates "
                "cannot be placed on a map; pass crs= (DJI Terra reports name it under "
                "'output coordinate')", p))

        count = int(h.point_count)
        if count == 0:
            findings.append(Finding.make("warning", "pointcloud.empty",
                                         "the file has no points", p))
        date = getattr(h, "creation_date", None)
        pc = cls(
            path=p, version=str(h.version), point_format=int(h.point_format.id), point_count=count,
            scales=tuple(float(v) for v in h.scales),  # type: ignore[arg-type]
            offsets=tuple(float(v) for v in h.offsets),  # type: ignore[arg-type]
            mins=tuple(float(v) for v in h.mins),  # type: ignore[arg-type]
            maxs=tuple(float(v) for v in h.maxs),  # type: ignore[arg-type]
            crs=parsed, crs_source=source, compressed=compressed, copc=copc,
            dimensions=list(h.point_format.dimension_names),
            generating_software=str(getattr(h, "generating_software", "") or "").strip("\x00 "),
            system_identifier=str(getattr(h, "system_identifier", "") or "").strip("\x00 "),
            creation_date=date.isoformat() if date else None, vlr_names=vlr_names,
            findings=findings)
        if not all(math.isfinite(v) for v in (*pc.mins, *pc.maxs, *pc.scales, *pc.offsets)):
            findings.append(Finding.make(
                "warning", "pointcloud.nonfinite_header",
                "the header's bounds, scales or offsets are NaN/inf: bounds are unknown and "
                "coordinates may be NaN", p))
        elif count and any(a > b for a, b in zip(pc.mins, pc.maxs, strict=True)):
            findings.append(Finding.make("warning", "pointcloud.bad_bounds",
                                         "the header's minimum exceeds its maximum", p))
        return pc

    # ------------------------------------------------------------- header facts
    @property
    def bounds(self) -> tuple[float, float, float, float, float, float]:
        """(minx, miny, minz, maxx, maxy, maxz) from the header, in the file's CRS."""
        return (*self.mins, *self.maxs)  # type: ignore[return-value]

    @property
    def bounds_wgs84(self) -> tuple[float, float, float, float] | None:
        """(west, south, east, north) in degrees, or ``None`` without a CRS or finite bounds."""
        if not all(math.isfinite(v) for v in (*self.mins, *self.maxs)):
            return None
        return bounds_to_wgs84(self.crs, (self.mins[0], self.mins[1], self.maxs[0], self.maxs[1]))

    @property
    def area(self) -> float:
        """Area of the x/y bounding box in CRS units squared."""
        return max(0.0, self.maxs[0] - self.mins[0]) * max(0.0, self.maxs[1] - self.mins[1])

    @property
    def density(self) -> float | None:
        """Points per square CRS unit over the x/y bounding box (``None`` for a flat box)."""
        return self.point_count / self.area if self.area > 0 else None

    @property
    def density_per_m2(self) -> float | None:
        """Points per square metre over the bounding box, when the CRS unit is known.

        The bounding box overestimates the covered area of irregular surveys, so this
        is a lower bound of the true density.
        """
        d = self.density
        if d is None or self.crs is None:
            return None
        unit = linear_unit_m(self.crs)
        if unit is not None:
            return d / unit**2
        b = self.bounds_wgs84
        if self.crs.is_geographic and b is not None:
            lat = math.radians((b[1] + b[3]) / 2)
            return d / (111_320.0 * math.cos(lat) * 110_574.0)
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the classification histogram only when already computed)."""
        return {
            "kind": "point_cloud", "path": str(self.path), "version": self.version,
            "point_format": self.point_format, "point_count": self.point_count,
            "compressed": self.compressed, "copc": self.copc, "scales": list(self.scales),
            "offsets": list(self.offsets),
            "bounds": [v if math.isfinite(v) else None for v in self.bounds],
            "bounds_wgs84": list(self.bounds_wgs84) if self.bounds_wgs84 else None,
            "crs": crs_to_json(self.crs), "crs_source": self.crs_source,
            "density": self.density, "density_per_m2": self.density_per_m2,
            "dimensions": self.dimensions, "generating_software": self.generating_software,
            "system_identifier": self.system_identifier, "creation_date": self.creation_date,
            "vlrs": self.vlr_names,
            "classification_histogram": {str(k): v for k, v in self._histogram.items()}
            if self._histogram is not None else None,
            "findings": [f.to_dict() for f in self.findings],
        }

    # ------------------------------------------------------------------ streaming
    def classification_histogram(self, chunk_size: int = _CHUNK) -> dict[int, int]:
        """Point count per classification code, streamed in chunks (cached after the first call)."""
        if self._histogram is not None:
            return self._histogram
        np_ = require("numpy", "geo")
        counts = np_.zeros(256, dtype=np_.int64)
        for chunk in self._chunks(chunk_size):
            if "classification" in chunk.point_format.dimension_names:
                counts += np_.bincount(np_.asarray(chunk["classification"]).astype(np_.uint8),
                                       minlength=256)
        self._histogram = {int(i): int(c) for i, c in enumerate(counts) if c}
        return self._histogram

    def decimate(self, n: int = DEFAULT_SAMPLE_POINTS, *, seed: int = 0,
                 chunk_size: int = _CHUNK, crs: Any = None,
                 use_copc: bool = True) -> PointSample:
        """A uniform random sample of at most ``n`` points, read in bounded memory.

        LAS/LAZ: the ``n`` point indexes are drawn first (without replacement), then the
        file is streamed with ``laspy``'s chunk iterator and each chunk contributes the
        drawn points it holds, so memory is one chunk (``chunk_size`` points) plus the
        sample, and the file is read exactly once, sequentially. The classification
        histogram is collected in the same pass.

        COPC: octree levels are read from the root down until they hold at least ``n``
        points (the upper levels are already a spatially even thinning), then thinned
        at random to ``n``; the deep levels are never read. Memory is the levels read,
        typically a few times ``n`` points (each level holds up to ~4-8x the one above).

        Args:
            n: the most points to return (all points when the file has fewer).
            seed: random seed (same seed, same sample).
            chunk_size: points per chunk while streaming.
            crs: reproject the sample to this CRS (anything pyproj accepts).
            use_copc: set False to stream a COPC file like plain LAZ.

        Returns:
            A :class:`PointSample` (coordinates as float64 in the file's CRS or ``crs``).
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        if self.copc and use_copc and self.point_count > n:
            sample = self._decimate_copc(n, seed)
        else:
            sample = self._decimate_stream(n, seed, chunk_size)
        return sample.to_crs(crs) if crs is not None else sample

    sample = decimate  # alias: the VIZ layer calls either name

    def _decimate_stream(self, n: int, seed: int, chunk_size: int) -> PointSample:
        np_ = require("numpy", "geo")
        total = self.point_count
        rng = np_.random.default_rng(seed)
        if total <= n:
            wanted = None  # keep everything
        else:
            wanted = np_.sort(rng.choice(total, size=n, replace=False, shuffle=False))
        parts: list[dict[str, Any]] = []
        counts = np_.zeros(256, dtype=np_.int64)
        start = 0
        for chunk in self._chunks(chunk_size):
            m = len(chunk)
            if "classification" in chunk.point_format.dimension_names:
                counts += np_.bincount(np_.asarray(chunk["classification"]).astype(np_.uint8),
                                       minlength=256)
            if wanted is None:
                parts.append(_sample_from_record(chunk, np_))
            else:
                lo, hi = np_.searchsorted(wanted, [start, start + m])
                if hi > lo:
                    parts.append(_sample_from_record(chunk[wanted[lo:hi] - start], np_))
            start += m
        if start != total:
            self.findings.append(Finding.make(
                "warning", "pointcloud.count_mismatch",
                f"the header says {total} points but the file holds {start}", self.path))
        elif self._histogram is None:
            self._histogram = {int(i): int(c) for i, c in enumerate(counts) if c}
        arrays = _concat(parts, np_) if parts else _concat([_empty(np_)], np_)
        arrays = self._drop_nonfinite(arrays, np_)
        return PointSample(arrays["xyz"], arrays["rgb"], arrays["classification"],
                           arrays["intensity"], self.crs, total)

    def _chunks(self, chunk_size: int) -> Iterator[Any]:
        """:meth:`_read_chunks`, with laspy/lazrs/numpy failures as terranb errors."""
        try:
            yield from self._read_chunks(chunk_size)
        except (ResultFormatError, MissingDependencyError):
            raise
        except Exception as exc:
            raise _reader_error(self.path, exc) from None

    def _drop_nonfinite(self, arrays: dict[str, Any], np_: Any) -> dict[str, Any]:
        """Sample points with NaN/inf coordinates removed (and counted in a WARNING)."""
        xyz = arrays["xyz"]
        keep = np_.isfinite(xyz).all(axis=1)
        bad = int(xyz.shape[0] - keep.sum())
        if not bad:
            return arrays
        self.findings.append(Finding.make(
            "warning", "pointcloud.nonfinite_points",
            f"{bad} sampled point(s) have NaN/inf coordinates; they were left out of the "
            "sample and its bounds", self.path))
        return {k: (v[keep] if v is not None else None) for k, v in arrays.items()}

    def _read_chunks(self, chunk_size: int) -> Iterator[Any]:
        """Point records in chunks: laspy's iterator, or a faster one for uncompressed LAS.

        For plain LAS the records are read straight into one reused buffer (laspy
        allocates and zero-fills a new one per chunk, which costs as much as the read).
        Each yielded record is only valid until the next one is requested.
        """
        np_ = require("numpy", "geo")
        laspy = _laspy()
        with laspy.open(self.path) as reader:
            h = reader.header
            pf = h.point_format
            dtype = pf.dtype()
            fits = (not self.compressed and dtype.itemsize == pf.size and
                    self.path.stat().st_size >= h.offset_to_point_data + h.point_count * pf.size)
            if not fits:
                yield from reader.chunk_iterator(chunk_size)
                return
            scales, offsets = h.scales, h.offsets
            offset, total = h.offset_to_point_data, h.point_count
        buf = np_.empty(min(chunk_size, max(total, 1)), dtype=dtype)
        raw = buf.view(np_.uint8)
        with self.path.open("rb", buffering=0) as fh:
            fh.seek(offset)
            remaining = total
            while remaining > 0:
                m = min(len(buf), remaining)
                want = m * dtype.itemsize
                got = 0
                while got < want:
                    n = fh.readinto(raw[got:want])
                    if not n:
                        break
                    got += n
                m = got // dtype.itemsize
                if m == 0:
                    break
                yield laspy.ScaleAwarePointRecord(buf[:m], pf, scales, offsets)
                remaining -= m

    def _decimate_copc(self, n: int, seed: int) -> PointSample:
        np_ = require("numpy", "geo")
        laspy = _laspy()
        parts: list[dict[str, Any]] = []
        got = 0
        try:
            with laspy.CopcReader.open(str(self.path)) as reader:
                level = 0
                max_depth = 32
                while got < n and level < max_depth:
                    rec = reader.query(level=level)
                    if len(rec):
                        parts.append(_sample_from_record(rec, np_))
                        got += len(rec)
                    elif level > 0 and got > 0:
                        break  # past the deepest populated level
                    level += 1
        except (ResultFormatError, MissingDependencyError):
            raise
        except Exception as exc:
            raise _reader_error(self.path, exc) from None
        if got == 0 and self.point_count > 0:
            # laspy reads a garbled or misplaced hierarchy page as an empty octree
            raise ResultFormatError(f"{self.path}: the COPC hierarchy lists no points although "
                                    f"the header announces {self.point_count:,}; the file is "
                                    "damaged (download it again)")
        arrays = self._drop_nonfinite(_concat(parts, np_) if parts else
                                      _concat([_empty(np_)], np_), np_)
        m = arrays["xyz"].shape[0]
        if m > n:
            keep = np_.sort(np_.random.default_rng(seed).choice(m, size=n, replace=False))
            arrays = {k: (v[keep] if v is not None else None) for k, v in arrays.items()}
        return PointSample(arrays["xyz"], arrays["rgb"], arrays["classification"],
                           arrays["intensity"], self.crs, self.point_count)


def _empty(np_: Any) -> dict[str, Any]:
    return {"xyz": np_.empty((0, 3), dtype=np_.float64), "rgb": None, "classification": None,
            "intensity": None}
