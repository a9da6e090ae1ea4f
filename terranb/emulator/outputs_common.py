"""Helpers shared by the emulator's output producers (2D, 3D, LiDAR, 3DGS).

Atomic file writing, the output CRS named by a job's ``output_geo_desc``,
progress stages, the ``mission.json`` summary and the selection of input files
by type. Nothing here computes outputs itself.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.errors import ValidationError, require

if TYPE_CHECKING:
    from pyproj import CRS

__all__ = [
    "OutputJob",
    "Progress",
    "atomic_path",
    "output_crs",
    "param",
    "photos_of",
    "pointclouds_of",
    "write_json",
    "write_mission",
]

ProgressFn = Callable[[float, str], None]

PHOTO_SUFFIXES = (".jpg", ".jpeg")
POINTCLOUD_SUFFIXES = (".las", ".laz")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success it replaces ``path`` atomically.

    Example:
        >>> with atomic_path(Path("/tmp/x.txt")) as tmp:  # doctest: +SKIP
        ...     tmp.write_text("done")
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True), "utf-8")


def write_text(path: Path, text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, "utf-8")


def param(parameters: dict[str, Any], name: str, default: Any = None) -> Any:
    """``parameters["parameter"][name]`` (case-insensitive key), else ``default``."""
    section = parameters.get("parameter") if isinstance(parameters, dict) else None
    if not isinstance(section, dict):
        return default
    if name in section:
        return section[name]
    lower = name.lower()
    for key, value in section.items():
        if key.lower() == lower:
            return value
    return default


def as_bool(value: Any, default: bool) -> bool:
    """A JSON flag that may arrive as bool, number or string."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def as_float(value: Any, default: float) -> float:
    """A JSON number that may arrive as a string; ``default`` when absent or invalid."""
    try:
        return float(value) if value is not None and value != "" else default
    except (TypeError, ValueError):
        return default


def output_crs(parameters: dict[str, Any]) -> CRS | None:
    """The CRS named by ``parameter.output_geo_desc``; ``None`` means automatic.

    ``geo_cs_wkt`` wins over ``geo_cs`` (``"EPSG:32650"``). ``LOCAL_CS`` and
    ``LOCAL_ENU_CS`` without a WKT are treated as automatic (the emulator writes
    projected UTM coordinates then).

    Raises:
        ValidationError: the geo-desc names a CRS pyproj does not know.
    """
    desc = param(parameters, "output_geo_desc")
    if not isinstance(desc, dict) or not desc:
        return None
    pyproj = require("pyproj", "geo")
    wkt = str(desc.get("geo_cs_wkt") or "").strip()
    code = str(desc.get("geo_cs") or "").strip()
    for text in (wkt, code):
        if not text:
            continue
        try:
            return pyproj.CRS.from_user_input(f"EPSG:{text}" if text.isdigit() else text)
        except Exception as exc:
            raise ValidationError(
                f"output_geo_desc names an unknown coordinate system {text[:80]!r}; "
                'use an EPSG code such as "EPSG:32650"'
            ) from exc
    return None


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS 84 UTM zone CRS of a point."""
    pyproj = require("pyproj", "geo")
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def srs_text(crs: CRS) -> str:
    """``EPSG:xxxx`` when the CRS has a code, else its WKT."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def photos_of(inputs: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """The JPEG photos among the inputs, sorted by name."""
    return sorted((n, p) for n, p in inputs if n.lower().endswith(PHOTO_SUFFIXES))


def pointclouds_of(inputs: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """The LAS/LAZ files among the inputs, sorted by name."""
    return sorted((n, p) for n, p in inputs if n.lower().endswith(POINTCLOUD_SUFFIXES))


class Progress:
    """Maps stage-local fractions onto the job's 0..1 progress.

    Example:
        >>> seen = []
        >>> p = Progress(lambda f, m: seen.append(round(f, 2)), [("a", 1), ("b", 3)])
        >>> p.stage("a"); p.update(1.0); p.stage("b"); p.update(0.5); p.done()
        >>> seen
        [0.0, 0.25, 0.25, 0.62, 1.0]
    """

    def __init__(self, callback: ProgressFn | None, stages: list[tuple[str, float]]) -> None:
        self.callback = callback
        total = sum(w for _, w in stages) or 1.0
        self._spans: dict[str, tuple[float, float]] = {}
        start = 0.0
        for name, weight in stages:
            self._spans[name] = (start, weight / total)
            start += weight / total
        self._current = stages[0][0] if stages else ""
        self._message = self._current
        self._last = -1.0

    def stage(self, name: str, message: str | None = None) -> None:
        """Enter a stage."""
        self._current = name
        self._message = message or name
        self.update(0.0)

    def update(self, fraction: float, message: str | None = None) -> None:
        """Report progress within the current stage (monotonic overall)."""
        start, width = self._spans.get(self._current, (0.0, 0.0))
        value = min(1.0, max(self._last, start + width * min(1.0, max(0.0, fraction))))
        if message:
            self._message = message
        self._last = value
        if self.callback is not None:
            self.callback(value, self._message)

    def done(self, message: str = "done") -> None:
        """Report completion."""
        self._last = 1.0
        if self.callback is not None:
            self.callback(1.0, message)


def write_mission(
    out_dir: Path,
    job_type: str,
    parameters: dict[str, Any],
    inputs: list[tuple[str, Path]],
    produced: list[str],
    extra: dict[str, Any] | None = None,
) -> str:
    """Write ``mission.json`` at the root of the result tree; returns its relative path.

    DJI's own mission.json content is not documented (protocol.md §2.9 lists
    only its name); this one records what the emulator did: job type, the
    parameters received, input counts and the files produced.
    """
    doc: dict[str, Any] = {
        "generator": "terranb emulator (stand-in outputs computed from the inputs)",
        "job type": job_type,
        "parameters": parameters,
        "input files": len(inputs),
        "input bytes": sum(p.stat().st_size for _, p in inputs if p.exists()),
        "output files": sorted(produced),
        "created": int(time.time()),
    }
    if extra:
        doc.update(extra)
    write_json(out_dir / "mission.json", doc)
    return "mission.json"


@dataclass(frozen=True)
class OutputJob:
    """What every ``produce_*`` gets from the engine, and how it reads and records it.

    ``parameters`` is the decoded job object (``{"parameter": {...}, ...}``), ``inputs``
    the ``(relative name, local file)`` pairs of the input resource, ``out_dir`` the root
    of the result tree; the knobs are the engine's (not every producer uses each).
    """

    parameters: dict[str, Any]
    inputs: list[tuple[str, Path]]
    out_dir: Path
    progress: Progress
    seed: int = 0
    max_pixels: int = 40_000_000
    chunk_points: int = 500_000

    def flag(self, name: str, default: bool) -> bool:
        """``parameter.<name>`` as a flag (bool, number or string)."""
        return as_bool(param(self.parameters, name), default)

    def number(self, name: str, default: float) -> float:
        """``parameter.<name>`` as a number (``default`` when absent or invalid)."""
        return as_float(param(self.parameters, name), default)

    def crs(self) -> CRS | None:
        """The CRS of ``parameter.output_geo_desc`` (``None``: automatic)."""
        return output_crs(self.parameters)

    def mission(self, job_type: str, produced: list[str], extra: dict[str, Any]) -> str:
        """Write ``mission.json`` listing ``produced`` and itself; returns its path."""
        return write_mission(
            self.out_dir, job_type, self.parameters, self.inputs, [*produced, "mission.json"],
            extra,
        )
