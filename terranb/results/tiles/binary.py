"""The 3D Tiles 1.0 tile formats b3dm and pnts, byte for byte, and a peek into GLB.

Both formats share a 28-byte header (3D Tiles 1.0 specification, "Batched 3D
Model" and "Point Cloud"): ``magic`` (4 ASCII bytes), ``version`` (uint32, 1),
``byteLength`` (uint32, the whole tile), then the byte lengths of the Feature
Table JSON, Feature Table binary, Batch Table JSON and Batch Table binary
(uint32 each, little endian). The JSON sections are padded with spaces and the
binary ones with zeros so that every section, and the embedded binary glTF,
starts and ends on an 8-byte boundary of the file.

Parsing checks every length against the bytes actually present and names the
file in the :class:`~terranb.errors.ResultFormatError` it raises, so a
truncated or foreign file is reported, never half decoded.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from terranb.errors import ResultFormatError

__all__ = ["TileFile", "glb_json", "pack_b3dm", "pack_pnts", "parse_tile"]

_HEADER = struct.Struct("<4sIIIIII")
HEADER_BYTES = _HEADER.size  # 28
_MAGICS = (b"b3dm", b"pnts", b"i3dm", b"cmpt")


def _pad_json(doc: dict[str, Any], start: int) -> bytes:
    """JSON bytes padded with spaces so that ``start + len`` is a multiple of 8."""
    raw = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    return raw + b" " * ((-(start + len(raw))) % 8)


def _pad_bin(data: bytes) -> bytes:
    return data + b"\0" * ((-len(data)) % 8)


def _assemble(magic: bytes, ft_json: dict[str, Any], ft_bin: bytes, body: bytes) -> bytes:
    ftj = _pad_json(ft_json, HEADER_BYTES)
    ftb = _pad_bin(ft_bin)
    # No batch table: this writer batches nothing (BATCH_LENGTH 0).
    body = _pad_bin(body)
    total = HEADER_BYTES + len(ftj) + len(ftb) + len(body)
    head = _HEADER.pack(magic, 1, total, len(ftj), len(ftb), 0, 0)
    return head + ftj + ftb + body


def _glb_to_8(glb: bytes) -> bytes:
    """The GLB with its JSON chunk padded by spaces so its length is a multiple of 8.

    b3dm wants the GLB to end on an 8-byte boundary; padding *inside* the GLB (JSON may
    end in spaces) keeps readers that take "the rest of the tile" as the GLB from seeing
    extra bytes after it.
    """
    if len(glb) % 8 == 0 or len(glb) < 20:
        return glb
    json_len, json_type = struct.unpack_from("<II", glb, 12)
    if json_type != 0x4E4F534A or len(glb) % 4:
        return glb
    pad = (-len(glb)) % 8  # 4, as GLB lengths are multiples of 4
    chunk = glb[20:20 + json_len] + b" " * pad
    rest = glb[20 + json_len:]
    head = struct.pack("<4sII", b"glTF", 2, len(glb) + pad)
    return head + struct.pack("<II", len(chunk), json_type) + chunk + rest


def pack_b3dm(glb: bytes, rtc_center: tuple[float, float, float] | None = None) -> bytes:
    """A b3dm tile around a binary glTF (``BATCH_LENGTH`` 0, optional ``RTC_CENTER``)."""
    if glb[:4] != b"glTF":
        raise ValueError("pack_b3dm needs binary glTF (GLB) bytes")
    glb = _glb_to_8(glb)
    ft: dict[str, Any] = {"BATCH_LENGTH": 0}
    if rtc_center is not None:
        ft["RTC_CENTER"] = [float(c) for c in rtc_center]
    return _assemble(b"b3dm", ft, b"", glb)


def pack_pnts(positions: Any, rgb: Any = None,
              rtc_center: tuple[float, float, float] | None = None) -> bytes:
    """A pnts tile: float32 ``POSITION`` (N, 3) and optional uint8 ``RGB`` (N, 3)."""
    import numpy as np

    pos = np.ascontiguousarray(positions, dtype="<f4")
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must be (N, 3), got {pos.shape}")
    n = len(pos)
    ft: dict[str, Any] = {"POINTS_LENGTH": n, "POSITION": {"byteOffset": 0}}
    binary = pos.tobytes()
    if rgb is not None:
        col = np.ascontiguousarray(rgb, dtype=np.uint8)
        if col.shape != (n, 3):
            raise ValueError(f"rgb must be (N, 3) uint8 like positions, got {col.shape}")
        ft["RGB"] = {"byteOffset": len(binary)}
        binary += col.tobytes()
    if rtc_center is not None:
        ft["RTC_CENTER"] = [float(c) for c in rtc_center]
    return _assemble(b"pnts", ft, binary, b"")


@dataclass
class TileFile:
    """A parsed b3dm or pnts tile (sections as bytes, feature table JSON decoded)."""

    magic: str
    feature_table: dict[str, Any]
    feature_binary: bytes
    batch_table: dict[str, Any]
    body: bytes  # the GLB of a b3dm; empty for pnts

    @property
    def rtc_center(self) -> tuple[float, float, float] | None:
        c = self.feature_table.get("RTC_CENTER")
        if isinstance(c, list) and len(c) == 3:
            return (float(c[0]), float(c[1]), float(c[2]))
        return None


def parse_tile(data: bytes, name: str = "tile") -> TileFile:
    """Split a b3dm/pnts file into its sections, checking every length.

    Raises:
        ResultFormatError: wrong magic, unsupported version, or a file shorter than
            its header says (truncated download), naming ``name``.
    """
    if len(data) < HEADER_BYTES:
        raise ResultFormatError(
            f"{name}: {len(data)} bytes is shorter than the 28-byte 3D Tiles header "
            "(truncated file; download it again)")
    magic, version, total, ftj, ftb, btj, btb = _HEADER.unpack_from(data)
    if magic not in _MAGICS:
        raise ResultFormatError(
            f"{name}: magic {magic!r} is not a 3D Tiles tile (expected b'b3dm' or b'pnts')")
    if magic not in (b"b3dm", b"pnts"):
        raise ResultFormatError(f"{name}: {magic.decode()} tiles are not supported (b3dm, pnts)")
    if version != 1:
        raise ResultFormatError(f"{name}: {magic.decode()} version {version} (only 1 is known)")
    if total > len(data):
        raise ResultFormatError(
            f"{name}: header says {total} bytes but the file has {len(data)} "
            "(truncated file; download it again)")
    off = HEADER_BYTES
    if off + ftj + ftb + btj + btb > total:
        raise ResultFormatError(f"{name}: section lengths exceed byteLength {total}")
    try:
        ft = json.loads(data[off:off + ftj] or b"{}")
        bt = json.loads(data[off + ftj + ftb:off + ftj + ftb + btj] or b"{}")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ResultFormatError(f"{name}: feature/batch table JSON is invalid ({exc})") from exc
    fbin = data[off + ftj:off + ftj + ftb]
    body = data[off + ftj + ftb + btj + btb:total]
    if magic == b"b3dm" and body[:4] != b"glTF":
        raise ResultFormatError(f"{name}: b3dm body is not binary glTF (no 'glTF' magic)")
    return TileFile(magic.decode(), ft if isinstance(ft, dict) else {}, fbin,
                    bt if isinstance(bt, dict) else {}, body)


def glb_json(glb: bytes, name: str = "tile") -> dict[str, Any]:
    """The JSON chunk of a GLB (header 12 bytes + chunk 0), without touching the BIN chunk."""
    if len(glb) < 20 or glb[:4] != b"glTF":
        raise ResultFormatError(f"{name}: not binary glTF")
    length, ctype = struct.unpack_from("<II", glb, 12)
    if ctype != 0x4E4F534A or 20 + length > len(glb):
        raise ResultFormatError(f"{name}: glTF JSON chunk is missing or truncated")
    try:
        doc = json.loads(glb[20:20 + length])
    except ValueError as exc:
        raise ResultFormatError(f"{name}: glTF JSON is invalid ({exc})") from exc
    return doc if isinstance(doc, dict) else {}


def glb_triangles(doc: dict[str, Any]) -> int:
    """Triangles declared by a glTF JSON (index accessor counts / 3, mode 4 only)."""
    accessors = doc.get("accessors") or []
    n = 0
    for mesh in doc.get("meshes") or []:
        for prim in mesh.get("primitives") or []:
            if prim.get("mode", 4) != 4:
                continue
            idx = prim.get("indices")
            if isinstance(idx, int) and 0 <= idx < len(accessors):
                n += int(accessors[idx].get("count", 0)) // 3
            else:
                pos = (prim.get("attributes") or {}).get("POSITION")
                if isinstance(pos, int) and 0 <= pos < len(accessors):
                    n += int(accessors[pos].get("count", 0)) // 3
    return n
