"""Decode 3D Tiles 1.0 Batched 3D Model tiles (``.b3dm``) into mesh parts.

Layout (3D Tiles 1.0, "Batched 3D Model"): a 28-byte header ``magic "b3dm",
version 1, byteLength, featureTableJSONByteLength, featureTableBinaryByteLength,
batchTableJSONByteLength, batchTableBinaryByteLength`` (little-endian uint32),
the feature table (``BATCH_LENGTH``, optional ``RTC_CENTER``), the batch table,
then a binary glTF 2.0 (glb). glTF is y-up; 3D Tiles is z-up, so positions are
rotated by +90 degrees about x (``(x, y, z) -> (x, -z, y)``) before ``RTC_CENTER``
and the tile transforms apply. The glb itself is decoded by trimesh (its own
glTF reader), so this module only checks and unwraps the container.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

from terranb.errors import ResultFormatError, require
from terranb.results.decimate import MeshPart

__all__ = ["b3dm_face_count", "b3dm_glb", "decode_b3dm"]

_HEADER = struct.Struct("<4sIIIIII")


def b3dm_glb(data: bytes, label: str) -> tuple[bytes, dict[str, Any]]:
    """The glb payload and the feature table JSON of a b3dm tile.

    Raises:
        ResultFormatError: wrong magic or version, or a truncated tile.
    """
    if len(data) < _HEADER.size:
        raise ResultFormatError(f"{label}: truncated b3dm ({len(data)} bytes, the header alone "
                                "is 28)")
    magic, version, length, ftj, ftb, btj, btb = _HEADER.unpack_from(data)
    if magic != b"b3dm":
        raise ResultFormatError(f"{label}: not a b3dm tile (magic {magic!r}, expected b'b3dm')")
    if version != 1:
        raise ResultFormatError(f"{label}: b3dm version {version} is not supported (only 1)")
    if length > len(data):
        raise ResultFormatError(f"{label}: truncated b3dm: its header says {length:,} bytes, "
                                f"{len(data):,} were read")
    start = _HEADER.size
    try:
        table = json.loads(data[start:start + ftj].decode("utf-8").strip() or "{}") if ftj else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultFormatError(f"{label}: bad b3dm feature table JSON ({exc})") from exc
    glb = data[start + ftj + ftb + btj + btb:length]
    if glb[:4] != b"glTF":
        raise ResultFormatError(f"{label}: the b3dm payload is not binary glTF")
    return glb, table


def b3dm_face_count(head: bytes, label: str) -> int | None:
    """Triangles of a b3dm from its first bytes (headers and glTF JSON), or None if cut short."""
    if len(head) < _HEADER.size or head[:4] != b"b3dm":
        raise ResultFormatError(f"{label}: not a b3dm tile")
    _m, _v, _len, ftj, ftb, btj, btb = _HEADER.unpack_from(head)
    g = _HEADER.size + ftj + ftb + btj + btb
    if len(head) < g + 20:
        return None
    json_len = struct.unpack_from("<I", head, g + 12)[0]
    if len(head) < g + 20 + json_len:
        return None
    gltf = json.loads(head[g + 20:g + 20 + json_len])
    faces = 0
    for mesh in gltf.get("meshes", []):
        for prim in mesh.get("primitives", []):
            if "indices" in prim:
                faces += int(gltf["accessors"][prim["indices"]]["count"]) // 3
            else:
                faces += int(gltf["accessors"][prim["attributes"]["POSITION"]]["count"]) // 3
    return faces


def decode_b3dm(data: bytes, label: str, transform: Any = None) -> list[MeshPart]:
    """Mesh parts of a b3dm tile in the tileset's world frame.

    ``transform`` is the tile's accumulated 4x4 transform (root to tile, as a numpy
    (4, 4) row-major matrix; ``None`` = identity).
    """
    np_ = require("numpy", "geo")
    trimesh = require("trimesh", "geo")
    glb, table = b3dm_glb(data, label)
    try:
        scene = trimesh.load(io.BytesIO(glb), file_type="glb", force="scene", process=False)
    except Exception as exc:
        raise ResultFormatError(f"{label}: the tile's glTF cannot be decoded ({exc})") from exc
    rtc = np_.asarray(table.get("RTC_CENTER", [0.0, 0.0, 0.0]), dtype=np_.float64)
    y_up_to_z_up = np_.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
                             dtype=np_.float64)
    tile = np_.eye(4) if transform is None else np_.asarray(transform, dtype=np_.float64)
    parts: list[MeshPart] = []
    for node in scene.graph.nodes_geometry:
        node_tf, gname = scene.graph[node]
        g = scene.geometry[gname]
        if not hasattr(g, "faces") or len(g.faces) == 0:
            continue
        v = np_.asarray(g.vertices, dtype=np_.float64)
        v = v @ node_tf[:3, :3].T + node_tf[:3, 3]
        v = v @ y_up_to_z_up[:3, :3].T + rtc
        v = v @ tile[:3, :3].T + tile[:3, 3]
        visual = getattr(g, "visual", None)
        uv = getattr(visual, "uv", None) if getattr(visual, "kind", None) == "texture" else None
        image = None
        material = getattr(visual, "material", None)
        if material is not None:
            image = getattr(material, "baseColorTexture", None) or getattr(material, "image",
                                                                           None)
        parts.append(MeshPart(vertices=v, faces=np_.asarray(g.faces, dtype=np_.int64),
                              uv=None if uv is None else np_.asarray(uv, dtype=np_.float64),
                              texture_path=None, material=str(gname),
                              texture=image if uv is not None else None))
    return parts
