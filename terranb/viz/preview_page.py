"""One standalone HTML page for a no-download preview: map, 3D view and what it cost.

Takes a :class:`terranb.jobs.preview.RemotePreview`: the ortho overview (and the
COPC sample as a density layer) on the offline folium map, the tileset level or
the point sample in the 3D viewer, and a table of every file with the bytes it
cost. Both views are embedded as ``srcdoc`` iframes, so the page needs no server.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

__all__ = ["preview_html", "save_preview"]


def _frame(doc: str, height: int, title: str) -> str:
    return (f'<iframe srcdoc="{html.escape(doc, quote=True)}" title="{html.escape(title)}" '
            f'style="width:100%;height:{height}px;border:1px solid #ccc" '
            # same origin as the page (its own generated viewer): see report.template.iframe
            'sandbox="allow-scripts allow-same-origin"></iframe>')


def preview_html(preview: Any, *, max_faces: int = 200_000, max_points: int = 250_000,
                 title: str = "terranb preview (no download)") -> str:
    """The page as a string (see module doc)."""
    from terranb.viz.maps import map_html, result_map
    from terranb.viz.scene3d import Scene3D

    blocks: list[str] = []
    ortho, points, tileset = preview.ortho, preview.points, preview.tileset
    if ortho is not None or (points is not None and points.crs is not None):
        m = result_map(ortho=ortho, points=points if points is not None and
                       points.crs is not None else None, deep_zoom=False)  # static page
        blocks.append("<h2>Map</h2>" + _frame(map_html(m), 480, "map"))
    scene = None
    if tileset is not None:
        scene = Scene3D.from_mesh(tileset.mesh, max_faces=max_faces,
                                  title=f"{tileset.path} (level {tileset.level})")
    elif points is not None:
        scene = Scene3D.from_pointcloud(points, n=max_points, title=points.path)
    if scene is not None:
        blocks.append("<h2>3D</h2>" + _frame(scene.html(), 520, "3D view"))
    rows = "".join(
        f"<tr><td>{html.escape(i.status)}</td><td>{html.escape(i.kind)}</td>"
        f"<td>{html.escape(i.name)}</td><td style='text-align:right'>"
        f"{'' if i.size is None else f'{i.size:,}'}</td><td style='text-align:right'>"
        f"{i.bytes_fetched:,}</td><td>{html.escape(i.message)}</td></tr>" for i in preview.items)
    warn = "".join(f"<p style='color:#a60'>warning: {html.escape(w)}</p>"
                   for w in preview.warnings)
    table = ("<h2>Files</h2><table border=1 cellspacing=0 cellpadding=3><tr><th>status</th>"
             "<th>kind</th><th>file</th><th>size (B)</th><th>fetched (B)</th><th>note</th></tr>"
             f"{rows}</table><p>Total fetched: {preview.bytes_fetched:,} bytes in "
             f"{preview.requests} range requests.</p>{warn}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body style='font-family:system-ui,sans-serif'>"
            f"<h1>{html.escape(title)}</h1>{''.join(blocks)}{table}</body></html>")


def save_preview(preview: Any, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write :func:`preview_html` atomically and return the path."""
    out = Path(path)
    part = out.with_name(out.name + ".part")
    try:
        part.write_text(preview_html(preview, **kwargs), encoding="utf-8")
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return out
