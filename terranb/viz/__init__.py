"""Offline, size-bounded previews of survey results: folium maps and a three.js 3D viewer.

- :func:`result_map` -> ``folium.Map`` with the orthomosaic (PNG within a byte
  budget), photo footprints, bounding boxes and a point-density layer; Leaflet is
  inlined, base tiles are opt-in, so saved maps make no requests.
- :class:`Scene3D` -> one self-contained HTML page (three.js inlined) for point
  clouds and textured meshes within a byte budget; ``_repr_html_`` is an
  ``<iframe srcdoc>``, ``save()`` writes the page, ``to_png()`` is a static fallback.

Importing this package is cheap: numpy, rasterio, folium and friends load on use.
"""

from terranb.viz.maps import (
    Overlay,
    density_overlay,
    map_html,
    ortho_overlay,
    result_map,
    save_map,
    tree_map,
)
from terranb.viz.scene3d import Camera, Scene3D

__all__ = [
    "Camera",
    "Overlay",
    "Scene3D",
    "density_overlay",
    "map_html",
    "ortho_overlay",
    "result_map",
    "save_map",
    "tree_map",
]
