"""A minimal 3D Tiles 1.0 writer for tests and the bench (b3dm = header + feature table + glb).

The emulator's real writer is g1-tiles' work; this one only makes inputs for the
remote reader: a terrain grid split into 4**d tiles at depth d (REPLACE), each tile
a textured glb, under a root transform in ECEF (east-north-up at lat/lon).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np


def enu_to_ecef(lat: float, lon: float, h: float = 0.0) -> np.ndarray:
    """Column-major 16 numbers of the ENU->ECEF transform at (lat, lon, h)."""
    import pyproj

    x, y, z = pyproj.Transformer.from_crs(4979, 4978, always_xy=True).transform(lon, lat, h)
    la, lo = math.radians(lat), math.radians(lon)
    e = [-math.sin(lo), math.cos(lo), 0.0]
    n = [-math.sin(la) * math.cos(lo), -math.sin(la) * math.sin(lo), math.cos(la)]
    u = [math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)]
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = e, n, u, [x, y, z]
    return m.T.reshape(-1)  # column-major


def b3dm_bytes(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, image: object) -> bytes:
    """One b3dm tile; ``vertices`` are z-up (converted to glTF's y-up here)."""
    import trimesh

    yup = np.column_stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]])
    mesh = trimesh.Trimesh(yup, faces, process=False,
                           visual=trimesh.visual.TextureVisuals(uv=uv, image=image))
    glb = mesh.export(file_type="glb")
    ft = json.dumps({"BATCH_LENGTH": 0}).encode()
    ft += b" " * ((8 - (28 + len(ft)) % 8) % 8)
    total = 28 + len(ft) + len(glb)
    return struct.pack("<4sIIIIII", b"b3dm", 1, total, len(ft), 0, 0, 0) + ft + glb


def grid(n: int, size: float, x0: float = 0.0, y0: float = 0.0
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    j, i = np.mgrid[0:n, 0:n]
    x = x0 + size * i / (n - 1)
    y = y0 + size * j / (n - 1)
    z = 3 * np.sin(x / 20.0) + 2 * np.cos(y / 25.0)
    v = np.column_stack([x.ravel(), y.ravel(), z.ravel()])
    a = (j[:-1, :-1] * n + i[:-1, :-1]).ravel()
    f = np.concatenate([np.stack([a, a + 1, a + n + 1], 1), np.stack([a, a + n + 1, a + n], 1)])
    uv = np.column_stack([i.ravel() / (n - 1), j.ravel() / (n - 1)])
    return v, f, uv


def write_tileset(folder: Path, *, levels: int = 3, size: float = 200.0, base_n: int = 17,
                  lat: float = 22.6, lon: float = 114.1, tex_px: int = 64) -> Path:
    """A REPLACE tileset of ``levels`` depths; depth d has 4**d tiles of base_n**2 vertices."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (tex_px, tex_px, 3), dtype=np.uint8))

    def tile(depth: int, ix: int, iy: int) -> dict:
        k = 2 ** depth
        s = size / k
        v, f, uv = grid(base_n, s, ix * s, iy * s)
        name = f"tiles/L{depth}_{ix}_{iy}.b3dm"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b3dm_bytes(v, f, uv, img))
        node = {"boundingVolume": {"box": [ix * s + s / 2, iy * s + s / 2, 0, s / 2, 0, 0,
                                           0, s / 2, 0, 0, 0, 6]},
                "geometricError": size / (k * 8) if depth < levels - 1 else 0.0,
                "content": {"uri": name}}
        if depth < levels - 1:
            node["children"] = [tile(depth + 1, 2 * ix + dx, 2 * iy + dy)
                                for dy in (0, 1) for dx in (0, 1)]
        return node

    root = tile(0, 0, 0)
    root["refine"] = "REPLACE"
    root["transform"] = [float(x) for x in enu_to_ecef(lat, lon)]
    doc = {"asset": {"version": "1.0"}, "geometricError": size / 4, "root": root}
    out = folder / "tileset.json"
    out.write_text(json.dumps(doc), encoding="utf-8")
    return out
