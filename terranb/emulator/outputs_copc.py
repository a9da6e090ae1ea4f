"""Rewrite a LAS 1.4 cloud as COPC (Cloud Optimized Point Cloud) with copc-lib.

Why copc-lib (PyPI ``copclib``): it is the maintained C++ COPC writer with
manylinux wheels, so ``pip install`` is all it takes; laspy (2.7) reads COPC but
cannot write it, and PDAL's ``writers.copc`` would need the PDAL C++ library,
which this platform's Debian has no package of (and the PyPI ``pdal`` package
only binds an installed PDAL).

copc-lib writes what it is given node by node (LAZ compression, hierarchy,
header, VLRs); choosing which point goes to which octree node is ours:

* the octree cube is centred on the cloud's bounds, half-size = half the largest
  extent;
* depth ``d`` has ``GRID * 2^d`` sampling cells along each axis; in a random order
  of the points, the first point of each cell not yet sampled at a shallower depth
  goes to depth ``d`` (so each level is a uniform, unbiased subsample twice as dense
  as the previous one and every node has a non-empty parent);
* a point of depth ``d`` goes to the node ``(d, x, y, z)`` that contains it.

``spacing`` in the COPC info VLR is the cell size at depth 0. The whole cloud is
held in memory once (the emulator's outputs are thinned; a point costs ~40 bytes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from terranb.emulator.outputs_common import atomic_path
from terranb.errors import ValidationError, require

__all__ = ["GRID", "write_copc"]

GRID = 128
_MAX_DEPTH = 14  # GRID * 2^14 cells still pack into 63 bits (3 x 21 bits)


def _levels(np: Any, ijk_unit: Any, seed: int) -> Any:
    """Depth of every point (see the module docstring)."""
    n = len(ijk_unit)
    depth = np.full(n, -1, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(n)
    remaining = order
    for d in range(_MAX_DEPTH + 1):
        if remaining.size == 0:
            break
        if d == _MAX_DEPTH:
            depth[remaining] = d
            break
        cells = GRID * 2**d
        c = np.minimum((ijk_unit[remaining] * cells).astype(np.int64), cells - 1)
        key = (c[:, 0] << 42) | (c[:, 1] << 21) | c[:, 2]
        _, first = np.unique(key, return_index=True)
        depth[remaining[first]] = d
        keep = np.ones(remaining.size, dtype=bool)
        keep[first] = False
        remaining = remaining[keep]
    return depth


def write_copc(src: Path, dst: Path, *, seed: int = 0) -> int:
    """Write ``src`` (LAS 1.4, point format 6/7/8) as a COPC file at ``dst``; returns nodes.

    Raises:
        ValidationError: the cloud is empty or not in a COPC point format.
    """
    laspy = require("laspy", "geo")
    np = require("numpy", "geo")
    copc = require("copclib", "emulator")
    las = laspy.read(str(src))
    header = las.header
    fmt = header.point_format.id
    if fmt not in (6, 7, 8):
        raise ValidationError(f"COPC needs LAS point format 6, 7 or 8, not {fmt}")
    n = len(las.points)
    if n == 0:
        raise ValidationError("an empty cloud cannot be written as COPC")
    xyz = np.column_stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)])
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    centre = (lo + hi) / 2
    half = float(max((hi - lo).max() / 2, 1e-3)) * (1 + 1e-9) + float(max(header.scales))
    unit = (xyz - (centre - half)) / (2 * half)  # in [0, 1)
    depth = _levels(np, unit, seed)
    side = 2 ** depth
    nodes = np.minimum((unit * side[:, None]).astype(np.int64), (side - 1)[:, None])
    node_key = (depth << 57) | (nodes[:, 0] << 38) | (nodes[:, 1] << 19) | nodes[:, 2]
    order = np.argsort(node_key, kind="stable")
    keys, starts = np.unique(node_key[order], return_index=True)
    ends = np.r_[starts[1:], n]
    records = las.points.array  # raw point records in the file's own layout
    wkt = header.parse_crs().to_wkt() if header.parse_crs() is not None else ""
    if header.point_format.num_extra_bytes:
        raise ValidationError("clouds with extra bytes are not converted to COPC here")
    cfg = copc.CopcConfigWriter(fmt, copc.Vector3(*(float(s) for s in header.scales)),
                                copc.Vector3(*(float(o) for o in header.offsets)), wkt)
    cfg.las_header.min = copc.Vector3(*(float(v) for v in lo))
    cfg.las_header.max = copc.Vector3(*(float(v) for v in hi))
    cfg.copc_info.center_x, cfg.copc_info.center_y, cfg.copc_info.center_z = (
        float(v) for v in centre)
    cfg.copc_info.halfsize = half
    cfg.copc_info.spacing = 2 * half / GRID
    with atomic_path(dst) as tmp:
        writer = copc.FileWriter(str(tmp), cfg)
        try:
            for key, a, b in zip(keys.tolist(), starts.tolist(), ends.tolist(), strict=True):
                d, x = key >> 57, (key >> 38) & 0x7FFFF
                y, z = (key >> 19) & 0x7FFFF, key & 0x7FFFF
                raw = np.frombuffer(np.ascontiguousarray(records[order[a:b]]).tobytes(), np.int8)
                writer.AddNode(copc.VoxelKey(int(d), int(x), int(y), int(z)),
                               copc.VectorChar(raw))
        finally:
            writer.Close()
    return len(keys)
