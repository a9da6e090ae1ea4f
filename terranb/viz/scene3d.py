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

Example:
    >>> from terranb.results.pointcloud import PointCloud  # doctest: +SKIP
    >>> cloud = PointCloud.open("cloud.laz")  # doctest: +SKIP
    >>> Scene3D.from_pointcloud(cloud, color_by="elevation")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html as html_mod
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.errors import ValidationError, require
from terranb.results.decimate import decimate_arrays, subsample_indices
from terranb.viz import _assets, _png
from terranb.viz._soft3d import Camera, render

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Camera", "Scene3D"]

COLOR_MODES = ("auto", "rgb", "elevation", "classification", "texture", "none")
_B64 = 4.0 / 3.0
_MARGIN = 8_192  # JSON punctuation, layer names, the HUD text


@dataclass
class _PointLayer:
    name: str
    xyz: np.ndarray
    rgb: np.ndarray | None
    size: float
    source_count: int
    legend: dict[str, Any] | None = None


@dataclass
class _MeshLayer:
    name: str
    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None
    texture: Any  # a Path, PIL image or uint8 array; decoded when encoding
    colors: np.ndarray | None
    source_faces: int
    legend: dict[str, Any] | None = None
    _cache: dict[int, Any] = field(default_factory=dict, repr=False)

    def cached_within(self, max_faces: int) -> Any:
        """The largest decimation already computed that has at most ``max_faces`` faces."""
        fits = [d for d in self._cache.values() if len(d.faces) <= max_faces]
        return max(fits, key=lambda d: len(d.faces)) if fits else None

    def decimated(self, target: int) -> Any:
        if target not in self._cache:
            self._cache[target] = decimate_arrays(self.vertices, self.faces, target,
                                                   uv=self.uv, colors=self.colors)
        return self._cache[target]


@dataclass
class _Built:
    html: str
    stats: dict[str, Any]


def _rgb8(rgb: Any) -> np.ndarray:
    """Colours of any common encoding (uint8, LAS uint16, float 0-1) as uint8 (N, 3)."""
    np = require("numpy", "geo")
    a = np.asarray(rgb)
    if a.ndim != 2 or a.shape[1] < 3:
        raise ValidationError(f"colours must be an (N, 3) array, got shape {a.shape}")
    a = a[:, :3]
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        top = float(np.nanmax(a)) if a.size else 1.0
        a = a * 255.0 if top <= 1.0 else a
        return np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8)
    top = int(a.max()) if a.size else 0
    # LAS stores 16-bit colour; some writers put 8-bit values in those fields.
    return (a // 257 if top > 255 else a).astype(np.uint8)


def _check_texture(texture: Any) -> Any:
    """Validate a texture source without decoding it (paths stay paths until encoding)."""
    np = require("numpy", "geo")
    if isinstance(texture, (str, os.PathLike)):
        p = Path(texture)
        if not p.is_file():
            raise ValidationError(f"texture file {p} does not exist")
        return p
    if hasattr(texture, "convert"):  # a PIL image
        return texture
    a = np.asarray(texture)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] < 3:
        raise ValidationError(f"texture must be an image path or (H, W, 3) array, got {a.shape}")
    return _png.to_uint8(a[..., :3]) if a.dtype != np.uint8 else a[..., :3]


def _load_texture(texture: Any, max_px: int) -> np.ndarray:
    """Decode a texture source to RGB uint8 with its longest side at most ``max_px``.

    Textures are decoded one at a time and reduced on decode (JPEG draft mode), so a
    mesh with dozens of 8k atlases never holds them all at full size.
    """
    np = require("numpy", "geo")
    pil = require("PIL.Image", "geo")
    if isinstance(texture, Path):
        with pil.open(texture) as im:
            im.draft("RGB", (max_px, max_px))  # JPEG: decode at 1/2, 1/4, 1/8 scale
            img = im.convert("RGB")
    elif hasattr(texture, "convert"):
        img = texture.convert("RGB")
    else:
        img = pil.fromarray(np.ascontiguousarray(texture))
    if max(img.size) > max_px:
        img = img.copy()
        img.thumbnail((max_px, max_px), pil.Resampling.LANCZOS)
    return np.asarray(img)


def _elevation(z: Any) -> tuple[Any, dict[str, Any]]:
    """Viridis colours for heights and the legend describing them."""
    lo, hi = _png.ramp_range(z)
    return _png.ramp(z, "viridis", lo, hi), {"ramp": _png.ramp_css("viridis"),
                                             "min": round(lo, 2), "max": round(hi, 2)}


def _class_legend(codes: Any, most: int = 16) -> dict[str, Any]:
    """The classes present (most frequent first) with their colours and ASPRS names."""
    np = require("numpy", "geo")
    counts = np.bincount(np.asarray(codes).astype(np.int64) & 0xFF, minlength=256)
    present = [int(c) for c in np.argsort(-counts) if counts[c] > 0][:most]
    out = []
    for c in present:
        r, g, b = _png.CLASS_COLOURS.get(c, (128, 128, 128))
        out.append([c, _png.CLASS_NAMES.get(c, f"class {c}"), f"#{r:02x}{g:02x}{b:02x}",
                    int(counts[c])])
    return {"classes": out}


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(a.tobytes()).decode("ascii")


def _quantise(xyz: np.ndarray, centre: np.ndarray) -> tuple[str, list[float], list[float]]:
    """16-bit normalised positions, plus the offset and scale three.js applies to them."""
    np = require("numpy", "geo")
    lo = xyz.min(axis=0)
    ext = xyz.max(axis=0) - lo
    ext = np.where(ext > 0, ext, 1.0)
    q = np.round((xyz - lo) / ext * 65535.0).astype("<u2")
    return _b64(q), [float(v) for v in (lo - centre)], [float(v) for v in ext]


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
        self._points: list[_PointLayer] = []
        self._meshes: list[_MeshLayer] = []
        self._built: _Built | None = None

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
            colours = _rgb8(rgb)
        elif mode == "classification":
            if classification is None:
                raise ValidationError("color_by='classification' needs classification codes")
            codes = np.asarray(classification)
            colours = _png.classification_colours(codes)
            legend = _class_legend(codes)
        elif mode == "elevation":
            colours, legend = _elevation(a[:, 2])
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
        self._points.append(_PointLayer(name, a, colours, float(size),
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
            tex_arr = _check_texture(texture)
        elif mode == "rgb":
            if colors is None:
                raise ValidationError("color_by='rgb' needs vertex colours")
            col = _rgb8(colors)
        elif mode == "elevation":
            col, legend = _elevation(v[:, 2])
        elif mode == "classification":
            raise ValidationError("color_by='classification' is for point layers")
        self._meshes.append(_MeshLayer(name, v, f, uv_arr, tex_arr, col,
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
        sample = cloud.decimate(n) if callable(getattr(cloud, "decimate", None)) else cloud
        if not hasattr(sample, "xyz"):
            raise ValidationError(
                f"cannot read points from {type(cloud).__name__}; pass a terranb.results "
                "PointCloud / PointSample or use Scene3D.from_points(xyz, ...)"
            )
        kwargs.setdefault("title", Path(str(getattr(cloud, "path", ""))).name)
        scene = cls(**kwargs)
        return scene.add_points(
            sample.xyz, getattr(sample, "rgb", None), getattr(sample, "classification", None),
            color_by=color_by, size=size, source_count=getattr(sample, "source_count", None),
            name=kwargs.get("title") or "points",
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
        parts = _mesh_parts(mesh)
        if not parts:
            raise ValidationError(f"{type(mesh).__name__} has no triangle geometry to show")
        for name, v, f, uv, tex, col in parts:
            mode = color_by
            if mode == "auto" and tex is None and col is None:
                mode = "elevation"
            scene.add_mesh(v, f, uv=uv, texture=tex, colors=col, color_by=mode, name=name)
        return scene

    @classmethod
    def from_result(cls, result: Any, **kwargs: Any) -> Scene3D:
        """A scene from any terranb.results object or file: point cloud or mesh.

        LAS/LAZ paths and objects with ``decimate``/``xyz`` but no ``parts`` are point
        clouds; OBJ paths and objects with ``parts``/``faces`` are meshes.
        """
        if isinstance(result, (str, os.PathLike)):
            suffix = Path(result).suffix.lower()
            if suffix in (".las", ".laz"):
                return cls.from_pointcloud(result, **kwargs)
            if suffix == ".obj":
                return cls.from_mesh(result, **kwargs)
            raise ValidationError(f"no 3D viewer for {suffix or 'this'} files; use .las/.laz/.obj")
        if hasattr(result, "parts") or hasattr(result, "faces") or hasattr(result, "geometry"):
            return cls.from_mesh(result, **kwargs)
        return cls.from_pointcloud(result, **kwargs)

    @classmethod
    def from_tree(cls, tree: Any, **kwargs: Any) -> Scene3D:
        """A scene of a ``terranb.results`` ``ResultTree``: its first mesh, else point cloud."""
        meshes = list(getattr(tree, "meshes", []) or [])
        clouds = list(getattr(tree, "point_clouds", []) or [])
        if meshes:
            return cls.from_mesh(meshes[0], **kwargs)
        if clouds:
            return cls.from_pointcloud(clouds[0], **kwargs)
        raise ValidationError(
            f"{getattr(tree, 'root', 'this result')} has no mesh or point cloud to show in 3D")

    # ------------------------------------------------------------------ build
    def _centre_radius(self) -> tuple[np.ndarray, float]:
        np = require("numpy", "geo")
        arrays = [p.xyz for p in self._points] + [m.vertices for m in self._meshes]
        lo = np.min([a.min(axis=0) for a in arrays], axis=0)
        hi = np.max([a.max(axis=0) for a in arrays], axis=0)
        return (lo + hi) / 2, max(float(np.linalg.norm(hi - lo)) / 2, 1e-6)

    def _shell(self) -> str:
        title = html_mod.escape(self.title or "terranb 3D view")
        bg = html_mod.escape(self.background)
        return (_TEMPLATE.replace("__TITLE__", title).replace("__BG__", bg)
                .replace("__VIEWER_JS__", _VIEWER_JS).replace("__THREE__", _assets.three_js()))

    def build(self) -> _Built:
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
                self._built = _Built(page, stats)
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
            tex = _load_texture(self._meshes[i].texture, self.max_texture_px)
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
            pos, off, scale = _quantise(p.xyz[idx], centre)
            layer: dict[str, Any] = {"kind": "points", "name": p.name, "count": len(idx),
                                     "source": p.source_count, "pos": pos, "offset": off,
                                     "scale": scale, "size": p.size}
            if p.rgb is not None:
                layer["col"] = _b64(np.ascontiguousarray(p.rgb[idx]))
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
            pos, off, scale = _quantise(d.vertices, centre)
            big = len(d.vertices) > 65535
            idx_arr = d.faces.astype("<u4" if big else "<u2")
            layer = {"kind": "mesh", "name": m.name, "count": len(d.faces),
                     "source": m.source_faces, "pos": pos, "offset": off, "scale": scale,
                     "idx": _b64(np.ascontiguousarray(idx_arr)), "idx32": big}
            if d.uv is not None and i in textures:
                uv = d.uv.astype(np.float64)
                lo = uv.min(axis=0)
                ext = uv.max(axis=0) - lo
                ext = np.where(ext > 0, ext, 1.0)
                layer["uv"] = _b64(np.round((uv - lo) / ext * 65535).astype("<u2"))
                layer["uvOffset"] = [float(lo[0]), float(lo[1])]
                layer["uvScale"] = [float(ext[0]), float(ext[1])]
                layer["tex"] = textures[i]
            if d.colors is not None:
                layer["col"] = _b64(np.ascontiguousarray(d.colors))
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
            tex = None if m.texture is None else _load_texture(m.texture, max(width, height))
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


def _mesh_parts(mesh: Any) -> list[tuple[str, Any, Any, Any, Any, Any]]:
    """(name, vertices, faces, uv, texture, colours) for each geometry in ``mesh``."""
    np = require("numpy", "geo")
    geoms = getattr(mesh, "geometry", None)
    if isinstance(geoms, dict):  # trimesh.Scene: apply each node's transform
        out: list[tuple[str, Any, Any, Any, Any, Any]] = []
        graph = mesh.graph
        for node in graph.nodes_geometry:
            transform, gname = graph[node]
            g = geoms[gname].copy()
            g.apply_transform(transform)
            out.extend((str(node), *rest) for _n, *rest in _mesh_parts(g))
        return out
    parts = getattr(mesh, "parts", None)
    if isinstance(parts, (list, tuple)) and parts:  # results Mesh with per-material parts
        return [p for sub in parts for p in _mesh_parts(sub)]
    if not (hasattr(mesh, "vertices") and hasattr(mesh, "faces")):
        return []
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.faces, dtype=np.int64)
    name = str(getattr(mesh, "name", None) or getattr(mesh, "material", None) or "mesh")
    uv = getattr(mesh, "uv", None)
    tex = getattr(mesh, "texture", None)
    if tex is None:
        tex = getattr(mesh, "texture_path", None)
    col = None
    visual = getattr(mesh, "visual", None)
    if visual is not None:  # trimesh
        if uv is None:
            uv = getattr(visual, "uv", None)
        material = getattr(visual, "material", None)
        if tex is None and material is not None:
            tex = getattr(material, "image", None) or getattr(material, "baseColorTexture", None)
        if getattr(visual, "kind", None) == "vertex":
            col = np.asarray(visual.vertex_colors)[:, :3]
    if uv is not None and len(uv) != len(v):
        uv = None
    if uv is None:
        tex = None
    return [(name, v, f, uv, tex, col)]


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>__TITLE__</title>
<style>
html,body{margin:0;height:100%;overflow:hidden;background:__BG__;
  font:12px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;color:#e8e8e8}
#c{display:block;width:100%;height:100%;touch-action:none;cursor:grab;outline:none}
#hud{position:absolute;left:8px;top:6px;background:rgba(0,0,0,.5);padding:4px 8px;
  border-radius:4px;max-width:70%;user-select:none}
#hud label{display:block;white-space:nowrap}
#hud small{color:#aaa}
#hud button{margin-top:3px;font-size:11px}
#hud .bar{height:8px;width:160px;margin:2px 0 0 22px;border-radius:2px}
#hud .lg{margin-left:22px;color:#ccc}
#hud .sw{display:inline-block;width:9px;height:9px;margin-right:4px;border-radius:2px}
#msg{position:absolute;inset:0;display:none;align-items:center;justify-content:center;
  text-align:center;padding:2em}
</style></head><body>
<canvas id="c" tabindex="0"></canvas>
<div id="hud"><b>__TITLE__</b><div id="layers"></div>
<small>drag: rotate &middot; right-drag/shift: pan &middot; wheel: zoom
&middot; double-click: reset</small><br>
<button id="reset" type="button">reset view</button></div>
<div id="msg"></div>
<script>__THREE__</script>
<script type="application/json" id="terranb-data">__DATA__</script>
<script>__VIEWER_JS__</script>
</body></html>
"""

# The viewer: decode the typed arrays, build three.js objects, and a small orbit
# control (z up; drag rotates, right-drag or shift-drag pans, wheel zooms,
# double-click resets). It renders on demand only, so idle notebooks stay idle.
_VIEWER_JS = r"""
(function () {
"use strict";
var state = window.terranbViewer = {ready: false, frames: 0, pending: 0, error: null};
function fail(m) {
  var e = document.getElementById("msg"); e.style.display = "flex"; e.textContent = m;
  state.error = m;
}
function bytes(s) {
  var bin = atob(s), n = bin.length, u = new Uint8Array(n);
  for (var i = 0; i < n; i++) u[i] = bin.charCodeAt(i);
  return u.buffer;
}
var D = JSON.parse(document.getElementById("terranb-data").textContent);
if (typeof THREE === "undefined") { fail("three.js did not load"); return; }
// Colours in the data are display (sRGB) values already: draw them as given.
THREE.ColorManagement.enabled = false;
var canvas = document.getElementById("c"), renderer;
try {
  renderer = new THREE.WebGLRenderer({canvas: canvas, antialias: true});
} catch (err) {
  fail("WebGL is not available here (" + err.message + "). " +
       "Scene3D.to_png() gives a static picture.");
  return;
}
renderer.outputColorSpace = THREE.LinearSRGBColorSpace;
renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
renderer.setClearColor(new THREE.Color(D.background));
var scene = new THREE.Scene();
var camera = new THREE.PerspectiveCamera(45, 1, 0.01, 10);
camera.up.set(0, 0, 1);
scene.add(new THREE.AmbientLight(0xffffff, 1.1));
var head = new THREE.DirectionalLight(0xffffff, 2.0);
head.position.set(0.3, 0.4, 1.0);
camera.add(head);
scene.add(camera);
var request;
var list = document.getElementById("layers");
D.layers.forEach(function (L) {
  var g = new THREE.BufferGeometry(), obj, mat;
  g.setAttribute("position", new THREE.BufferAttribute(new Uint16Array(bytes(L.pos)), 3, true));
  if (L.col) {
    g.setAttribute("color", new THREE.BufferAttribute(new Uint8Array(bytes(L.col)), 3, true));
  }
  if (L.kind === "points") {
    mat = new THREE.PointsMaterial({size: L.size, sizeAttenuation: false,
      vertexColors: !!L.col, color: L.col ? 0xffffff : 0xcccccc});
    obj = new THREE.Points(g, mat);
  } else {
    var idx = L.idx32 ? new Uint32Array(bytes(L.idx)) : new Uint16Array(bytes(L.idx));
    g.setIndex(new THREE.BufferAttribute(idx, 1));
    if (L.uv && L.tex) {
      g.setAttribute("uv", new THREE.BufferAttribute(new Uint16Array(bytes(L.uv)), 2, true));
      var tex = new THREE.Texture();
      tex.repeat.set(L.uvScale[0], L.uvScale[1]);
      tex.offset.set(L.uvOffset[0], L.uvOffset[1]);
      tex.wrapS = tex.wrapT = THREE.RepeatWrapping;
      tex.anisotropy = renderer.capabilities.getMaxAnisotropy();
      var img = new Image();
      state.pending++;
      img.onload = function () {
        tex.image = img; tex.needsUpdate = true; state.pending--; request();
      };
      img.onerror = function () {
        state.pending--; fail("texture of " + L.name + " did not decode");
      };
      img.src = L.tex;
      mat = new THREE.MeshBasicMaterial({map: tex, side: THREE.DoubleSide});
    } else {
      g.computeVertexNormals();
      mat = new THREE.MeshLambertMaterial({vertexColors: !!L.col,
        color: L.col ? 0xffffff : 0xc8c8c8, side: THREE.DoubleSide});
    }
    obj = new THREE.Mesh(g, mat);
  }
  obj.scale.set(L.scale[0], L.scale[1], L.scale[2]);
  obj.position.set(L.offset[0], L.offset[1], L.offset[2]);
  scene.add(obj);
  var row = document.createElement("label"), box = document.createElement("input");
  box.type = "checkbox"; box.checked = true;
  box.onchange = function () { obj.visible = box.checked; request(); };
  row.appendChild(box);
  var what = L.kind === "points" ? " points" : " faces";
  var note = L.count < L.source ? " of " + L.source.toLocaleString() : "";
  var text = " " + L.name + ": " + L.count.toLocaleString() + note + what;
  row.appendChild(document.createTextNode(text));
  list.appendChild(row);
  legend(L.legend);
});

function legend(lg) {
  if (!lg) return;
  if (lg.ramp) {
    var bar = document.createElement("div");
    bar.className = "bar"; bar.style.background = lg.ramp;
    var txt = document.createElement("div");
    txt.className = "lg"; txt.textContent = "z " + lg.min + " \u2026 " + lg.max;
    list.appendChild(bar); list.appendChild(txt);
  }
  (lg.classes || []).forEach(function (c) {
    var d = document.createElement("div"), sw = document.createElement("span");
    d.className = "lg"; sw.className = "sw"; sw.style.background = c[2];
    d.appendChild(sw);
    d.appendChild(document.createTextNode(c[0] + " " + c[1] + " (" + c[3].toLocaleString() + ")"));
    list.appendChild(d);
  });
}

var R = D.radius, target = new THREE.Vector3(), view = {};
function reset() {
  target.set(0, 0, 0);
  view.az = D.azimuth * Math.PI / 180; view.el = D.elevation * Math.PI / 180;
  var aspect = Math.max(canvas.clientWidth, 1) / Math.max(canvas.clientHeight, 1);
  var half = Math.atan(Math.tan(camera.fov * Math.PI / 360) * Math.min(1, aspect));
  view.r = 1.05 * R / Math.sin(half);
}
function place() {
  var ce = Math.cos(view.el);
  camera.position.set(target.x + view.r * Math.sin(view.az) * ce,
                      target.y + view.r * Math.cos(view.az) * ce,
                      target.z + view.r * Math.sin(view.el));
  camera.near = Math.max(view.r / 1000, R / 1e5);
  camera.far = view.r + 4 * R;
  camera.lookAt(target);
  camera.updateProjectionMatrix();
}
var queued = false;
function draw() {
  queued = false;
  var w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.floor(w * renderer.getPixelRatio()) ||
      canvas.height !== Math.floor(h * renderer.getPixelRatio())) {
    renderer.setSize(w, h, false);
  }
  camera.aspect = Math.max(w, 1) / Math.max(h, 1);
  place();
  renderer.render(scene, camera);
  state.frames++;
  state.ready = state.pending === 0;
}
request = function () { if (!queued) { queued = true; requestAnimationFrame(draw); } };

// Orbit control.
var pointers = {}, last = null, pinch = 0;
function panBy(dx, dy) {
  var k = 2 * view.r * Math.tan(camera.fov * Math.PI / 360) / Math.max(canvas.clientHeight, 1);
  var right = new THREE.Vector3().setFromMatrixColumn(camera.matrix, 0);
  var up = new THREE.Vector3().setFromMatrixColumn(camera.matrix, 1);
  target.addScaledVector(right, -dx * k).addScaledVector(up, dy * k);
}
canvas.addEventListener("pointerdown", function (e) {
  canvas.setPointerCapture(e.pointerId);
  pointers[e.pointerId] = {x: e.clientX, y: e.clientY};
  last = {x: e.clientX, y: e.clientY, pan: e.button === 2 || e.shiftKey || e.ctrlKey};
  canvas.style.cursor = "grabbing";
});
canvas.addEventListener("pointermove", function (e) {
  if (!pointers[e.pointerId] || !last) return;
  pointers[e.pointerId] = {x: e.clientX, y: e.clientY};
  var ids = Object.keys(pointers);
  if (ids.length === 2) {
    var a = pointers[ids[0]], b = pointers[ids[1]];
    var d = Math.hypot(a.x - b.x, a.y - b.y);
    if (pinch) view.r *= pinch / Math.max(d, 1);
    pinch = d; request(); return;
  }
  var dx = e.clientX - last.x, dy = e.clientY - last.y;
  last.x = e.clientX; last.y = e.clientY;
  if (last.pan) { panBy(dx, dy); } else {
    view.az -= dx * 0.008;
    view.el = Math.min(1.55, Math.max(-1.4, view.el + dy * 0.008));
  }
  request();
});
function up(e) {
  delete pointers[e.pointerId]; pinch = 0;
  if (!Object.keys(pointers).length) { last = null; canvas.style.cursor = "grab"; }
}
canvas.addEventListener("pointerup", up);
canvas.addEventListener("pointercancel", up);
canvas.addEventListener("contextmenu", function (e) { e.preventDefault(); });
canvas.addEventListener("wheel", function (e) {
  e.preventDefault();
  view.r = Math.min(50 * R, Math.max(R / 1000, view.r * Math.exp(e.deltaY * 0.0015)));
  request();
}, {passive: false});
canvas.addEventListener("dblclick", function () { reset(); request(); });
document.getElementById("reset").onclick = function () { reset(); request(); };
window.addEventListener("resize", request);
reset();
request();
})();
"""
