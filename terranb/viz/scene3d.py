"""Self-contained 3D viewer for point clouds and textured meshes (three.js, no network).

:class:`Scene3D` writes one HTML document that carries everything it needs:
three.js (the vendored r160 build, inlined), the geometry as base64 typed
arrays (positions quantised to 16 bits per axis, colours as bytes, indices as
16/32-bit integers) and textures as JPEG data URIs. It therefore works in
JupyterLab, VS Code, Binder, nbconvert HTML exports and saved reports without a
widget extension, a server or a CDN. In a notebook it shows itself through
``_repr_html_`` as an ``<iframe srcdoc=...>``; ``save()`` writes the page and
``to_png()`` renders a static picture (numpy software renderer) for reports.

Size is bounded: the page is built within ``max_bytes`` (default 10 MB) by
shrinking textures and decimating points (uniform sampling) and meshes (vertex
clustering) as needed. Per point the page costs 12 bytes, per mesh face about
12-16 bytes plus the texture.

Modules: this one holds the :class:`Scene3D` API and the byte budget;
:mod:`._scene3d_inputs` the typed inputs (Protocols for point samples and mesh
parts); :mod:`._scene3d_layers` the layers and array encoding;
:mod:`._scene3d_page` the page template and viewer JavaScript.

Example:
    >>> from terranb.results.pointcloud import PointCloud  # doctest: +SKIP
    >>> cloud = PointCloud.open("cloud.laz")  # doctest: +SKIP
    >>> Scene3D.from_pointcloud(cloud, color_by="elevation")  # doctest: +SKIP
"""

from __future__ import annotations

import html as html_mod
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import terranb.viz._assets as _assets
import terranb.viz._png as _png
import terranb.viz._scene3d_results as _results
from terranb.errors import ValidationError, require
from terranb.results.decimate import subsample_indices
from terranb.viz._scene3d_inputs import (
    MeshArraysLike,
    MeshPartInput,
    MeshPartsLike,
    PointCloudLike,
    PointSampleLike,
    PointsInput,
    is_trimesh_scene,
    mesh_parts,
    points_of,
)
from terranb.viz._scene3d_layers import (
    Built,
    MeshLayer,
    PointLayer,
    b64,
    check_texture,
    class_legend,
    elevation,
    load_texture,
    quantise,
    rgb8,
)
from terranb.viz._scene3d_page import page_shell
from terranb.viz._soft3d import Camera, render

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Camera", "MeshPartInput", "PointsInput", "Scene3D"]

COLOR_MODES = ("auto", "rgb", "elevation", "classification", "texture", "none")
_B64 = 4.0 / 3.0
_MARGIN = 8_192  # JSON punctuation, layer names, the HUD text

class Scene3D:
    """A 3D scene of point and mesh layers rendered as one self-contained HTML page.

    Args:
        max_bytes: upper bound on the HTML size (default 10 MB); geometry and
            textures are decimated to fit.
        height: height in pixels of the inline notebook view.
        title: shown in the corner of the viewer.
        background: CSS colour behind the scene.
        camera: initial view direction (also used by :meth:`to_png`).
        max_texture_px: longest texture side kept (larger textures are downscaled).
        texture_share: at most this fraction of the budget goes to textures.
        max_points: cap on points shown per point layer (the byte budget may keep fewer).
        max_faces: cap on faces shown per mesh layer (the byte budget may keep fewer).
        up: ``"z"`` (survey data, DJI Terra) or ``"y"`` (many generic OBJ models):
            which input axis points up; ``"y"`` input is rotated to z-up.
    """

    def __init__(self, *, max_bytes: int = 10_000_000, height: int = 480, title: str = "",
                 background: str = "#1b1d22", camera: Camera | None = None,
                 max_texture_px: int = 2048, texture_share: float = 0.4,
                 max_points: int | None = None, max_faces: int | None = None,
                 up: str = "z") -> None:
        if up not in ("z", "y"):
            raise ValidationError(f"up must be 'z' or 'y', got {up!r}")
        self.up = up
        self.max_points = max_points
        self.max_faces = max_faces
        self.max_bytes = int(max_bytes)
        self.height = int(height)
        self.title = title
        self.background = background
        self.camera = camera or Camera()
        self.max_texture_px = int(max_texture_px)
        self.texture_share = float(texture_share)
        self._points: list[PointLayer] = []
        self._meshes: list[MeshLayer] = []
        self._built: Built | None = None
        #: problems met while reading the inputs (e.g. tiles left out of a tileset)
        self.findings: list[Any] = []

    # ----------------------------------------------------------------- layers
    def add_points(self, xyz: Any, rgb: Any = None, classification: Any = None, *,
                   color_by: str = "auto", name: str = "points", size: float = 2.0,
                   source_count: int | None = None) -> Scene3D:
        """Add a point layer.

        Args:
            xyz: (N, 3) coordinates (any projected CRS; metres recommended).
            rgb: optional (N, 3) colours (uint8, LAS uint16 or float 0-1).
            classification: optional (N,) ASPRS class codes.
            color_by: ``"auto"`` (rgb, else classification, else elevation),
                ``"rgb"``, ``"elevation"``, ``"classification"`` or ``"none"``.
            name: label in the viewer's layer list.
            size: point size in screen pixels.
            source_count: points in the original data (for the "shown of" label).

        Returns:
            ``self``, so calls chain.
        """
        np = require("numpy", "geo")
        a = np.asarray(xyz, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 3 or len(a) == 0:
            raise ValidationError(f"xyz must be a non-empty (N, 3) array, got shape {a.shape}")
        a = self._z_up(a)
        ok = np.all(np.isfinite(a), axis=1)
        mode = self._check_mode(color_by)
        if mode == "auto":
            mode = "rgb" if rgb is not None else (
                "classification" if classification is not None else "elevation")
        colours: Any
        legend = None
        if mode == "rgb":
            if rgb is None:
                raise ValidationError("color_by='rgb' needs rgb colours (this data has none)")
            colours = rgb8(rgb)
        elif mode == "classification":
            if classification is None:
                raise ValidationError("color_by='classification' needs classification codes")
            codes = np.asarray(classification)
            colours = _png.classification_colours(codes)
            legend = class_legend(codes)
        elif mode == "elevation":
            colours, legend = elevation(a[:, 2])
        elif mode == "none":
            colours = None
        else:
            raise ValidationError(
                f"color_by={mode!r} is for meshes; use rgb, elevation or classification")
        if colours is not None and len(colours) != len(a):
            raise ValidationError(f"{len(colours)} colours for {len(a)} points")
        if not ok.all():
            a = a[ok]
            colours = None if colours is None else colours[ok]
        self._points.append(PointLayer(name, a, colours, float(size),
                                        int(source_count or len(a)), legend))
        self._built = None
        return self

    def add_mesh(self, vertices: Any, faces: Any, *, uv: Any = None, texture: Any = None,
                 colors: Any = None, color_by: str = "auto", name: str = "mesh",
                 source_faces: int | None = None) -> Scene3D:
        """Add a triangle mesh layer.

        Args:
            vertices: (V, 3) positions.
            faces: (F, 3) vertex indices (quads and polygons must be triangulated).
            uv: optional (V, 2) texture coordinates (OBJ convention, v up).
            texture: image path, PIL image or (H, W, 3) array; needs ``uv``.
            colors: optional (V, 3) vertex colours.
            color_by: ``"auto"`` (texture, else colours, else elevation), ``"texture"``,
                ``"rgb"`` (vertex colours), ``"elevation"`` or ``"none"`` (grey, shaded).
            name: label in the viewer's layer list.
            source_faces: faces in the original data (for the "shown of" label).

        Returns:
            ``self``.
        """
        np = require("numpy", "geo")
        v = np.asarray(vertices, dtype=np.float64)
        f = np.asarray(faces)
        if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
            raise ValidationError(f"vertices must be a non-empty (V, 3) array, got {v.shape}")
        v = self._z_up(v)
        if f.ndim != 2 or f.shape[1] != 3:
            raise ValidationError(
                f"faces must be an (F, 3) triangle index array, got {f.shape}; triangulate first"
            )
        f = f.astype(np.int64)
        if len(f) and (f.min() < 0 or f.max() >= len(v)):
            raise ValidationError("face indices refer to vertices that do not exist")
        mode = self._check_mode(color_by)
        if mode == "auto":
            mode = "texture" if texture is not None and uv is not None else (
                "rgb" if colors is not None else "elevation")
        tex_arr = uv_arr = col = legend = None
        if mode == "texture":
            if texture is None or uv is None:
                raise ValidationError("color_by='texture' needs both uv and texture")
            uv_arr = np.asarray(uv, dtype=np.float64)
            if uv_arr.shape != (len(v), 2):
                raise ValidationError(f"uv must be ({len(v)}, 2), got {uv_arr.shape}")
            tex_arr = check_texture(texture)
        elif mode == "rgb":
            if colors is None:
                raise ValidationError("color_by='rgb' needs vertex colours")
            col = rgb8(colors)
        elif mode == "elevation":
            col, legend = elevation(v[:, 2])
        elif mode == "classification":
            raise ValidationError("color_by='classification' is for point layers")
        self._meshes.append(MeshLayer(name, v, f, uv_arr, tex_arr, col,
                                       int(source_faces or len(f)), legend))
        self._built = None
        return self

    def _z_up(self, a: Any) -> Any:
        """Rotate y-up input to z-up (x, y, z) -> (x, -z, y); z-up input is returned as is."""
        if self.up == "z":
            return a
        np = require("numpy", "geo")
        return np.stack([a[:, 0], -a[:, 2], a[:, 1]], axis=1)

    @staticmethod
    def _check_mode(mode: str) -> str:
        if mode not in COLOR_MODES:
            raise ValidationError(f"color_by must be one of {COLOR_MODES}, got {mode!r}")
        return mode

    # ----------------------------------------------------------- constructors
    @classmethod
    def from_points(cls, xyz: Any, rgb: Any = None, classification: Any = None, *,
                    color_by: str = "auto", size: float = 2.0, **kwargs: Any) -> Scene3D:
        """A scene with one point layer (see :meth:`add_points`); ``kwargs`` go to ``Scene3D``."""
        return cls(**kwargs).add_points(xyz, rgb, classification, color_by=color_by, size=size)

    @classmethod
    def from_arrays(cls, vertices: Any, faces: Any, *, uv: Any = None, texture: Any = None,
                    colors: Any = None, color_by: str = "auto", **kwargs: Any) -> Scene3D:
        """A scene with one mesh layer (see :meth:`add_mesh`)."""
        return cls(**kwargs).add_mesh(vertices, faces, uv=uv, texture=texture, colors=colors,
                                      color_by=color_by)

    @classmethod
    def from_pointcloud(cls, cloud: Any, n: int = 500_000, *, color_by: str = "auto",
                        size: float = 2.0, **kwargs: Any) -> Scene3D:
        """A scene from a ``terranb.results`` point cloud (decimated to ``n`` points on read).

        Args:
            cloud: a ``PointCloud`` (its ``decimate(n)`` streams the file in bounded
                memory), a ``PointSample``, or a LAS/LAZ path.
            n: points to read; the page budget may keep fewer.
            color_by: see :meth:`add_points`.
            size: point size in pixels.
            **kwargs: :class:`Scene3D` constructor arguments.
        """
        if isinstance(cloud, (str, os.PathLike)):
            from terranb.results.pointcloud import PointCloud

            cloud = PointCloud.open(cloud)
        if not isinstance(cloud, (PointSampleLike, PointCloudLike)):
            raise ValidationError(
                f"cannot read points from {type(cloud).__name__}; pass a terranb.results "
                "PointCloud / PointSample or use Scene3D.from_points(xyz, ...)")
        pts = points_of(cloud, n)
        kwargs.setdefault("title", Path(str(getattr(cloud, "path", ""))).name)
        scene = cls(**kwargs)
        return scene.add_points(
            pts.xyz, pts.rgb, pts.classification, color_by=color_by, size=size,
            source_count=pts.source_count, name=kwargs.get("title") or "points",
        )

    @classmethod
    def from_mesh(cls, mesh: Any, *, color_by: str = "auto", **kwargs: Any) -> Scene3D:
        """A scene from a mesh object: a ``terranb.results`` Mesh, a trimesh mesh or scene.

        Args:
            mesh: a ``terranb.results`` ``Mesh`` or ``DecimatedMesh`` (one layer per
                material part), an OBJ path (opened as a results ``Mesh``: MTL,
                textures and metadata.xml found for you), any object with
                ``vertices``/``faces`` (and optionally ``uv`` and ``texture`` /
                ``texture_path``), a ``trimesh.Trimesh`` or a ``trimesh.Scene``.
            color_by: see :meth:`add_mesh`.
            **kwargs: :class:`Scene3D` constructor arguments (e.g. ``max_faces``);
                ``up`` defaults to ``"y"`` for a results ``Mesh`` without DJI Terra
                ``metadata.xml`` (the usual OBJ convention), else ``"z"``.
        """
        if isinstance(mesh, (str, os.PathLike)):
            from terranb.results.mesh import Mesh

            mesh = Mesh.open(mesh)
        path = getattr(mesh, "path", None)
        if path is not None:
            kwargs.setdefault("title", Path(str(path)).name)
        if getattr(mesh, "metadata", "absent") is None:
            # OBJ names no up axis: DJI Terra's georeferenced OBJs (metadata.xml) are z-up,
            # most other exporters (Blender, MeshLab, scanners) write y-up
            kwargs.setdefault("up", "y")
        scene = cls(**kwargs)
        parts = mesh_parts(mesh)
        if not parts:
            raise ValidationError(f"{type(mesh).__name__} has no triangle geometry to show")
        for p in parts:
            mode = color_by
            if mode == "auto" and p.texture is None and p.colors is None:
                mode = "elevation"
            scene.add_mesh(p.vertices, p.faces, uv=p.uv, texture=p.texture, colors=p.colors,
                           color_by=mode, name=p.name)
        return scene

    @classmethod
    def from_tileset(cls, tileset: Any, *, max_triangles: int = 300_000,
                     max_tile_bytes: int = 50_000_000, level: int | None = None,
                     **kwargs: Any) -> Scene3D:
        """A scene of a 3D Tiles tileset (b3dm meshes or pnts points) at one level of detail.

        Args:
            tileset: a ``terranb.results.tiles.Tileset``, a ``tileset.json`` path or the
                folder holding it.
            max_triangles: triangle (or point) budget: the deepest level within it and
                ``max_tile_bytes`` is shown, unless ``level`` is given.
            max_tile_bytes: bytes of tile files that level may read.
            level: show this level (0 = coarsest) instead.
            **kwargs: :class:`Scene3D` constructor arguments.

        Problems with single tiles (missing, truncated, not b3dm) leave them out; they
        are listed in the returned scene's ``findings`` and the rest is shown.
        """
        from terranb.results.tiles.tileset import Tileset

        ts = tileset if isinstance(tileset, Tileset) else Tileset(tileset)
        kwargs.setdefault("title", Path(str(ts.path)).parent.name or "tileset")
        if ts.kind == "pnts":
            pts = ts.read_points(level, max_points=max_triangles, max_bytes=max_tile_bytes)
            scene = cls(**kwargs)
            scene.add_points(pts.xyz, pts.rgb, name=kwargs["title"],
                             source_count=pts.source_count)
        else:
            mesh = ts.read_mesh(level, max_triangles=max_triangles, max_bytes=max_tile_bytes)
            scene = cls.from_mesh(mesh, **kwargs)
        scene.findings = list(ts.findings)
        return scene

    @classmethod
    def from_result(cls, result: Any, **kwargs: Any) -> Scene3D:
        """A scene of anything :func:`terranb.results.open_results` opens, or a results object.

        Folders (DJI Terra / FlightHub 2 trees, also one level up), ``tileset.json``,
        LAS/LAZ, OBJ, 3DGS ``.ply``, rasters (a DSM as relief, an orthomosaic flat) and
        ``ResultTree`` / ``Orthomosaic`` / point cloud / mesh objects. A tree shows its
        best 3D product (:mod:`._scene3d_results` gives the order); a result with
        nothing drawable (a report only) raises :class:`ValidationError` saying so.
        """
        from terranb.results.layout import RASTER_SUFFIXES, ResultTree, open_results
        from terranb.results.ortho import Orthomosaic
        from terranb.results.tiles.tileset import Tileset

        if isinstance(result, Tileset):
            return cls.from_tileset(result, **kwargs)
        if isinstance(result, ResultTree):
            return _results.scene_of_tree(cls, result, **kwargs)
        if isinstance(result, Orthomosaic):
            return _results.scene_of_tree(cls, ResultTree(result.path, "ortho", ortho=result),
                                          **kwargs)
        if isinstance(result, (str, os.PathLike)):
            p = Path(result)
            if p.name.lower() == "tileset.json" or (p / "tileset.json").is_file():
                return cls.from_tileset(p, **kwargs)
            suffix = p.suffix.lower()
            if p.is_dir() or suffix in (*RASTER_SUFFIXES, ".json"):
                return _results.scene_of_tree(cls, open_results(p), **kwargs)
            if suffix in (".las", ".laz"):
                return cls.from_pointcloud(result, **kwargs)
            if suffix == ".obj":
                return cls.from_mesh(result, **kwargs)
            if suffix == ".ply":
                return _results.scene_of_splats(cls, p, **kwargs)
            raise ValidationError(
                f"no 3D viewer for {suffix or 'this'} files ({p}); pass a result folder or a "
                ".las/.laz/.obj/.ply/.tif/tileset.json file")
        if isinstance(result, (MeshPartsLike, MeshArraysLike)) or is_trimesh_scene(result):
            return cls.from_mesh(result, **kwargs)
        return cls.from_pointcloud(result, **kwargs)

    @classmethod
    def from_tree(cls, tree: Any, **kwargs: Any) -> Scene3D:
        """A scene of a ``terranb.results`` ``ResultTree``: its first mesh (OBJ, else b3dm
        tileset), else point cloud (LAS/LAZ, else pnts tileset), else 3DGS splats, else
        the DSM as relief (textured by the ortho), else the orthomosaic on a flat plane."""
        return _results.scene_of_tree(cls, tree, **kwargs)

    # ------------------------------------------------------------------ build
    def _centre_radius(self) -> tuple[np.ndarray, float]:
        np = require("numpy", "geo")
        arrays = [p.xyz for p in self._points] + [m.vertices for m in self._meshes]
        lo = np.min([a.min(axis=0) for a in arrays], axis=0)
        hi = np.max([a.max(axis=0) for a in arrays], axis=0)
        return (lo + hi) / 2, max(float(np.linalg.norm(hi - lo)) / 2, 1e-6)

    def _shell(self) -> str:
        return page_shell(self.title, self.background)

    def build(self) -> Built:
        """Assemble the page within ``max_bytes`` (cached until a layer is added)."""
        if self._built is not None:
            return self._built
        if not self._points and not self._meshes:
            raise ValidationError("the scene is empty: add_points() or add_mesh() first")
        shell = self._shell()
        fixed = len(shell.encode("utf-8")) + _MARGIN
        avail = self.max_bytes - fixed
        if avail < 50_000:
            raise ValidationError(
                f"max_bytes={self.max_bytes} leaves no room for data: the viewer itself "
                f"(three.js inlined) takes {fixed} bytes; raise max_bytes"
            )
        centre, radius = self._centre_radius()
        textures = self._encode_textures(avail)
        tex_bytes = sum(len(t) for t in textures.values())
        geo_avail = avail - tex_bytes
        need = [self._point_bytes(len(p.xyz)) for p in self._points] + \
               [self._mesh_bytes(len(m.vertices), len(m.faces), m.uv is not None,
                                 m.colors is not None) for m in self._meshes]
        factor = min(1.0, geo_avail / float(sum(need)))
        for _attempt in range(6):
            layers, shown = self._encode_layers(factor, centre, textures)
            data = {
                "background": self.background, "radius": radius,
                "azimuth": self.camera.azimuth, "elevation": self.camera.elevation,
                "layers": layers,
            }
            payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
            page = shell.replace("__DATA__", payload, 1)
            size = len(page.encode("utf-8"))
            if size <= self.max_bytes:
                stats = {"bytes": size, "fixed_bytes": fixed, "texture_bytes": tex_bytes,
                         "layers": shown, "three_js": _assets.THREE_VERSION}
                self._built = Built(page, stats)
                return self._built
            # Mesh vertex counts after clustering are only estimated; shrink and retry.
            factor *= 0.95 * (geo_avail / float(max(1, size - fixed - tex_bytes)))
        raise ValidationError(
            f"could not fit the scene into {self.max_bytes} bytes; raise max_bytes")

    @staticmethod
    def _point_bytes(n: int) -> float:
        return n * (6 + 3) * _B64

    @staticmethod
    def _mesh_bytes(nv: int, nf: int, uv: bool, col: bool) -> float:
        idx = 2 if nv <= 65535 else 4
        return (nf * 3 * idx + nv * (6 + (4 if uv else 0) + (3 if col else 0))) * _B64

    def _encode_textures(self, avail: int) -> dict[int, str]:
        textured = [i for i, m in enumerate(self._meshes) if m.texture is not None]
        if not textured:
            return {}
        per = int(avail * self.texture_share / len(textured) / _B64)
        out: dict[int, str] = {}
        for i in textured:
            tex = load_texture(self._meshes[i].texture, self.max_texture_px)
            jpg, _ = _png.fit_jpeg(tex, per)
            out[i] = _png.data_uri(jpg, "image/jpeg")
        return out

    def _encode_layers(self, factor: float, centre: np.ndarray, textures: dict[int, str],
                       ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        np = require("numpy", "geo")
        layers: list[dict[str, Any]] = []
        shown: list[dict[str, Any]] = []
        for p in self._points:
            target = max(1, int(len(p.xyz) * factor))
            if self.max_points is not None:
                target = min(target, self.max_points)
            idx = subsample_indices(len(p.xyz), target)
            pos, off, scale = quantise(p.xyz[idx], centre)
            layer: dict[str, Any] = {"kind": "points", "name": p.name, "count": len(idx),
                                     "source": p.source_count, "pos": pos, "offset": off,
                                     "scale": scale, "size": p.size}
            if p.rgb is not None:
                layer["col"] = b64(np.ascontiguousarray(p.rgb[idx]))
            if p.legend:
                layer["legend"] = p.legend
            layers.append(layer)
            shown.append({"kind": "points", "name": p.name, "shown": len(idx),
                          "source": p.source_count})
        for i, m in enumerate(self._meshes):
            target = max(1, int(len(m.faces) * factor))
            if self.max_faces is not None:
                target = min(target, self.max_faces)
            d = m.decimated(target)
            pos, off, scale = quantise(d.vertices, centre)
            big = len(d.vertices) > 65535
            idx_arr = d.faces.astype("<u4" if big else "<u2")
            layer = {"kind": "mesh", "name": m.name, "count": len(d.faces),
                     "source": m.source_faces, "pos": pos, "offset": off, "scale": scale,
                     "idx": b64(np.ascontiguousarray(idx_arr)), "idx32": big}
            if d.uv is not None and i in textures:
                uv = d.uv.astype(np.float64)
                lo = uv.min(axis=0)
                ext = uv.max(axis=0) - lo
                ext = np.where(ext > 0, ext, 1.0)
                layer["uv"] = b64(np.round((uv - lo) / ext * 65535).astype("<u2"))
                layer["uvOffset"] = [float(lo[0]), float(lo[1])]
                layer["uvScale"] = [float(ext[0]), float(ext[1])]
                layer["tex"] = textures[i]
            if d.colors is not None:
                layer["col"] = b64(np.ascontiguousarray(d.colors))
            if m.legend:
                layer["legend"] = m.legend
            layers.append(layer)
            shown.append({"kind": "mesh", "name": m.name, "shown": len(d.faces),
                          "source": m.source_faces, "vertices": len(d.vertices)})
        return layers, shown

    # ----------------------------------------------------------------- output
    def html(self) -> str:
        """The standalone HTML page (at most ``max_bytes`` bytes of UTF-8)."""
        return self.build().html

    @property
    def stats(self) -> dict[str, Any]:
        """Page size, texture bytes and points/faces shown per layer."""
        return self.build().stats

    def _repr_html_(self) -> str:
        # srcdoc keeps the page in the notebook output itself: no file, no server,
        # no widget manager, so it also survives nbconvert and static hosting.
        doc = html_mod.escape(self.html(), quote=True)
        return (f'<iframe srcdoc="{doc}" style="width:100%;height:{self.height}px;border:0" '
                f'sandbox="allow-scripts" title="{html_mod.escape(self.title or "3D view")}">'
                "</iframe>")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page atomically (``.part`` then rename) and return its path."""
        out = Path(path)
        part = out.with_name(out.name + ".part")
        try:
            part.write_bytes(self.html().encode("utf-8"))
            os.replace(part, out)
        finally:
            part.unlink(missing_ok=True)
        return out

    def to_image(self, width: int = 800, height: int = 600, *,
                 max_points: int = 300_000, max_faces: int = 150_000) -> np.ndarray:
        """Render the scene with the numpy software renderer; RGB uint8 (height, width, 3)."""
        pts = []
        for p in self._points:
            idx = subsample_indices(len(p.xyz), max_points)
            rgb = p.rgb[idx] if p.rgb is not None else _png.ramp(p.xyz[idx, 2], "viridis")
            pts.append((p.xyz[idx], rgb, max(1, round(p.size * min(width, height) / 600))))
        meshes = []
        for m in self._meshes:
            d = m.cached_within(max_faces) or m.decimated(min(len(m.faces), max_faces))
            tex = None if m.texture is None else load_texture(m.texture, max(width, height))
            meshes.append((d.vertices, d.faces, d.uv, tex, d.colors))
        bg = self.background.lstrip("#")
        rgb_bg = tuple(int(bg[i:i + 2], 16) for i in (0, 2, 4)) if len(bg) == 6 else (30, 30, 30)
        return render(pts, meshes, width=width, height=height, camera=self.camera,
                      background=rgb_bg)  # type: ignore[arg-type]

    def to_png(self, path: str | os.PathLike[str] | None = None, width: int = 800,
               height: int = 600) -> bytes:
        """A static PNG of the scene for reports; also written to ``path`` when given."""
        data = _png.encode_png(self.to_image(width, height))
        if path is not None:
            out = Path(path)
            part = out.with_name(out.name + ".part")
            try:
                part.write_bytes(data)
                os.replace(part, out)
            finally:
                part.unlink(missing_ok=True)
        return data

    def __repr__(self) -> str:
        return (f"Scene3D(points={[len(p.xyz) for p in self._points]}, "
                f"meshes={[len(m.faces) for m in self._meshes]}, max_bytes={self.max_bytes})")
