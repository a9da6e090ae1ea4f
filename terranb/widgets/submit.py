"""Choose a folder, check it, submit it: the submit widget.

A path box with a small folder browser, the backend, job type, output CRS and
the main parameters. **Check** runs preflight and shows its findings and a map
of the photo footprints; **Submit** uploads with byte progress bars and starts
the job. Submit stays disabled until a check passed without errors, and any
change of folder, backend or job type asks for a new check.

Example:
    >>> from terranb.widgets import SubmitWidget        # doctest: +SKIP
    >>> SubmitWidget("flight/", ops=SubmitOps(clients))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from terranb.widgets._common import (
    StatusLine,
    fmt_bytes,
    footprint_map_html,
    make_params,
    report_footprints,
    run_blocking,
    spawn,
    submit_job,
    widgets,
)

__all__ = ["BACKENDS", "JOB_TYPES", "SubmitOps", "SubmitWidget", "count_errors"]

log = logging.getLogger(__name__)

BACKENDS = [("TerraAPI v2", "terra"), ("FlightHub 2 open modeling", "flighthub")]
JOB_TYPES = [("2D orthomosaic", "2d"), ("3D model", "3d"), ("LiDAR point cloud", "lidar")]
QUALITIES = [("high", "high"), ("medium", "medium"), ("low", "low")]


def count_errors(report: Any) -> int:
    """Number of error-severity findings in a preflight report (or a list of findings)."""
    if report is None:
        return 0
    errors = getattr(report, "errors", None)
    if errors is not None and not callable(errors):
        return len(list(errors))
    findings = getattr(report, "findings", report)
    try:
        return sum(1 for f in findings if getattr(f, "severity", "") == "error")
    except TypeError:
        return 0


def count_warnings(report: Any) -> int:
    """Number of warning-severity findings."""
    findings = getattr(report, "findings", report)
    try:
        return sum(1 for f in findings if getattr(f, "severity", "") == "warning")
    except TypeError:
        return 0


class SubmitOps:
    """What the submit widget calls, over terranb's own parts by default.

    Args:
        backend_factory: ``backend name ("terra" | "flighthub") -> Backend``
            (:func:`terranb.widgets._common.backends_for` makes one for the
            emulator); ``None`` builds backends from settings (env, profile).
        ledger: the job ledger (default: the user's).
    """

    def __init__(self, backend_factory: Callable[[str], Any] | None = None,
                 ledger: Any = None) -> None:
        self.backend_factory = backend_factory
        self.ledger = ledger

    def preflight(self, path: Path, backend: str, job_type: str) -> Any:
        """Run preflight on ``path``; returns the report."""
        from terranb.dataset.preflight import preflight

        return preflight(path, backend=backend, job_type=job_type)

    def params(self, job_type: str, crs: str, quality: str) -> Any:
        """The typed parameters for the chosen job type."""
        return make_params(job_type, crs=crs, quality=quality)

    def submit(self, path: Path, backend: str, job_type: str, params: Any, name: str,
               on_progress: Callable[[Any], None]) -> Any:
        """Upload and start the job (blocking); returns the :class:`~terranb.jobs.Job`."""
        return submit_job(path, backend=backend, job_type=job_type, params=params, name=name,
                          on_progress=on_progress, backend_factory=self.backend_factory,
                          ledger=self.ledger)


class FolderBrowser:
    """A small folder browser: a list of sub-folders and files, click a folder to enter it."""

    UP = ".."

    def __init__(self, start: Path, on_change: Callable[[Path], None]) -> None:
        w = widgets()
        self.cwd = start if start.is_dir() else Path.cwd()
        self._on_change = on_change
        self.select = w.Select(options=[], rows=7, layout=w.Layout(width="420px"))
        self.info = w.HTML()
        self.select.observe(self._picked, names="value")
        self.widget = w.VBox([self.select, self.info])
        self.show(self.cwd)

    def entries(self, folder: Path) -> list[tuple[str, str]]:
        """(label, value) options for ``folder``: its parent, sub-folders, then files."""
        try:
            children = sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))
        except OSError as exc:
            self.info.value = f"<span style='color:#cf222e'>{html.escape(str(exc))}</span>"
            children = []
        opts = [("\u2191 ..", self.UP)]
        files = 0
        for child in children:
            if child.name.startswith("."):
                continue
            if child.is_dir():
                # U+25B8 is in DejaVu (Debian's stock fonts); the folder emoji is not
                opts.append((f"\u25b8 {child.name}/", child.name))
            else:
                files += 1
                if files <= 200:  # a folder of 20,000 photos must not freeze the browser
                    opts.append((f"    {child.name}", "file:" + child.name))
        if files > 200:
            opts.append((f"    ... {files - 200} more files", "file:"))
        return opts

    def show(self, folder: Path) -> None:
        """List ``folder``."""
        self.cwd = folder.resolve()
        self.select.unobserve(self._picked, names="value")
        self.select.options = self.entries(self.cwd)
        self.select.value = None
        self.select.observe(self._picked, names="value")
        n_files = sum(1 for _label, v in self.select.options
                      if v.startswith("file:") and v != "file:")
        self.info.value = (f"<small><code>{html.escape(str(self.cwd))}</code> "
                           f"({n_files} files shown)</small>")

    def _picked(self, change: dict[str, Any]) -> None:
        value = change.get("new")
        if not value or value.startswith("file:"):
            return
        target = self.cwd.parent if value == self.UP else self.cwd / value
        self.show(target)
        self._on_change(self.cwd)


class SubmitWidget(StatusLine):
    """Folder, backend, job type, CRS and parameters; Check, then Submit.

    Args:
        path: the data set folder to start with (default: the working directory).
        ops: the operations behind the buttons (default :class:`SubmitOps`).
        tracker: a :class:`~terranb.widgets.JobTracker` to refresh after a submit.
        backend, job_type: initial choices.
        crs: initial output CRS (``""`` = the service default).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, ops: Any = None,
                 tracker: Any = None, backend: str = "terra", job_type: str = "2d",
                 crs: str = "", name: str = "", source: str = "folder",
                 mission_ops: Any = None) -> None:
        w = widgets()
        self.ops = ops if ops is not None else SubmitOps()
        self.tracker = tracker
        self.report: Any = None
        self.job: Any = None
        self.errors: list[str] = []
        self._progress_event: Any = None
        self._step_text = ""
        self._checked_key: tuple[str, ...] | None = None
        self._busy = False
        start = Path(path) if path is not None else Path.cwd()

        style = {"description_width": "90px"}
        wide = w.Layout(width="520px")
        self.path = w.Text(value=str(start), description="Folder", style=style, layout=wide)
        self.browser = FolderBrowser(start, self._browsed)
        self.browse_toggle = w.ToggleButton(value=False, description="Browse", icon="folder-open")
        self.browser.widget.layout.display = "none"
        self.browse_toggle.observe(self._toggle_browser, names="value")
        self.backend = w.Dropdown(options=BACKENDS, value=backend, description="Backend",
                                  style=style)
        self.job_type = w.Dropdown(options=JOB_TYPES, value=job_type, description="Job type",
                                   style=style)
        self.crs = w.Text(value=crs, description="Output CRS",
                          placeholder="EPSG:32650 (blank = auto)", style=style)
        self.quality = w.Dropdown(options=QUALITIES, value="high", description="Quality",
                                  style=style)
        self.name = w.Text(value=name, description="Job name", placeholder="(folder name)",
                           style=style)
        self.check_button = w.Button(description="Check", icon="check", button_style="info",
                                     tooltip="run preflight on the folder")
        self.submit_button = w.Button(description="Submit", icon="upload", button_style="success",
                                      disabled=True, tooltip="upload and start the job "
                                      "(enabled after a check without errors)")
        self.summary = w.HTML()
        self.findings = w.HTML()
        self.map = w.HTML(layout=w.Layout(width="720px"))
        self.total_bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="Upload",
                                         style=style, layout=w.Layout(width="520px"))
        self.file_bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="File",
                                        style=style, layout=w.Layout(width="520px"))
        self.total_label = w.HTML()
        self.file_label = w.HTML()
        self.progress_box = w.VBox([w.HBox([self.total_bar, self.total_label]),
                                    w.HBox([self.file_bar, self.file_label])])
        self.progress_box.layout.display = "none"
        self.status = w.HTML()

        # The second source (widgets/mission_source.py): a dock mission's photos on FlightHub 2.
        from terranb.widgets.mission_source import SOURCES, MissionOps, MissionPicker

        self.source = w.ToggleButtons(options=SOURCES, value=source, description="Source",
                                      style=style)
        self.ops_mission = mission_ops if mission_ops is not None else MissionOps(
            getattr(self.ops, "backend_factory", None), getattr(self.ops, "ledger", None))
        self.mission_preflight: Any = None
        self.mission = MissionPicker(self.ops_mission, self._inputs_changed, self._report_error)
        self.check_button.on_click(lambda _b: self.check())
        self.submit_button.on_click(lambda _b: self.submit())
        for widget in (self.path, self.backend, self.job_type):
            widget.observe(self._inputs_changed, names="value")
        self.folder_box = w.VBox([w.HBox([self.path, self.browse_toggle]), self.browser.widget])
        self.source.observe(self._source_changed, names="value")
        self.widget = w.VBox([
            self.source,
            self.folder_box,
            self.mission.widget,
            w.HBox([self.backend, self.job_type]),
            w.HBox([self.crs, self.quality]),
            self.name,
            w.HBox([self.check_button, self.submit_button]),
            self.summary,
            self.findings,
            self.map,
            self.progress_box,
            self.status,
        ])
        self.widget.add_class("terranb-submit")
        self._source_changed({"new": source})

    # -- inputs -----------------------------------------------------------------------------

    def _toggle_browser(self, change: dict[str, Any]) -> None:
        self.browser.widget.layout.display = "" if change["new"] else "none"
        if change["new"]:
            folder = Path(self.path.value).expanduser()
            if folder.is_dir():
                self.browser.show(folder)

    def _browsed(self, folder: Path) -> None:
        self.path.value = str(folder)

    def _source_changed(self, change: dict[str, Any]) -> None:
        mission = change.get("new") == "mission"
        self.folder_box.layout.display = "none" if mission else ""
        self.mission.widget.layout.display = "" if mission else "none"
        self.backend.layout.display = "none" if mission else ""  # a mission is FlightHub 2's
        if mission and not self.mission.loaded:
            self.mission.load()
        self._inputs_changed()

    def _key(self) -> tuple[str, ...]:
        if self.source.value == "mission":
            return ("mission", *self.mission.key(), self.job_type.value)
        return (self.path.value, self.backend.value, self.job_type.value)

    def _inputs_changed(self, _change: Any = None) -> None:
        if self._checked_key != self._key():
            self.submit_button.disabled = True
            if self.report is not None:
                self.summary.value = ("<span style='color:#9a6700'>inputs changed: "
                                      "press Check again</span>")

    @property
    def can_submit(self) -> bool:
        """True when the last check matches the inputs and found no errors."""
        return (self.report is not None and self._checked_key == self._key()
                and count_errors(self.report) == 0 and not self._busy and self.job is None)

    def _report_error(self, exc: BaseException) -> None:
        self._busy = False
        self.check_button.disabled = False
        self.submit_button.disabled = not self.can_submit
        super()._report_error(exc)

    # -- check ------------------------------------------------------------------------------

    def check(self) -> None:
        """Run preflight (the Check button); shows findings and the footprint map."""
        if self.source.value == "mission":
            from terranb.widgets.mission_source import check_mission

            check_mission(self)
            return
        folder = Path(self.path.value).expanduser()
        if not folder.exists():
            self._refuse_check(f"{folder} does not exist: type a folder path or use Browse")
            return
        key = self._start_check("checking ...")

        async def go() -> None:
            self._finish_check(key, await run_blocking(self.ops.preflight, folder, key[1],
                                                       key[2]))

        spawn(go(), self._report_error)

    # The folder check above and the dock mission's (mission_source.check_mission) share
    # these three steps, so both leave the buttons and the checked key in the same state.

    def _refuse_check(self, why: str) -> None:
        """A check that cannot run: no report, no submit, and the reason shown as an error."""
        self.report = None
        self.submit_button.disabled = True
        self._say(why, error=True)

    def _start_check(self, note: str) -> tuple[str, ...]:
        """Lock both buttons while a check runs, show ``note``; the key being checked."""
        key = self._key()
        self._busy = True
        self.check_button.disabled = True
        self.submit_button.disabled = True
        self.summary.value = note
        return key

    def _finish_check(self, key: tuple[str, ...], report: Any) -> None:
        """Keep the report of ``key``, unlock Check and show the findings."""
        self.report = report
        self._checked_key = key
        self._busy = False
        self.check_button.disabled = False
        self._show_report(report)

    def _show_report(self, report: Any) -> None:
        n_err, n_warn = count_errors(report), count_warnings(report)
        photos = getattr(report, "photos", None)
        n_photos = len(photos) if isinstance(photos, list) else None
        size = getattr(report, "total_bytes", None) or getattr(report, "total_size", None)
        bits = []
        if n_photos is not None:
            bits.append(f"{n_photos} photos")
        if size:
            bits.append(fmt_bytes(size))
        colour = "#cf222e" if n_err else ("#9a6700" if n_warn else "#1a7f37")
        verdict = (f"{n_err} error(s): fix them before submitting" if n_err else
                   f"ready to submit ({n_warn} warning(s))")
        self.summary.value = (f"<b style='color:{colour}' class='tnb-verdict'>Preflight: "
                              f"{html.escape(verdict)}</b> <small>{html.escape(', '.join(bits))}"
                              "</small>")
        rep_html = getattr(report, "_repr_html_", None)
        self.findings.value = rep_html() if callable(rep_html) else html.escape(str(report))
        try:
            polys = report_footprints(report)
        except Exception as exc:  # the map is a help, not a requirement
            log.debug("no footprints: %s", exc)
            polys = []
        self.map.value = footprint_map_html(polys) if polys else ""
        self.submit_button.disabled = not self.can_submit

    # -- submit -----------------------------------------------------------------------------

    def submit(self) -> None:
        """Upload and start the job (the Submit button); refused while errors stand."""
        if not self.can_submit:
            if self.report is None or self._checked_key != self._key():
                self._say("press Check first: the folder has not been checked with these "
                          "settings", error=True)
            elif count_errors(self.report):
                self._say("preflight found errors: fix them and press Check again", error=True)
            return
        if self.source.value == "mission":
            from terranb.widgets.mission_source import submit_mission

            submit_mission(self)
            return
        folder = Path(self.path.value).expanduser()
        backend, job_type = self.backend.value, self.job_type.value
        name = self.name.value.strip() or f"{folder.name} {job_type}"
        self._start_submit(f"uploading {folder.name} to {backend} ...")
        self.progress_box.layout.display = ""
        self._progress_event = None
        self._step_text = ""

        def on_progress(event: Any) -> None:
            # called from upload worker threads: keep the latest event only; the
            # loop draws it (widgets are never touched from a thread)
            if hasattr(event, "total_bytes"):
                if getattr(event, "phase", "upload") == "upload":
                    self._progress_event = event
                else:
                    self._step_text = (f"{event.phase}: {event.files_done}/{event.files_total} "
                                       "files")
            else:  # a submit step (preflight, upload, resource, bind, start, done)
                self._step_text = str(getattr(event, "message", event))

        async def go() -> None:
            params = self.ops.params(job_type, self.crs.value.strip(), self.quality.value)
            future = asyncio.ensure_future(run_blocking(
                self.ops.submit, folder, backend, job_type, params, name, on_progress))
            while not future.done():
                self._draw_progress()
                await asyncio.wait([future], timeout=0.2)
            self._draw_progress(final=True)
            await self._job_started(future.result(), f"job started on {backend}:")

        spawn(go(), self._report_error)

    # Shared with the dock mission's submit (mission_source.submit_mission).

    def _start_submit(self, note: str) -> None:
        """Lock both buttons while a submit runs and say what it does."""
        self._busy = True
        self.submit_button.disabled = True
        self.check_button.disabled = True
        self._say(note)

    async def _job_started(self, job: Any, said: str) -> None:
        """Keep the started ``job``, unlock Check, name its id and let the tracker follow it."""
        self.job = job
        self._busy = False
        self.check_button.disabled = False
        uuid = getattr(job, "id", None) or getattr(job, "uuid", None) or "?"
        self._say(said)
        self.status.value += f" <code class='tnb-job-uuid'>{html.escape(str(uuid))}</code>"
        if self.tracker is not None:
            await self.tracker.refresh_async(poll=False)
            self.tracker.start()

    def _draw_progress(self, final: bool = False) -> None:
        if self._step_text and not final:
            self._say(self._step_text)
        ev = self._progress_event
        if ev is None:
            if final:
                self.total_bar.value = 1.0
            return
        self.total_bar.value = 1.0 if final else float(getattr(ev, "fraction", 0.0))
        self.total_label.value = html.escape(
            f"{fmt_bytes(ev.total_done)} / {fmt_bytes(ev.total_bytes)} "
            f"({ev.files_done}/{ev.files_total} files)")
        if ev.file_total:
            self.file_bar.value = min(1.0, ev.file_done / ev.file_total)
        self.file_label.value = html.escape(
            f"{ev.path} {fmt_bytes(ev.file_done)} / {fmt_bytes(ev.file_total)}")

    # -- display ----------------------------------------------------------------------------

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = (f"<div><b>terranb submit</b>: {html.escape(self.path.value)} "
                               f"{self.summary.value} {self.status.value}</div>")
        return bundle
