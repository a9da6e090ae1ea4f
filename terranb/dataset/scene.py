"""The procedural ground scene the sample flight photographs (and its truth, DSM, classes).

Crop fields with rows and hedges, roads with markings, houses with gable roofs and
shadows, and trees, painted north-up on a regular grid of ``gsd`` metres. Besides the RGB
it gives the height above ground (a DSM: roofs and trees) and the LAS class of every cell,
from which :mod:`terranb.dataset.synthetic` writes the LAS cloud. Everything is a
function of the random generator it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Scene", "noise", "paint_scene", "scene_at"]


def noise(rng: Any, shape: tuple[int, int], cell_px: float, octaves: int = 3) -> np.ndarray:
    """Smooth fractal noise (about -1..1) from upsampled random grids."""
    import numpy as np
    from PIL import Image

    out = np.zeros(shape, np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cs = max(cell_px / (2 ** o), 2.0)
        gh, gw = int(shape[0] / cs) + 3, int(shape[1] / cs) + 3
        small = rng.standard_normal((gh, gw)).astype(np.float32)
        big = Image.fromarray(small, mode="F").resize((int(gw * cs), int(gh * cs)),
                                                       Image.Resampling.BICUBIC)
        out += amp * np.asarray(big)[: shape[0], : shape[1]]
        total += amp
        amp *= 0.5
    return out / total


_FIELD_COLOURS = [(86, 122, 52), (104, 140, 62), (188, 168, 92), (132, 104, 70), (152, 124, 84),
                  (140, 158, 78), (70, 102, 44), (170, 150, 100), (118, 132, 64)]
_ROOF_COLOURS = [(150, 62, 50), (120, 120, 125), (95, 70, 60), (170, 90, 60), (80, 85, 95)]


@dataclass
class Scene:
    rgb: np.ndarray  # (H, W, 3) uint8
    dsm: np.ndarray  # (H, W) float32 height above ground
    cls: np.ndarray  # (H, W) uint8 LAS class


def paint_scene(rng: Any, h: int, w: int, gsd: float) -> Scene:
    """Paint the procedural scene on an ``h`` x ``w`` grid of ``gsd`` metres (row 0 = north)."""
    import numpy as np
    from PIL import Image, ImageDraw

    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    x = xs * gsd  # metres east of the west edge
    y = (h - 1 - ys) * gsd  # metres north of the south edge
    width_m, height_m = w * gsd, h * gsd

    # Fields: rotated parcels with warped borders, crop rows and hedges.
    a = rng.uniform(0, math.pi)
    warp = noise(rng, (h, w), 12.0 / gsd, 2) * 3.0
    u = x * math.cos(a) + y * math.sin(a) + warp
    v = -x * math.sin(a) + y * math.cos(a) + warp * 0.7
    sx, sy = rng.uniform(45, 70), rng.uniform(28, 45)
    iu, iv = np.floor(u / sx).astype(np.int64), np.floor(v / sy).astype(np.int64)
    fid = ((iu * 73856093) ^ (iv * 19349663)) & 0xFFFF
    lut_col = rng.integers(0, len(_FIELD_COLOURS), 65536)
    lut_dir = rng.integers(0, 2, 65536).astype(np.float32)
    lut_per = rng.uniform(1.2, 3.0, 65536).astype(np.float32)
    colours = np.array(_FIELD_COLOURS, np.float32)
    col = colours[lut_col[fid]]
    d = lut_dir[fid]
    stripe = np.sin(2 * np.pi * (u * d + v * (1 - d)) / lut_per[fid])
    tex = noise(rng, (h, w), 4.0 / gsd, 3)
    shade = 1.0 + 0.12 * stripe + 0.10 * tex
    rgb = col * shade[..., None]
    fu, fv = u / sx - iu, v / sy - iv
    hedge = (np.minimum(fu, 1 - fu) * sx < 0.9) | (np.minimum(fv, 1 - fv) * sy < 0.9)
    rgb[hedge] = np.array([52, 76, 36], np.float32) * (1 + 0.2 * tex[hedge, None])
    del u, v, warp, fid, col, d, stripe, shade, fu, fv, iu, iv
    dsm = np.zeros((h, w), np.float32)
    cls = np.full((h, w), 2, np.uint8)
    dsm[hedge] = 1.5
    cls[hedge] = 3

    # Roads: two gently curving roads across the scene.
    roads: list[tuple[float, float, float, float, float]] = []
    for k in range(2):
        px, py = rng.uniform(0.3, 0.7) * width_m, rng.uniform(0.3, 0.7) * height_m
        th = rng.uniform(0, math.pi) if k == 0 else roads[0][2] + rng.uniform(1.0, 2.1)
        amp, lam = rng.uniform(2, 8), rng.uniform(120, 260)
        roads.append((px, py, th, amp, lam))
        t = (x - px) * math.cos(th) + (y - py) * math.sin(th)
        dist = (-(x - px) * math.sin(th) + (y - py) * math.cos(th)
                - amp * np.sin(2 * np.pi * t / lam))
        ad = np.abs(dist)
        half = 3.2
        road = ad < half
        rgb[(ad < half + 1.0) & ~road] = np.array([150, 140, 120], np.float32)  # gravel shoulder
        grey = 92 + 10 * tex[road]
        rgb[road] = np.stack([grey, grey, grey + 4], axis=-1)
        paint = road & (((ad < 0.08) & (np.mod(t, 9.0) < 4.5)) | (np.abs(ad - (half - 0.3)) < 0.07))
        rgb[paint] = 235
        dsm[ad < half + 1.0] = 0.0
        cls[ad < half + 1.0] = 11
    del ad, dist, t

    # Buildings and trees: drawn as id rasters, then shaded per pixel.
    bid = Image.new("I", (w, h), 0)
    bshadow = Image.new("L", (w, h), 0)
    tid = Image.new("I", (w, h), 0)
    tshadow = Image.new("L", (w, h), 0)
    db, dbs, dt, dts = (ImageDraw.Draw(im) for im in (bid, bshadow, tid, tshadow))
    sun = np.array([0.9, -1.2])  # shadow direction (towards south-east), metres per metre height

    def to_px(xm: float, ym: float) -> tuple[float, float]:
        return (xm / gsd, (height_m - ym) / gsd - 0.5)

    n_build = max(3, int(width_m * height_m / 1800))
    b_params = [(0.0, 0.0, 0.0, 0, 0.0)]  # id 0 unused: (cx, cy, angle, colour, height)
    for i in range(n_build):
        px, py, th, amp, lam = roads[i % 2]
        tt = rng.uniform(-0.6, 0.6) * max(width_m, height_m)
        off = rng.choice([-1, 1]) * rng.uniform(11, 20)
        cx = px + tt * math.cos(th) - off * math.sin(th)
        cy = py + tt * math.sin(th) + off * math.cos(th)
        ln, wd = rng.uniform(9, 16), rng.uniform(7, 11)
        hb = rng.uniform(5, 9)
        corners = [(cx + sx_ * ln / 2 * math.cos(th) - sy_ * wd / 2 * math.sin(th),
                    cy + sx_ * ln / 2 * math.sin(th) + sy_ * wd / 2 * math.cos(th))
                   for sx_, sy_ in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        dbs.polygon([to_px(cx_ + sun[0] * hb * 0.6, cy_ + sun[1] * hb * 0.6)
                     for cx_, cy_ in corners], fill=255)
        db.polygon([to_px(*c) for c in corners], fill=i + 1)
        b_params.append((cx, cy, th, int(rng.integers(0, len(_ROOF_COLOURS))), hb))
    n_clusters = max(2, int(width_m * height_m / 6000))
    t_params = [(0.0, 0.0, 0.0, 0.0)]  # (cx, cy, radius, height)
    for _ in range(n_clusters):
        ccx, ccy = rng.uniform(0, width_m), rng.uniform(0, height_m)
        for _ in range(int(rng.integers(4, 14))):
            r = rng.uniform(1.8, 4.5)
            tx, ty = ccx + rng.normal(0, 9), ccy + rng.normal(0, 9)
            ht = rng.uniform(6, 15)
            t_params.append((tx, ty, r, ht))
    for k, (tx, ty, r, ht) in enumerate(t_params[1:], start=1):
        sx0, sy0 = tx + sun[0] * ht * 0.35, ty + sun[1] * ht * 0.35
        dts.ellipse([to_px(sx0 - r, sy0 + r), to_px(sx0 + r, sy0 - r)], fill=255)
        dt.ellipse([to_px(tx - r, ty + r), to_px(tx + r, ty - r)], fill=k)

    shadow = (np.asarray(bshadow) > 0) | (np.asarray(tshadow) > 0)
    rgb[shadow] *= 0.55
    bmask_ids = np.asarray(bid, dtype=np.int32)
    bm = bmask_ids > 0
    if bm.any():
        bp = np.array(b_params, np.float64)
        ids = bmask_ids[bm]
        lx = x[bm] - bp[ids, 0]
        ly = y[bm] - bp[ids, 1]
        ang = bp[ids, 2]
        across = -lx * np.sin(ang) + ly * np.cos(ang)
        roof = np.array(_ROOF_COLOURS, np.float32)[bp[ids, 3].astype(int)]
        tone = np.where(across > 0, 1.0, 0.72)[:, None] * (1 + 0.05 * tex[bm, None])
        ridge = np.abs(across) < 0.15
        rgb[bm] = roof * tone
        rgb[bm] = np.where(ridge[:, None], roof * 0.55, rgb[bm])
        dsm[bm] = (bp[ids, 4] + 2.0 - 0.4 * np.abs(across)).astype(np.float32)
        cls[bm] = 6
    tmask_ids = np.asarray(tid, dtype=np.int32)
    tm = tmask_ids > 0
    if tm.any():
        tp = np.array(t_params, np.float64)
        ids = tmask_ids[tm]
        dx, dy = x[tm] - tp[ids, 0], y[tm] - tp[ids, 1]
        rr = np.clip(np.hypot(dx, dy) / tp[ids, 2], 0, 1)
        dome = np.sqrt(1 - rr ** 2)
        light = 0.55 + 0.35 * dome + 0.12 * np.clip((-dx + dy) / tp[ids, 2], -1, 1)
        leaf = 0.85 + 0.3 * tex[tm] + 0.15 * np.sin(dx * 7.3) * np.sin(dy * 6.1)
        base = np.array([48, 86, 38], np.float32)
        rgb[tm] = base * (light * leaf)[:, None]
        dsm[tm] = (tp[ids, 3] * (0.6 + 0.4 * dome)).astype(np.float32)
        cls[tm] = 5
    return Scene(np.clip(rgb, 0, 255).astype(np.uint8), dsm, cls)


def scene_at(rng: Any, h: int, w: int, gsd: float) -> Scene:
    """Paint at no finer than 10 cm (fast), then resample to ``gsd`` and add fine grain."""
    import numpy as np
    from PIL import Image

    factor = max(1, math.floor(0.1 / gsd + 1e-9))
    if factor == 1:
        return paint_scene(rng, h, w, gsd)
    ch, cw = math.ceil(h / factor) + 1, math.ceil(w / factor) + 1
    coarse = paint_scene(rng, ch, cw, gsd * factor)
    # The coarse grid's pixel centres sit at (i + 0.5) * factor fine pixels from the
    # north-west corner; resize with the matching box keeps the two grids registered.
    box = (0.0, 0.0, w / factor, h / factor)
    rgb = np.asarray(Image.fromarray(coarse.rgb).resize((w, h), Image.Resampling.BICUBIC, box=box))
    grain = rng.integers(-5, 6, (h, w, 1), dtype=np.int16)
    rgb = np.clip(rgb.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    dsm = np.asarray(Image.fromarray(coarse.dsm).resize((w, h), Image.Resampling.NEAREST, box=box))
    cls = np.asarray(Image.fromarray(coarse.cls).resize((w, h), Image.Resampling.NEAREST, box=box))
    return Scene(rgb, dsm, cls)
