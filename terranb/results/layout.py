"""Recognise a DJI Terra result tree (or a single result file) and open its parts.

With ``pc_dir_structure=true`` (protocol.md §2.9) a result is::

    2D:    AT/  map/     images/  mission.json
    3D:    AT/  models/  images/  mission.json
    LiDAR: AT/  lidars/           mission.json

:func:`open_results` accepts such a folder (also one level up, as a zip often
unpacks into a single folder), or one file (``.tif``, ``.las``/``.laz``, ``.obj``, a
report ``.json``), and returns a :class:`ResultTree` with typed objects. Missing
and odd parts become findings rather than exceptions, so a half-downloaded result
still shows what it has.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terranb.errors import ResultFormatError
from terranb.results.findings import Finding
from terranb.results.mesh import Mesh
from terranb.results.ortho import Orthomosaic
from terranb.results.pointcloud import PointCloud
from terranb.results.reports import MapReport, Report, load_report
from terranb.results.tiles.tileset import Tileset

__all__ = ["RASTER_SUFFIXES", "ResultTree", "open_results"]

RASTER_SUFFIXES = (".tif", ".tiff", ".jpg", ".jpeg", ".png", ".jp2")
_PC_SUFFIXES = (".las", ".laz")
_TREE_DIRS = ("map", "models", "lidars", "3dgs")
_KNOWN_TOP = {"AT", "map", "models", "lidars", "3dgs", "images", "mission.json", "report"}


@dataclass
class ResultTree:
    """What a result folder or file holds.

    Attributes:
        root: the folder (or the file) opened.
        kind: ``"2d"``, ``"3d"``, ``"lidar"``, ``"3dgs"`` for DJI Terra trees (``"mixed"``
            when a tree has more than one of map/, models/, lidars/, 3dgs/), or ``"ortho"``,
            ``"point_cloud"``, ``"mesh"``, ``"tileset"``, ``"report"`` for a single file.
        ortho: the orthomosaic (``map/result.tif``), if any.
        dsm: the DSM (``map/dsm.tif``) or DEM (``terra_dem/dem.tif``), if any.
        rasters: every raster opened, by path relative to the root (multispectral bands too).
        point_clouds: LAS/LAZ files opened (headers only).
        meshes: OBJ meshes (geometry loads on first use).
        tiled_models: 3D Tiles tilesets (``terra_b3dms``, ``terra_pnts``), opened by their
            ``tileset.json`` only; a FlightHub 2 3D job's default product.
        reports: parsed reports by kind (``map_report``, ``sfm_report``, ``model_report``,
            ``lidar_report``).
        tilesets: other products by name (``3dtiles``, ``osgb``, ``map_tiles``, ``ply``,
            ``3dgs``) -> path.
        mission: the decoded ``mission.json``, if any.
        findings: missing or odd parts, and every part's own findings.
    """

    root: Path
    kind: str
    ortho: Orthomosaic | None = None
    dsm: Orthomosaic | None = None
    rasters: dict[str, Orthomosaic] = field(default_factory=dict)
    point_clouds: list[PointCloud] = field(default_factory=list)
    meshes: list[Mesh] = field(default_factory=list)
    tiled_models: list[Tileset] = field(default_factory=list)
    reports: dict[str, Report] = field(default_factory=dict)
    tilesets: dict[str, Path] = field(default_factory=dict)
    mission: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def all_findings(self) -> list[Finding]:
        """Tree findings followed by each part's own findings."""
        out = list(self.findings)
        seen: set[int] = set()
        parts: list[Orthomosaic | PointCloud | Mesh | Tileset] = [
            *self.rasters.values(), *self.point_clouds, *self.meshes, *self.tiled_models]
        for part in parts:
            if id(part) in seen:
                continue
            seen.add(id(part))
            out.extend(part.findings)
        return out

    def products(self) -> list[str]:
        """What the tree holds, for a one-line summary: ``["orthomosaic", "DSM", "2 mesh(es)"]``."""
        out = [name for name, part in (("orthomosaic", self.ortho), ("DSM", self.dsm))
               if part is not None]
        out += [f"{len(parts)} {what}" for what, parts in (
            ("mesh(es)", self.meshes), ("point cloud(s)", self.point_clouds),
            ("3D Tiles tileset(s)", self.tiled_models)) if parts]
        return out

    def to_dict(self, *, mesh_stats: bool = False) -> dict[str, Any]:
        """JSON-ready summary. Mesh statistics parse the OBJ, so they are opt-in."""
        def mesh_dict(m: Mesh) -> dict[str, Any]:
            if mesh_stats:
                return m.to_dict()
            return {"kind": "mesh", "path": str(m.path),
                    "textures": {k: str(v) if v else None for k, v in m.textures.items()},
                    "srs": m.metadata.srs if m.metadata else None,
                    "origin": list(m.origin), "findings": [f.to_dict() for f in m.findings]}

        return {
            "root": str(self.root), "kind": self.kind,
            "ortho": str(self.ortho.path) if self.ortho else None,
            "dsm": str(self.dsm.path) if self.dsm else None,
            "rasters": {k: v.to_dict() for k, v in self.rasters.items()},
            "point_clouds": [pc.to_dict() for pc in self.point_clouds],
            "meshes": [mesh_dict(m) for m in self.meshes],
            "tiled_models": [t.to_dict() for t in self.tiled_models],
            "reports": {k: v.to_dict() for k, v in self.reports.items()},
            "tilesets": {k: str(v) for k, v in self.tilesets.items()},
            "mission": self.mission,
            "findings": [f.to_dict() for f in self.all_findings],
        }


def _is_tree(path: Path) -> bool:
    return any((path / d).is_dir() for d in _TREE_DIRS)


def _rel(root: Path, p: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


def open_results(path: str | os.PathLike[str], *, job_parameters: Any = None) -> ResultTree:
    """Open a DJI Terra result folder or a single result file.

    Args:
        path: a result folder (``map/``, ``models/`` or ``lidars/`` inside it, or in its
            only sub-folder), or a ``.tif``/``.las``/``.laz``/``.obj``/report ``.json``.
        job_parameters: the job's ``parameters``; their ``geo_desc`` names the CRS when
            the files do not.

    Returns:
        A :class:`ResultTree`.

    Raises:
        ResultFormatError: the path does not exist, is a zip, or is neither a result
            tree nor a result file.
    """
    p = Path(path)
    if not p.exists():
        raise ResultFormatError(f"{p} does not exist; check the path")
    if p.is_file():
        return _open_file(p, job_parameters)
    root = p
    if not _is_tree(root):
        subdirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
        if len(subdirs) == 1 and _is_tree(subdirs[0]):
            root = subdirs[0]  # a zip unpacked into one folder
        else:
            raise ResultFormatError(
                f"{p} is not a DJI Terra result folder: it has no map/, models/ or lidars/ "
                "folder. Pass the folder that holds them, or a single result file.")
    return _open_tree(root, job_parameters)


def _open_file(p: Path, job_parameters: Any) -> ResultTree:
    suffix = p.suffix.lower()
    if suffix == ".zip":
        raise ResultFormatError(f"{p} is a zip archive; unzip it and open the folder")
    tree = ResultTree(root=p, kind="")
    if suffix in RASTER_SUFFIXES:
        o = Orthomosaic.open(p, job_parameters=job_parameters)
        tree.kind, tree.ortho, tree.rasters[p.name] = "ortho", o, o
        if o.map_report is not None:
            tree.reports["map_report"] = o.map_report
    elif suffix in _PC_SUFFIXES:
        tree.kind = "point_cloud"
        tree.point_clouds.append(PointCloud.open(p))
    elif suffix == ".obj":
        tree.kind = "mesh"
        tree.meshes.append(Mesh.open(p))
    elif p.name.lower() == "tileset.json":
        tree.kind = "tileset"
        tree.tiled_models.append(Tileset(p))
    elif suffix == ".json":
        rep = load_report(p)
        tree.kind = "report"
        tree.reports[rep.kind] = rep
    else:
        raise ResultFormatError(
            f"{p}: unknown result file type {suffix!r}; expected .tif, .las, .laz, .obj or .json")
    return tree


def _add(tree: ResultTree, level: str, code: str, message: str, path: Path | None = None) -> None:
    tree.findings.append(Finding.make(level, code, message, path))  # type: ignore[arg-type]


def _load_report_into(tree: ResultTree, path: Path, kind: str) -> Report | None:
    try:
        rep = load_report(path, kind=kind)
    except ResultFormatError as exc:
        _add(tree, "warning", "tree.bad_report", str(exc), path)
        return None
    tree.reports[kind] = rep
    return rep


def _open_tree(root: Path, job_parameters: Any) -> ResultTree:
    present = [d for d in _TREE_DIRS if (root / d).is_dir()]
    kind = {"map": "2d", "models": "3d", "lidars": "lidar", "3dgs": "3dgs"}[present[0]] \
        if len(present) == 1 else "mixed"
    tree = ResultTree(root=root, kind=kind)

    # Leftovers of interrupted downloads and empty files.
    for f in root.rglob("*"):
        if f.is_file():
            if f.name.endswith((".part", ".partial", ".tmp")):
                _add(tree, "warning", "tree.partial_file",
                     "an unfinished download is left here; download the result again", f)
            elif f.stat().st_size == 0:
                _add(tree, "warning", "tree.empty_file", "the file is empty", f)
    for entry in sorted(root.iterdir()):
        if entry.name not in _KNOWN_TOP and not entry.name.startswith("."):
            _add(tree, "info", "tree.unexpected_entry",
                 f"{entry.name!r} is not part of the DJI Terra layout (AT/, map/, models/, "
                 "lidars/, images/, mission.json)", entry)

    mission = root / "mission.json"
    if mission.is_file():
        try:
            tree.mission = json.loads(mission.read_text(encoding="utf-8-sig"))
        except ValueError as exc:
            _add(tree, "warning", "tree.bad_mission", f"mission.json is not JSON: {exc}", mission)
    else:
        _add(tree, "info", "tree.no_mission", "mission.json is missing", root / "mission.json")
    if not (root / "AT").is_dir():
        _add(tree, "info", "tree.no_at", "AT/ (aerial triangulation results) is missing",
             root / "AT")
    else:
        sfm = next((q for q in (root / "AT" / "sfm_report.json",
                                root / "AT" / "report" / "sfm_report.json") if q.is_file()), None)
        if sfm is not None:
            _load_report_into(tree, sfm, "sfm_report")

    if "map" in present:
        _open_map(tree, root / "map", job_parameters)
    if "models" in present:
        _open_models(tree, root / "models", job_parameters)
    if "lidars" in present:
        _open_lidars(tree, root / "lidars", job_parameters)
    if "3dgs" in present:
        splat = root / "3dgs" / "point_cloud.ply"
        if splat.is_file():
            tree.tilesets["3dgs"] = splat
        else:
            _add(tree, "error", "tree.no_3dgs", "3dgs/point_cloud.ply (the Gaussian splats) is "
                 "missing", splat)
    return tree


def _open_raster(tree: ResultTree, path: Path, report: MapReport | None,
                 job_parameters: Any) -> Orthomosaic | None:
    try:
        o = Orthomosaic.open(path, map_report=report, job_parameters=job_parameters)
    except ResultFormatError as exc:
        _add(tree, "error", "tree.bad_raster", str(exc), path)
        return None
    tree.rasters[_rel(tree.root, path)] = o
    return o


def _report_crs(tree: ResultTree) -> str | None:
    for rep in tree.reports.values():
        text = getattr(rep, "output_coordinate", None)
        if text:
            return str(text)
    return None


def _open_map(tree: ResultTree, mdir: Path, job_parameters: Any) -> None:
    rep_path = mdir / "report" / "map_report.json"
    report = None
    if rep_path.is_file():
        loaded = _load_report_into(tree, rep_path, "map_report")
        report = loaded if isinstance(loaded, MapReport) else None
    else:
        _add(tree, "warning", "tree.no_map_report",
             "map/report/map_report.json is missing: GSD and the WGS 84 corners cannot be "
             "cross-checked", rep_path)
    result = mdir / "result.tif"
    if result.is_file():
        tree.ortho = _open_raster(tree, result, report, job_parameters)
        if tree.ortho is not None and tree.ortho.world_file is None:
            _add(tree, "info", "tree.no_tfw", "map/result.tfw is missing (the GeoTIFF tags are "
                 "used; tools that need a world file will not place the image)",
                 mdir / "result.tfw")
    else:
        bands = sorted(mdir.glob("result_*.tif"))
        if bands:
            _add(tree, "info", "tree.multispectral",
                 f"no RGB result.tif; {len(bands)} band maps (result_<band>.tif) found", mdir)
        else:
            _add(tree, "error", "tree.no_ortho", "map/result.tif (the orthomosaic) is missing",
                 result)
    dsm = mdir / "dsm.tif"
    if dsm.is_file():
        tree.dsm = _open_raster(tree, dsm, report, job_parameters)
    for band in sorted(mdir.glob("result_*.tif")):
        o = _open_raster(tree, band, report, job_parameters)
        if tree.ortho is None and o is not None:
            tree.ortho = o
    tile_levels = [d for d in mdir.iterdir() if d.is_dir() and d.name.isdigit()]
    if tile_levels:
        tree.tilesets["map_tiles"] = mdir


def _open_models(tree: ResultTree, mdir: Path, job_parameters: Any) -> None:
    for name in ("model_report.json",):
        for cand in (tree.root / "report" / name, mdir / "report" / name, mdir / name):
            if cand.is_file():
                _load_report_into(tree, cand, "model_report")
                break
    if "model_report" not in tree.reports:
        _add(tree, "warning", "tree.no_model_report", "report/model_report.json is missing",
             tree.root / "report" / "model_report.json")
    crs_hint = _report_crs(tree)
    found_any = False
    for obj in sorted(mdir.glob("pc/*/terra_obj/**/*.obj")):
        found_any = True
        try:
            tree.meshes.append(Mesh.open(obj))
        except ResultFormatError as exc:
            _add(tree, "error", "tree.bad_mesh", str(exc), obj)
    for las in sorted([*mdir.glob("pc/*/terra_las/*.las"), *mdir.glob("pc/*/terra_las/*.laz")]):
        found_any = True
        _open_pc(tree, las, crs_hint, job_parameters)
    for dem in sorted(mdir.glob("pc/*/terra_dem/*.tif")):
        found_any = True
        o = _open_raster(tree, dem, None, job_parameters)
        if tree.dsm is None:
            tree.dsm = o
    for name, pattern in (("3dtiles", "pc/*/terra_b3dms/tileset.json"),
                          ("pnts", "pc/*/terra_pnts/tileset.json"),
                          ("osgb", "pc/*/terra_osgbs/metadata.xml"),
                          ("ply", "pc/*/terra_ply/metadata.xml")):
        hit = next(iter(sorted(mdir.glob(pattern))), None)
        if hit is not None:
            found_any = True
            tree.tilesets[name] = hit
            if hit.name == "tileset.json":
                _open_tileset(tree, hit)
    if not found_any:
        _add(tree, "error", "tree.no_model",
             "models/ holds no model (no pc/0/terra_obj, terra_las, terra_b3dms, terra_osgbs)",
             mdir)


def _open_tileset(tree: ResultTree, path: Path) -> None:
    try:
        tree.tiled_models.append(Tileset(path))
    except ResultFormatError as exc:
        _add(tree, "error", "tree.bad_tileset", str(exc), path)


def _open_pc(tree: ResultTree, path: Path, crs_hint: str | None, job_parameters: Any) -> None:
    from terranb.results.crs import crs_from_geo_desc, crs_from_text

    given = crs_from_text(crs_hint) if crs_hint else None
    if given is None and job_parameters is not None:
        given = crs_from_geo_desc(job_parameters)
    try:
        tree.point_clouds.append(PointCloud.open(path, crs=given))
    except ResultFormatError as exc:
        _add(tree, "error", "tree.bad_point_cloud", str(exc), path)


def _open_lidars(tree: ResultTree, ldir: Path, job_parameters: Any) -> None:
    for cand in (ldir / "report" / "report.json", ldir / "report.json",
                 tree.root / "report" / "report.json"):
        if cand.is_file():
            _load_report_into(tree, cand, "lidar_report")
            break
    crs_hint = _report_crs(tree)
    clouds = sorted([*ldir.glob("terra_las/*.las"), *ldir.glob("terra_las/*.laz")])
    if not clouds:
        _add(tree, "error", "tree.no_lidar_cloud",
             "lidars/terra_las/ holds no cloud_merged.las, cloud_merged.copc.laz or "
             "cloud<id>.las", ldir / "terra_las")
    for las in clouds:
        _open_pc(tree, las, crs_hint, job_parameters)
    for dem in sorted(ldir.glob("terra_dem/*.tif")) + sorted(ldir.glob("*.tif")):
        o = _open_raster(tree, dem, None, job_parameters)
        if tree.dsm is None:
            tree.dsm = o
    for obj in sorted(ldir.glob("terra_obj/**/*.obj")):
        try:
            tree.meshes.append(Mesh.open(obj))
        except ResultFormatError as exc:
            _add(tree, "error", "tree.bad_mesh", str(exc), obj)
    hit = next(iter(sorted(ldir.glob("terra_b3dms/tileset.json"))), None)
    if hit is not None:
        tree.tilesets["3dtiles"] = hit
