"""The surveyor's sections of the report: project, acquisition, positioning and accuracy.

* **Project**: site, operator, notes (report options), what was delivered.
* **Acquisition**: capture date and time span, aircraft, camera, photo count
  (:mod:`terranb.report.photos`).
* **Accuracy**: the vertical datum of every result (:func:`readable.vertical_datum`),
  the photos' GNSS/RTK status, check-point residuals and RMSE
  (:mod:`terranb.report.checkpoints`) or the plain statement that absolute
  accuracy was not assessed, and DJI's own figures from its reports.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import terranb.report.template as T
from terranb.report.checkpoints import NOT_ASSESSED, CheckResult
from terranb.report.readable import report_rows, vertical_datum

__all__ = ["accuracy_section", "acquisition_section", "project_section", "run_checkpoints"]


_POSITIONING_ROWS = ("GNSS / RTK fix (photos)", "RTK positioning accuracy (median 1-sigma)",
                     "GPS status (photos)")


def project_section(opts: Any, generated: str) -> str:
    """Site, operator, notes and the report date."""
    rows = {"site / project": opts.site or "not given (--site)",
            "operator": opts.operator or "not given (--operator)",
            "report generated (UTC)": generated}
    notes = (f"<h3>Notes</h3><p>{html.escape(opts.notes).replace(chr(10), '<br>')}</p>"
             if opts.notes else "")
    return T.section("project", "Project", T.kv_table(rows) + notes)


def acquisition_section(summary: Any) -> str:
    """Capture figures of the photos, or why there are none."""
    if summary is None or not summary.count:
        return T.section("acquisition", "Acquisition",
                         "<p class='warn'>Input photos not found: capture date, aircraft, "
                         "camera and GNSS/RTK status are not reported. Pass the photo folder "
                         "(<code>--photos DIR</code>).</p>")
    # The positioning rows are stated once, under Accuracy, where a surveyor looks for them.
    rows = {k: v for k, v in summary.rows().items() if k not in _POSITIONING_ROWS}
    rows["GNSS / RTK positioning"] = "see Accuracy"
    return T.section("acquisition", "Acquisition", T.kv_table(rows))


def run_checkpoints(entries: list[Any], opts: Any) -> CheckResult | None:
    """Measure the check points of ``opts.check_points`` on the first tree that can take them."""
    from terranb.report.checkpoints import measure, read_checkpoints

    if not opts.check_points:
        return None
    points = read_checkpoints(opts.check_points, opts.check_points_crs)
    ortho = next((e.tree.ortho for e in entries if e.tree.ortho is not None), None)
    dsm = next((e.tree.dsm for e in entries if e.tree.dsm is not None), None)
    cloud = next((pc for e in entries for pc in e.tree.point_clouds
                  if e.tree.kind == "lidar"), None)
    cloud = cloud or next((pc for e in entries for pc in e.tree.point_clouds), None)
    return measure(points, ortho, dsm, None if dsm is not None else cloud,
                   target_size_m=opts.target_size_m)


def _m(v: float | None) -> str:
    return "-" if v is None else f"{v:+.3f}"


def _checkpoint_html(res: CheckResult | None, source: str) -> str:
    if res is None:
        return f"<p class='warn'><b>{html.escape(NOT_ASSESSED)}</b> Give surveyed points " \
               "with <code>--check-points pts.csv</code> (name,x,y,z,crs).</p>"
    rows = [[p.name, round(p.x, 3), round(p.y, 3), "-" if p.z is None else round(p.z, 3),
             _m(p.dx), _m(p.dy), "-" if p.dxy is None else f"{p.dxy:.3f}", _m(p.dz),
             p.method + (f" (score {p.score})" if p.score is not None else ""),
             p.z_source or "-"] for p in res.points]
    table = T.table(["point", "x (m)", "y (m)", "z (m)", "dX (m)", "dY (m)", "dXY (m)",
                     "dZ (m)", "horizontal from", "height from"], rows)
    n_xy = sum(p.dx is not None for p in res.points)
    n_z = sum(p.dz is not None for p in res.points)

    def r(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f} m"

    summ = T.kv_table({
        "check points": f"{len(res.points)} given ({html.escape(source)}); "
                        f"{n_xy} measured horizontally, {n_z} vertically",
        "coordinates in": res.crs,
        "RMSE X": r(res.rmse_x), "RMSE Y": r(res.rmse_y), "RMSE XY": r(res.rmse_xy),
        "RMSE Z": r(res.rmse_z),
        "orthomosaic GSD": "-" if res.gsd_m is None else f"{res.gsd_m * 100:.1f} cm",
    })
    how = ("<p class='note'>Residual = measured - surveyed. Horizontal: the centre of the "
           "checkerboard target found in the orthomosaic by normalised cross-correlation "
           "(sub-pixel peak), or the ortho_x/ortho_y the CSV gives; vertical: the DSM "
           "sampled bilinearly at the surveyed position, else the point cloud's heights "
           "within 0.25 m (inverse-distance mean). Points not found are left out of the RMSE."
           "</p>")
    return summ + table + how


def accuracy_section(entries: list[Any], summary: Any, checks: CheckResult | None,
                     checks_source: str, check_error: str = "") -> str:
    """Datum, GNSS/RTK, check points and DJI's own accuracy figures."""
    datum_rows = []
    for e in entries:
        crs = e.tree.ortho.crs if e.tree.ortho is not None else (
            e.tree.point_clouds[0].crs if e.tree.point_clouds else None)
        text, src = vertical_datum(getattr(e.job, "parameters", None), e.tree.reports, crs)
        datum_rows.append([e.label, text, src])
    body = ["<h3>Vertical datum</h3>",
            T.table(["result", "heights are", "stated by"], datum_rows)]
    body.append("<h3>GNSS / RTK positioning of the photos</h3>")
    if summary is not None and summary.count:
        rows = summary.rows()
        body.append(T.kv_table({k: rows[k] for k in _POSITIONING_ROWS if k in rows}))
    else:
        body.append("<p class='warn'>Photos not available: GNSS/RTK status not reported.</p>")
    body.append("<h3>Check points (absolute accuracy)</h3>")
    if check_error:
        body.append(f"<p class='err'>check points not measured: {html.escape(check_error)}</p>")
    body.append(_checkpoint_html(checks, checks_source))
    body.append("<h3>Reconstruction's own accuracy figures (DJI reports)</h3>")
    found = False
    for e in entries:
        for kind, rep in sorted(e.tree.reports.items()):
            acc, _other = report_rows(rep)
            if acc:
                found = True
                body.append(f"<h4>{T.esc(e.label)}: {T.esc(kind.replace('_', ' '))}</h4>"
                            + T.kv_table(acc))
    if not found:
        body.append("<p class='note'>The processing reports hold no accuracy figures "
                    "(no reprojection error, tie points or GCP RMSE).</p>")
    return T.section("accuracy", "Accuracy", "".join(body))


def checks_label(path: Any) -> str:
    """How the report names the check-point file."""
    return Path(str(path)).name if path else ""


def survey_layers(m: Any, summary: Any, checks: CheckResult | None) -> None:
    """Photo centres and check points as labelled, switchable layers with legend rows."""
    from terranb.viz.map_furniture import add_labelled_points, extend_legend

    items = []
    if summary is not None and summary.centres and add_labelled_points(
            m, f"photo centres ({len(summary.centres)})", summary.centres, "#ffd92f", radius=3):
        items.append(("photo centres", "#ffd92f", "dot"))
    if checks is not None and checks.points:
        from pyproj import CRS, Transformer

        tr = Transformer.from_crs(CRS.from_user_input(checks.crs), 4326, always_xy=True)
        pts = [(p.name, *tr.transform(p.x, p.y)) for p in checks.points]
        if add_labelled_points(m, "check points (surveyed)", pts, "#e7298a", permanent=True,
                               radius=5):
            items.append(("check points (surveyed)", "#e7298a", "dot"))
    if items:
        extend_legend(m, items)
