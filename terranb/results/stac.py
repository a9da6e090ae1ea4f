"""STAC Items for results: footprint, bbox, projection extension and checksummed assets.

Plain dicts (no pystac): a STAC 1.0.0 ``Feature`` with the projection extension
v1.1.0 (``proj:epsg``, ``proj:wkt2``, ``proj:bbox``, ``proj:shape``,
``proj:transform``) and the file extension v2.1.0 (``file:size``,
``file:checksum`` as a sha2-256 multihash: ``1220`` + hex digest). Asset hrefs are
relative to the item file's folder when ``base`` is given, else absolute.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from terranb.errors import ResultFormatError
from terranb.results.layout import ResultTree, open_results
from terranb.results.mesh import Mesh
from terranb.results.ortho import Orthomosaic
from terranb.results.pointcloud import PointCloud

__all__ = ["FILE_EXT", "PROJ_EXT", "STAC_VERSION", "multihash_sha256", "stac_item", "write_item"]

STAC_VERSION = "1.0.0"
PROJ_EXT = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
FILE_EXT = "https://stac-extensions.github.io/file/v2.1.0/schema.json"

_MEDIA = {
    ".tif": "image/tiff; application=geotiff", ".tiff": "image/tiff; application=geotiff",
    ".las": "application/vnd.las", ".laz": "application/vnd.laszip",
    ".obj": "model/obj", ".mtl": "model/mtl", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".png": "image/png", ".json": "application/json", ".tfw": "text/plain",
    ".wld": "text/plain", ".prj": "text/plain", ".xml": "application/xml",
}


def multihash_sha256(path: str | os.PathLike[str], block: int = 4 * 2**20) -> str:
    """The file's sha2-256 as a hex multihash (``1220`` + 64 hex digits), read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return "1220" + h.hexdigest()


def _href(p: Path, base: Path | None) -> str:
    if base is None:
        return p.resolve().as_posix()
    return Path(os.path.relpath(p.resolve(), base.resolve())).as_posix()


def _asset(p: Path, roles: list[str], base: Path | None, checksum: bool,
           extra: dict[str, Any] | None = None) -> dict[str, Any]:
    a: dict[str, Any] = {"href": _href(p, base), "type": _MEDIA.get(p.suffix.lower(),
                                                                    "application/octet-stream"),
                         "title": p.name, "roles": roles, "file:size": p.stat().st_size}
    if checksum:
        a["file:checksum"] = multihash_sha256(p)
    if extra:
        a.update(extra)
    return a


def _proj(crs: Any, bbox: list[float] | None, shape: list[int] | None = None,
          transform: list[float] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if crs is None:
        out["proj:epsg"] = None
    else:
        epsg = crs.to_epsg()
        out["proj:epsg"] = epsg
        if epsg is None:
            out["proj:wkt2"] = crs.to_wkt("WKT2_2019")
    if bbox is not None:
        out["proj:bbox"] = bbox
    if shape is not None:
        out["proj:shape"] = shape
    if transform is not None:
        out["proj:transform"] = transform
    return out


def _bbox_polygon(b: tuple[float, float, float, float]) -> dict[str, Any]:
    w, s, e, n = b
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "result"


def _union(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes))


def stac_item(result: Any, *, item_id: str | None = None,
              base: str | os.PathLike[str] | None = None, checksum: bool = True,
              when: datetime | None = None) -> dict[str, Any]:
    """A STAC Item describing a result.

    Args:
        result: a :class:`ResultTree`, :class:`Orthomosaic`, :class:`PointCloud`,
            :class:`Mesh`, or a path (opened with :func:`open_results`).
        item_id: the Item id (default: the folder or file name).
        base: folder the Item file will live in; asset hrefs are made relative to it.
        checksum: hash every asset (sha2-256 multihash in ``file:checksum``).
        when: the Item ``datetime`` (default: the newest asset's modification time, UTC).

    Returns:
        The Item as a dict. ``geometry`` is the WGS 84 footprint (the raster outline for
        an orthomosaic, the bounding box otherwise), ``null`` without a CRS (with
        ``bbox`` then absent, as STAC requires).

    Raises:
        ResultFormatError: nothing in the result can be described.
    """
    if isinstance(result, (str, os.PathLike)):
        result = open_results(result)
    base_p = Path(base) if base is not None else None
    if isinstance(result, ResultTree):
        tree = result
    elif not isinstance(result, (Orthomosaic, PointCloud, Mesh)):
        raise ResultFormatError(f"cannot describe {type(result).__name__} as a STAC Item")
    else:
        tree = ResultTree(root=Path(result.path), kind="")
        if isinstance(result, Orthomosaic):
            tree.kind, tree.ortho, tree.rasters[result.path.name] = "ortho", result, result
        elif isinstance(result, PointCloud):
            tree.kind = "point_cloud"
            tree.point_clouds.append(result)
        else:
            tree.kind = "mesh"
            tree.meshes.append(result)

    assets: dict[str, dict[str, Any]] = {}
    boxes: list[tuple[float, float, float, float]] = []
    geometry: dict[str, Any] | None = None
    main_proj: dict[str, Any] = {}
    files: list[Path] = []

    def key(name: str) -> str:
        k, i = name, 2
        while k in assets:
            k, i = f"{name}-{i}", i + 1
        return k

    for rel, o in tree.rasters.items():
        t = list(tuple(o.transform)[:6])
        proj = _proj(o.crs, list(o.bounds), [o.height, o.width], [*t, 0.0, 0.0, 1.0])
        role = "data" if o is tree.ortho else "dsm" if o is tree.dsm else "data"
        name = "ortho" if o is tree.ortho else "dsm" if o is tree.dsm else Path(rel).stem
        assets[key(name)] = _asset(o.path, [role], base_p, checksum, proj)
        files.append(o.path)
        for side, srole in ((o.world_file, "metadata"), (o.prj_file, "metadata")):
            if side is not None:
                assets[key(f"{name}-{side.suffix.lstrip('.')}")] = _asset(side, [srole], base_p,
                                                                          checksum)
                files.append(side)
        if o.bounds_wgs84:
            boxes.append(o.bounds_wgs84)
        if o is tree.ortho or not main_proj:
            main_proj = {k: v for k, v in proj.items() if k in ("proj:epsg", "proj:wkt2")}
            ring = o.footprint_wgs84()
            if ring is not None and o is tree.ortho:
                geometry = {"type": "Polygon", "coordinates": [ring]}
    for pc in tree.point_clouds:
        proj = _proj(pc.crs, list(pc.bounds))
        assets[key("point_cloud")] = _asset(pc.path, ["data"], base_p, checksum,
                                            {**proj, "pc:count": pc.point_count})
        files.append(pc.path)
        if pc.bounds_wgs84:
            boxes.append(pc.bounds_wgs84)
        if not main_proj:
            main_proj = {k: v for k, v in proj.items() if k in ("proj:epsg", "proj:wkt2")}
    for m in tree.meshes:
        proj = _proj(m.crs, None)
        assets[key("mesh")] = _asset(m.path, ["data"], base_p, checksum, proj)
        files.append(m.path)
        for tex in {t for t in m.textures.values() if t is not None and t.is_file()}:
            assets[key("texture")] = _asset(tex, ["texture"], base_p, checksum)
            files.append(tex)
        try:
            b = m.bounds_wgs84
        except ResultFormatError:
            b = None
        if b:
            boxes.append(b)
        if not main_proj:
            main_proj = {k: v for k, v in proj.items() if k in ("proj:epsg", "proj:wkt2")}
    for kind, rep in tree.reports.items():
        if rep.path is not None and rep.path.is_file():
            assets[key(kind)] = _asset(rep.path, ["metadata"], base_p, checksum)
            files.append(rep.path)
    if not assets:
        raise ResultFormatError(f"{tree.root}: no result files to describe")

    if when is None:
        newest = max(f.stat().st_mtime for f in files)
        when = datetime.fromtimestamp(newest, tz=timezone.utc)
    props: dict[str, Any] = {"datetime": when.astimezone(timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"), "terranb:kind": tree.kind}
    props.update(main_proj or {"proj:epsg": None})
    if tree.ortho is not None:
        o = tree.ortho
        props["proj:bbox"] = list(o.bounds)
        props["proj:shape"] = [o.height, o.width]
        props["proj:transform"] = [*tuple(o.transform)[:6], 0.0, 0.0, 1.0]
        if o.gsd_m is not None:
            props["gsd"] = o.gsd_m
    item: dict[str, Any] = {
        "type": "Feature", "stac_version": STAC_VERSION,
        "stac_extensions": [PROJ_EXT, FILE_EXT],
        "id": item_id or _slug(tree.root.stem if tree.root.is_file() else tree.root.name),
        "geometry": None, "properties": props, "links": [], "assets": assets,
    }
    if boxes:
        bbox = _union(boxes)
        item["bbox"] = list(bbox)
        item["geometry"] = geometry if geometry is not None and len(boxes) == 1 else \
            _bbox_polygon(bbox)
    return item


def write_item(item: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Write an Item as pretty JSON, atomically."""
    dest = Path(out)
    part = dest.with_name(dest.name + ".part")
    part.write_text(json.dumps(item, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(part, dest)
    return dest
