"""Quadric mesh simplification that keeps texture seams (``mesh`` extra: fast-simplification).

Chosen after measuring the maintained candidates on the bench's 1 M-face textured
mesh (bench/preview.py ``simplify``, 1 M -> 100k faces, mean distance to the original
both ways): ``fast-simplification`` (pyvista's wrapper of Sven Forstmann's
Fast-Quadric-Mesh-Simplification; manylinux/macOS/Windows wheels, MIT) locks open
borders on request and is fast; with ``agg`` 5 instead of its default 7 it halves the
error for about the same time (0.43x clustering's distance to the analytic surface,
0.19x both ways; agg 7: 0.77x). ``pyfqmr`` 0.5 wraps the same algorithm (same error
as agg 7, no seam handling); the ``meshoptimizer`` binding (0.2.30a0) keeps only
original vertices (3.3x clustering's distance to the analytic surface) and its
attribute-aware entry point fails in ctypes; ``pymeshlab`` (wedge-UV quadrics) is a
100 MB GPL wheel, not needed once this passed.

How seams survive: terranb meshes keep one vertex per (position, UV) pair, so a
texture seam is an open border of its chart. The simplifier runs on that split
mesh with ``preserve_border``: no edge touching a border vertex collapses, so
both sides of every seam (and the mesh outline) keep their exact vertices and
nothing can tear apart. Interior vertices move to their quadric-optimal
positions; their UVs are then re-derived from the original surface of the same
chart (closest original vertex of that chart, refined on its incident
triangles by barycentric interpolation), so the texture stays where it was.
"""

from __future__ import annotations

from typing import Any

from terranb.errors import require
from terranb.results.mesh_part import MeshPart

__all__ = ["GENTLE_AGG", "simplify_part"]

#: fast-simplification's ``agg`` for the first pass (see :func:`simplify_part`).
GENTLE_AGG = 5.0


def _charts(faces: Any, n: int) -> Any:
    """Connected component (texture chart) of each vertex of a seam-split mesh."""
    np_ = require("numpy", "geo")
    sparse = require("scipy.sparse", "geo")
    csgraph = require("scipy.sparse.csgraph", "geo")
    f = np_.asarray(faces, dtype=np_.int64)
    rows = np_.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    cols = np_.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    graph = sparse.coo_matrix((np_.ones(len(rows), dtype=np_.int8), (rows, cols)), shape=(n, n))
    return csgraph.connected_components(graph, directed=False)[1]


def _closest_on_triangles(p: Any, a: Any, b: Any, c: Any) -> tuple[Any, Any]:
    """Squared distance from points ``p`` to triangles (a, b, c) and barycentrics of the closest
    point, clamped into the triangle (Ericson's region test simplified: project, then clamp)."""
    np_ = require("numpy", "geo")
    ab, ac, ap = b - a, c - a, p - a
    d00 = np_.einsum("...i,...i", ab, ab)
    d01 = np_.einsum("...i,...i", ab, ac)
    d11 = np_.einsum("...i,...i", ac, ac)
    d20 = np_.einsum("...i,...i", ap, ab)
    d21 = np_.einsum("...i,...i", ap, ac)
    den = d00 * d11 - d01 * d01
    den = np_.where(np_.abs(den) < 1e-30, 1e-30, den)
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    v, w = np_.clip(v, 0, 1), np_.clip(w, 0, 1)
    s = v + w
    over = s > 1
    safe = np_.where(over, s, 1.0)
    v, w = np_.where(over, v / safe, v), np_.where(over, w / safe, w)
    u = 1 - v - w
    q = u[..., None] * a + v[..., None] * b + w[..., None] * c
    return np_.einsum("...i,...i", p - q, p - q), np_.stack([u, v, w], axis=-1)


def _reproject_uv(orig: MeshPart, chart: Any, new_v: Any, new_chart: Any) -> Any:
    """UV for each new vertex from the original surface of its own chart."""
    np_ = require("numpy", "geo")
    spatial = require("scipy.spatial", "geo")
    v = np_.asarray(orig.vertices, dtype=np_.float64)
    uv = np_.asarray(orig.uv, dtype=np_.float64)
    f = np_.asarray(orig.faces, dtype=np_.int64)
    # Charts far apart in a 4th coordinate: the nearest vertex is always in the same chart.
    big = 10.0 * float(np_.ptp(v, axis=0).max() or 1.0)
    tree = spatial.cKDTree(np_.column_stack([v, chart * big]))
    _, near = tree.query(np_.column_stack([new_v, new_chart * big]))
    # Vertex -> incident faces (padded to a fixed valence) for the barycentric refinement.
    order = np_.argsort(f.reshape(-1), kind="stable")
    vert_of = f.reshape(-1)[order]
    starts = np_.searchsorted(vert_of, np_.arange(len(v)))
    counts = np_.bincount(vert_of, minlength=len(v))
    k = int(min(12, counts.max() if len(counts) else 1))
    slots = starts[near][:, None] + np_.arange(k)[None, :]
    valid = np_.arange(k)[None, :] < counts[near][:, None]
    face_ids = (order[np_.minimum(slots, len(order) - 1)] // 3)
    tri = f[face_ids]  # (m, k, 3)
    d2, bary = _closest_on_triangles(new_v[:, None, :], v[tri[..., 0]], v[tri[..., 1]],
                                     v[tri[..., 2]])
    d2 = np_.where(valid, d2, np_.inf)
    best = np_.argmin(d2, axis=1)
    rows = np_.arange(len(new_v))
    t = tri[rows, best]
    w = bary[rows, best]
    out = (w[:, 0:1] * uv[t[:, 0]] + w[:, 1:2] * uv[t[:, 1]] + w[:, 2:3] * uv[t[:, 2]])
    exact = ~np_.isfinite(d2[rows, best])
    out[exact] = uv[near[exact]]
    return out


def simplify_part(p: MeshPart, target_faces: int) -> MeshPart:
    """Quadric simplification of one part to about ``target_faces``, seams locked (see module).

    When locked borders leave more faces than the budget, a second pass without the
    lock finishes the job (the result then may move seam vertices; the viewer's face
    budget is a hard limit).
    """
    np_ = require("numpy", "geo")
    fs = require("fast_simplification", "mesh")
    v = np_.ascontiguousarray(p.vertices, dtype=np_.float64)
    f = np_.ascontiguousarray(p.faces, dtype=np_.int64)
    chart = _charts(f, len(v)) if p.uv is not None else None
    # A gentle pass first: with agg 5 the collapse threshold grows more slowly than
    # with the default 7, so cheap collapses go before costly ones (bench/preview.py
    # simplify: 0.43x clustering's distance, 0.77x with agg 7; the Stanford bunny at
    # 1/10: 0.53x vs 0.59x). agg 3 is better still on smooth surfaces (0.36x) but its
    # threshold stops growing before noisy ones reach the budget (4x slower there for
    # no gain), hence 5. Where the budget is still not reached, agg 7 carries on from
    # where it stopped, still with seams locked.
    new_v, new_f = fs.simplify(v, f, target_count=int(target_faces), agg=GENTLE_AGG,
                               preserve_border=True)
    if len(new_f) > target_faces:
        new_v, new_f = fs.simplify(new_v, new_f, target_count=int(target_faces), agg=7.0,
                                   preserve_border=True)
    if len(new_f) > target_faces:
        new_v, new_f = fs.simplify(new_v, new_f, target_count=int(target_faces), agg=7.0)
    # Quadric-optimal positions can overshoot where the quadric is ill-conditioned
    # (noisy, nearly flat patches): keep them inside the part's bounding box.
    new_v = np_.clip(np_.asarray(new_v, dtype=np_.float64), v.min(axis=0), v.max(axis=0))
    new_f = np_.asarray(new_f, dtype=np_.int64)
    uv = None
    colors = None
    if p.uv is not None and chart is not None and len(new_v):
        new_chart_c = _charts(new_f, len(new_v))
        # Each output component lies in one original chart: find it by majority of its
        # vertices' nearest original vertices.
        spatial = require("scipy.spatial", "geo")
        _, near = spatial.cKDTree(v).query(new_v)
        guess = chart[near]
        key = new_chart_c.astype(np_.int64) * (int(chart.max()) + 1) + guess
        uniq, cnt = np_.unique(key, return_counts=True)
        comp, ch = uniq // (int(chart.max()) + 1), uniq % (int(chart.max()) + 1)
        order = np_.lexsort((-cnt, comp))
        first = np_.ones(len(order), dtype=bool)
        first[1:] = comp[order][1:] != comp[order][:-1]
        comp_chart = np_.zeros(int(new_chart_c.max()) + 1, dtype=np_.int64)
        comp_chart[comp[order][first]] = ch[order][first]
        uv = _reproject_uv(p, chart, new_v, comp_chart[new_chart_c])
    if p.colors is not None and len(new_v):
        spatial = require("scipy.spatial", "geo")
        _, near = spatial.cKDTree(v).query(new_v)
        colors = np_.asarray(p.colors)[near]
    return MeshPart(new_v, new_f, uv, p.texture_path, p.material, colors, p.texture)
