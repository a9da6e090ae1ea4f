"""Check points: residuals and RMSE of the products against surveyed coordinates.

The user gives a CSV of surveyed points (``name, x, y, z`` and a CRS, either a
``crs`` column or the ``crs=`` argument). For each point:

* **Horizontal** (orthomosaic). Where the CSV has ``ortho_x, ortho_y`` (the
  coordinates the user measured on the orthomosaic, in the same CRS), those are
  used as is (``method = "given"``). Otherwise terranb *locates the target* in
  the orthomosaic: the usual aerial target is a black-and-white 2 x 2
  checkerboard whose centre is the surveyed point. A checkerboard template of
  ``target_size_m`` (default 0.6 m, the common 60 cm panel) is matched by
  normalised cross-correlation inside a window of ``search_radius_m`` around
  the surveyed position, either polarity (a target turned 90 degrees flips the
  sign), and the correlation peak is refined to a fraction of a pixel by a
  parabola fit (``method = "target"``). A peak below ``min_score`` (0.5) is
  "target not found", the point is listed but left out of the RMSE: a check
  point never gets a made-up residual. Targets turned by more than about 20
  degrees from the image axes correlate poorly; give ``ortho_x/ortho_y`` then.
* **Vertical** (DSM, else point cloud). The DSM is sampled bilinearly at the
  surveyed x, y; without a DSM the height is the inverse-distance mean of the
  cloud's points within ``z_radius_m`` (0.25 m) of it. The surveyed ``z`` must
  be in the products' vertical datum (the report states which one that is).

Residual = measured - surveyed, in metres, in the product's CRS (projected CRSs
only: a geographic product gives no metric residual and is reported as such).
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terranb.errors import ValidationError

__all__ = ["CheckPoint", "CheckResult", "PointResidual", "measure", "read_checkpoints"]

NOT_ASSESSED = "No check points given: absolute accuracy not assessed."


@dataclass(frozen=True)
class CheckPoint:
    """One surveyed point (``ortho_x/ortho_y``: optional coordinates measured on the ortho)."""

    name: str
    x: float
    y: float
    z: float | None
    crs: str
    ortho_x: float | None = None
    ortho_y: float | None = None


@dataclass
class PointResidual:
    """Residuals of one check point (metres; ``None`` where not measured)."""

    name: str
    x: float
    y: float
    z: float | None
    dx: float | None = None
    dy: float | None = None
    dz: float | None = None
    method: str = ""
    z_source: str = ""
    score: float | None = None
    note: str = ""

    @property
    def dxy(self) -> float | None:
        """Horizontal residual length."""
        return None if self.dx is None or self.dy is None else math.hypot(self.dx, self.dy)


@dataclass
class CheckResult:
    """Per-point residuals and the RMSE over the points measured."""

    points: list[PointResidual] = field(default_factory=list)
    crs: str = ""
    gsd_m: float | None = None

    def _rmse(self, attr: str) -> float | None:
        vals = [getattr(p, attr) for p in self.points if getattr(p, attr) is not None]
        return math.sqrt(sum(v * v for v in vals) / len(vals)) if vals else None

    @property
    def rmse_x(self) -> float | None:
        """RMSE of the east residuals."""
        return self._rmse("dx")

    @property
    def rmse_y(self) -> float | None:
        """RMSE of the north residuals."""
        return self._rmse("dy")

    @property
    def rmse_z(self) -> float | None:
        """RMSE of the height residuals."""
        return self._rmse("dz")

    @property
    def rmse_xy(self) -> float | None:
        """Horizontal RMSE (sqrt(RMSE_x² + RMSE_y²))."""
        x, y = self.rmse_x, self.rmse_y
        return None if x is None or y is None else math.hypot(x, y)


def _float(row: dict[str, str], key: str, where: str, required: bool = True) -> float | None:
    raw = (row.get(key) or "").strip()
    if not raw:
        if required:
            raise ValidationError(f"{where}: column {key!r} is empty; every check point needs "
                                  "name, x, y, z")
        return None
    try:
        v = float(raw)
    except ValueError:
        raise ValidationError(f"{where}: {key}={raw!r} is not a number; write coordinates as "
                              "plain numbers (decimal point, no units or degree signs)") from None
    if not math.isfinite(v):
        raise ValidationError(f"{where}: {key}={raw!r} is not a finite number")
    return v


def read_checkpoints(path: str | os.PathLike[str], crs: str | None = None) -> list[CheckPoint]:
    """Read a check-point CSV (header ``name,x,y,z[,crs][,ortho_x,ortho_y]``).

    ``x`` is easting or longitude, ``y`` northing or latitude. The CRS comes from
    the ``crs`` column (e.g. ``EPSG:32650``) or, for every row, from ``crs``.

    Raises:
        ValidationError: missing file or column, a value that is not a number, no CRS.
    """
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValidationError(f"cannot read check points {p}: {exc.strerror or exc}; "
                              "pass a CSV with the columns name,x,y,z,crs") from None
    lines = [line for line in text.splitlines() if line.strip()
             and not line.lstrip().startswith("#")]
    if not lines:
        raise ValidationError(f"{p} is empty; give a CSV with the header "
                              "name,x,y,z[,crs][,ortho_x,ortho_y] and one row per point")
    reader = csv.DictReader(lines)
    cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
    missing = [c for c in ("name", "x", "y", "z") if c not in cols]
    if missing:
        raise ValidationError(f"{p}: missing column(s) {', '.join(missing)}; the header must "
                              "be name,x,y,z[,crs][,ortho_x,ortho_y]")
    out: list[CheckPoint] = []
    for i, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "") for k, v in raw.items() if k is not None}
        where = f"{p.name} line {i}"
        point_crs = (row.get("crs") or "").strip() or crs
        if not point_crs:
            raise ValidationError(f"{where}: no CRS; add a crs column (e.g. EPSG:32650) or "
                                  "pass --check-points-crs")
        x, y = _float(row, "x", where), _float(row, "y", where)
        assert x is not None and y is not None
        out.append(CheckPoint(row["name"].strip() or f"P{i - 1}", x, y,
                              _float(row, "z", where, required=False), point_crs,
                              _float(row, "ortho_x", where, False),
                              _float(row, "ortho_y", where, False)))
    if not out:
        raise ValidationError(f"{p}: no check points in the file; add one row per point under "
                              "the header")
    for name in sorted({cp.crs for cp in out}):
        _check_crs(name, p)
    return out


def _check_crs(name: str, path: Path) -> None:
    """Refuse a CRS pyproj does not know, naming it, before any measuring starts."""
    from terranb.results.crs import crs_from_text

    if crs_from_text(name) is None:
        raise ValidationError(f"{path.name}: unknown CRS {name!r}; give an EPSG code such as "
                              "EPSG:32650 (UTM) or EPSG:4326 (latitude/longitude)")


# ----------------------------------------------------------------------------- measuring


def _checker(n: int, np: Any) -> Any:
    """An n x n 2x2 checkerboard (+1/-1), centre on the corner between the middle pixels."""
    half = np.where(np.arange(n) < n / 2, 1.0, -1.0)
    return np.outer(half, half)


def _parabola(a: float, b: float, c: float) -> float:
    den = a - 2 * b + c
    return 0.0 if den == 0 else max(-0.5, min(0.5, 0.5 * (a - c) / den))


def locate_target(ortho: Any, x: float, y: float, *, target_size_m: float = 0.6,
                  search_radius_m: float = 2.0) -> tuple[float, float, float] | None:
    """Centre of the checkerboard target nearest (x, y) in the ortho's CRS: (x, y, score)."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    t = ortho.transform
    gsd = abs(t.a)
    n = max(4, 2 * round(target_size_m / gsd / 2))  # even: the centre is a pixel corner
    r = math.ceil(search_radius_m / gsd)
    inv = ~t
    col, row = inv @ (x, y)
    c0, r0 = math.floor(col) - r - n // 2, math.floor(row) - r - n // 2
    size = 2 * r + n + 1
    with rasterio.open(ortho.path) as src:
        bands = [b for b in (1, 2, 3) if b <= src.count]
        win = Window(c0, r0, size, size)
        data = src.read(bands, window=win, boundless=True, fill_value=0).astype("float64")
    gray = data.mean(axis=0)
    if not np.any(gray):
        return None
    tpl = _checker(n, np)
    tpl = (tpl - tpl.mean()) / tpl.std()
    win_v = np.lib.stride_tricks.sliding_window_view(gray, (n, n))
    sd = win_v.std(axis=(2, 3))
    corr = np.einsum("ijkl,kl->ij", win_v, tpl) / (n * n)
    score = np.where(sd > 1e-6, corr / np.maximum(sd, 1e-6), 0.0)
    mag = np.abs(score)
    i, j = np.unravel_index(int(np.argmax(mag)), mag.shape)
    best = float(mag[i, j])
    di = _parabola(mag[i - 1, j], mag[i, j], mag[i + 1, j]) if 0 < i < mag.shape[0] - 1 else 0.0
    dj = _parabola(mag[i, j - 1], mag[i, j], mag[i, j + 1]) if 0 < j < mag.shape[1] - 1 else 0.0
    # window top-left at (c0 + j, r0 + i); the target centre is n/2 pixels in
    cc, rr = c0 + j + dj + n / 2, r0 + i + di + n / 2
    mx, my = t @ (cc, rr)
    return float(mx), float(my), best


def _bilinear(raster: Any, x: float, y: float) -> float | None:
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    col, row = ~raster.transform @ (x, y)
    c, r = col - 0.5, row - 0.5  # pixel centres
    c0, r0 = math.floor(c), math.floor(r)
    with rasterio.open(raster.path) as src:
        vals = src.read(1, window=Window(c0, r0, 2, 2), boundless=True,
                        fill_value=np.nan, masked=True).astype("float64").filled(np.nan)
    if vals.shape != (2, 2) or not np.all(np.isfinite(vals)):
        return None
    fc, fr = c - c0, r - r0
    top = vals[0, 0] * (1 - fc) + vals[0, 1] * fc
    bot = vals[1, 0] * (1 - fc) + vals[1, 1] * fc
    return float(top * (1 - fr) + bot * fr)


def _cloud_heights(pc: Any, pts: list[tuple[float, float]], radius: float
                   ) -> list[float | None]:
    import numpy as np

    acc = [[0.0, 0.0] for _ in pts]
    for rec in pc._chunks(1_000_000):
        xs, ys, zs = (np.asarray(rec.x), np.asarray(rec.y), np.asarray(rec.z))
        for k, (px, py) in enumerate(pts):
            d = np.hypot(xs - px, ys - py)
            near = d < radius
            if near.any():
                w = 1.0 / np.maximum(d[near], 0.01)
                acc[k][0] += float(np.sum(w * zs[near]))
                acc[k][1] += float(np.sum(w))
    return [a / b if b > 0 else None for a, b in acc]


def measure(points: list[CheckPoint], ortho: Any = None, dsm: Any = None, cloud: Any = None, *,
            target_size_m: float = 0.6, search_radius_m: float = 2.0, min_score: float = 0.5,
            z_radius_m: float = 0.25) -> CheckResult:
    """Residuals of ``points`` on the products (see the module text for how)."""
    from pyproj import CRS, Transformer

    from terranb.results.crs import crs_from_text

    ref = next((p for p in (ortho, dsm, cloud) if p is not None and p.crs is not None), None)
    if ref is None:
        raise ValidationError("no georeferenced orthomosaic, DSM or point cloud to check against")
    crs = CRS.from_user_input(ref.crs)
    if not crs.is_projected:
        raise ValidationError(f"the products are in {crs.name}, a geographic CRS; residuals in "
                              "metres need a projected output CRS")
    result = CheckResult(crs=crs.name, gsd_m=abs(ortho.transform.a) if ortho is not None else None)
    local: list[tuple[float, float]] = []
    for cp in points:
        # the parser the CSV was checked with (it also takes a bare EPSG number)
        tr = Transformer.from_crs(crs_from_text(cp.crs), crs, always_xy=True)
        x, y = tr.transform(cp.x, cp.y)
        res = PointResidual(cp.name, float(x), float(y), cp.z)
        if ortho is not None:
            if cp.ortho_x is not None and cp.ortho_y is not None:
                ox, oy = tr.transform(cp.ortho_x, cp.ortho_y)
                res.dx, res.dy, res.method = float(ox) - x, float(oy) - y, "given"
            else:
                hit = locate_target(ortho, x, y, target_size_m=target_size_m,
                                    search_radius_m=search_radius_m)
                if hit is None or hit[2] < min_score:
                    res.method = "target not found"
                    res.score = None if hit is None else round(hit[2], 2)
                    res.note = (f"no checkerboard within {search_radius_m} m (best score "
                                f"{res.score}); left out of the RMSE")
                else:
                    res.dx, res.dy = hit[0] - x, hit[1] - y
                    res.method, res.score = "target", round(hit[2], 2)
        local.append((float(x), float(y)))
        result.points.append(res)
    if dsm is not None and dsm.crs is not None:
        for res in result.points:
            h = _bilinear(dsm, res.x, res.y)
            if h is not None and res.z is not None:
                res.dz, res.z_source = h - res.z, "DSM (bilinear)"
    elif cloud is not None and cloud.crs is not None:
        for res, h in zip(result.points, _cloud_heights(cloud, local, z_radius_m), strict=True):
            if h is not None and res.z is not None:
                res.dz, res.z_source = h - res.z, f"point cloud (IDW within {z_radius_m} m)"
    return result
