"""The survey report: one self-contained HTML file per run.

:func:`build_report` opens every result tree under a folder (a 2D, a 3D and a
LiDAR job side by side, or a single tree), and writes one HTML page with

* a map (orthomosaic, extents, point density) -- Leaflet inlined, no tiles;
* a 3D view of the mesh and of the point cloud -- three.js inlined, plus a
  static PNG for readers without WebGL;
* statistics of each product (size, CRS, GSD, area, point counts, density,
  classes, faces) and the processing reports' key figures;
* the run card: backend, job ids, parameters, input and output checksums and
  timings (:mod:`terranb.report.runcard`).

The page makes no network request: everything is inline, and a
Content-Security-Policy forbids anything else. ``terranb report RESULTS --out
report.html`` is the command-line form.

Example:
    >>> build_report("demo-out/results", "demo-out/report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import logging
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import terranb.report.template as T
from terranb.errors import ResultFormatError, TerranbError, ValidationError
from terranb.report.readable import class_name, report_rows
from terranb.report.runcard import RunCard, file_checksums, utc_iso
from terranb.report.runcard_html import runcard_section

__all__ = ["ReportOptions", "ResultEntry", "build_report", "find_results", "report_html",
           "scene_html"]

log = logging.getLogger(__name__)

_TREE_DIRS = ("map", "models", "lidars")


@dataclass
class ReportOptions:
    """Budgets of the embedded views (the page stays well under ~15 MB with the defaults).

    Attributes:
        map_png_bytes: byte budget of the orthomosaic image on the map.
        map_pixels: pixels read from the orthomosaic for the map.
        viewer_points: points in the 3D point-cloud view.
        viewer_faces: triangles in the 3D mesh view.
        viewer_bytes: byte budget of each 3D view document.
        png_views: add static PNG renderings beside the interactive 3D views.
        max_checksum_rows: checksum rows listed per table (all are in the digest).
        site, operator, notes: project site name, operator, free notes (shown first).
        check_points: CSV of surveyed points (name,x,y,z[,crs][,ortho_x,ortho_y]).
        check_points_crs: CRS of the CSV rows without a crs column (e.g. "EPSG:4326").
        target_size_m: side of the checkerboard targets searched in the ortho (m).
        photos: folder (or list) of the input photos; default: the run card's inputs.
        check_points_lenient: report a bad check-point file in the page instead of raising.
        print_mode: for PDF: 3D views as static PNGs (WebGL does not print).
    """

    map_png_bytes: int = 1_500_000
    map_pixels: int = 1_500_000
    viewer_points: int = 150_000
    viewer_faces: int = 60_000
    viewer_bytes: int = 6_000_000
    png_views: bool = True
    max_checksum_rows: int = 60
    site: str = ""
    operator: str = ""
    notes: str = ""
    check_points: str | os.PathLike[str] | None = None
    check_points_crs: str | None = None
    target_size_m: float = 0.6
    photos: Any = None
    check_points_lenient: bool = False
    print_mode: bool = False


@dataclass
class ResultEntry:
    """One opened result tree with its label (its folder relative to the report root)."""

    label: str
    path: Path
    tree: Any
    job: Any = None
    stats: dict[str, Any] = field(default_factory=dict)


def _is_tree(path: Path) -> bool:
    return any((path / d).is_dir() for d in _TREE_DIRS)


def find_results(root: str | os.PathLike[str], max_depth: int = 3) -> list[Path]:
    """Result-tree folders under ``root`` (``root`` itself when it is one), sorted."""
    base = Path(root)
    if not base.exists():
        raise ResultFormatError(f"{base} does not exist; pass the folder the results were "
                                "downloaded to")
    if base.is_file() or _is_tree(base):
        return [base]
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        for child in sorted(p for p in folder.iterdir() if p.is_dir()
                            and not p.name.startswith(".")):
            if _is_tree(child):
                found.append(child)
            elif depth < max_depth:
                walk(child, depth + 1)

    walk(base, 1)
    return found


def _label(root: Path, path: Path) -> str:
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = path.name
    return rel if rel not in ("", ".") else path.name


def _job_for(card: RunCard | None, root: Path, path: Path) -> Any:
    if card is None:
        return None
    for job in card.jobs:
        if not job.results_dir:
            continue
        target = (root / job.results_dir).resolve()
        if target == path.resolve() or target in path.resolve().parents:
            return job
    return None


# ----------------------------------------------------------------------------- statistics


def _fmt_bbox(b: Any, nd: int = 6) -> str:
    if not b:
        return "-"
    return ", ".join(f"{float(v):.{nd}f}" for v in b)


def _crs_name(crs: Any) -> str:
    if crs is None:
        return "none"
    epsg = None
    try:
        epsg = crs.to_epsg()
    except Exception:
        epsg = None
    name = getattr(crs, "name", None)
    if name is None:
        try:
            name = crs.to_string()
        except Exception:
            name = str(crs)
    return f"EPSG:{epsg} ({name})" if epsg else str(name)


def _area_km2(bounds_wgs84: Any) -> float | None:
    """Area of a WGS84 box on the sphere (km²); a fair size figure for any CRS."""
    if not bounds_wgs84:
        return None
    w, s, e, n = (float(v) for v in bounds_wgs84)
    r = 6371.0088
    band = math.sin(math.radians(n)) - math.sin(math.radians(s))
    return abs(math.radians(e - w) * band) * r * r


def ortho_stats(o: Any) -> dict[str, Any]:
    """Key figures of an orthomosaic."""
    gsd = o.gsd_m
    stats: dict[str, Any] = {
        "file": o.path.name,
        "size (px)": f"{o.width} x {o.height} x {o.count} ({o.dtype})",
        "CRS": _crs_name(o.crs) + (f" from {o.crs_source}" if o.crs_source else ""),
        "GSD (cm/px)": round(gsd * 100, 3) if gsd else None,
        "bounds (native)": _fmt_bbox(o.bounds, 3),
        "bounds (WGS84 W,S,E,N)": _fmt_bbox(o.bounds_wgs84),
    }
    if o.crs is not None and getattr(o.crs, "is_projected", False):
        b = o.bounds
        stats["extent area (ha)"] = round((b[2] - b[0]) * (b[3] - b[1]) / 10_000.0, 3)
    else:
        a = _area_km2(o.bounds_wgs84)
        stats["extent area (ha)"] = round(a * 100, 3) if a is not None else None
    stats["overviews"] = ", ".join(str(f) for f in o.overview_factors) or "none"
    stats["file size"] = _size(o.path)
    return stats


def pointcloud_stats(pc: Any) -> dict[str, Any]:
    """Key figures of a point cloud (the class histogram streams the file once)."""
    stats: dict[str, Any] = {
        "file": pc.path.name,
        "LAS version / format": f"{pc.version} / {pc.point_format}"
        + (" (LAZ)" if pc.compressed else "") + (" COPC" if pc.copc else ""),
        "points": int(pc.point_count),
        "CRS": _crs_name(pc.crs),
        "bounds x,y,z min": _fmt_bbox(pc.mins, 3),
        "bounds x,y,z max": _fmt_bbox(pc.maxs, 3),
        "bounds (WGS84 W,S,E,N)": _fmt_bbox(pc.bounds_wgs84),
        "density (pts/m²)": round(pc.density_per_m2, 2) if pc.density_per_m2 else None,
        "file size": _size(pc.path),
    }
    try:
        hist = pc.classification_histogram()
        stats["classes (ASPRS)"] = ", ".join(f"{int(k)} {class_name(int(k))}: {v:,}"
                                             for k, v in sorted(hist.items()) if v)
    except Exception as exc:  # a truncated file still gets the header figures
        stats["classes (ASPRS)"] = f"unavailable ({exc})"
    return stats


def mesh_stats(m: Any) -> dict[str, Any]:
    """Key figures of a mesh (parses the OBJ)."""
    return {
        "file": m.path.name,
        "vertices": int(m.vertex_count),
        "triangles": int(m.face_count),
        "surface area (m²)": round(float(m.area), 1),
        "textured": bool(m.textured),
        "textures": ", ".join(sorted(str(k) for k in m.textures)) or "none",
        "CRS": _crs_name(m.crs),
        "origin": _fmt_bbox(m.origin, 3),
        "bounds (WGS84 W,S,E,N)": _fmt_bbox(m.bounds_wgs84),
    }


def _size(path: Path) -> str:
    try:
        n = float(path.stat().st_size)
    except OSError:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "-"


# ----------------------------------------------------------------------------- views


def _map_section(entries: list[ResultEntry], opts: ReportOptions, photos: Any = None,
                 checks: Any = None) -> str:
    from terranb.report.accuracy import survey_layers
    from terranb.viz.maps import result_map

    ortho = next((e.tree.ortho for e in entries if e.tree.ortho is not None), None)
    bboxes: dict[str, Any] = {}
    points = None
    points_label = ""
    for e in entries:
        t = e.tree
        for part in ([t.ortho] if t.ortho is not None else []) + list(t.point_clouds):
            b = part.bounds_wgs84
            if b:
                bboxes[f"{e.label}: {part.path.name}"] = b
        for mesh in t.meshes:
            try:
                b = mesh.bounds_wgs84
            except Exception:
                b = None
            if b:
                bboxes[f"{e.label}: {mesh.path.name}"] = b
        if points is None and t.kind == "lidar" and t.point_clouds:
            try:
                points = t.point_clouds[0].decimate(100_000)
                points_label = f"{e.label}: {t.point_clouds[0].path.name}"
            except Exception as exc:
                log.info("no density layer: %s", exc)
    fps = photos.footprints if photos is not None else None
    if ortho is None and not bboxes and points is None and not fps:
        return ""
    parts: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if ortho is not None or fps or (bboxes and points is None):
            m = result_map(ortho=ortho, footprints=fps, bboxes=bboxes or None,
                           max_png_bytes=opts.map_png_bytes, max_pixels=opts.map_pixels,
                           height=560, deep_zoom=False)  # a static page: no tile server
            survey_layers(m, photos, checks)
            parts.append(T.iframe(_frame_filling(m), 560, "map")
                         + '<p class="note">Orthomosaic, photo footprints and centres, check '
                         "points and the extent of every product; layers switch on and off in "
                         "the layer list (top right).</p>")
        if points is not None:
            # its own map: a density layer on top would hide the orthomosaic
            bins = density_bins(len(points))
            total = entries[[e.label for e in entries].index(points_label.split(": ")[0])]
            per = total.tree.point_clouds[0].point_count / max(len(points), 1)
            m = result_map(points=points, bboxes={points_label: bboxes[points_label]}
                           if points_label in bboxes else None, density_bins=bins, height=420,
                           density_per_point=per)
            parts.append("<h3>LiDAR point density</h3>"
                         + T.iframe(_frame_filling(m), 420, "density")
                         + f'<p class="note">Points per cell of a grid {bins} cells across the '
                         f"cloud (from a {len(points):,}-point sample).</p>")
    # budget notes (e.g. footprints dropped) are for the reader; library deprecations are not
    notes = "".join(f'<p class="note">{html.escape(str(w.message))}</p>' for w in caught
                    if issubclass(w.category, UserWarning))
    offline = '<p class="note">No base map is loaded, so the page works offline.</p>'
    return T.section("map", "Map", "".join(parts) + offline + notes)


def _frame_filling(m: Any) -> str:
    """The map's page with the map as tall as its frame: a fixed-height map in a taller
    frame left a white band under every report map."""
    from terranb.viz.maps import map_html

    m.width, m.height = (100.0, "%"), (100.0, "%")
    return map_html(m)


def density_bins(n_points: int) -> int:
    """Grid cells along the cloud's longer side for the report's density map.

    About 25 points a cell (:func:`terranb.viz.maps.auto_density_bins`), at most 128
    cells across so the page stays light.
    """
    from terranb.viz.maps import auto_density_bins

    return auto_density_bins(n_points, hi=128)


def scene_html(item: Any, opts: ReportOptions, title: str) -> tuple[str, bytes | None]:
    """The 3D viewer document of a mesh or point cloud, and its PNG rendering (or ``None``).

    Args:
        item: a results ``Mesh`` or ``PointCloud``.
        opts: budgets (points, faces, bytes) and whether to render the PNG.
        title: caption shown in the viewer.
    """
    from terranb.viz.scene3d import Scene3D

    common: dict[str, Any] = {"max_bytes": opts.viewer_bytes, "title": title, "height": 460}
    if hasattr(item, "face_count"):
        scene = Scene3D.from_mesh(item, max_faces=opts.viewer_faces, **common)
    else:
        scene = Scene3D.from_pointcloud(item, n=opts.viewer_points,
                                        max_points=opts.viewer_points, **common)
    doc = scene.html()
    png = None
    if opts.png_views:
        try:
            png = scene.to_png(width=800, height=500)
        except Exception as exc:  # the interactive view is the main thing
            log.info("no PNG view: %s", exc)
    return doc, png


def _views_section(entries: list[ResultEntry], opts: ReportOptions) -> str:
    parts: list[str] = []
    for e in entries:
        items: list[tuple[str, Any]] = [(f"{e.label}: {m.path.name}", m) for m in e.tree.meshes[:1]]
        if e.tree.kind == "lidar" or not e.tree.meshes:
            items += [(f"{e.label}: {pc.path.name}", pc) for pc in e.tree.point_clouds[:1]]
        for title, item in items:
            try:
                doc, png = scene_html(item, opts, title)
            except Exception as exc:
                parts.append(f"<h3>{T.esc(title)}</h3><p class='warn'>3D view unavailable: "
                             f"{T.esc(str(exc))}</p>")
                continue
            uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii") if png else ""
            if opts.print_mode and uri:  # paper: the static rendering, unfolded
                parts.append(f"<h3>{T.esc(title)}</h3><img class='preview' "
                             f"alt='{T.esc(title)}' src='{uri}'>")
                continue
            parts.append(f"<h3>{T.esc(title)}</h3>" + T.iframe(doc, 480, title))
            if uri:
                parts.append(f'<details><summary class="note">static view (PNG)</summary>'
                             f'<img class="preview" alt="{T.esc(title)}" src="{uri}"></details>')
    if not parts:
        return ""
    return T.section("views", "3D views", "".join(parts))


# ----------------------------------------------------------------------------- sections


def _overview(entries: list[ResultEntry]) -> str:
    rows = []
    for e in entries:
        t = e.tree
        # Tilesets by name here (the report lists each), so not counted twice.
        products = [p for p in t.products() if not p.endswith("tileset(s)")]
        products += sorted(t.tilesets)
        job = e.job
        rows.append([e.label, t.kind, ", ".join(products) or "-",
                     getattr(job, "uuid", "") or "-", len(t.all_findings)])
    return T.section("overview", "Results",
                     T.table(["result", "kind", "products", "job", "findings"], rows))


def _stats_section(entries: list[ResultEntry]) -> str:
    body: list[str] = []
    for e in entries:
        t = e.tree
        blocks: list[str] = []
        if t.ortho is not None:
            e.stats["ortho"] = ortho_stats(t.ortho)
            blocks.append("<h3>Orthomosaic</h3>" + T.kv_table(e.stats["ortho"]))
        if t.dsm is not None:
            blocks.append("<h3>DSM</h3>" + T.kv_table(ortho_stats(t.dsm)))
        for i, m in enumerate(t.meshes):
            try:
                s = mesh_stats(m)
            except Exception as exc:
                blocks.append(f"<p class='err'>mesh {T.esc(m.path.name)}: {T.esc(str(exc))}</p>")
                continue
            e.stats[f"mesh{i}"] = s
            blocks.append("<h3>Mesh</h3>" + T.kv_table(s))
        for i, pc in enumerate(t.point_clouds):
            s = pointcloud_stats(pc)
            e.stats[f"points{i}"] = s
            blocks.append("<h3>Point cloud</h3>" + T.kv_table(s))
        for kind, rep in sorted(t.reports.items()):
            figures = report_rows(rep)[1]
            if figures:
                blocks.append(f"<h3>{T.esc(kind.replace('_', ' '))}</h3>" + T.kv_table(figures))
        body.append(f"<h3 style='font-size:16px'>{T.esc(e.label)} ({T.esc(t.kind)})</h3>"
                    + "".join(blocks))
    return T.section("statistics", "Statistics", "".join(body))


def _findings_section(entries: list[ResultEntry]) -> str:
    rows = []
    for e in entries:
        for f in e.tree.all_findings:
            rows.append([e.label, getattr(f, "severity", getattr(f, "level", "")),
                         getattr(f, "code", ""), getattr(f, "message", str(f))])
    if not rows:
        return T.section("findings", "Findings", "<p>No missing or odd parts were found.</p>")
    return T.section("findings", "Findings", T.table(["result", "severity", "code", "message"],
                                                     rows))


# ----------------------------------------------------------------------------- entry points


def report_html(results: str | os.PathLike[str], *, runcard: RunCard | None = None,
                title: str | None = None, options: ReportOptions | None = None,
                on_step: Callable[[str], None] | None = None) -> str:
    """The survey report of ``results`` as one HTML string (see :func:`build_report`)."""
    from terranb.results.layout import open_results

    opts = options or ReportOptions()
    root = Path(results)
    step = on_step or (lambda _s: None)
    base = root if root.is_dir() else root.parent
    card_dir = base  # job results_dir entries are relative to the card's folder
    card = runcard
    if card is None:
        found = RunCard.locate(base)
        if found is not None:
            card, card_dir = RunCard.read(found), found.parent
    entries: list[ResultEntry] = []
    for path in find_results(root):
        step(f"opening {path}")
        job = _job_for(card, card_dir, path)
        tree = open_results(path, job_parameters=getattr(job, "parameters", None))
        entries.append(ResultEntry(_label(root, path), path, tree, job))
    if not entries:
        raise ResultFormatError(
            f"no DJI Terra result trees (folders with map/, models/ or lidars/) under {root}; "
            "download the job results first (terranb download JOB DEST)")
    if card is None:
        card = RunCard()
    if not card.outputs:
        step("checksumming outputs")
        card.outputs = file_checksums(base, [p for e in entries for p in
                                             (sorted(x for x in e.path.rglob("*") if x.is_file())
                                              if e.path.is_dir() else [e.path])])
    import terranb.report.accuracy as A
    from terranb.report.photos import photos_for, summarize_photos

    step("photos")
    photo_paths = photos_for(opts.photos, card, card_dir)
    summary = summarize_photos(photo_paths) if photo_paths else None
    checks, check_error = None, ""
    if opts.check_points:
        step("check points")
        try:
            checks = A.run_checkpoints(entries, opts)
        except ValidationError as exc:
            if not opts.check_points_lenient:
                raise
            check_error = str(exc)
    step("statistics")
    stats = _stats_section(entries)
    step("map")
    try:
        map_sec = _map_section(entries, opts, summary, checks)
    except Exception as exc:
        map_sec = T.section("map", "Map", f"<p class='warn'>map unavailable: {T.esc(str(exc))}</p>")
    step("3D views")
    views = _views_section(entries, opts)
    generated = utc_iso()
    accuracy = A.accuracy_section(entries, summary, checks, A.checks_label(opts.check_points),
                                  check_error)
    sections = [A.project_section(opts, generated), _overview(entries),
                A.acquisition_section(summary), accuracy, map_sec, views, stats,
                _findings_section(entries), runcard_section(card, opts.max_checksum_rows)]
    nav = [("project", "Project"), ("overview", "Results"), ("acquisition", "Acquisition"),
           ("accuracy", "Accuracy"), ("map", "Map"), ("views", "3D views"),
           ("statistics", "Statistics"), ("findings", "Findings"), ("runcard", "Run card")]
    kinds = ", ".join(sorted({e.tree.kind for e in entries}))
    subtitle = (f"{len(entries)} result(s) ({kinds}) from {root.name or root}; backend "
                f"{card.backend or 'unknown'}; generated {generated} by terranb "
                f"{card.terranb_version}")
    return T.page(title or "Survey report", subtitle, [s for s in sections if s],
                  [n for n in nav if any(f'id="{n[0]}"' in s for s in sections)])


def build_report(results: str | os.PathLike[str], out: str | os.PathLike[str], *,
                 runcard: RunCard | None = None, title: str | None = None,
                 options: ReportOptions | None = None,
                 on_step: Callable[[str], None] | None = None) -> Path:
    """Write the self-contained HTML survey report of ``results`` to ``out``.

    Args:
        results: a result tree, or a folder holding several (searched 3 levels deep).
        out: the HTML file to write (atomically).
        runcard: the run card; default: ``runcard.json`` in ``results`` (or its parent).
        title: page title (default "Survey report").
        options: budgets of the embedded views.
        on_step: called with a short text before each step (for progress output).

    Returns:
        The path written.

    Raises:
        ResultFormatError: ``results`` holds no result tree.
    """
    target = Path(out).expanduser()
    if target.is_dir():  # found before the minute of building, not at the rename
        raise ValidationError(f"{target} is a folder; give the report a file name, e.g. "
                              f"{target / 'report.html'}")
    text = report_html(results, runcard=runcard, title=title, options=options, on_step=on_step)
    part = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        part.write_text(text, encoding="utf-8")
        os.replace(part, target)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise TerranbError(f"cannot write the report to {target}: {exc.strerror or exc}; "
                           "choose a folder you can write to with --out") from None
    return target
