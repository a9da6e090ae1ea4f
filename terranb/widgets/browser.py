"""Browse a downloaded result: the result tree, with Map, 3D view, Report and Download.

:class:`ResultBrowser` lists the files of one result folder (or a folder of
several results) as a tree, recognises the products with
:func:`terranb.results.open_results`, and shows on demand

* **Map**: the orthomosaic, extents and point density on an offline Leaflet map;
* **3D view**: the mesh or the point cloud in the self-contained three.js viewer;
* **Report**: the HTML survey report, written beside the results and shown inline;
* **Download**: a zip of the selected result for the browser to save.

Everything shown is plain HTML (no widget state needed), so it survives export.

Example:
    >>> from terranb.widgets import ResultBrowser  # doctest: +SKIP
    >>> ResultBrowser("demo-out/results")          # doctest: +SKIP
"""

from __future__ import annotations

import html
import logging
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from terranb.widgets._common import StatusLine, fmt_bytes, run_blocking, spawn, widgets

__all__ = ["ResultBrowser", "tree_html"]

log = logging.getLogger(__name__)

_MAX_TREE_LINES = 400

# Inline SVG icons: the emoji folder/page (U+1F4C1, U+1F4C4) have no glyph in Debian's stock
# fonts (DejaVu, Liberation) and show as boxes there; SVG draws the same everywhere.
_SVG = ("<svg class='tnb-icon tnb-icon-{kind}' width='14' height='12' viewBox='0 0 14 12' "
        "aria-hidden='true' style='vertical-align:-1px;margin-right:4px'>{body}</svg>")
ICON_FOLDER = _SVG.format(kind="folder", body=(
    "<path d='M0.5 1.5h4.5l1.5 1.5h7v8.5h-13z' fill='#54aeff' stroke='#0969da'/>"))
ICON_FILE = _SVG.format(kind="file", body=(
    "<path d='M2.5 0.5h6l3 3v8h-9z' fill='#f6f8fa' stroke='#6e7781'/>"
    "<path d='M8.5 0.5v3h3' fill='none' stroke='#6e7781'/>"))


def tree_html(root: Path, *, max_lines: int = _MAX_TREE_LINES) -> str:
    """An indented HTML listing of ``root`` (folders first, sizes right)."""
    lines: list[str] = []
    hidden = 0

    def walk(folder: Path, depth: int) -> None:
        nonlocal hidden
        try:
            children = sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))
        except OSError:
            return
        for child in children:
            if child.name.startswith(".") or child.name.endswith(".part"):
                continue
            if len(lines) >= max_lines:
                hidden += 1
                continue
            pad = "&nbsp;" * (4 * depth)
            if child.is_dir():
                lines.append(f"<div>{pad}{ICON_FOLDER}<b>{html.escape(child.name)}/</b></div>")
                walk(child, depth + 1)
            else:
                size = fmt_bytes(child.stat().st_size)
                lines.append(f"<div>{pad}{ICON_FILE}{html.escape(child.name)} "
                             f"<span style='color:#6e7781'>{size}</span></div>")

    walk(root, 0)
    if hidden:
        lines.append(f"<div style='color:#6e7781'>... {hidden} more entries</div>")
    return ("<div class='terranb-tree' style='font-family:monospace;font-size:12px;line-height:1.5;"
            "max-height:320px;overflow:auto;border:1px solid #d0d7de;padding:4px'>"
            + "".join(lines) + "</div>")


class ResultBrowser(StatusLine):
    """The result tree of a folder with Map, 3D view, Report and Download buttons.

    Args:
        path: a result tree or a folder of result trees (as ``terranb demo`` writes).
        report_path: where the Report button writes the HTML (default
            ``<path>/survey_report.html``).
        link_base: the folder a Jupyter server serves as its root, when the running
            server cannot be found (default: found, see :mod:`terranb.widgets.links`;
            under Voila, Voila's own root is used).
        link_base_url: that server's base URL (default ``/``).
        open_results: injectable opener (default :func:`terranb.results.open_results`).
        remote: where the "Preview (no download)" button reads from: a finished
            :class:`~terranb.jobs.job.Job` (anything with ``preview(**budgets)``) or the
            http(s) URL of a COG, COPC or ``tileset.json``. Without it the button is off.
        max_bytes: the remote preview's hard cap on bytes fetched.
    """

    def __init__(self, path: str | os.PathLike[str], *, report_path: str | Path | None = None,
                 link_base: str | Path | None = None, link_base_url: str = "/",
                 open_results: Callable[[Path], Any] | None = None, remote: Any = None,
                 max_bytes: int | None = None) -> None:
        from terranb.report.survey import find_results

        w = widgets()
        self.root = Path(path)
        self.report_path = Path(report_path) if report_path else self.root / "survey_report.html"
        self.link_base = Path(link_base) if link_base else None
        self.link_base_url = link_base_url
        self._open = open_results
        self.trees: dict[str, Any] = {}
        self.errors: list[str] = []
        self.results = find_results(self.root)
        options = [(self._label(p), str(p)) for p in self.results]
        self.select = w.Dropdown(options=options, description="Result",
                                 layout=w.Layout(width="480px"))
        self.tree = w.HTML()
        self.map_button = w.Button(description="Map", icon="map")
        self.view_button = w.Button(description="3D view", icon="cube")
        self.report_button = w.Button(description="Report", icon="file-text")
        self.download_button = w.Button(description="Download", icon="download")
        self.remote, self.max_bytes = remote, max_bytes
        self.last_preview: Any = None  # the RemotePreview the button last showed
        self.preview_button = w.Button(description="Preview (no download)", icon="cloud",
                                       disabled=remote is None,
                                       layout=w.Layout(width="auto"))
        self.summary = w.HTML()
        self.view = w.HTML(layout=w.Layout(width="100%"))
        self.status = w.HTML()
        self.select.observe(lambda _c: self._selected_changed(), names="value")
        self.map_button.on_click(lambda _b: self.show_map())
        self.view_button.on_click(lambda _b: self.show_3d())
        self.report_button.on_click(lambda _b: self.make_report())
        self.download_button.on_click(lambda _b: self.download())
        self.preview_button.on_click(lambda _b: self.show_remote_preview())
        self.widget = w.VBox([
            self.select, self.tree, self.summary,
            w.HBox([self.map_button, self.view_button, self.report_button,
                    self.download_button, self.preview_button]),
            self.status, self.view,
        ])
        self.widget.add_class("terranb-browser")
        self._selected_changed()

    # -- selection --------------------------------------------------------------------------

    def _label(self, p: Path) -> str:
        try:
            rel = p.relative_to(self.root).as_posix()
        except ValueError:
            rel = p.name
        return rel if rel not in ("", ".") else p.name

    @property
    def selected(self) -> Path:
        """The selected result folder."""
        return Path(self.select.value) if self.select.value else self.root

    def result_tree(self, path: Path | None = None) -> Any:
        """The opened :class:`~terranb.results.layout.ResultTree` (cached)."""
        p = path or self.selected
        key = str(p)
        if key not in self.trees:
            if self._open is not None:
                self.trees[key] = self._open(p)
            else:
                from terranb.results.layout import open_results

                self.trees[key] = open_results(p)
        return self.trees[key]

    def _selected_changed(self) -> None:
        p = self.selected
        self.tree.value = tree_html(p) if p.is_dir() else html.escape(str(p))
        self.view.value = ""
        try:
            t = self.result_tree(p)
        except Exception as exc:
            self._say(f"cannot open {p}: {exc}", error=True)
            for b in (self.map_button, self.view_button):
                b.disabled = True
            return
        parts = t.products()
        n_find = len(t.all_findings)
        self.summary.value = (f"<b>{html.escape(t.kind)}</b> result: "
                              f"{html.escape(', '.join(parts) or 'no products')}"
                              f" <small>({n_find} finding(s))</small>")
        self.map_button.disabled = not (t.ortho is not None or t.point_clouds or t.meshes
                                        or t.tiled_models)
        # 2D results too: the DSM as relief, or the orthomosaic on a flat plane
        self.view_button.disabled = not (t.meshes or t.point_clouds or t.tiled_models
                                         or t.dsm is not None or t.ortho is not None
                                         or "3dgs" in t.tilesets)

    def _run(self, label: str, fn: Callable[[], str]) -> None:
        """Build a view off the loop's critical path and show it from the loop."""
        self._say(f"{label} ...")

        async def go() -> None:
            self.view.value = await run_blocking(fn)
            self._say(f"{label}: done")

        spawn(go(), self._report_error)

    # -- buttons ----------------------------------------------------------------------------

    def map_html(self) -> str:
        """HTML of the offline map of the selected result."""
        from terranb.viz.maps import result_map

        t = self.result_tree()
        bboxes = {p.path.name: p.bounds_wgs84 for p in
                  ([t.ortho] if t.ortho is not None else []) + list(t.point_clouds)
                  if p.bounds_wgs84}
        for ts in t.tiled_models:  # a tileset's box from its root volume (tileset.json only)
            if ts.bounds_wgs84:
                bboxes[Path(ts.path).parent.name] = ts.bounds_wgs84
        points = t.point_clouds[0].decimate(100_000) if (t.point_clouds and t.ortho is None) \
            else None
        m = result_map(ortho=t.ortho, bboxes=bboxes or None, points=points, height=420)
        return str(m._repr_html_())

    def view_html(self) -> str:
        """HTML of the 3D view of the selected result's mesh or point cloud."""
        from terranb.report.survey import ReportOptions, scene_html
        from terranb.report.template import iframe

        t = self.result_tree()
        if not t.meshes and t.tiled_models and (not t.point_clouds
                                                or t.tiled_models[0].kind == "b3dm"):
            from terranb.viz.scene3d import Scene3D

            name = Path(t.tiled_models[0].path).parent.name
            scene = Scene3D.from_tileset(t.tiled_models[0], title=name, height=460)
            return iframe(scene.html(), 460, name)
        if not t.meshes and not t.point_clouds:  # 3DGS splats, DSM relief, flat ortho
            from terranb.viz.scene3d import Scene3D

            scene = Scene3D.from_tree(t, height=460)
            return iframe(scene.html(), 460, scene.title or "3D view")
        item = t.meshes[0] if t.meshes else t.point_clouds[0]
        doc, _png = scene_html(item, ReportOptions(png_views=False), item.path.name)
        return iframe(doc, 460, item.path.name)

    def remote_preview_html(self) -> str:
        """HTML of the no-download preview of ``remote`` (range reads only, bytes counted)."""
        from terranb.jobs.preview import DEFAULT_MAX_BYTES
        from terranb.report.template import iframe
        from terranb.viz.preview_page import preview_html

        if self.remote is None:
            raise ValueError("no remote source: pass ResultBrowser(..., remote=job_or_url)")
        cap = DEFAULT_MAX_BYTES if self.max_bytes is None else self.max_bytes
        if isinstance(self.remote, str):
            from terranb.jobs.preview import preview_url

            preview = preview_url(self.remote, max_bytes=cap)
        else:
            preview = self.remote.preview(max_bytes=cap)
        self.last_preview = preview
        return iframe(preview_html(preview), 520, "preview (no download)")

    def show_remote_preview(self) -> None:
        """The "Preview (no download)" button."""
        self._run("preview (no download)", self.remote_preview_html)

    def show_map(self) -> None:
        """The Map button."""
        self._run("map", self.map_html)

    def show_3d(self) -> None:
        """The 3D view button."""
        self._run("3D view", self.view_html)

    def make_report(self) -> None:
        """The Report button: write the survey report of the whole folder and show it."""
        from terranb.report.survey import build_report
        from terranb.report.template import iframe

        def work() -> str:
            out = build_report(self.root, self.report_path)
            text = out.read_text(encoding="utf-8")
            return (f"<p>{self._link(out, 'open the report')} "
                    f"({fmt_bytes(out.stat().st_size)})</p>" + iframe(text, 640, "survey report"))

        self._run("report", work)

    def zip_selected(self) -> Path:
        """Zip the selected result next to it; returns the zip path."""
        src = self.selected
        target = src.with_name(src.name + ".zip") if src.is_dir() else src.with_suffix(".zip")
        part = target.with_name(target.name + ".part")
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            files = sorted(x for x in src.rglob("*") if x.is_file()) if src.is_dir() else [src]
            for f in files:
                if not f.name.endswith(".part"):
                    zf.write(f, f.relative_to(src.parent).as_posix())
        os.replace(part, target)
        return target

    def _link(self, path: Path, text: str, *, download: bool = False) -> str:
        """A link the front end serves (Voila or Jupyter's file URL), never a file path."""
        from terranb.widgets.links import file_link

        servers = None if self.link_base is None else [(self.link_base, self.link_base_url)]
        link = file_link(path, servers=servers)
        attrs = ' download' if download else ''
        out = (f'<a href="{html.escape(link.href)}"{attrs} target="_blank" '
               f'class="tnb-link tnb-link-{link.via}" style="color:#0969da">'
               f'{html.escape(text)}</a>')
        if link.note:
            out += (f" <small class='tnb-link-note' style='color:#9a6700'>"
                    f"({html.escape(link.note)})</small>")
        return out

    def download(self) -> None:
        """The Download button: zip the selected result and offer a link."""

        def work() -> str:
            z = self.zip_selected()
            return (f"<p class='tnb-download'>{self._link(z, 'download ' + z.name, download=True)} "
                    f"({fmt_bytes(z.stat().st_size)})<br><small>{html.escape(str(z))}</small></p>")

        self._run("download", work)

    # -- display ----------------------------------------------------------------------------

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = (f"<div><b>{html.escape(str(self.root))}</b>{self.summary.value}"
                               f"{self.tree.value}</div>")
        return bundle
