"""A small numpy software renderer for the 3D viewer's static PNG fallback.

Reports (PDF, e-mail, GitHub previews) cannot run WebGL, so ``Scene3D.to_png``
draws the same layers with an orthographic camera here: points are splatted as
small squares, triangles are scan-converted with barycentric coordinates
(texture looked up per pixel, or vertex colours with Lambert shading), and each
vectorised batch of fragments is resolved into a z-buffer as soon as it is made,
so memory is the image plus one batch (``_MAX_BATCH`` fragments), whatever the
number of points or faces. Triangles are bucketed by screen size so each bucket is
processed as one vectorised batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from terranb.errors import require

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Camera", "render"]

_MAX_BATCH = 2_000_000  # candidate pixels per vectorised batch (bounds memory)


@dataclass(frozen=True)
class Camera:
    """Orthographic camera looking at the scene centre.

    Attributes:
        azimuth: compass direction the camera stands in, degrees clockwise from
            north (+y): 180 stands south of the scene, looking north.
        elevation: degrees above the horizon (90 looks straight down).
    """

    azimuth: float = 200.0
    elevation: float = 35.0

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right, up, forward) unit vectors in world coordinates (z up)."""
        np = require("numpy", "geo")
        az, el = math.radians(self.azimuth), math.radians(self.elevation)
        eye = np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)])
        forward = -eye
        right = np.array([-math.cos(az), math.sin(az), 0.0])
        up = np.cross(right, forward)
        return right, up / np.linalg.norm(up), forward


class _Frags:
    """A z-buffer: each batch of fragments is merged at once, the nearest one wins."""

    def __init__(self, width: int, height: int) -> None:
        np = require("numpy", "geo")
        self.z = np.full(width * height, np.inf)
        self.rgb = np.zeros((width * height, 3), dtype=np.uint8)
        self.hit = np.zeros(width * height, dtype=bool)

    def add(self, pix: np.ndarray, depth: np.ndarray, rgb: np.ndarray) -> None:
        np = require("numpy", "geo")
        if len(pix) == 0:
            return
        order = np.lexsort((depth, pix))  # nearest fragment first within each pixel
        p = pix[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = p[1:] != p[:-1]
        sel = order[first]
        p, d = pix[sel], depth[sel]
        nearer = d < self.z[p]  # ties keep the earlier fragment, as one global sort did
        p = p[nearer]
        self.z[p] = d[nearer]
        self.rgb[p] = rgb[sel][nearer]
        self.hit[p] = True


def render(points: list[tuple[np.ndarray, np.ndarray, int]],
           meshes: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None,
                              np.ndarray | None]],
           *, width: int = 800, height: int = 600, camera: Camera | None = None,
           background: tuple[int, int, int] = (30, 30, 30)) -> np.ndarray:
    """Render point and mesh layers to an RGB ``uint8`` image.

    Args:
        points: list of ``(xyz (N,3), rgb uint8 (N,3), size_px)``.
        meshes: list of ``(vertices (V,3), faces (F,3), uv (V,2)|None,
            texture uint8 (H,W,3)|None, colors uint8 (V,3)|None)``.
        width, height: image size in pixels.
        camera: view direction (default south-south-west, 35 degrees up).
        background: RGB of empty pixels.

    Returns:
        ``(height, width, 3)`` uint8 image.
    """
    np = require("numpy", "geo")
    cam = camera or Camera()
    right, up, forward = cam.axes()
    allxyz = [p[0] for p in points] + [m[0] for m in meshes]
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = background
    if not allxyz or sum(len(a) for a in allxyz) == 0:
        return img
    lo = np.min([a.min(axis=0) for a in allxyz if len(a)], axis=0)
    hi = np.max([a.max(axis=0) for a in allxyz if len(a)], axis=0)
    centre = (lo + hi) / 2
    # Project the 8 bbox corners to fit the view with a margin.
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                        for z in (lo[2], hi[2])]) - centre
    sx, sy = corners @ right, corners @ up
    span_x = max(float(sx.max() - sx.min()), 1e-9)
    span_y = max(float(sy.max() - sy.min()), 1e-9)
    scale = 0.92 * min(width / span_x, height / span_y)
    ox = width / 2 - scale * (sx.max() + sx.min()) / 2
    oy = height / 2 + scale * (sy.max() + sy.min()) / 2

    def project(xyz: Any) -> tuple[Any, Any, Any]:
        rel = xyz - centre
        return ox + scale * (rel @ right), oy - scale * (rel @ up), rel @ forward

    fr = _Frags(width, height)
    for xyz, rgb, size in points:
        _splat(fr, *project(np.asarray(xyz, dtype=np.float64)), np.asarray(rgb, dtype=np.uint8),
               max(1, int(size)), width, height)
    for verts, faces, uv, tex, cols in meshes:
        v = np.asarray(verts, dtype=np.float64)
        px, py, dz = project(v)
        _triangles(fr, v, np.asarray(faces, dtype=np.int64), px, py, dz, uv, tex, cols, forward,
                   width, height)
    img.reshape(-1, 3)[fr.hit] = fr.rgb[fr.hit]
    return img


def _splat(fr: _Frags, px: np.ndarray, py: np.ndarray, depth: np.ndarray, rgb: np.ndarray,
           size: int, width: int, height: int) -> None:
    np = require("numpy", "geo")
    x0 = np.floor(px).astype(np.int64) - (size - 1) // 2
    y0 = np.floor(py).astype(np.int64) - (size - 1) // 2
    for i in range(0, len(x0), _MAX_BATCH):
        part = slice(i, i + _MAX_BATCH)
        for dx in range(size):
            for dy in range(size):
                x, y = x0[part] + dx, y0[part] + dy
                ok = (x >= 0) & (x < width) & (y >= 0) & (y < height)
                fr.add(y[ok] * width + x[ok], depth[part][ok], rgb[part][ok])


def _triangles(fr: _Frags, v: np.ndarray, faces: np.ndarray, px: np.ndarray, py: np.ndarray,
               dz: np.ndarray, uv: np.ndarray | None, tex: np.ndarray | None,
               cols: np.ndarray | None, forward: np.ndarray, width: int, height: int) -> None:
    np = require("numpy", "geo")
    if len(faces) == 0:
        return
    textured = uv is not None and tex is not None
    if textured:
        uv = np.asarray(uv, dtype=np.float64)
        tex = np.asarray(tex, dtype=np.uint8)
        if tex.ndim == 2:
            tex = np.repeat(tex[..., None], 3, axis=2)
        tex = tex[..., :3]
    # Flat Lambert shade per face for untextured meshes (photo textures carry light).
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    n = np.cross(b - a, c - a)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    light = -forward + np.array([0.3, 0.2, 1.0])
    light /= np.linalg.norm(light)
    shade = 0.35 + 0.65 * np.abs(n @ light)
    base = np.full((len(v), 3), 200.0) if cols is None else np.asarray(cols, dtype=np.float64)

    tx, ty = px[faces], py[faces]  # (F, 3)
    xmin = np.clip(np.floor(tx.min(axis=1)), 0, width - 1).astype(np.int64)
    xmax = np.clip(np.ceil(tx.max(axis=1)), 0, width - 1).astype(np.int64)
    ymin = np.clip(np.floor(ty.min(axis=1)), 0, height - 1).astype(np.int64)
    ymax = np.clip(np.ceil(ty.max(axis=1)), 0, height - 1).astype(np.int64)
    visible = (tx.max(axis=1) >= 0) & (tx.min(axis=1) < width) & \
        (ty.max(axis=1) >= 0) & (ty.min(axis=1) < height)
    size = np.maximum(xmax - xmin, ymax - ymin) + 1
    bucket = np.ceil(np.log2(np.maximum(size, 1))).astype(np.int64)

    def emit(fidx: Any, X: Any, Y: Any, w0: Any, w1: Any, w2: Any) -> None:
        f3 = faces[fidx]
        depth = w0 * dz[f3[:, 0]] + w1 * dz[f3[:, 1]] + w2 * dz[f3[:, 2]]
        if textured:
            assert uv is not None and tex is not None
            u = w0 * uv[f3[:, 0], 0] + w1 * uv[f3[:, 1], 0] + w2 * uv[f3[:, 2], 0]
            vv = w0 * uv[f3[:, 0], 1] + w1 * uv[f3[:, 1], 1] + w2 * uv[f3[:, 2], 1]
            th, tw = tex.shape[:2]
            col_i = np.clip((u % 1.0) * tw, 0, tw - 1).astype(np.int64)
            row_i = np.clip((1.0 - (vv % 1.0)) * th, 0, th - 1).astype(np.int64)
            rgb = tex[row_i, col_i]
        else:
            c3 = (w0[:, None] * base[f3[:, 0]] + w1[:, None] * base[f3[:, 1]]
                  + w2[:, None] * base[f3[:, 2]])
            rgb = np.clip(c3 * shade[fidx][:, None], 0, 255).astype(np.uint8)
        fr.add(Y * width + X, depth, rgb)

    # Every visible face also lands on its centroid pixel, so sub-pixel triangles
    # of a dense mesh do not leave holes.
    vis = np.nonzero(visible)[0]
    cx = np.clip(tx[vis].mean(axis=1), 0, width - 1).astype(np.int64)
    cy = np.clip(ty[vis].mean(axis=1), 0, height - 1).astype(np.int64)
    for i in range(0, len(vis), _MAX_BATCH):
        part = slice(i, i + _MAX_BATCH)
        third = np.full(len(vis[part]), 1.0 / 3.0)
        emit(vis[part], cx[part], cy[part], third, third, third)

    for bk in np.unique(bucket[vis]):
        s = 1 << int(bk)
        sel = vis[bucket[vis] == bk]
        offs_x, offs_y = np.meshgrid(np.arange(s), np.arange(s))
        offs_x, offs_y = offs_x.ravel(), offs_y.ravel()
        step = max(1, _MAX_BATCH // (s * s))
        for i in range(0, len(sel), step):
            f_ids = sel[i:i + step]
            X = xmin[f_ids][:, None] + offs_x[None, :]
            Y = ymin[f_ids][:, None] + offs_y[None, :]
            ax, bx, cx_ = (tx[f_ids, k][:, None] for k in range(3))
            ay, by, cy_ = (ty[f_ids, k][:, None] for k in range(3))
            den = (by - cy_) * (ax - cx_) + (cx_ - bx) * (ay - cy_)
            den = np.where(np.abs(den) < 1e-12, np.nan, den)
            Xc, Yc = X + 0.5, Y + 0.5
            w0 = ((by - cy_) * (Xc - cx_) + (cx_ - bx) * (Yc - cy_)) / den
            w1 = ((cy_ - ay) * (Xc - cx_) + (ax - cx_) * (Yc - cy_)) / den
            w2 = 1.0 - w0 - w1
            inside = ((w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6)
                      & (xmax[f_ids][:, None] >= X) & (ymax[f_ids][:, None] >= Y))
            rows, cols_i = np.nonzero(inside)
            if rows.size == 0:
                continue
            emit(f_ids[rows], X[rows, cols_i], Y[rows, cols_i], w0[rows, cols_i],
                 w1[rows, cols_i], w2[rows, cols_i])
