"""Read a 3D Gaussian Splatting PLY (``3dgs/point_cloud.ply``) as coloured points.

A 3DGS result is a binary PLY with one ``vertex`` element per splat: position
(``x y z``), spherical-harmonics colour (``f_dc_0..2``, optionally ``f_rest_*``),
``opacity`` (a logit), ``scale_*`` (log) and ``rot_*``. terranb has no splat
renderer: it shows each splat's centre as a point coloured by its base (DC)
colour, which is what a viewer needs to judge coverage and placement. Plain
point PLYs (``red green blue`` uchar) read the same way.

The file is memory-mapped and sampled, so a multi-GB splat file costs only the
sample. Only binary PLY is read (every 3DGS trainer writes binary); list
properties (faces) after the vertex element are ignored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.errors import ResultFormatError, require
from terranb.results.decimate import subsample_indices

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SplatSample", "read_splats"]

#: Spherical-harmonics band-0 constant: colour = 0.5 + SH_C0 * f_dc (the 3DGS convention).
SH_C0 = 0.28209479177387814
_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2",
          "int16": "i2", "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4",
          "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4", "double": "f8",
          "float64": "f8"}
_MAX_HEADER = 1 << 16


@dataclass(frozen=True)
class SplatSample:
    """Splat centres drawn from a PLY (a ``PointSampleLike`` for the 3D viewer).

    Attributes:
        xyz: float64 (n, 3) splat centres, in the file's frame (DJI/terranb 3DGS files
            are relative to the origin in ``metadata.xml`` beside them).
        rgb: uint8 (n, 3) base colours, or ``None`` when the file has none.
        opacity: float32 (n,) opacity 0..1 (sigmoid of the stored logit), or ``None``.
        classification: always ``None`` (splats have no classes).
        source_count: splats in the file.
        properties: the vertex property names, in file order.
    """

    xyz: np.ndarray
    rgb: np.ndarray | None
    opacity: np.ndarray | None
    classification: None
    source_count: int
    properties: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


def _header(path: Path) -> tuple[str, list[tuple[str, int, list[tuple[str, str]]]], int]:
    with open(path, "rb") as fh:
        head = fh.read(_MAX_HEADER)
    if not head.startswith(b"ply"):
        raise ResultFormatError(f"{path} is not a PLY file (it does not start with 'ply')")
    end = head.find(b"end_header")
    if end < 0:
        raise ResultFormatError(f"{path}: PLY header has no end_header within 64 KiB")
    stop = head.index(b"\n", end) + 1
    fmt = ""
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []
    for raw in head[:stop].decode("ascii", "replace").splitlines():
        words = raw.split()
        if not words:
            continue
        if words[0] == "format" and len(words) >= 2:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3:
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property" and elements:
            if words[1] == "list":
                elements[-1][2].append((words[-1], "list"))
            elif len(words) == 3 and words[1] in _TYPES:
                elements[-1][2].append((words[2], _TYPES[words[1]]))
            else:
                raise ResultFormatError(f"{path}: unknown PLY property line {raw!r}")
    return fmt, elements, stop


def read_splats(path: str | os.PathLike[str], max_points: int = 500_000, *,
                seed: int = 0) -> SplatSample:
    """Sample up to ``max_points`` splats of a binary PLY (memory-mapped).

    Raises:
        ResultFormatError: not a PLY, ASCII PLY, no ``vertex`` element first, no
            ``x y z``, or the file is shorter than its header says (truncated download).
    """
    np_ = require("numpy", "geo")
    p = Path(path)
    if not p.is_file():
        raise ResultFormatError(f"{p} does not exist; check the path")
    fmt, elements, offset = _header(p)
    order = {"binary_little_endian": "<", "binary_big_endian": ">"}.get(fmt)
    if order is None:
        raise ResultFormatError(
            f"{p}: PLY format {fmt or 'unknown'!r} is not read; terranb reads binary PLY "
            "(re-save it as binary, e.g. with trimesh or CloudCompare)")
    if not elements or elements[0][0] != "vertex":
        raise ResultFormatError(f"{p}: the first PLY element is not 'vertex'")
    _, count, props = elements[0]
    if any(t == "list" for _, t in props):
        raise ResultFormatError(f"{p}: the vertex element has list properties; not a splat file")
    names = [n for n, _ in props]
    if not {"x", "y", "z"} <= set(names):
        raise ResultFormatError(f"{p}: the vertex element has no x, y, z properties")
    dtype = np_.dtype([(n, order + t) for n, t in props])
    need = offset + count * dtype.itemsize
    size = p.stat().st_size
    if size < need:
        raise ResultFormatError(
            f"{p} is truncated: {size} bytes, its header announces {count} splats "
            f"({need} bytes); download the result again")
    if count == 0:
        raise ResultFormatError(f"{p} holds no splats")
    rows: Any = np_.memmap(p, dtype=dtype, mode="r", offset=offset, shape=(count,))
    sample = rows[subsample_indices(count, max_points, seed)]
    xyz = np_.column_stack([sample[a].astype(np_.float64) for a in ("x", "y", "z")])
    rgb = None
    if {"f_dc_0", "f_dc_1", "f_dc_2"} <= set(names):
        dc = np_.column_stack([sample[f"f_dc_{i}"].astype(np_.float64) for i in range(3)])
        rgb = np_.clip((0.5 + SH_C0 * dc) * 255.0 + 0.5, 0, 255).astype(np_.uint8)
    elif {"red", "green", "blue"} <= set(names):
        cols = np_.column_stack([sample[c] for c in ("red", "green", "blue")])
        if cols.dtype.kind == "f":
            cols = cols * 255.0 if float(np_.nanmax(cols, initial=0.0)) <= 1.0 else cols
        rgb = np_.clip(cols, 0, 255).astype(np_.uint8)
    opacity = None
    if "opacity" in names:
        opacity = (1.0 / (1.0 + np_.exp(-sample["opacity"].astype(np_.float64)))).astype(
            np_.float32)
    ok = np_.all(np_.isfinite(xyz), axis=1)
    if not ok.all():
        xyz, rgb = xyz[ok], None if rgb is None else rgb[ok]
        opacity = None if opacity is None else opacity[ok]
    del rows
    return SplatSample(xyz, rgb, opacity, None, count, tuple(names))
