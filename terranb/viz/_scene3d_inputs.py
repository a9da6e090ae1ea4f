"""What the 3D viewer accepts, as typed inputs: point samples and mesh parts.

The viewer draws two things: a :class:`PointsInput` (xyz, optional colours and
classes) and a list of :class:`MeshPartInput` (one per texture). The small
Protocols below name what an object must offer to be turned into those:

* :class:`PointSampleLike`: ``xyz`` (and optionally ``rgb``, ``classification``,
  ``source_count``): results ``PointSample``, a tileset's ``TilesetPoints``;
* :class:`PointCloudLike`: ``decimate(n)`` returning a ``PointSampleLike`` (results
  ``PointCloud``, streamed in bounded memory);
* :class:`MeshPartsLike`: ``parts``, each a :class:`MeshArraysLike` (results ``Mesh``,
  ``DecimatedMesh``, a tileset's ``TilesetMesh``);
* :class:`MeshArraysLike`: ``vertices`` and ``faces`` (optional ``uv``, ``texture`` or
  ``texture_path``, ``colors``): results ``MeshPart``, ``TilePart``, ``trimesh.Trimesh``.

A ``trimesh.Scene`` is the one fallback handled by type (each node's transform
applied). Everything else is rejected with a message naming the type.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from terranb.errors import ValidationError, require

__all__ = ["MeshArraysLike", "MeshPartInput", "MeshPartsLike", "PointCloudLike",
           "PointSampleLike", "PointsInput", "is_trimesh_scene", "mesh_parts", "points_of"]


@runtime_checkable
class PointSampleLike(Protocol):
    """Points already in memory."""

    @property
    def xyz(self) -> Any: ...


@runtime_checkable
class PointCloudLike(Protocol):
    """A cloud that reads a bounded sample of itself."""

    def decimate(self, n: int) -> Any: ...


@runtime_checkable
class MeshArraysLike(Protocol):
    """One triangle mesh as arrays."""

    @property
    def vertices(self) -> Any: ...

    @property
    def faces(self) -> Any: ...


@runtime_checkable
class MeshPartsLike(Protocol):
    """A mesh made of parts (one per material / texture / tile)."""

    @property
    def parts(self) -> Sequence[Any]: ...


@dataclass(frozen=True)
class PointsInput:
    """What :meth:`Scene3D.add_points` draws."""

    xyz: Any
    rgb: Any | None = None
    classification: Any | None = None
    source_count: int | None = None


@dataclass(frozen=True)
class MeshPartInput:
    """What :meth:`Scene3D.add_mesh` draws: one part, one texture at most."""

    name: str
    vertices: Any
    faces: Any
    uv: Any | None = None
    texture: Any | None = None  # a Path, PIL image or (H, W, 3) array
    colors: Any | None = None


def _opt(obj: Any, name: str) -> Any:
    # Optional members of the Protocols (a Protocol cannot say "may have").
    return getattr(obj, name, None)


def points_of(obj: PointSampleLike | PointCloudLike, n: int) -> PointsInput:
    """The points of a sample, or of a cloud's ``decimate(n)``."""
    sample = obj.decimate(n) if isinstance(obj, PointCloudLike) else obj
    if not isinstance(sample, PointSampleLike):
        raise ValidationError(
            f"cannot read points from {type(obj).__name__}; pass a terranb.results "
            "PointCloud / PointSample or use Scene3D.from_points(xyz, ...)")
    count = _opt(sample, "source_count")
    return PointsInput(sample.xyz, _opt(sample, "rgb"), _opt(sample, "classification"),
                       None if count is None else int(count))


def is_trimesh_scene(obj: Any) -> bool:
    """A ``trimesh.Scene`` (checked without importing trimesh)."""
    trimesh = sys.modules.get("trimesh")
    return trimesh is not None and isinstance(obj, trimesh.Scene)


def mesh_parts(mesh: Any) -> list[MeshPartInput]:
    """The drawable parts of a :class:`MeshPartsLike`, :class:`MeshArraysLike` or trimesh.Scene."""
    np = require("numpy", "geo")
    if is_trimesh_scene(mesh):  # apply each node's transform
        out: list[MeshPartInput] = []
        graph = mesh.graph
        for node in graph.nodes_geometry:
            transform, gname = graph[node]
            g = mesh.geometry[gname].copy()
            g.apply_transform(transform)
            out.extend(MeshPartInput(str(node), p.vertices, p.faces, p.uv, p.texture, p.colors)
                       for p in mesh_parts(g))
        return out
    if isinstance(mesh, MeshPartsLike):
        parts = list(mesh.parts)
        if parts:  # per part (DecimatedMesh also offers a concatenated vertices/faces view)
            return [p for sub in parts for p in mesh_parts(sub)]
    if not isinstance(mesh, MeshArraysLike):
        return []
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.faces, dtype=np.int64)
    name = str(_opt(mesh, "name") or _opt(mesh, "material") or "mesh")
    uv = _opt(mesh, "uv")
    tex = _opt(mesh, "texture")
    if tex is None:
        tex = _opt(mesh, "texture_path")
    col = None
    visual = _opt(mesh, "visual")
    if visual is not None:  # trimesh: UVs and texture live on the visual
        if uv is None:
            uv = _opt(visual, "uv")
        material = _opt(visual, "material")
        if tex is None and material is not None:
            tex = _opt(material, "image") or _opt(material, "baseColorTexture")
        if _opt(visual, "kind") == "vertex":
            col = np.asarray(visual.vertex_colors)[:, :3]
    if uv is not None and len(uv) != len(v):
        uv = None
    if uv is None:
        tex = None
    return [MeshPartInput(name, v, f, uv, tex, col)]
