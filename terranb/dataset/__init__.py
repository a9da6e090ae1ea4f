"""Know the data before it leaves the laptop.

* :func:`read_photo_meta` -- position, attitude and camera from a photo's headers;
* ``preflight.preflight`` -- check a folder against TerraAPI / FlightHub 2 rules;
* :func:`footprints` -- ground polygons, coverage and overlap, GeoJSON;
* :func:`quick_mosaic` -- a direct-georeferenced GeoTIFF preview;
* :func:`make_sample_flight` -- a realistic synthetic DJI flight with ground truth.

Names are loaded on first use, so ``import terranb.dataset`` stays light. The
functions named like their modules are imported from the module:
``from terranb.dataset.preflight import preflight``,
``from terranb.dataset.footprint import footprint``.
"""

from __future__ import annotations

from terranb.lazy_exports import lazy_exports

_EXPORTS = {
    "PhotoMeta": "exif", "read_photo_meta": "exif",
    "Finding": "findings",
    "PreflightReport": "preflight",
    "Footprint": "footprint", "FootprintSet": "footprint",
    "footprints": "footprint", "to_geojson": "footprint",
    "MosaicResult": "mosaic", "quick_mosaic": "mosaic",
    "SampleFlight": "synthetic", "make_sample_flight": "synthetic",
    "make_lidar_folder": "synthetic",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
