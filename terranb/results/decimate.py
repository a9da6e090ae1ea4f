"""One decimation path for every mesh terranb shows: OBJ meshes, tilesets, the 3D viewer, reports.

:func:`decimate_parts` reduces a list of :class:`MeshPart` (one per material or
texture) to a face budget and returns one :class:`DecimatedMesh`. The budget is
shared between parts in proportion to their faces; parts never merge (each keeps
its own texture). Two methods:

* ``"quadric"``: attribute-aware quadric edge collapse that keeps texture seams
  (:mod:`terranb.results.simplify`, needs the optional ``fast-simplification``
  package of the ``mesh`` extra);
* ``"cluster"``: vertex clustering (Rossignac-Borrel) in pure numpy, always
  available: snap vertices to a grid, keep per cluster the member nearest the
  cluster mean (so a position and its texture coordinate belong together), drop
  collapsed and duplicate faces, and split corners whose UV lies in another
  texture chart (seam corners) into their own vertices.

``"auto"`` (the default) is quadric when the extra is installed, else cluster.
:func:`subsample_indices` is the uniform point subsampler the viewer uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.errors import ValidationError, require
from terranb.results.mesh_part import MeshPart

if TYPE_CHECKING:
    import numpy as np
    from pyproj import CRS

__all__ = ["METHODS", "DecimatedMesh", "MeshPart", "cluster_decimate", "decimate_arrays",
           "decimate_parts", "quadric_available", "subsample_indices"]

METHODS = ("auto", "quadric", "cluster")


@dataclass
class DecimatedMesh:
    """A mesh reduced for display: float32 local coordinates plus the origin to add back.

    ``vertices``/``faces``/``uv``/``colors``/``texture_path`` give the single-mesh
    view (all parts concatenated; ``uv`` is ``None`` unless every part has UVs);
    multi-texture meshes (DJI Terra blocks, tilesets) are drawn from ``parts``,
    one draw call per texture.

    Attributes:
        parts: the reduced parts.
        origin: added to ``vertices`` for world coordinates.
        crs: CRS of world coordinates, if known.
        source_faces: faces before decimation.
        method: ``"none"`` (it fitted), ``"quadric"`` or ``"cluster"``.
    """

    parts: list[MeshPart]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    crs: CRS | None = None
    source_faces: int = 0
    method: str = "none"

    @property
    def vertices(self) -> np.ndarray:
        """float32 (n, 3), local coordinates (world = vertices + origin)."""
        np_ = require("numpy", "geo")
        if not self.parts:
            return np_.empty((0, 3), np_.float32)
        return np_.concatenate([p.vertices for p in self.parts]).astype(np_.float32)

    @property
    def faces(self) -> np.ndarray:
        """uint32 (m, 3) into :attr:`vertices`."""
        np_ = require("numpy", "geo")
        out, base = [], 0
        for p in self.parts:
            out.append(p.faces + base)
            base += len(p.vertices)
        return np_.concatenate(out).astype(np_.uint32) if out else np_.empty((0, 3), np_.uint32)

    @property
    def uv(self) -> np.ndarray | None:
        """float32 (n, 2) or ``None``."""
        np_ = require("numpy", "geo")
        if not self.parts or any(p.uv is None for p in self.parts):
            return None
        return np_.concatenate([p.uv for p in self.parts if p.uv is not None]).astype(np_.float32)

    @property
    def colors(self) -> np.ndarray | None:
        """uint8 (n, 3) or ``None``."""
        np_ = require("numpy", "geo")
        if not self.parts or any(p.colors is None for p in self.parts):
            return None
        return np_.concatenate([p.colors for p in self.parts if p.colors is not None])

    @property
    def texture_path(self) -> Path | None:
        """The first part's texture (the only one for single-material meshes)."""
        return next((p.texture_path for p in self.parts if p.texture_path is not None), None)

    @property
    def face_count(self) -> int:
        """Faces after decimation."""
        return sum(len(p.faces) for p in self.parts)


def subsample_indices(n: int, target: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``target`` of ``n`` items, drawn uniformly without replacement."""
    np_ = require("numpy", "geo")
    if target >= n:
        return np_.arange(n)
    rng = np_.random.default_rng(seed)
    return np_.sort(rng.choice(n, size=target, replace=False))


def quadric_available() -> bool:
    """True when the seam-keeping quadric simplifier's library is installed."""
    try:
        import fast_simplification  # noqa: F401
    except ImportError:
        return False
    return True


def _display(p: MeshPart) -> MeshPart:
    np_ = require("numpy", "geo")
    return MeshPart(vertices=p.vertices.astype(np_.float32), faces=p.faces.astype(np_.uint32),
                    uv=None if p.uv is None else p.uv.astype(np_.float32),
                    texture_path=p.texture_path, material=p.material, colors=p.colors,
                    texture=p.texture)


def decimate_parts(parts: list[MeshPart], max_faces: int, *, method: str = "auto",
                   origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
                   crs: Any = None) -> DecimatedMesh:
    """Reduce ``parts`` to at most ``max_faces`` faces in total.

    Args:
        parts: the mesh, one part per material/texture.
        max_faces: face budget (>= 1).
        method: ``"auto"``, ``"quadric"`` (raises MissingDependencyError without the
            extra) or ``"cluster"``.
        origin, crs: carried to the result.
    """
    if max_faces < 1:
        raise ValueError("max_faces must be at least 1")
    if method not in METHODS:
        raise ValidationError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    total = sum(len(p.faces) for p in parts)
    if total <= max_faces:
        return DecimatedMesh([_display(p) for p in parts], origin, crs, total, "none")
    if method == "auto":
        method = "quadric" if quadric_available() else "cluster"
    out: list[MeshPart] = []
    for p in parts:
        share = max(1, int(max_faces * len(p.faces) / total))
        if len(p.faces) <= share:
            out.append(p)
        elif method == "quadric":
            from terranb.results.simplify import simplify_part

            q = simplify_part(p, share)
            # The quadric pass can stall above the budget (non-manifold or tiny
            # disconnected pieces); the budget is a hard limit, so clustering finishes.
            out.append(q if len(q.faces) <= share else _cluster_part(q, share))
        else:
            out.append(_cluster_part(p, share))
    kept = [_display(p) for p in out if len(p.faces)]
    return DecimatedMesh(kept, origin, crs, total, method)


def decimate_arrays(vertices: Any, faces: Any, target_faces: int, *, uv: Any = None,
                    colors: Any = None, texture: Any = None,
                    method: str = "auto") -> DecimatedMesh:
    """:func:`decimate_parts` for one mesh given as arrays (what the viewer holds)."""
    np_ = require("numpy", "geo")
    v = np_.asarray(vertices, dtype=np_.float64)
    f = np_.asarray(faces, dtype=np_.int64)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise ValidationError(f"need (V, 3) vertices and (F, 3) faces, got {v.shape} and {f.shape}")
    if target_faces < 1:
        raise ValidationError("target_faces must be at least 1")
    part = MeshPart(v, f, None if uv is None else np_.asarray(uv, dtype=np_.float64), None, None,
                    None if colors is None else np_.asarray(colors, dtype=np_.uint8), texture)
    return decimate_parts([part], target_faces, method=method)


def cluster_decimate(vertices: Any, faces: Any, target_faces: int, *, uv: Any = None,
                     colors: Any = None) -> DecimatedMesh:
    """Vertex clustering of one mesh to at most ``target_faces`` faces (see module doc)."""
    return decimate_arrays(vertices, faces, target_faces, uv=uv, colors=colors, method="cluster")


# --------------------------------------------------------------------------- clustering
def _cluster_ids(v: np.ndarray, cell: float) -> np.ndarray:
    np_ = require("numpy", "geo")
    q = np_.floor((v - v.min(axis=0)) / cell).astype(np_.int64)
    dims = q.max(axis=0) + 1
    key = (q[:, 0] * dims[1] + q[:, 1]) * dims[2] + q[:, 2]
    return np_.unique(key, return_inverse=True)[1].reshape(-1)  # type: ignore[no-any-return]


def _unique_rows(rows: np.ndarray, inverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """First index of each distinct row (in sorted-row order) and optionally the inverse.

    Packs small non-negative integer rows into one int64 key, which sorts about
    10x faster than ``np.unique(axis=0)``; falls back to that when they do not fit.
    """
    np_ = require("numpy", "geo")
    r = rows - rows.min(axis=0)
    spans = r.max(axis=0).astype(np_.float64) + 1
    if float(np_.prod(spans)) < 2.0**62:
        key = np_.zeros(len(r), dtype=np_.int64)
        for col in range(r.shape[1]):
            key = key * int(spans[col]) + r[:, col]
        _, first, inv = np_.unique(key, return_index=True, return_inverse=True)
    else:
        _, first, inv = np_.unique(rows, axis=0, return_index=True, return_inverse=True)
    return first, (inv.reshape(-1) if inverse else first)


def _surviving(faces: np.ndarray, cid: np.ndarray) -> np.ndarray:
    c = cid[faces]
    return (c[:, 0] != c[:, 1]) & (c[:, 1] != c[:, 2]) & (c[:, 0] != c[:, 2])  # type: ignore[no-any-return]


def _cluster_part(p: MeshPart, target_faces: int) -> MeshPart:
    """Vertex clustering of one part; the grid is refined until the count lands just under."""
    np_ = require("numpy", "geo")
    v = np_.asarray(p.vertices, dtype=np_.float64)
    f = np_.asarray(p.faces, dtype=np_.int64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    area = float(0.5 * np_.linalg.norm(np_.cross(b - a, c - a), axis=1).sum())
    extent = float(np_.max(v.max(axis=0) - v.min(axis=0))) or 1.0
    # A surface cut by a grid of cell c keeps about 2 * area / c**2 triangles.
    cell = math.sqrt(2.0 * area / target_faces) if area > 0 else extent / math.sqrt(target_faces)
    cell = max(cell, extent * 1e-6)
    best: tuple[float, Any, int] | None = None
    for _ in range(8):
        cid = _cluster_ids(v, cell)
        kept = int(_surviving(f, cid).sum())
        if kept <= target_faces and (best is None or kept > best[2]):
            best = (cell, cid, kept)
        if 0.85 * target_faces <= kept <= target_faces:
            break
        ratio = kept / float(target_faces)  # faces scale with 1/cell^2; damp the step
        cell *= min(2.0, max(0.5, math.sqrt(ratio) if kept else 0.5))
        if kept > target_faces:
            cell *= 1.02
    while best is None:
        cell *= 1.5
        cid = _cluster_ids(v, cell)
        kept = int(_surviving(f, cid).sum())
        if kept <= target_faces:
            best = (cell, cid, kept)
    return _collapse(p, v, f, best[1])


def _collapse(p: MeshPart, v: np.ndarray, f: np.ndarray, cid: np.ndarray) -> MeshPart:
    np_ = require("numpy", "geo")
    uv = None if p.uv is None else np_.asarray(p.uv, dtype=np_.float64)
    col = p.colors
    n_clusters = int(cid.max()) + 1
    counts = np_.bincount(cid, minlength=n_clusters).astype(np_.float64)
    mean = np_.stack([np_.bincount(cid, weights=v[:, k], minlength=n_clusters)
                      for k in range(3)], axis=1) / counts[:, None]
    dist = np_.einsum("ij,ij->i", v - mean[cid], v - mean[cid])
    order = np_.lexsort((dist, cid))
    first = np_.ones(len(order), dtype=bool)
    first[1:] = cid[order][1:] != cid[order][:-1]
    rep = np_.empty(n_clusters, dtype=np_.int64)
    rep[cid[order][first]] = order[first]

    fk = f[_surviving(f, cid)]
    corners_c = cid[fk]
    _, uniq_idx = _unique_rows(np_.sort(corners_c, axis=1))  # folds: same clusters, any order
    uniq_idx.sort()
    fk, corners_c = fk[uniq_idx], corners_c[uniq_idx]

    def part(verts: Any, faces: Any, uvs: Any, cols: Any) -> MeshPart:
        return MeshPart(verts, faces, uvs, p.texture_path, p.material, cols, p.texture)

    if uv is None:
        used, new_c = np_.unique(corners_c, return_inverse=True)
        return part(v[rep[used]], new_c.reshape(-1, 3), None,
                    None if col is None else col[rep[used]])
    # A corner whose uv is far from its cluster representative's lies in another
    # texture chart: it gets its own vertex (same position), so textures do not smear.
    corner_o, corner_k = fk.reshape(-1), corners_c.reshape(-1)
    d = np_.abs(uv[corner_o] - uv[rep[corner_k]]).max(axis=1)
    typical = float(np_.percentile(d, 90)) if d.size else 0.0
    thresh = max(4.0 * typical, 1e-4)
    seam = d > thresh
    uq = np_.floor(uv[corner_o] / thresh).astype(np_.int64)
    ku = np_.where(seam, uq[:, 0] * 1_000_003 + uq[:, 1], -1)
    keys = np_.stack([corner_k, ku], axis=1)
    first_idx, inverse = _unique_rows(keys, inverse=True)
    uniq_keys = keys[first_idx]
    src = np_.where(seam[first_idx], corner_o[first_idx], rep[uniq_keys[:, 0]])
    return part(v[rep[uniq_keys[:, 0]]], inverse.reshape(-1, 3), uv[src],
                None if col is None else col[src])
