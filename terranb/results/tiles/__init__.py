"""3D Tiles 1.0 (b3dm, pnts): writing tilesets of meshes and clouds, reading them lazily."""

from terranb.results.tiles.binary import pack_b3dm, pack_pnts, parse_tile
from terranb.results.tiles.build import (
    LodMesh,
    TilesetWritten,
    mesh_tileset,
    point_tileset,
    write_mesh_tileset,
)

__all__ = [
    "LodMesh",
    "TilesetWritten",
    "mesh_tileset",
    "pack_b3dm",
    "pack_pnts",
    "parse_tile",
    "point_tileset",
    "write_mesh_tileset",
]
