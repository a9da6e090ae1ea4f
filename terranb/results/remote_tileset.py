"""A 3D Tiles 1.0 tileset previewed from its URL: ``tileset.json``, then one level's tiles.

The reader is transport-free: it gets ``fetch(uri) -> bytes`` (a whole small
object) and ``fetch_head(uri, n) -> bytes`` (its first ``n`` bytes), both relative
to the tileset's folder (the caller turns them into presigned, counted range
requests). It

1. reads ``tileset.json`` and, lazily, external child tilesets (content that is a
   ``.json``), down to the depth that matters;
2. for each depth, estimates the faces of that level of detail from one tile's
   headers and glTF JSON (``fetch_head``: a few KB) times the tiles of the level
   (with ``refine: REPLACE``, a level is the tiles at that depth plus shallower
   leaves);
3. picks the deepest level whose estimate fits ``max_faces`` and fetches only its
   tiles, decoded by :mod:`terranb.results.b3dm`.

Coordinates: the root ``transform`` is expected in ECEF (DJI Terra writes one from
the output CRS and origin); vertices are converted to a local azimuthal
equidistant CRS centred on the tileset (east, north, ellipsoidal height), the
stand-in for a local ENU frame that :class:`~terranb.results.mesh.Mesh` also uses.
A transform whose translation is not near the Earth's surface is reported as a
finding and the tiles are shown in their own frame.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from terranb.errors import ResultFormatError, require
from terranb.results.b3dm import b3dm_face_count, decode_b3dm
from terranb.results.crs import crs_from_text
from terranb.results.decimate import DecimatedMesh, MeshPart
from terranb.results.findings import Finding

__all__ = ["TileNode", "TilesetPreview", "read_remote_tileset"]

DEFAULT_MAX_FACES = 200_000
_HEAD_BYTES = 64 * 1024
_EARTH_MIN, _EARTH_MAX = 6_300_000.0, 6_420_000.0  # |ECEF| of anything on or near the ground


@dataclass
class TileNode:
    """One tile with content: its URI (relative to the root tileset), depth and world transform."""

    uri: str
    depth: int
    transform: Any
    geometric_error: float
    leaf: bool


@dataclass
class TilesetPreview:
    """What a remote tileset preview read: the chosen level as a decimated-mesh view.

    Attributes:
        mesh: the chosen level's tiles as one :class:`DecimatedMesh` (parts per tile
            texture), in :attr:`crs` (local east/north/up metres).
        level: the chosen depth; ``levels``: tiles per depth.
        tiles_fetched: tiles read (the chosen level only).
    """

    path: str
    mesh: DecimatedMesh
    level: int
    levels: dict[int, int]
    tiles_fetched: int
    estimate_faces: dict[int, int]
    findings: list[Finding] = field(default_factory=list)

    @property
    def parts(self) -> list[MeshPart]:
        return self.mesh.parts

    @property
    def crs(self) -> Any:
        return self.mesh.crs

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "tileset", "path": self.path, "level": self.level,
                "levels": {str(k): v for k, v in self.levels.items()},
                "tiles_fetched": self.tiles_fetched, "faces": self.mesh.face_count,
                "estimate_faces": {str(k): v for k, v in self.estimate_faces.items()},
                "findings": [f.to_dict() for f in self.findings]}


def _matrix(values: Any, label: str) -> Any:
    np_ = require("numpy", "geo")
    if values is None:
        return np_.eye(4)
    try:
        m = np_.asarray(values, dtype=np_.float64).reshape(4, 4).T  # column-major in JSON
    except (ValueError, TypeError) as exc:
        raise ResultFormatError(f"{label}: a tile transform is not 16 numbers") from exc
    return m


def _content_uri(tile: dict[str, Any]) -> str | None:
    content = tile.get("content") or {}
    uri = content.get("uri") or content.get("url")  # "url" is the pre-1.0 spelling
    return str(uri) if uri else None


def _walk(fetch: Callable[[str], bytes], root_uri: str, max_depth: int,
          findings: list[Finding]) -> tuple[list[TileNode], Any]:
    """Tiles with content down to ``max_depth`` (external tilesets followed lazily)."""
    np_ = require("numpy", "geo")
    nodes: list[TileNode] = []
    root_tf = None

    def load(uri: str) -> dict[str, Any]:
        try:
            doc = json.loads(fetch(uri))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ResultFormatError(f"{uri}: not a valid tileset JSON ({exc})") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("root"), dict):
            raise ResultFormatError(f"{uri}: a tileset JSON needs a 'root' tile")
        return doc

    stack: list[tuple[dict[str, Any], str, int, Any]] = []
    doc = load(root_uri)
    stack.append((doc["root"], posixpath.dirname(root_uri), 0, np_.eye(4)))
    while stack:
        tile, base, depth, parent = stack.pop()
        tf = parent @ _matrix(tile.get("transform"), root_uri)
        if root_tf is None:
            root_tf = tf
        uri = _content_uri(tile)
        children = tile.get("children") or []
        if uri and uri.lower().split("?")[0].endswith(".json"):
            if depth <= max_depth:
                child_uri = posixpath.normpath(posixpath.join(base, uri))
                try:
                    sub = load(child_uri)
                except ResultFormatError as exc:
                    findings.append(Finding.make("warning", "tileset.bad_child", str(exc), None))
                    continue
                stack.append((sub["root"], posixpath.dirname(child_uri), depth, tf))
            continue
        if uri:
            nodes.append(TileNode(posixpath.normpath(posixpath.join(base, uri)), depth, tf,
                                  float(tile.get("geometricError", 0.0)), not children))
        if depth < max_depth:
            stack.extend((c, base, depth + 1, tf) for c in children)
    return nodes, root_tf if root_tf is not None else np_.eye(4)


def _level(nodes: list[TileNode], depth: int) -> list[TileNode]:
    """REPLACE refinement: the level of detail at ``depth`` (that depth plus shallower leaves)."""
    return [n for n in nodes if n.depth == depth or (n.leaf and n.depth < depth)]


def _to_local(parts: list[MeshPart], centre: Any, findings: list[Finding],
              label: str) -> tuple[list[MeshPart], Any]:
    """ECEF -> local aeqd metres centred on ``centre`` (skipped for non-ECEF frames)."""
    np_ = require("numpy", "geo")
    pyproj = require("pyproj", "geo")
    r = float(np_.linalg.norm(centre))
    if not _EARTH_MIN <= r <= _EARTH_MAX:
        findings.append(Finding.make(
            "warning", "tileset.not_ecef",
            f"{label}: the root transform puts the tileset {r:,.0f} m from the Earth's centre, "
            "which is not an ECEF position on the ground; the tiles are shown in their own "
            "frame without georeferencing", None))
        return parts, None
    to_geo = pyproj.Transformer.from_crs(4978, 4979, always_xy=True)
    lon, lat, _h = to_geo.transform(*centre)
    crs = crs_from_text(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m "
                        "+type=crs")
    to_local = pyproj.Transformer.from_crs(4978, pyproj.CRS.from_user_input(crs).to_3d(),
                                           always_xy=True)
    out = []
    for p in parts:
        x, y, z = to_local.transform(p.vertices[:, 0], p.vertices[:, 1], p.vertices[:, 2])
        out.append(MeshPart(np_.column_stack([x, y, z]), p.faces, p.uv, p.texture_path,
                            p.material, p.colors, p.texture))
    return out, crs


def read_remote_tileset(fetch: Callable[[str], bytes],
                        fetch_head: Callable[[str, int], bytes], root_uri: str = "tileset.json",
                        *, max_faces: int = DEFAULT_MAX_FACES, max_depth: int = 16,
                        label: str | None = None) -> TilesetPreview:
    """Preview a tileset by reading its JSON and the tiles of one level (see module doc).

    Raises:
        ResultFormatError: bad tileset JSON, no b3dm content, or a tile of the chosen
            level that cannot be read (truncated, wrong magic, missing).
    """
    np_ = require("numpy", "geo")
    label = label or root_uri
    findings: list[Finding] = []
    nodes, root_tf = _walk(fetch, root_uri, max_depth, findings)
    b3dm = [n for n in nodes if n.uri.lower().split("?")[0].endswith(".b3dm")]
    if not b3dm:
        raise ResultFormatError(f"{label}: the tileset has no b3dm tiles to preview "
                                "(pnts/i3dm/glb content is not previewed remotely)")
    depths = sorted({n.depth for n in b3dm})
    levels = {d: len(_level(b3dm, d)) for d in depths}
    estimates: dict[int, int] = {}
    chosen = depths[0]
    for d in depths:
        lvl = _level(b3dm, d)
        sample = next((n for n in lvl if n.depth == d), lvl[0])
        head = fetch_head(sample.uri, _HEAD_BYTES)
        per_tile = b3dm_face_count(head, sample.uri)
        if per_tile is None:
            per_tile = b3dm_face_count(fetch(sample.uri), sample.uri) or 0
        estimates[d] = per_tile * len(lvl)
        if estimates[d] > max_faces and d != depths[0]:
            break
        chosen = d
    parts: list[MeshPart] = []
    tiles = _level(b3dm, chosen)
    for n in tiles:
        try:
            parts.extend(decode_b3dm(fetch(n.uri), n.uri, n.transform))
        except ResultFormatError as exc:
            findings.append(Finding.make("warning", "tileset.bad_tile", str(exc), None))
    if not parts:
        raise ResultFormatError(f"{label}: no tile of level {chosen} could be read; "
                                + "; ".join(f.message for f in findings[-3:]))
    centre = np_.asarray(root_tf[:3, 3], dtype=np_.float64)
    if not float(np_.linalg.norm(centre)):
        allv = np_.concatenate([p.vertices for p in parts])
        centre = (allv.min(axis=0) + allv.max(axis=0)) / 2
    local, crs = _to_local(parts, centre, findings, label)
    total = sum(len(p.faces) for p in local)
    mesh = DecimatedMesh(local, (0.0, 0.0, 0.0), crs, total, "none")
    return TilesetPreview(path=label, mesh=mesh, level=chosen, levels=levels,
                          tiles_fetched=len(tiles), estimate_faces=estimates, findings=findings)
