"""What the 3D viewer shows of a result folder or file: the choice and the height field.

:meth:`Scene3D.from_result` accepts whatever :func:`terranb.results.open_results`
accepts. A tree is shown by its best 3D product, in this order: an OBJ mesh, a
b3dm tileset, a LAS/LAZ cloud, a pnts tileset, the 3DGS splats (centres as
coloured points), the DSM as a height field (textured with the orthomosaic when
there is one), and last the orthomosaic alone on a flat plane (a 2D result
without a DSM, as the emulator's and FlightHub 2's map models are); that last
case is said in the scene's ``findings`` and title. A tree with nothing
drawable (a report only) is a :class:`~terranb.errors.ValidationError` naming
what it holds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.errors import ValidationError, require
from terranb.results.findings import Finding

if TYPE_CHECKING:
    from terranb.results.layout import ResultTree
    from terranb.results.ortho import Orthomosaic
    from terranb.viz.scene3d import Scene3D

__all__ = ["height_field", "scene_of_raster", "scene_of_tree"]

#: DSM cells turned into a mesh (two triangles each); 300 x 300 keeps the page small.
HEIGHTFIELD_CELLS = 90_000
_M_PER_DEG = 111_320.0


def _centres(transform: Any, rows: int, cols: int) -> tuple[Any, Any]:
    np = require("numpy", "geo")
    jj, ii = np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
    t = transform
    return t.c + jj * t.a + ii * t.b, t.f + jj * t.d + ii * t.e


def _metric(crs: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """Degrees would squash relief by 10^5: a geographic CRS is scaled to metres about
    its centre (equirectangular; plenty for a viewer over a survey site)."""
    np = require("numpy", "geo")
    if crs is None or not getattr(crs, "is_geographic", False):
        return x, y
    lat0 = float(np.nanmean(y))
    return x * _M_PER_DEG * math.cos(math.radians(lat0)), y * _M_PER_DEG


def height_field(dsm: Orthomosaic | None, ortho: Orthomosaic | None, *,
                 max_cells: int = HEIGHTFIELD_CELLS, max_texture_px: int = 2048
                 ) -> dict[str, Any]:
    """A triangle mesh of the DSM (or a flat plane under the ortho when ``dsm`` is None).

    Returns ``add_mesh`` keyword arguments: ``vertices`` (x, y in the raster's CRS,
    z the DSM height, 0 when flat), ``faces`` (cells whose four corners are valid),
    and ``uv``/``texture`` from the orthomosaic, or ``color_by="elevation"``.
    """
    np = require("numpy", "geo")
    base = dsm if dsm is not None else ortho
    if base is None:
        raise ValidationError("a height field needs a DSM or an orthomosaic")
    if dsm is not None:
        arr, t = dsm.read_preview(max_cells, bands=[1])
        z = arr[0].astype(np.float64)
        valid = np.isfinite(z)
        if dsm.nodata is not None and not math.isnan(float(dsm.nodata)):
            valid &= z != float(dsm.nodata)
    else:
        rgba, t = base.read_preview_rgba(max_cells)
        z = np.zeros(rgba.shape[:2])
        valid = rgba[..., 3] > 0
    rows, cols = z.shape
    if rows < 2 or cols < 2 or valid.sum() < 3:
        raise ValidationError(f"{base.path} has too few valid cells for a height field")
    x, y = _centres(t, rows, cols)
    idx = np.arange(rows * cols).reshape(rows, cols)
    quad = valid[:-1, :-1] & valid[:-1, 1:] & valid[1:, :-1] & valid[1:, 1:]
    a, b = idx[:-1, :-1][quad], idx[:-1, 1:][quad]
    c, d = idx[1:, :-1][quad], idx[1:, 1:][quad]
    faces = np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, d], 1)])
    if not len(faces):
        raise ValidationError(f"{base.path}: no 2 x 2 block of valid cells to mesh")
    used = np.unique(faces)
    remap = np.full(rows * cols, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    gx, gy = x.ravel()[used], y.ravel()[used]
    mx, my = _metric(base.crs, gx, gy)
    out: dict[str, Any] = {"vertices": np.column_stack([mx, my, z.ravel()[used]]),
                           "faces": remap[faces], "color_by": "elevation"}
    if ortho is None:
        return out
    tex, tt = ortho.read_preview_rgba(max_texture_px * max_texture_px)
    ox, oy = gx, gy
    if dsm is not None and ortho.crs is not None and base.crs is not None and \
            ortho.crs != base.crs:
        pyproj = require("pyproj", "geo")
        tr = pyproj.Transformer.from_crs(base.crs, ortho.crs, always_xy=True)
        ox, oy = tr.transform(gx, gy)
    inv = ~tt  # applied by hand: affine deprecates ``*`` on arrays
    ox, oy = np.asarray(ox), np.asarray(oy)
    col, row = inv.a * ox + inv.b * oy + inv.c, inv.d * ox + inv.e * oy + inv.f
    h, w = tex.shape[:2]
    uv = np.column_stack([np.clip(col / w, 0, 1), np.clip(1.0 - row / h, 0, 1)])
    out.update(uv=uv, texture=np.ascontiguousarray(tex[..., :3]), color_by="texture")
    return out


def scene_of_raster(cls: type[Scene3D], dsm: Orthomosaic | None, ortho: Orthomosaic | None,
                    **kwargs: Any) -> Scene3D:
    """The DSM as relief (textured by ``ortho`` when given), or ``ortho`` alone, flat."""
    base = dsm if dsm is not None else ortho
    assert base is not None
    name = Path(base.path).name
    flat = dsm is None
    kwargs.setdefault("title", f"{name} (flat: no DSM)" if flat else name)
    scene = cls(**kwargs)
    mesh = height_field(dsm, ortho, max_texture_px=scene.max_texture_px)
    scene.add_mesh(mesh.pop("vertices"), mesh.pop("faces"), name=name, **mesh)
    if flat:
        scene.findings.append(Finding.make(
            "info", "scene.flat",
            "this result has no DSM (map/dsm.tif): the orthomosaic is shown on a flat plane; "
            "ask the 2D job for a DSM to see relief, or use result_map() for a 2D view",
            base.path))
    return scene


def _single_band(o: Orthomosaic) -> bool:
    return o.count - (1 if o.has_alpha else 0) == 1 and o.dtype not in ("uint8",)


def scene_of_tree(cls: type[Scene3D], tree: ResultTree, **kwargs: Any) -> Scene3D:
    """The tree's best 3D product (order in the module docstring)."""
    meshes = list(getattr(tree, "meshes", []) or [])
    clouds = list(getattr(tree, "point_clouds", []) or [])
    tiled = list(getattr(tree, "tiled_models", []) or [])
    b3dm = [t for t in tiled if t.kind == "b3dm"]
    if meshes:
        return cls.from_mesh(meshes[0], **kwargs)
    if b3dm:
        return cls.from_tileset(b3dm[0], **kwargs)
    if clouds:
        return cls.from_pointcloud(clouds[0], **kwargs)
    if tiled:
        return cls.from_tileset(tiled[0], **kwargs)
    splats = (getattr(tree, "tilesets", None) or {}).get("3dgs")
    if splats is not None and Path(splats).is_file():
        return scene_of_splats(cls, splats, **kwargs)
    dsm, ortho = getattr(tree, "dsm", None), getattr(tree, "ortho", None)
    if ortho is not None and dsm is None and _single_band(ortho):
        dsm, ortho = ortho, None  # a lone DSM .tif opened as the tree's raster
    if dsm is not None or ortho is not None:
        return scene_of_raster(cls, dsm, ortho, **kwargs)
    held = ", ".join(sorted(getattr(tree, "reports", {}) or {})) or "nothing readable"
    raise ValidationError(
        f"{getattr(tree, 'root', 'this result')} has no mesh, point cloud, splats, DSM or "
        f"orthomosaic to show in 3D (it holds: {held}); open the folder that holds map/, "
        "models/, lidars/ or 3dgs/")


def scene_of_splats(cls: type[Scene3D], path: str | Path, n: int = 500_000,
                    **kwargs: Any) -> Scene3D:
    """Splat centres of a 3DGS PLY as points in their base colour."""
    from terranb.results.splats import read_splats

    sample = read_splats(path, n)
    kwargs.setdefault("title", f"{Path(path).parent.name}/{Path(path).name} (splat centres)")
    scene = cls(**kwargs)
    scene.add_points(sample.xyz, sample.rgb, name="3DGS splats", source_count=sample.source_count)
    return scene
