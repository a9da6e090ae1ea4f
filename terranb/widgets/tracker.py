"""A live table of the ledger's jobs, with Cancel, Attach and Download.

The table refreshes from an asyncio task on the kernel's event loop, so the
kernel stays free for other cells while jobs run (no background thread: they
break widget updates on ipykernel 7). Status polls that need the network run
in the loop's executor; their answers are written into the widgets from the
loop.

Example:
    >>> from terranb.widgets import JobTracker            # doctest: +SKIP
    >>> tracker = JobTracker(); tracker.start(); tracker  # doctest: +SKIP

Displayed in a notebook, the tracker is a widget; in an exported notebook (no
widget state) it shows a static HTML snapshot of the table as it was last drawn.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from terranb.jobs.ledger import Ledger, LedgerRecord
from terranb.jobs.states import JobStatus
from terranb.widgets._common import StatusLine, fmt_bytes, run_blocking, spawn, widgets
from terranb.widgets.jobs_table import JobRow, jobs_table_html

if TYPE_CHECKING:
    from terranb.jobs.job import Job
    from terranb.transfer.progress import ProgressEvent

__all__ = ["JobTracker", "LedgerOps", "TrackerOps"]

log = logging.getLogger(__name__)


class TrackerOps(Protocol):
    """What the tracker asks of its jobs: :class:`LedgerOps`, or a test's or another front end's.

    ``list_jobs`` reads local state (fast, run on the loop); the others may talk
    to the service and run in the loop's executor.
    """

    def list_jobs(self) -> Sequence[LedgerRecord]:
        """The jobs to show, newest first."""
        ...

    def poll(self, uuid: str) -> JobStatus:
        """Ask the service for the job's status now."""
        ...

    def attach(self, uuid: str) -> object:
        """Re-attach a job by uuid, so that ``list_jobs`` lists it."""
        ...

    def cancel(self, uuid: str) -> object:
        """Stop the job on the service."""
        ...

    def download(self, uuid: str, dest: Path,
                 on_progress: Callable[[ProgressEvent], None]) -> Path:
        """Download the finished job's results into ``dest``; returns the result folder."""
        ...


class LedgerOps:
    """The tracker's operations over :mod:`terranb.jobs` and a ledger (a :class:`TrackerOps`).

    Args:
        ledger: a :class:`terranb.jobs.ledger.Ledger` (default: the user's ledger).
        backend_factory: ``backend kind -> Backend`` for re-attaching jobs; ``None``
            lets :meth:`terranb.jobs.Job.attach` build them from settings.
        limit: rows shown (newest first).
    """

    def __init__(self, ledger: Ledger | None = None,
                 backend_factory: Callable[[str], Any] | None = None, *, limit: int = 20) -> None:
        self._ledger = ledger
        self._backend_factory = backend_factory
        self._jobs: dict[str, Job] = {}
        self.limit = limit

    @property
    def ledger(self) -> Ledger:
        """The ledger, opened on first use."""
        if self._ledger is None:
            self._ledger = Ledger()
        return self._ledger

    def list_jobs(self) -> list[LedgerRecord]:
        """The latest ledger records, newest first."""
        return self.ledger.list(limit=self.limit)

    def job(self, uuid: str) -> Job:
        """A (cached) :class:`terranb.jobs.Job` handle for ``uuid``."""
        if uuid not in self._jobs:
            from terranb.jobs import Job

            backend = None
            if self._backend_factory is not None:
                record = self.ledger.get(uuid)
                backend = self._backend_factory(record.backend if record else "terra")
            self._jobs[uuid] = Job.attach(uuid, backend=backend, ledger=self.ledger)
        return self._jobs[uuid]

    def poll(self, uuid: str) -> JobStatus:
        """Ask the service for the job's status (blocking; the ledger is updated)."""
        return self.job(uuid).status()

    def attach(self, uuid: str) -> Job:
        """Re-attach a job by uuid (adds it to the ledger if it was not there)."""
        self._jobs.pop(uuid, None)
        return self.job(uuid)

    def cancel(self, uuid: str) -> JobStatus:
        """Stop the job on the service."""
        return self.job(uuid).cancel()

    def download(self, uuid: str, dest: Path,
                 on_progress: Callable[[ProgressEvent], None]) -> Path:
        """Download the finished job's results into ``dest``; returns the result folder."""
        return Path(self.job(uuid).results(dest, on_progress=on_progress))


class JobTracker(StatusLine):
    """Live jobs table (status, progress, ETA, errors) with Cancel, Attach and Download.

    Args:
        ops: where jobs come from and what the buttons do (default :class:`LedgerOps`).
        dest: folder for downloads (each job's results go in ``dest/<uuid>``).
        interval: seconds between refreshes while jobs are active.
        idle_interval: seconds between refreshes when no job is active.
        title: heading of the table.
    """

    def __init__(self, ops: TrackerOps | None = None, *, dest: str | Path = "results",
                 interval: float = 2.0, idle_interval: float = 10.0,
                 title: str = "terranb jobs") -> None:
        w = widgets()
        self.ops: TrackerOps = ops if ops is not None else LedgerOps()
        self.dest = Path(dest)
        self.interval = interval
        self.idle_interval = idle_interval
        self.title = title
        self.rows: list[JobRow] = []
        self.errors: list[str] = []
        self._task: asyncio.Task[Any] | None = None
        self._download_event: ProgressEvent | None = None
        self.downloaded: dict[str, Path] = {}

        self.table = w.HTML(value=jobs_table_html([], title))
        self.job_select = w.Dropdown(options=[], description="Job", layout=w.Layout(width="360px"))
        self.cancel_button = w.Button(description="Cancel", icon="stop", button_style="danger",
                                      disabled=True, tooltip="stop the selected job")
        self.download_button = w.Button(description="Download", icon="download",
                                        disabled=True,
                                        tooltip="download the selected job's results")
        self.attach_text = w.Text(placeholder="job uuid to attach", layout=w.Layout(width="320px"))
        self.attach_button = w.Button(description="Attach", icon="link",
                                      tooltip="re-attach a job by uuid (after a kernel restart)")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.download_bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="Download",
                                            layout=w.Layout(visibility="hidden", width="360px"))
        self.status = w.HTML(value="")
        self.cancel_button.on_click(lambda _b: self.cancel_selected())
        self.download_button.on_click(lambda _b: self.download_selected())
        self.attach_button.on_click(lambda _b: self.attach(self.attach_text.value))
        self.refresh_button.on_click(lambda _b: spawn(self.refresh_async(), self._report_error))
        self.job_select.observe(lambda _c: self._update_buttons(), names="value")
        self.widget = w.VBox([
            self.table,
            w.HBox([self.job_select, self.cancel_button, self.download_button,
                    self.refresh_button]),
            w.HBox([self.attach_text, self.attach_button]),
            self.download_bar,
            self.status,
        ])
        self.widget.add_class("terranb-tracker")

    # -- refreshing -------------------------------------------------------------------------

    def _set_rows(self, rows: Sequence[JobRow]) -> None:
        self.rows = list(rows)
        self.table.value = jobs_table_html(self.rows, self.title)
        jobs = [r.record for r in self.rows]
        options = [(f"{j.job_id[:8]}  {j.job_type} {j.name}  [{r.state}]", j.job_id)
                   for r, j in zip(self.rows, jobs, strict=True)]
        current = self.job_select.value
        self.job_select.options = options
        uuids = [j.job_id for j in jobs]
        if current in uuids:
            self.job_select.value = current
        elif uuids:
            self.job_select.value = uuids[0]
        self._update_buttons()

    def _selected(self) -> JobRow | None:
        for r in self.rows:
            if r.record.job_id == self.job_select.value:
                return r
        return None

    def _update_buttons(self) -> None:
        row = self._selected()
        self.cancel_button.disabled = row is None or not row.active
        self.download_button.disabled = row is None or not row.finished

    def refresh(self) -> list[JobRow]:
        """Redraw the table from the ledger now (no service polls); returns the rows."""
        rows = [JobRow.from_record(r) for r in self.ops.list_jobs()]
        self._set_rows(rows)
        return rows

    async def refresh_async(self, poll: bool = True) -> list[JobRow]:
        """Poll the service for every active job, then redraw from the ledger."""
        rows = [JobRow.from_record(r) for r in self.ops.list_jobs()]
        if poll:
            for i, row in enumerate(rows):
                if not row.active:
                    continue
                try:
                    status = await run_blocking(self.ops.poll, row.record.job_id)
                except Exception as exc:  # one bad job must not stop the table
                    rows[i] = row.poll_failed(exc)
                    continue
                # the poll brings the service's ETA, which the ledger does not keep
                rows[i] = row.observed(status)
        self._set_rows(rows)
        return rows

    async def _run(self) -> None:
        while True:
            try:
                rows = await self.refresh_async(poll=True)
            except Exception as exc:
                self._report_error(exc)
                rows = self.rows
            active = any(r.active for r in rows)
            await asyncio.sleep(self.interval if active else self.idle_interval)

    def start(self) -> JobTracker:
        """Start refreshing on the kernel's loop (outside a loop: refresh once)."""
        if self._task is not None and not self._task.done():
            return self
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            spawn(self.refresh_async(), self._report_error)
            return self
        self._task = spawn(self._run(), self._report_error)
        return self

    def stop(self) -> None:
        """Stop the refresh task."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def running(self) -> bool:
        """True while the refresh task is alive."""
        return self._task is not None and not self._task.done()

    # -- buttons ----------------------------------------------------------------------------

    def cancel_selected(self) -> None:
        """Cancel the selected job (the Cancel button)."""
        row = self._selected()
        if row is None:
            return
        uuid = row.record.job_id

        async def go() -> None:
            self._say(f"cancelling {uuid} ...")
            await run_blocking(self.ops.cancel, uuid)
            self._say(f"cancel requested for {uuid}")
            await self.refresh_async()

        spawn(go(), self._report_error)

    def attach(self, uuid: str) -> None:
        """Re-attach the job ``uuid`` (the Attach button)."""
        uuid = uuid.strip()
        if not uuid:
            self._say("enter the uuid of the job to attach", error=True)
            return

        async def go() -> None:
            await run_blocking(self.ops.attach, uuid)
            self._say(f"attached {uuid}")
            await self.refresh_async()
            self.job_select.value = uuid if uuid in [r.record.job_id for r in self.rows] else None

        spawn(go(), self._report_error)

    def download_selected(self) -> None:
        """Download the selected finished job into ``dest/<uuid>`` (the Download button)."""
        row = self._selected()
        if row is None or not row.finished:
            self._say("select a finished job to download", error=True)
            return
        uuid = row.record.job_id

        async def go() -> None:
            target = self.dest / uuid
            self.download_bar.layout.visibility = "visible"
            self.download_bar.value = 0.0
            self._download_event = None

            def on_progress(event: ProgressEvent) -> None:
                # runs in the executor thread: only store it; the loop draws it
                self._download_event = event

            future = asyncio.ensure_future(run_blocking(self.ops.download, uuid, target,
                                                        on_progress))
            while not future.done():
                self._draw_download()
                await asyncio.wait([future], timeout=0.25)
            path = future.result()
            self._draw_download()
            self.download_bar.value = 1.0
            self.downloaded[uuid] = Path(path)
            self._say(f"downloaded {uuid} to {path}")

        spawn(go(), self._report_error)

    def _draw_download(self) -> None:
        ev = self._download_event
        if ev is None:
            return
        self.download_bar.value = ev.fraction
        self.status.value = html.escape(f"{fmt_bytes(ev.total_done)} / "
                                        f"{fmt_bytes(ev.total_bytes)}")

    # -- display ----------------------------------------------------------------------------

    def snapshot_html(self) -> str:
        """The table as static HTML (what exported notebooks show)."""
        return jobs_table_html(self.rows, self.title)

    def _repr_html_(self) -> str:
        return self.snapshot_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.snapshot_html()
        return bundle
