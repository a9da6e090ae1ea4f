"""Where a tileset sits on the Earth: the root transform (local frame -> ECEF) and back.

A DJI/terranb model lives in a projected CRS, relative to an origin (``SRSOrigin``
of metadata.xml). 3D Tiles wants ECEF (EPSG:4978) metres. The map from the local
projected frame to ECEF is not exactly rigid (grid convergence, scale factor), so
:func:`local_to_ecef` fits the affine 4x4 that best maps a 3 x 3 x 3 lattice of
the model's bounding box through pyproj: over a few kilometres the residual is
millimetres, and the result is a valid 3D Tiles ``transform`` (any affine is).

:func:`ecef_plausible` is the reader's sanity check: a transform whose
translation is not within 20 km of the WGS 84 ellipsoid surface, or whose axes
are not roughly unit length, is not an ECEF placement (a local-coordinates
tileset written without georeferencing, or a row/column-major mix-up).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from terranb.errors import require

if TYPE_CHECKING:
    import numpy as np
    from pyproj import CRS

__all__ = ["ecef_plausible", "ecef_to_crs", "local_to_ecef", "mat4", "to_column_major"]

_A = 6_378_137.0  # WGS 84 semi-major axis (m)
_B = 6_356_752.314245  # semi-minor axis (m)


def _to_ecef(crs: CRS) -> Any:
    pyproj = require("pyproj", "geo")
    src = crs.to_3d() if hasattr(crs, "to_3d") else crs
    return pyproj.Transformer.from_crs(src, pyproj.CRS.from_epsg(4978), always_xy=True)


def local_to_ecef(crs: CRS, origin: tuple[float, float, float],
                  bounds_local: tuple[float, float, float, float, float, float]) -> np.ndarray:
    """4x4 (row-major) affine from ``origin``-relative coordinates in ``crs`` to ECEF.

    Heights are taken as ellipsoidal (DJI's default ``override_vertical_cs`` "").
    """
    np = require("numpy", "geo")
    x0, y0, z0, x1, y1, z1 = bounds_local
    pad = max(1.0, x1 - x0, y1 - y0) * 0.05
    xs = np.linspace(x0 - pad, x1 + pad, 3)
    ys = np.linspace(y0 - pad, y1 + pad, 3)
    zs = np.linspace(z0 - pad, z1 + pad, 3)
    g = np.stack(np.meshgrid(xs, ys, zs, indexing="ij"), -1).reshape(-1, 3)
    ex, ey, ez = _to_ecef(crs).transform(g[:, 0] + origin[0], g[:, 1] + origin[1],
                                         g[:, 2] + origin[2])
    ecef = np.stack([ex, ey, ez], 1)
    design = np.concatenate([g, np.ones((len(g), 1))], 1)
    sol, *_ = np.linalg.lstsq(design, ecef, rcond=None)  # (4, 3)
    m = np.eye(4)
    m[:3, :] = sol.T
    return m


def to_column_major(m: Any) -> list[float]:
    """The 16 numbers of a 3D Tiles ``transform`` (column-major) from a 4x4 row-major matrix."""
    np = require("numpy", "geo")
    return [float(v) for v in np.asarray(m, dtype=np.float64).T.reshape(-1)]


def mat4(transform: Any) -> np.ndarray:
    """Row-major 4x4 from a 3D Tiles column-major ``transform`` list (identity for None)."""
    np = require("numpy", "geo")
    if transform is None:
        return np.eye(4)
    a = np.asarray(transform, dtype=np.float64)
    if a.shape != (16,) or not np.all(np.isfinite(a)):
        raise ValueError("transform must be 16 finite numbers")
    return a.reshape(4, 4).T


def ecef_plausible(m: Any) -> str:
    """``""`` when the 4x4 places a local frame on the Earth's surface in ECEF, else why not."""
    np = require("numpy", "geo")
    m = np.asarray(m, dtype=np.float64)
    t = m[:3, 3]
    x, y, z = (float(v) for v in t)
    r = math.hypot(x, y)
    if r == 0.0 and z == 0.0:
        return "its translation is (0, 0, 0): the tileset is in local coordinates, not ECEF"
    # Height above the ellipsoid, good to metres for this purpose (Bowring-free estimate).
    lat = math.atan2(z, r * (1 - (1 - _B**2 / _A**2)))
    surface = math.hypot(_A * math.cos(lat), _B * math.sin(lat))
    height = math.hypot(r, z) - surface
    if not -20_000.0 <= height <= 20_000.0:
        return (f"its translation is {height / 1000:,.1f} km from the WGS 84 ellipsoid, "
                "not a point on the Earth (is the transform column-major ECEF?)")
    scales = np.linalg.norm(m[:3, :3], axis=0)
    if not np.all((scales > 0.2) & (scales < 5.0)):
        return f"its axes have lengths {np.round(scales, 3).tolist()}, not a metric frame"
    return ""


def ecef_to_crs(xyz: Any, crs: CRS) -> np.ndarray:
    """ECEF (N, 3) to ``crs`` (x, y, ellipsoidal height)."""
    np = require("numpy", "geo")
    a = np.asarray(xyz, dtype=np.float64)
    x, y, z = _to_ecef(crs).transform(a[:, 0], a[:, 1], a[:, 2], direction="INVERSE")
    return np.stack([x, y, z], 1)
