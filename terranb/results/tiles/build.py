"""Write 3D Tiles 1.0 tilesets: b3dm levels of detail of a textured mesh, pnts of a cloud.

Layout (what DJI Terra's ``terra_b3dms`` holds: a ``tileset.json`` with tiles
under it; file names below are terranb's choice, DJI's are not documented)::

    tileset.json            root tile = level 0 (one tile), transform local -> ECEF
    Data/L0_0_0.b3dm        level 0 content
    Data/L1_i_j/tileset.json  external child tileset: the level-1 tile (i, j) and,
    Data/L1_i_j/L1_i_j.b3dm   below it, the level 2..n tiles of its quadrant
    Data/L1_i_j/L2_k_l.b3dm
    metadata.xml            SRS and SRSOrigin, as beside DJI's OBJ and OSGB

Level ``d`` cuts the model's x/y extent into ``2^d x 2^d`` cells; a face belongs
to the cell of its centroid. Every level is a complete model (``refine:
REPLACE``), coarser levels having fewer faces. ``geometricError`` of a tile is the
typical edge length of its content (0 for the leaves), so it halves with each
level. Each tile's texture is the part of the photo texture its UVs cover,
re-encoded as JPEG inside the tile's GLB (at most ``texture_px`` a side).
Bounding boxes are computed from the vertices actually written, grown to hold
the children's boxes.

glTF is y-up and 3D Tiles z-up: GLB vertices are written as (x, z, -y) of the
local z-up frame, which runtimes rotate back (3D Tiles 1.0, "glTF transforms").
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.errors import ValidationError, require
from terranb.results.tiles.binary import pack_b3dm, pack_pnts
from terranb.results.tiles.geo import local_to_ecef, to_column_major

if TYPE_CHECKING:
    from pyproj import CRS

__all__ = ["LodMesh", "TilesetWritten", "mesh_tileset", "point_tileset", "write_mesh_tileset"]

_MIN_HALF = 0.01  # m: boxes of flat content keep a thickness


@dataclass
class LodMesh:
    """One level of detail: local z-up vertices (relative to the origin), faces, UVs in [0, 1]."""

    vertices: Any
    faces: Any
    uv: Any | None = None


@dataclass
class TilesetWritten:
    """What a tileset writer wrote (paths relative to ``root``'s parent folder's caller)."""

    root: Path
    files: list[Path] = field(default_factory=list)
    tiles_per_level: list[int] = field(default_factory=list)
    faces_per_level: list[int] = field(default_factory=list)
    bytes_total: int = 0


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _box(lo: Any, hi: Any) -> list[float]:
    c = (lo + hi) / 2
    h = [max(_MIN_HALF, float(v)) for v in (hi - lo) / 2]
    return [float(c[0]), float(c[1]), float(c[2]), h[0], 0.0, 0.0, 0.0, h[1], 0.0, 0.0, 0.0, h[2]]


def _glb(np: Any, v: Any, f: Any, uv: Any | None, image: Any | None) -> bytes:
    trimesh = require("trimesh", "geo")
    yup = np.column_stack([v[:, 0], v[:, 2], -v[:, 1]]).astype(np.float32)
    visual = None
    if uv is not None and image is not None:
        visual = trimesh.visual.TextureVisuals(uv=uv, image=image)
    mesh = trimesh.Trimesh(yup, f, visual=visual, process=False)
    return bytes(mesh.export(file_type="glb"))


def _crop_texture(np: Any, texture: Any, uv: Any, max_px: int) -> tuple[Any, Any]:
    """The texture's part under ``uv`` (with a 1 px margin) as a JPEG-backed PIL image."""
    pil = require("PIL.Image", "geo")
    h, w = texture.shape[:2]
    u0, v0 = np.clip(uv.min(axis=0), 0, 1)
    u1, v1 = np.clip(uv.max(axis=0), 0, 1)
    c0, c1 = max(0, math.floor(u0 * w) - 1), min(w, math.ceil(u1 * w) + 1)
    # UV v runs up from the bottom row; image rows run down.
    r0, r1 = max(0, math.floor((1 - v1) * h) - 1), min(h, math.ceil((1 - v0) * h) + 1)
    c1, r1 = max(c1, c0 + 1), max(r1, r0 + 1)
    crop = texture[r0:r1, c0:c1, :3]
    new_uv = np.column_stack([(uv[:, 0] * w - c0) / (c1 - c0),
                              1 - ((1 - uv[:, 1]) * h - r0) / (r1 - r0)])
    img = pil.fromarray(np.ascontiguousarray(crop), "RGB")
    if max(img.size) > max_px:
        img.thumbnail((max_px, max_px), pil.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    buf.seek(0)
    return pil.open(buf), new_uv  # format "JPEG": trimesh embeds the JPEG bytes as they are


def _split(np: Any, v: Any, f: Any, lo: Any, span: Any, n: int) -> dict[tuple[int, int], Any]:
    """Face indices per cell (i east, j north) of an n x n grid over the x/y extent."""
    cen = v[f].mean(axis=1)
    i = np.clip(((cen[:, 0] - lo[0]) / span[0] * n).astype(np.int64), 0, n - 1)
    j = np.clip(((cen[:, 1] - lo[1]) / span[1] * n).astype(np.int64), 0, n - 1)
    key = i * n + j
    order = np.argsort(key, kind="stable")
    cuts = np.searchsorted(key[order], np.arange(n * n + 1))
    return {(c // n, c % n): order[cuts[c]:cuts[c + 1]] for c in range(n * n)
            if cuts[c + 1] > cuts[c]}


@dataclass
class _Tile:
    level: int
    i: int
    j: int
    uri: str | None = None
    lo: Any = None
    hi: Any = None
    error: float = 0.0
    children: list[_Tile] = field(default_factory=list)


def write_mesh_tileset(out_dir: str | os.PathLike[str], lods: Sequence[LodMesh], texture: Any,
                       crs: CRS, origin: tuple[float, float, float], *,
                       texture_px: int = 1024, external: bool = True) -> TilesetWritten:
    """Write a b3dm tileset of ``lods`` (coarsest first, level d split into 4^d tiles).

    Args:
        out_dir: the tileset folder (e.g. ``models/pc/0/terra_b3dms``).
        lods: one mesh per level, in local z-up coordinates relative to ``origin``.
        texture: (H, W, 3|4) uint8 image the UVs refer to, or ``None`` (untextured).
        crs: the projected CRS of ``origin``.
        origin: the absolute position of local (0, 0, 0) in ``crs``.
        texture_px: longest side of each tile's texture.
        external: write the level-1 subtrees as external child tilesets.

    Returns:
        A :class:`TilesetWritten` with the files, tiles and faces per level.
    """
    np = require("numpy", "geo")
    if not lods:
        raise ValidationError("a tileset needs at least one level of detail")
    if crs is None or crs.is_geographic:
        raise ValidationError("a mesh tileset needs a projected (metric) CRS for its origin")
    root_dir = Path(out_dir)
    finest = np.asarray(lods[-1].vertices, dtype=np.float64)
    lo_all, hi_all = finest.min(axis=0), finest.max(axis=0)
    span = np.maximum(hi_all - lo_all, 1e-6)
    out = TilesetWritten(root=root_dir / "tileset.json")
    tiles: dict[tuple[int, int, int], _Tile] = {}
    for level, lod in enumerate(lods):
        v = np.asarray(lod.vertices, dtype=np.float64)
        f = np.asarray(lod.faces, dtype=np.int64)
        uv = None if lod.uv is None else np.asarray(lod.uv, dtype=np.float64)
        n = 2**level
        cells = _split(np, v, f, lo_all, span, n)
        out.tiles_per_level.append(len(cells))
        out.faces_per_level.append(len(f))
        leaf = level == len(lods) - 1
        for (i, j), sel in cells.items():
            sub = f[sel]
            used = np.unique(sub)
            remap = np.full(len(v), -1, dtype=np.int64)
            remap[used] = np.arange(len(used))
            tv, tf = v[used], remap[sub]
            tuv, img = None, None
            if uv is not None and texture is not None:
                img, tuv = _crop_texture(np, texture, uv[used], texture_px)
            data = pack_b3dm(_glb(np, tv, tf, tuv, img))
            name = f"L{level}_{i}_{j}.b3dm"
            if level == 0:
                rel = f"Data/{name}"
            else:
                q = (i >> (level - 1), j >> (level - 1))  # the level-1 quadrant it lies in
                rel = f"Data/L1_{q[0]}_{q[1]}/{name}" if external else f"Data/{name}"
            _atomic_write(root_dir / rel, data)
            out.files.append(root_dir / rel)
            out.bytes_total += len(data)
            area = float(np.prod(tv[:, :2].max(axis=0) - tv[:, :2].min(axis=0))) or 1.0
            err = 0.0 if leaf else math.sqrt(2.0 * area / max(1, len(tf)))
            tiles[(level, i, j)] = _Tile(level, i, j, rel, tv.min(axis=0), tv.max(axis=0), err)
    # Link children to parents, then grow boxes bottom-up so each holds its subtree.
    _link_tiles(tiles)
    root = tiles.get((0, 0, 0))
    if root is None:
        raise ValidationError("the coarsest level of detail has no faces")
    for t in tiles.values():  # a parent's error is never below its children's
        for c in t.children:
            t.error = max(t.error, c.error * 1.5 if c.error else t.error)
    transform = local_to_ecef(crs, origin, (*lo_all, *hi_all))

    def node(t: _Tile, base: str) -> dict[str, Any]:
        d: dict[str, Any] = {"boundingVolume": {"box": _box(t.lo, t.hi)},
                             "geometricError": round(t.error, 4), "refine": "REPLACE",
                             "content": {"uri": t.uri[len(base):] if t.uri else ""}}
        kids = sorted(t.children, key=lambda c: (c.i, c.j))
        if kids:
            d["children"] = [child(c, base) for c in kids]
        return d

    def child(t: _Tile, base: str) -> dict[str, Any]:
        if external and t.level == 1:
            sub_base = f"Data/L1_{t.i}_{t.j}/"
            doc = {"asset": {"version": "1.0", "generator": "terranb"},
                   "geometricError": round(t.error, 4), "root": node(t, sub_base)}
            path = root_dir / sub_base / "tileset.json"
            _write_json(path, doc)
            out.files.append(path)
            return {"boundingVolume": {"box": _box(t.lo, t.hi)},
                    "geometricError": round(t.error, 4),
                    "content": {"uri": f"{sub_base[len(base):]}tileset.json"}}
        return node(t, base)

    root_doc = node(root, "")
    root_doc["transform"] = to_column_major(transform)
    _write_root(out, root_dir, root_doc, root.error, hi_all - lo_all, crs, origin)
    return out


def _srs(crs: CRS) -> str:
    """``EPSG:xxxx`` when the CRS has a code, else its WKT (asset.extras.crs, terranb's own)."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    import json

    _atomic_write(path, json.dumps(doc, indent=1).encode("utf-8"))


def _decimated(np: Any, v: Any, f: Any, uv: Any | None, max_faces: int) -> LodMesh:
    """The one decimation call of the tileset writer (results' vertex clustering)."""
    from terranb.results.mesh import Mesh, MeshPart

    part = MeshPart(vertices=v, faces=f, uv=uv, texture_path=None, material=None)
    mesh = Mesh(path=Path("tileset-lod.obj"), metadata=None, textures={}, _parts=[part])
    dec = mesh.decimate(max_faces)
    return LodMesh(dec.vertices.astype(np.float64), dec.faces.astype(np.int64), dec.uv)


def mesh_tileset(out_dir: str | os.PathLike[str], vertices: Any, faces: Any, *, uv: Any = None,
                 texture: Any = None, crs: CRS, origin: tuple[float, float, float],
                 levels: int = 3, **kwargs: Any) -> TilesetWritten:
    """A ``levels``-level b3dm tileset of one mesh; coarser levels are decimated from it.

    Level ``d`` keeps about ``faces / 4^(levels-1-d)`` faces, so every tile holds about
    as many faces as a leaf.
    """
    np = require("numpy", "geo")
    if levels < 1:
        raise ValidationError("levels must be at least 1")
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    uvs = None if uv is None else np.asarray(uv, dtype=np.float64)
    lods = [LodMesh(v, f, uvs)]
    for d in range(levels - 2, -1, -1):
        target = max(2, len(f) // 4 ** (levels - 1 - d))
        lods.insert(0, _decimated(np, v, f, uvs, target))
    return write_mesh_tileset(out_dir, lods, texture, crs, origin, **kwargs)


def point_tileset(out_dir: str | os.PathLike[str], xyz: Any, rgb: Any, *, crs: CRS,
                  origin: tuple[float, float, float], levels: int = 3,
                  points_per_tile: int = 50_000, seed: int = 0) -> TilesetWritten:
    """A pnts tileset of absolute ``xyz`` in ``crs`` (level d: 4^d tiles, REPLACE).

    Each tile holds up to ``points_per_tile`` points of its cell, sampled at random
    (the leaves all of them), positions float32 relative to ``origin``.
    """
    np = require("numpy", "geo")
    pts = np.asarray(xyz, dtype=np.float64) - np.asarray(origin, dtype=np.float64)
    col = None if rgb is None else np.asarray(rgb, dtype=np.uint8)[:, :3]
    if len(pts) == 0:
        raise ValidationError("a point tileset needs at least one point")
    root_dir = Path(out_dir)
    lo_all, hi_all = pts.min(axis=0), pts.max(axis=0)
    span = np.maximum(hi_all - lo_all, 1e-6)
    rng = np.random.default_rng(seed)
    out = TilesetWritten(root=root_dir / "tileset.json")
    tiles: dict[tuple[int, int, int], _Tile] = {}
    for level in range(levels):
        n = 2**level
        i = np.clip(((pts[:, 0] - lo_all[0]) / span[0] * n).astype(np.int64), 0, n - 1)
        j = np.clip(((pts[:, 1] - lo_all[1]) / span[1] * n).astype(np.int64), 0, n - 1)
        key = i * n + j
        order = np.argsort(key, kind="stable")
        cuts = np.searchsorted(key[order], np.arange(n * n + 1))
        leaf = level == levels - 1
        count = 0
        for c in range(n * n):
            sel = order[cuts[c]:cuts[c + 1]]
            if not len(sel):
                continue
            if not leaf and len(sel) > points_per_tile:
                sel = rng.choice(sel, points_per_tile, replace=False)
            p = pts[sel]
            data = pack_pnts(p, None if col is None else col[sel])
            rel = f"Data/L{level}_{c // n}_{c % n}.pnts"
            _atomic_write(root_dir / rel, data)
            out.files.append(root_dir / rel)
            out.bytes_total += len(data)
            count += len(sel)
            area = float(np.prod(np.maximum(p[:, :2].max(axis=0) - p[:, :2].min(axis=0), 1e-3)))
            err = 0.0 if leaf else math.sqrt(area / len(sel))
            tiles[(level, c // n, c % n)] = _Tile(level, c // n, c % n, rel, p.min(axis=0),
                                                  p.max(axis=0), err)
        out.tiles_per_level.append(sum(1 for k in tiles if k[0] == level))
        out.faces_per_level.append(count)
    _link_tiles(tiles, grow_error=True)

    def node(t: _Tile) -> dict[str, Any]:
        d: dict[str, Any] = {"boundingVolume": {"box": _box(t.lo, t.hi)},
                             "geometricError": round(t.error, 4), "refine": "REPLACE",
                             "content": {"uri": t.uri}}
        if t.children:
            d["children"] = [node(c) for c in sorted(t.children, key=lambda c: (c.i, c.j))]
        return d

    root = tiles[(0, 0, 0)]
    root_doc = node(root)
    root_doc["transform"] = to_column_major(local_to_ecef(crs, origin, (*lo_all, *hi_all)))
    _write_root(out, root_dir, root_doc, root.error, hi_all - lo_all, crs, origin)
    return out


def _link_tiles(tiles: dict[tuple[int, int, int], Any], grow_error: bool = False) -> None:
    """Hang each tile under its parent (level - 1, i // 2, j // 2), deepest first, so each
    box grows to hold its subtree; with ``grow_error`` a parent's geometric error is at
    least 1.5 times each child's."""
    np = require("numpy", "geo")
    for (level, i, j), t in sorted(tiles.items(), key=lambda kv: -kv[0][0]):
        parent = tiles.get((level - 1, i // 2, j // 2)) if level else None
        if parent is not None:
            parent.children.append(t)
            parent.lo = np.minimum(parent.lo, t.lo)
            parent.hi = np.maximum(parent.hi, t.hi)
            if grow_error:
                parent.error = max(parent.error, t.error * 1.5)


def _write_root(out: Any, root_dir: Path, root_doc: dict[str, Any], root_error: float,
                extent: Any, crs: Any, origin: Any) -> None:
    """Write the top ``tileset.json`` (CRS, origin in ``asset.extras``); list it in ``out``."""
    diag = math.hypot(*(float(v) for v in extent))
    doc = {"asset": {"version": "1.0", "generator": "terranb",
                     "extras": {"crs": _srs(crs), "origin": list(origin)}},
           "geometricError": round(max(diag, root_error * 2), 4), "root": root_doc}
    _write_json(root_dir / "tileset.json", doc)
    out.files.append(root_dir / "tileset.json")
