"""Decimation for the 3D viewer: point subsampling and vertex-clustering mesh simplification.

Mesh simplification here is *vertex clustering* (Rossignac-Borrel): snap vertices
to a uniform grid, keep one representative per occupied cell, and drop faces that
collapse. It is O(n) in numpy, needs no compiled extension, and keeps the overall
shape of photogrammetry meshes well at preview resolution. Texture coordinates
are kept per cluster from the representative vertex, except across UV seams
(where the corners of one cluster come from different texture charts): those
corners become separate vertices at the same position, so textures do not smear
across atlas borders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from terranb.errors import ValidationError, require

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DecimatedMesh", "cluster_decimate", "subsample_indices"]


def subsample_indices(n: int, target: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``target`` of ``n`` items, drawn uniformly without replacement."""
    np = require("numpy", "geo")
    if target >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=target, replace=False))


@dataclass
class DecimatedMesh:
    """Result of :func:`cluster_decimate`.

    Attributes:
        vertices: float64 (V, 3).
        faces: int64 (F, 3).
        uv: float32 (V, 2) or ``None``.
        colors: uint8 (V, 3) or ``None``.
        cell: grid cell size used (0 when nothing was done).
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None
    colors: np.ndarray | None
    cell: float


def _cluster(vertices: np.ndarray, cell: float) -> tuple[np.ndarray, int]:
    """Cluster id per vertex for a grid of size ``cell``, and the number of clusters."""
    np = require("numpy", "geo")
    q = np.floor((vertices - vertices.min(axis=0)) / cell).astype(np.int64)
    dims = q.max(axis=0) + 1
    key = (q[:, 0] * dims[1] + q[:, 1]) * dims[2] + q[:, 2]
    uniq, inverse = np.unique(key, return_inverse=True)
    return inverse.reshape(-1), len(uniq)


def _unique_rows(rows: np.ndarray, inverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """First index of each distinct row (in sorted-row order) and optionally the inverse.

    Packs small non-negative integer rows into one int64 key, which sorts about
    10x faster than ``np.unique(axis=0)``; falls back to that when they do not fit.
    """
    np = require("numpy", "geo")
    r = rows - rows.min(axis=0)
    spans = r.max(axis=0).astype(np.float64) + 1
    if float(np.prod(spans)) < 2.0**62:
        key = np.zeros(len(r), dtype=np.int64)
        for col in range(r.shape[1]):
            key = key * int(spans[col]) + r[:, col]
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    else:
        _, first, inv = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    return first, (inv.reshape(-1) if inverse else first)


def _surviving(faces: np.ndarray, cid: np.ndarray) -> np.ndarray:
    c = cid[faces]
    return (c[:, 0] != c[:, 1]) & (c[:, 1] != c[:, 2]) & (c[:, 0] != c[:, 2])


def cluster_decimate(vertices: np.ndarray, faces: np.ndarray, target_faces: int, *,
                     uv: np.ndarray | None = None,
                     colors: np.ndarray | None = None) -> DecimatedMesh:
    """Simplify a triangle mesh to at most ``target_faces`` faces by vertex clustering.

    The grid size starts from the mesh's surface area (a surface cut by a grid of
    cell ``c`` keeps about ``2 * area / c**2`` triangles) and is refined a few
    times so the result lands within 15 % under the target.

    Args:
        vertices: (V, 3) positions.
        faces: (F, 3) vertex indices.
        target_faces: face budget.
        uv: optional (V, 2) texture coordinates.
        colors: optional (V, 3) uint8 vertex colours (each cluster keeps its
            representative's colour).

    Returns:
        A :class:`DecimatedMesh` (unchanged when already within budget).
    """
    np = require("numpy", "geo")
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise ValidationError(f"need (V, 3) vertices and (F, 3) faces, got {v.shape} and {f.shape}")
    if target_faces < 1:
        raise ValidationError("target_faces must be at least 1")
    uv_a = None if uv is None else np.asarray(uv, dtype=np.float32)
    col = None if colors is None else np.asarray(colors, dtype=np.uint8)
    if len(f) <= target_faces:
        return DecimatedMesh(v, f, uv_a, col, 0.0)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    area = float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())
    extent = float(np.max(v.max(axis=0) - v.min(axis=0))) or 1.0
    cell = math.sqrt(2.0 * area / target_faces) if area > 0 else extent / math.sqrt(target_faces)
    cell = max(cell, extent * 1e-6)
    best: tuple[float, Any, int] | None = None  # cell, cluster ids, face count
    for _ in range(8):
        cid, _n = _cluster(v, cell)
        kept = int(_surviving(f, cid).sum())
        if kept <= target_faces and (best is None or kept > best[2]):
            best = (cell, cid, kept)
        if 0.85 * target_faces <= kept <= target_faces:
            break
        # Face count scales with 1/cell^2; damp the step to avoid oscillating.
        ratio = kept / float(target_faces)
        cell *= min(2.0, max(0.5, math.sqrt(ratio) if kept else 0.5))
        if kept > target_faces:
            cell *= 1.02
    while best is None:  # still above budget after refining: grow until it fits
        cell *= 1.5
        cid, _n = _cluster(v, cell)
        kept = int(_surviving(f, cid).sum())
        if kept <= target_faces:
            best = (cell, cid, kept)
    cell, cid, _ = best
    return _collapse(v, f, cid, cell, uv_a, col)


def _collapse(v: np.ndarray, f: np.ndarray, cid: np.ndarray, cell: float,
              uv: np.ndarray | None, col: np.ndarray | None) -> DecimatedMesh:
    np = require("numpy", "geo")
    n_clusters = int(cid.max()) + 1
    # Representative = the member vertex nearest its cluster's mean, so the kept
    # position and its texture coordinate belong together.
    counts = np.bincount(cid, minlength=n_clusters).astype(np.float64)
    mean = np.stack([np.bincount(cid, weights=v[:, k], minlength=n_clusters) for k in range(3)],
                    axis=1) / counts[:, None]
    dist = np.einsum("ij,ij->i", v - mean[cid], v - mean[cid])
    order = np.lexsort((dist, cid))
    first = np.ones(len(order), dtype=bool)
    first[1:] = cid[order][1:] != cid[order][:-1]
    rep = np.empty(n_clusters, dtype=np.int64)
    rep[cid[order][first]] = order[first]

    keep = _surviving(f, cid)
    fk = f[keep]
    corners_c = cid[fk]  # (F', 3) cluster per corner
    # Drop duplicate faces produced by folds (same clusters, any order).
    srt = np.sort(corners_c, axis=1)
    _, uniq_idx = _unique_rows(srt)
    uniq_idx.sort()
    fk = fk[uniq_idx]
    corners_c = corners_c[uniq_idx]

    if uv is None:
        used, new_c = np.unique(corners_c, return_inverse=True)
        out_v = v[rep[used]]
        out_col = None if col is None else col[rep[used]]
        return DecimatedMesh(out_v, new_c.reshape(-1, 3), None, out_col, cell)

    # UV seams: a corner whose own uv is far from its cluster representative's uv
    # lies in another texture chart; give it its own vertex (same position).
    corner_o = fk.reshape(-1)
    corner_k = corners_c.reshape(-1)
    d = np.abs(uv[corner_o] - uv[rep[corner_k]]).max(axis=1)
    typical = float(np.percentile(d, 90)) if d.size else 0.0
    thresh = max(4.0 * typical, 1e-4)
    seam = d > thresh
    qres = max(thresh, 1e-4)
    uq = np.floor(uv[corner_o] / qres).astype(np.int64)
    # Key: cluster, then a quantised uv for seam corners (-1 for in-chart corners).
    ku = np.where(seam, uq[:, 0] * 1_000_003 + uq[:, 1], -1)
    keys = np.stack([corner_k, ku], axis=1)
    first_idx, inverse = _unique_rows(keys, inverse=True)
    uniq_keys = keys[first_idx]
    src_vertex = np.where(seam[first_idx], corner_o[first_idx], rep[uniq_keys[:, 0]])
    out_v = v[rep[uniq_keys[:, 0]]]
    out_uv = uv[src_vertex]
    out_col = None if col is None else col[src_vertex]
    return DecimatedMesh(out_v, inverse.reshape(-1, 3), out_uv, out_col, cell)
