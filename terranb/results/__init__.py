"""Read DJI Terra results: orthomosaics, point clouds, meshes, reports, whole result trees.

Everything here previews big files in bounded memory and reports problems as
:class:`~terranb.results.findings.Finding` objects. Heavy libraries (rasterio,
laspy, trimesh, pyproj, numpy) are imported only when a reader is used, so
``import terranb.results`` stays light; the names below are loaded on first access.
"""

from __future__ import annotations

from terranb.lazy_exports import lazy_exports

__all__ = [
    "DecimatedMesh",
    "Finding",
    "Mesh",
    "Orthomosaic",
    "PointCloud",
    "PointSample",
    "ResultTree",
    "load_report",
    "open_results",
    "read_world_file",
    "stac_item",
    "write_world_file",
]

__getattr__ = lazy_exports(__name__, {
    "DecimatedMesh": "decimate", "Mesh": "mesh", "Finding": "findings", "Orthomosaic": "ortho",
    "PointCloud": "pointcloud", "PointSample": "pointcloud", "ResultTree": "layout",
    "open_results": "layout", "load_report": "reports", "read_world_file": "worldfile",
    "write_world_file": "worldfile", "stac_item": "stac",
})
