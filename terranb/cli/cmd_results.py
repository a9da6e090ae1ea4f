"""``terranb info`` and ``terranb stac``: describe a result folder or file.

``terranb info PATH`` prints what a DJI Terra result tree (or one ``.tif``, ``.las``,
``.laz``, ``.obj``, report ``.json``) holds: kind, CRS and where it came from,
bounds, sizes, counts, and every finding. ``--json`` prints the same as JSON.
``terranb stac PATH --out item.json`` writes a STAC Item with checksums.
Exit code 1 when the path cannot be opened; findings alone never fail the command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from terranb.cli._common import add_command, cli_path, emit


def register(subparsers: Any) -> None:
    """Add ``info`` and ``stac`` to the ``terranb`` parser."""
    p = add_command(subparsers, "info", _info,
        help="summarise a result folder or file",
        description="Print what a DJI Terra result tree (or one .tif, .las, .laz, .obj or report "
                    ".json) holds: kind, CRS and where it came from, bounds, sizes, counts and "
                    "every finding. Exit code 1 when the path cannot be opened; findings alone "
                    "never fail the command.")
    p.add_argument("path", type=cli_path,
                   help="result folder (with map/, models/ or lidars/) or a result file")
    p.add_argument("--scan", action="store_true",
                   help="also stream point clouds for their classification histogram")
    p.add_argument("--mesh-stats", action="store_true",
                   help="also parse meshes for vertex/face counts, bounds and area")

    s = add_command(subparsers, "stac", _stac,
        help="write a STAC Item for a result folder or file")
    s.add_argument("path", type=cli_path, help="result folder or file")
    s.add_argument("--out", type=cli_path, required=True, help="where to write the Item JSON")
    s.add_argument("--id", dest="item_id", default=None, help="Item id (default: the name)")
    s.add_argument("--no-checksum", action="store_true", help="skip sha256 checksums")


def _fmt_bounds(b: Any) -> str:
    # fixed decimals, never 5.18815e+06: metres to the millimetre, degrees to ~1 cm
    if not b:
        return "unknown"
    nd = 3 if any(abs(v) > 360 for v in b) else 7
    return "(" + ", ".join(f"{v:.{nd}f}" for v in b) + ")"


def _crs_text(crs: Any, source: str | None) -> str:
    if crs is None:
        return "none"
    epsg = crs.to_epsg()
    code = f"EPSG:{epsg} " if epsg else ""
    return f"{code}{crs.name} (from {source})"


def _info(args: argparse.Namespace) -> int:
    from terranb.results.layout import open_results

    tree = open_results(args.path)
    if args.scan:
        for pc in tree.point_clouds:
            pc.classification_histogram()
    if args.json:
        return emit(args, tree.to_dict(mesh_stats=args.mesh_stats))
    lines = [f"{tree.root}: {tree.kind}"]
    for rel, o in tree.rasters.items():
        label = "ortho" if o is tree.ortho else "dsm" if o is tree.dsm else "raster"
        gsd = f", GSD {o.gsd_m:.4g} m" if o.gsd_m else ""
        lines.append(f"  {label} {rel}: {o.width} x {o.height} x {o.count} {o.dtype}{gsd}"
                     f"{', alpha' if o.has_alpha else ''}"
                     f"{f', nodata {o.nodata:g}' if o.nodata is not None else ''}")
        lines.append(f"    CRS {_crs_text(o.crs, o.crs_source)}; transform from "
                     f"{o.transform_source or 'nowhere'}")
        lines.append(f"    bounds {_fmt_bounds(o.bounds)}; WGS 84 {_fmt_bounds(o.bounds_wgs84)}")
    for pc in tree.point_clouds:
        dens = f", {pc.density_per_m2:.4g} pts/m2" if pc.density_per_m2 else ""
        lines.append(f"  point cloud {pc.path.name}: LAS {pc.version} format {pc.point_format}, "
                     f"{pc.point_count:,} points{' COPC' if pc.copc else ''}"
                     f"{' LAZ' if pc.compressed and not pc.copc else ''}{dens}")
        lines.append(f"    CRS {_crs_text(pc.crs, pc.crs_source)}")
        lines.append(f"    bounds {_fmt_bounds(pc.bounds)}; WGS 84 {_fmt_bounds(pc.bounds_wgs84)}")
        if args.scan:
            hist = pc.classification_histogram()
            lines.append("    classes " + ", ".join(f"{k}: {v:,}" for k, v in sorted(hist.items())))
    for m in tree.meshes:
        lines.append(f"  mesh {m.path.name}: {len(m.textures)} material(s), SRS "
                     f"{m.metadata.srs if m.metadata else 'none'}, origin {m.origin}")
        if args.mesh_stats:
            lines.append(f"    {m.vertex_count:,} vertices, {m.face_count:,} faces, area "
                         f"{m.area:.6g}, {'textured' if m.textured else 'untextured'}")
            lines.append(f"    bounds {_fmt_bounds(m.bounds)}")
    for kind, rep in tree.reports.items():
        lines.append(f"  report {kind}: {rep.path}")
    for name, path in tree.tilesets.items():
        lines.append(f"  {name}: {path}")
    findings = tree.all_findings
    lines.append(f"  findings: {len(findings) or 'none'}")
    lines.extend(f"    {f}" for f in findings)
    return emit(args, tree.to_dict(), "\n".join(lines))


def _stac(args: argparse.Namespace) -> int:
    from terranb.results.stac import stac_item, write_item

    out = Path(args.out)
    if out.is_dir():
        from terranb.errors import ValidationError

        raise ValidationError(f"{out} is a folder; give the STAC item a file name, e.g. "
                              f"{out / 'item.json'}")
    item = stac_item(args.path, item_id=args.item_id, base=out.parent,
                     checksum=not args.no_checksum)
    write_item(item, out)
    return emit(args, {"out": str(out), "id": item["id"], "assets": sorted(item["assets"])},
                f"wrote {out} ({len(item['assets'])} assets)")
