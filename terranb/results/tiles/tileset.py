"""Read a 3D Tiles 1.0 tileset lazily: bounds, level-of-detail choice, tiles decoded.

:class:`Tileset` parses ``tileset.json`` only; child tiles are walked on demand and
an external child tileset (a tile whose content is another ``tileset.json``) is
read when the walk first reaches it, its root standing in for the tile that
points to it (so "level d" means the same depth of detail on both sides).

A *level* ``d`` is the set of tiles that REPLACE refinement shows at depth ``d``:
every tile at depth ``d`` plus the leaves above it. :meth:`Tileset.pick_level`
returns the deepest level whose tiles fit a triangle (or point) budget and a byte
budget, sizing tiles from the file size and the GLB's JSON chunk (or the pnts
feature table) without decoding geometry.

Files are reached through a :class:`TileSource` (local files here), so a reader of
presigned URLs only has to provide ``read``/``size``/``join``.

Problems are :class:`~terranb.results.findings.Finding` objects naming the file:
a missing child tile or external tileset, a truncated or foreign tile, a root
transform that does not place the model on the Earth (ECEF). The rest of the
tileset is still read; only a tileset with nothing readable raises
:class:`~terranb.errors.ResultFormatError`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from terranb.errors import ResultFormatError, require
from terranb.results.findings import Finding
from terranb.results.tiles.binary import HEADER_BYTES, glb_json, glb_triangles, parse_tile
from terranb.results.tiles.geo import ecef_plausible, ecef_to_crs, mat4

if TYPE_CHECKING:
    from pyproj import CRS

__all__ = ["LocalSource", "Tile", "TilePart", "Tileset", "TilesetMesh", "TilesetPoints"]


class _MissingTile(ResultFormatError):
    """A tile the tileset names is not there."""


class TileSource(Protocol):
    """Where tileset files come from."""

    def read(self, loc: str) -> bytes: ...
    def read_head(self, loc: str, n: int) -> bytes: ...
    def size(self, loc: str) -> int | None: ...
    def join(self, base: str, uri: str) -> str: ...


class LocalSource:
    """Files on disk; locations are paths."""

    def read(self, loc: str) -> bytes:
        return Path(loc).read_bytes()

    def read_head(self, loc: str, n: int) -> bytes:
        with open(loc, "rb") as fh:
            return fh.read(n)

    def size(self, loc: str) -> int | None:
        try:
            return os.stat(loc).st_size
        except OSError:
            return None

    def join(self, base: str, uri: str) -> str:
        if "://" in uri or uri.startswith("/"):
            raise ResultFormatError(f"{base}: content uri {uri!r} is not relative")
        return str(Path(base).parent / uri)


@dataclass
class Tile:
    """One tile: its JSON, depth, accumulated transform (row-major 4x4) and content location."""

    tileset: Tileset
    doc: dict[str, Any]
    depth: int
    transform: Any
    base: str  # location of the tileset.json the tile is in
    _children: list[Tile] | None = field(default=None, repr=False)

    @property
    def content(self) -> str | None:
        c = self.doc.get("content") or {}
        uri = c.get("uri") or c.get("url")  # "url": pre-1.0 writers
        return self.tileset.source.join(self.base, str(uri)) if uri else None

    @property
    def geometric_error(self) -> float:
        return float(self.doc.get("geometricError", 0.0))

    @property
    def children(self) -> list[Tile]:
        if self._children is None:
            self._children = []
            for kid in self.doc.get("children") or []:
                t = self.tileset._make(kid, self.depth + 1, self.transform, self.base)
                if t is not None:
                    self._children.append(t)
        return self._children


@dataclass
class TilePart:
    """A decoded mesh piece of a tile (vertices in the tileset's model frame, z up)."""

    name: str
    vertices: Any
    faces: Any
    uv: Any | None
    texture: Any | None  # a PIL image


@dataclass
class TilesetMesh:
    """A level of a b3dm tileset, ready for :class:`terranb.viz.scene3d.Scene3D`."""

    parts: list[TilePart]
    origin: tuple[float, float, float]
    crs: CRS | None
    level: int
    source_faces: int
    findings: list[Finding] = field(default_factory=list)
    path: Path | None = None

    @property
    def face_count(self) -> int:
        return sum(len(p.faces) for p in self.parts)


@dataclass
class TilesetPoints:
    """A level of a pnts tileset: model-frame xyz and 8-bit colours."""

    xyz: Any
    rgb: Any | None
    origin: tuple[float, float, float]
    crs: CRS | None
    level: int
    findings: list[Finding] = field(default_factory=list)
    path: Path | None = None
    classification: Any = None

    @property
    def source_count(self) -> int:
        return len(self.xyz)


@dataclass
class _LevelStats:
    level: int
    tiles: list[Tile]
    bytes: int
    triangles: int
    points: int


class Tileset:
    """A 3D Tiles 1.0 tileset opened by its ``tileset.json`` (nothing else is read yet).

    Attributes:
        path: the tileset.json location.
        doc: its decoded JSON.
        crs: the model's CRS (``asset.extras.crs`` of terranb, or a ``metadata.xml``
            beside it), else ``None``.
        origin: model-frame (0, 0, 0) in ``crs``.
        findings: problems found so far (grows as tiles are walked and read).
    """

    def __init__(self, path: str | os.PathLike[str], *, source: TileSource | None = None) -> None:
        np = require("numpy", "geo")
        self.source: TileSource = source or LocalSource()
        loc = str(path)
        if isinstance(self.source, LocalSource) and Path(loc).is_dir():
            loc = str(Path(loc) / "tileset.json")
        self.path = loc
        self.findings: list[Finding] = []
        self._heads: dict[str, tuple[int, int, int]] = {}
        doc = self._load_json(loc)
        if doc is None:
            raise ResultFormatError(f"cannot read the tileset {loc}")
        version = str((doc.get("asset") or {}).get("version", ""))
        if not isinstance(doc.get("root"), dict):
            raise ResultFormatError(f"{loc} has no root tile; is it a 3D Tiles tileset.json?")
        if version not in ("1.0", "1.1", "0.0"):
            self._find("warning", "tileset.version",
                       f"asset.version {version!r}: read as 3D Tiles 1.0", loc)
        self.doc = doc
        try:
            root_t = mat4(doc["root"].get("transform"))
        except ValueError as exc:
            raise ResultFormatError(f"{loc}: root.transform is invalid ({exc})") from exc
        self.root_transform = root_t
        self._inv_root = np.linalg.inv(root_t)
        why = ecef_plausible(root_t) if doc["root"].get("transform") is not None else ""
        self.georeferenced = doc["root"].get("transform") is not None and not why
        if why:
            self._find("error", "tileset.not_ecef",
                       f"root transform is not ECEF-plausible: {why}; the model is shown in its "
                       "own frame and has no map position", loc)
        self.crs, self.origin = self._georef(doc)
        self.root = Tile(self, doc["root"], 0, root_t, loc)

    # ----------------------------------------------------------------- setup
    def _find(self, level: Any, code: str, message: str, path: str) -> None:
        f = Finding.make(level, code, message, path)
        if f not in self.findings:
            self.findings.append(f)

    def _load_json(self, loc: str) -> dict[str, Any] | None:
        try:
            raw = self.source.read(loc)
        except (OSError, ResultFormatError) as exc:
            self._find("error", "tileset.missing_tileset", f"cannot read {loc}: {exc}", loc)
            return None
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            self._find("error", "tileset.bad_json", f"{loc} is not JSON ({exc})", loc)
            return None
        return doc if isinstance(doc, dict) else None

    def _georef(self, doc: dict[str, Any]) -> tuple[CRS | None, tuple[float, float, float]]:
        from terranb.results.crs import crs_from_text

        extras = (doc.get("asset") or {}).get("extras") or {}
        text, origin = extras.get("crs"), extras.get("origin")
        if isinstance(self.source, LocalSource) and not text:
            meta = Path(self.path).parent / "metadata.xml"
            if meta.is_file():
                from terranb.results.mesh import read_terra_metadata

                m = read_terra_metadata(meta)
                return m.crs, m.origin
        if text:
            try:
                o = tuple(float(v) for v in (origin or (0, 0, 0)))[:3]
                return crs_from_text(str(text)), (o[0], o[1], o[2])
            except Exception:
                self._find("warning", "tileset.bad_crs", f"asset.extras.crs {text!r:.60} "
                           "is not a CRS pyproj knows", self.path)
        return None, (0.0, 0.0, 0.0)

    def _make(self, doc: Any, depth: int, parent_t: Any, base: str) -> Tile | None:
        if not isinstance(doc, dict):
            return None
        try:
            t = parent_t @ mat4(doc.get("transform"))
        except ValueError:
            self._find("error", "tileset.bad_transform", "a tile transform is invalid", base)
            return None
        tile = Tile(self, doc, depth, t, base)
        loc = tile.content
        if loc is not None and loc.lower().split("?")[0].endswith(".json"):
            ext = self._load_json(loc)
            if ext is None or not isinstance(ext.get("root"), dict):
                return None  # finding recorded: the subtree is skipped, the rest is shown
            return self._make(ext["root"], depth, t, loc)
        return tile

    # ----------------------------------------------------------------- walking
    def tiles(self, max_depth: int | None = None) -> Iterator[Tile]:
        """Every tile, depth first, down to ``max_depth``."""
        stack = [self.root]
        while stack:
            t = stack.pop()
            yield t
            if max_depth is None or t.depth < max_depth:
                stack.extend(reversed(t.children))

    def level_tiles(self, level: int) -> list[Tile]:
        """The tiles REPLACE refinement shows at depth ``level`` (those with content)."""
        out: list[Tile] = []
        stack = [self.root]
        while stack:
            t = stack.pop()
            if t.depth == level or not t.children:
                if t.content is not None:
                    out.append(t)
                elif t.depth < level or not t.children:
                    stack.extend(reversed(t.children))
                continue
            stack.extend(reversed(t.children))
        return out

    @property
    def depth(self) -> int:
        """The deepest tile depth (walks the whole tree: reads every external tileset)."""
        return max(t.depth for t in self.tiles())

    def _head(self, loc: str) -> tuple[int, int, int]:
        """(bytes, triangles, points) of a tile from its size and header only."""
        if loc in self._heads:
            return self._heads[loc]
        size = self.source.size(loc)
        if size is None:
            self._find("error", "tileset.missing_tile", f"tile {loc} is missing", loc)
            self._heads[loc] = (0, 0, 0)
            return self._heads[loc]
        tri = pts = 0
        try:
            head = self.source.read_head(loc, 64 * 1024)
            magic = head[:4]
            if magic == b"b3dm" and len(head) >= HEADER_BYTES:
                import struct

                ftj, ftb, btj, btb = struct.unpack_from("<IIII", head, 12)
                off = HEADER_BYTES + ftj + ftb + btj + btb
                if len(head) >= off + 20:
                    glen = struct.unpack_from("<I", head, off + 12)[0]
                    if len(head) < off + 20 + glen:
                        head = self.source.read_head(loc, off + 20 + glen)
                    tri = glb_triangles(glb_json(head[off:], loc))
            elif magic == b"pnts" and len(head) >= HEADER_BYTES:
                import struct

                ftj = struct.unpack_from("<I", head, 12)[0]
                ft = json.loads(head[HEADER_BYTES:HEADER_BYTES + ftj] or b"{}")
                pts = int(ft.get("POINTS_LENGTH", 0))
        except (OSError, ValueError, ResultFormatError):
            pass  # decoding will name the problem
        self._heads[loc] = (size, tri, pts)
        return self._heads[loc]

    def level_stats(self, level: int) -> _LevelStats:
        tiles = self.level_tiles(level)
        heads = [self._head(t.content) for t in tiles if t.content]
        return _LevelStats(level, tiles, sum(h[0] for h in heads), sum(h[1] for h in heads),
                           sum(h[2] for h in heads))

    def pick_level(self, max_triangles: int = 500_000, max_bytes: int = 50_000_000) -> int:
        """The deepest level whose tiles hold at most ``max_triangles`` triangles (or
        points, for pnts) and ``max_bytes`` bytes; 0 when not even the root fits.

        Levels are sized shallow to deep and the walk stops at the first that does not
        fit, so tiles deeper than the answer are never looked at.
        """
        best = 0
        for level in range(self.depth + 1):
            s = self.level_stats(level)
            if s.triangles + s.points > max_triangles or s.bytes > max_bytes:
                if level == 0:
                    self._find("warning", "tileset.over_budget",
                               f"even the coarsest level holds {s.triangles + s.points:,} "
                               f"triangles/points and {s.bytes:,} bytes; shown anyway", self.path)
                break
            best = level
        return best

    # ----------------------------------------------------------------- geometry
    def _corners(self) -> Any:
        np = require("numpy", "geo")
        bv = self.doc["root"].get("boundingVolume") or {}
        if "box" in bv:
            b = np.asarray(bv["box"], dtype=np.float64)
            c, axes = b[:3], b[3:].reshape(3, 3)
            signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
            local = c + signs @ axes
            return (np.c_[local, np.ones(8)] @ self.root_transform.T)[:, :3]
        if "region" in bv:
            import math

            pyproj = require("pyproj", "geo")
            w, s, e, n, h0, h1 = (float(v) for v in bv["region"])
            lon = [math.degrees(w), math.degrees(e)]
            lat = [math.degrees(s), math.degrees(n)]
            t = pyproj.Transformer.from_crs(4979, 4978, always_xy=True)
            pts = [t.transform(x, y, h) for x in lon for y in lat for h in (h0, h1)]
            return np.asarray(pts)
        if "sphere" in bv:
            c = np.asarray(bv["sphere"][:3], dtype=np.float64)
            r = float(bv["sphere"][3])
            signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
            local = c + signs * r
            return (np.c_[local, np.ones(8)] @ self.root_transform.T)[:, :3]
        raise ResultFormatError(f"{self.path}: root has no box, region or sphere bounding volume")

    @property
    def bounds_wgs84(self) -> tuple[float, float, float, float] | None:
        """(west, south, east, north) degrees of the root volume; ``None`` if not on Earth."""
        if not self.georeferenced and "region" not in (self.doc["root"].get("boundingVolume")
                                                       or {}):
            return None
        pyproj = require("pyproj", "geo")
        c = self._corners()
        lon, lat, _h = pyproj.Transformer.from_crs(4978, 4979, always_xy=True).transform(
            c[:, 0], c[:, 1], c[:, 2])
        return (float(min(lon)), float(min(lat)), float(max(lon)), float(max(lat)))

    def bounds(self, crs: Any = None) -> tuple[float, float, float, float, float, float] | None:
        """(minx, miny, minz, maxx, maxy, maxz) of the root volume in ``crs`` (default the
        model's CRS); ``None`` when the tileset is not georeferenced or has no CRS."""
        from terranb.results.crs import crs_from_text

        target = crs_from_text(crs) if isinstance(crs, str) else (crs or self.crs)
        if target is None or not self.georeferenced:
            return None
        p = ecef_to_crs(self._corners(), target)
        lo, hi = p.min(axis=0), p.max(axis=0)
        return (*(float(v) for v in lo), *(float(v) for v in hi))  # type: ignore[return-value]

    def _to_model(self, tile: Tile, v: Any) -> Any:
        np = require("numpy", "geo")
        m = self._inv_root @ tile.transform
        if np.allclose(m, np.eye(4)):
            return v
        return (np.c_[v, np.ones(len(v))] @ m.T)[:, :3]

    def read_tile(self, tile: Tile) -> list[TilePart] | Any:
        """Decode one tile: b3dm -> list of :class:`TilePart`; pnts -> (xyz, rgb)."""
        np = require("numpy", "geo")
        loc = tile.content
        if loc is None:
            return []
        if self.source.size(loc) is None:
            raise _MissingTile(f"tile {loc} is missing (the tileset names it; download it "
                               "again or check the tileset's folder)")
        try:
            data = self.source.read(loc)
        except OSError as exc:
            raise ResultFormatError(f"tile {loc} is unreadable ({exc})") from exc
        tf = parse_tile(data, loc)
        rtc = np.asarray(tf.rtc_center or (0.0, 0.0, 0.0))
        if tf.magic == "pnts":
            return self._decode_pnts(np, tf, loc, rtc, tile)
        trimesh = require("trimesh", "geo")
        try:
            scene = trimesh.load(io.BytesIO(tf.body), file_type="glb", process=False)
        except Exception as exc:
            raise ResultFormatError(f"{loc}: its glTF cannot be decoded ({exc})") from exc
        geoms = scene.geometry if hasattr(scene, "geometry") else {"mesh": scene}
        parts: list[TilePart] = []
        graph = getattr(scene, "graph", None)
        nodes = graph.nodes_geometry if graph is not None else list(geoms)
        for node in nodes:
            if graph is not None:
                mat, gname = graph[node]
            else:
                mat, gname = np.eye(4), node
            g = geoms[gname]
            if not hasattr(g, "faces") or len(g.faces) == 0:
                continue
            vy = np.c_[np.asarray(g.vertices, dtype=np.float64), np.ones(len(g.vertices))]
            vy = (vy @ np.asarray(mat).T)[:, :3]
            vz = np.column_stack([vy[:, 0], -vy[:, 2], vy[:, 1]]) + rtc  # glTF y-up -> z-up
            uv = getattr(g.visual, "uv", None)
            material = getattr(g.visual, "material", None)
            tex = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
            parts.append(TilePart(Path(loc).stem, self._to_model(tile, vz),
                                  np.asarray(g.faces, dtype=np.int64),
                                  None if uv is None else np.asarray(uv, dtype=np.float64), tex))
        return parts

    def _decode_pnts(self, np: Any, tf: Any, loc: str, rtc: Any, tile: Tile) -> Any:
        ft = tf.feature_table
        n = int(ft.get("POINTS_LENGTH", 0))
        pos = ft.get("POSITION")
        if not isinstance(pos, dict) or n <= 0:
            raise ResultFormatError(f"{loc}: pnts without POSITION (POSITION_QUANTIZED is not "
                                    "supported)")
        off = int(pos.get("byteOffset", 0))
        if off + 12 * n > len(tf.feature_binary):
            raise ResultFormatError(f"{loc}: POSITION runs past the feature table (truncated)")
        xyz = np.frombuffer(tf.feature_binary, "<f4", 3 * n, off).reshape(n, 3).astype(float)
        rgb = None
        col = ft.get("RGB")
        if isinstance(col, dict):
            o = int(col.get("byteOffset", 0))
            if o + 3 * n <= len(tf.feature_binary):
                rgb = np.frombuffer(tf.feature_binary, np.uint8, 3 * n, o).reshape(n, 3)
        return self._to_model(tile, xyz + rtc), rgb

    def _read_level(self, level: int) -> tuple[list[Any], int]:
        results, failed = [], 0
        for t in self.level_tiles(level):
            try:
                results.append(self.read_tile(t))
            except ResultFormatError as exc:
                failed += 1
                code = "tileset.missing_tile" if isinstance(exc, _MissingTile) else \
                    "tileset.bad_tile"
                self._find("error", code, str(exc), t.content or self.path)
        return results, failed

    def read_mesh(self, level: int | None = None, *, max_triangles: int = 500_000,
                  max_bytes: int = 50_000_000) -> TilesetMesh:
        """The mesh of ``level`` (default: :meth:`pick_level` of the budgets).

        Raises:
            ResultFormatError: no tile of that level could be decoded.
        """
        lv = self.pick_level(max_triangles, max_bytes) if level is None else level
        results, _failed = self._read_level(lv)
        parts = [p for r in results if isinstance(r, list) for p in r]
        if not parts:
            raise ResultFormatError(
                f"{self.path}: no b3dm tile of level {lv} could be read"
                + "".join(f"; {f.message}" for f in self.findings[:3]))
        return TilesetMesh(parts, self.origin, self.crs, lv, sum(len(p.faces) for p in parts),
                           list(self.findings), Path(self.path))

    def read_points(self, level: int | None = None, *, max_points: int = 1_000_000,
                    max_bytes: int = 50_000_000) -> TilesetPoints:
        """The points of ``level`` of a pnts tileset (default: the deepest that fits)."""
        np = require("numpy", "geo")
        lv = self.pick_level(max_points, max_bytes) if level is None else level
        results, _failed = self._read_level(lv)
        clouds = [r for r in results if isinstance(r, tuple)]
        if not clouds:
            raise ResultFormatError(f"{self.path}: no pnts tile of level {lv} could be read")
        xyz = np.concatenate([c[0] for c in clouds])
        rgb = None
        if all(c[1] is not None for c in clouds):
            rgb = np.concatenate([c[1] for c in clouds])
        return TilesetPoints(xyz, rgb, self.origin, self.crs, lv, list(self.findings),
                             Path(self.path))

    @property
    def kind(self) -> str:
        """``"b3dm"`` or ``"pnts"`` (from the first tile with content), ``""`` if none."""
        for t in self.tiles():
            loc = t.content
            if loc:
                ext = loc.lower().rsplit(".", 1)[-1]
                return ext if ext in ("b3dm", "pnts") else ""
        return ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (reads tileset JSON files, not tiles)."""
        return {"path": self.path, "kind": self.kind, "depth": self.depth,
                "georeferenced": self.georeferenced, "bounds_wgs84": self.bounds_wgs84,
                "crs": None if self.crs is None else self.crs.to_string(),
                "findings": [f.to_dict() for f in self.findings]}

    def __repr__(self) -> str:
        return f"Tileset({self.path!r})"
