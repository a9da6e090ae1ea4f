"""What the widgets share: lazy ipywidgets, the asyncio runner, job rows and formatting.

Widgets never start background threads: ipykernel 7 routes messages by context,
and widget updates sent from foreign threads get lost or land in the wrong
cell. Long work runs as an asyncio task on the kernel's own event loop
(:func:`spawn`); a blocking call (an HTTP poll, an upload) may run in the
loop's default executor through :func:`run_blocking`, but only the call runs
there -- its results and progress are copied into widgets from the loop.

Outside a running loop (plain scripts, headless tests) :func:`spawn` runs the
coroutine to completion before returning, so ``button.click()`` is synchronous
there and its effect can be asserted right away.
"""

from __future__ import annotations

import asyncio
import html
import math
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any, TypeVar

from terranb.errors import require

__all__ = [
    "JobRow",
    "StatusLine",
    "fmt_bytes",
    "fmt_duration",
    "job_row",
    "jobs_table_html",
    "run_blocking",
    "spawn",
    "widgets",
]

T = TypeVar("T")

# Tasks are referenced here until they finish: the event loop keeps only weak
# references, and a garbage-collected task silently stops.
_TASKS: set[asyncio.Task[Any]] = set()


def widgets() -> Any:
    """The ``ipywidgets`` module, or an error naming the ``widgets`` extra."""
    return require("ipywidgets", "widgets")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def spawn(coro: Coroutine[Any, Any, Any],
          on_error: Callable[[BaseException], None] | None = None) -> asyncio.Task[Any] | None:
    """Run ``coro`` on the kernel's running loop, or to completion when there is none.

    Args:
        coro: the coroutine to run.
        on_error: called with any exception the coroutine raises (except
            cancellation), so a failed task shows its error instead of vanishing.

    Returns:
        The task when a loop is running (JupyterLab, Voila), else ``None`` after
        the coroutine has finished.
    """
    loop = _running_loop()
    if loop is None:
        try:
            asyncio.run(coro)
        except Exception as exc:  # reported, like a task's exception would be
            if on_error is None:
                raise
            on_error(exc)
        return None
    task = loop.create_task(coro)
    _TASKS.add(task)

    def _done(t: asyncio.Task[Any]) -> None:
        _TASKS.discard(t)
        if t.cancelled():
            return
        exc = t.exception()
        if exc is not None and on_error is not None:
            on_error(exc)

    task.add_done_callback(_done)
    return task


async def run_blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking call in the loop's executor and return its result on the loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, partial(fn, *args, **kwargs))


async def maybe_await(value: Awaitable[T] | T) -> T:
    """Await ``value`` if it is awaitable (lets injected callables be sync or async)."""
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value  # type: ignore[no-any-return]
    return value  # type: ignore[return-value]


def fmt_bytes(n: float | None) -> str:
    """Human-readable bytes: ``fmt_bytes(1536) == '1.5 KB'``."""
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def fmt_duration(seconds: float | None) -> str:
    """``fmt_duration(3725) == '1h 02m'``; ``-`` when unknown."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)) or seconds < 0:
        return "-"
    s = round(float(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {(s % 3600) // 60:02d}m"


# Unified states a row can be in; the tracker colours and enables buttons by them.
ACTIVE_STATES = {"created", "queued", "preparing", "uploading", "running", "processing",
                 "pending"}
TERMINAL_STATES = {"succeeded", "failed", "cancelled", "stopped"}
_STATE_WORDS = {
    # TerraAPI names (protocol.md §1.7) and FlightHub 2 names (§3), lower-cased
    "waiting_for_start": "created", "created": "created", "waiting": "queued", "queued": "queued",
    "preparing": "preparing", "executing": "running", "running": "running",
    "result_processing": "processing", "processing": "processing",
    "stopped": "stopped", "finished": "succeeded", "execution_finished": "succeeded",
    "succeeded": "succeeded", "success": "succeeded", "done": "succeeded", "completed": "succeeded",
    "fail": "failed", "failed": "failed", "execution_fail": "failed", "error": "failed",
    "cancelled": "cancelled", "canceled": "cancelled", "reconstruction_canceled": "cancelled",
    "requesting_resource": "queued", "requesting_resource_failed": "failed",
    "reconstruction_executing": "running", "reconstruction_succeeded": "succeeded",
    "reconstruction_failed": "failed", "map_reconstruction_succeeded": "running",
    "uploading": "uploading", "pending": "pending", "unknown": "unknown",
}
_COLOURS = {"succeeded": "#1a7f37", "failed": "#cf222e", "cancelled": "#6e7781",
            "stopped": "#6e7781", "unknown": "#9a6700"}


def normalise_state(value: Any) -> str:
    """Map a status enum, name or word to one of the unified state words."""
    if value is None:
        return "unknown"
    if isinstance(value, str) or isinstance(getattr(value, "value", None), str):
        name = getattr(value, "value", value)  # terranb's JobState is a str enum
    else:
        name = getattr(value, "name", None) or value
    word = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    if word in _STATE_WORDS:
        return _STATE_WORDS[word]
    for key, state in _STATE_WORDS.items():
        if key in word:
            return state
    return word or "unknown"


@dataclass
class JobRow:
    """One line of the tracker table, independent of the backend.

    Attributes:
        uuid: job (TerraAPI) or model (FlightHub 2) uuid.
        name: job name.
        backend: ``terra`` or ``flighthub``.
        job_type: ``2d``, ``3d``, ``lidar`` or ``3dgs``.
        state: unified state word (see :func:`normalise_state`).
        status: the service's own status label, shown beside the state.
        percentage: 0..100 or ``None`` when unknown.
        remain_seconds: the service's ETA, ``None`` when unknown.
        message: the service's message or the error text.
        updated: when this row was last refreshed (UTC).
        results_dir: where results were downloaded, if they were.
    """

    uuid: str
    name: str = ""
    backend: str = ""
    job_type: str = ""
    state: str = "unknown"
    status: str = ""
    percentage: float | None = None
    remain_seconds: float | None = None
    message: str = ""
    updated: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    results_dir: str = ""
    source: Any = field(default=None, repr=False, compare=False)

    @property
    def active(self) -> bool:
        """True while the job may still change."""
        return self.state not in TERMINAL_STATES

    @property
    def finished(self) -> bool:
        """True when the job succeeded and results can be downloaded."""
        return self.state == "succeeded"


def _first(obj: Any, *names: str) -> Any:
    for name in names:
        value = obj[name] if isinstance(obj, dict) and name in obj else getattr(obj, name, None)
        if value is not None and value != "":
            return value
    return None


def _job_type_word(value: Any) -> str:
    if value is None:
        return ""
    codes = {13: "lidar", 14: "2d", 15: "3d"}
    if isinstance(value, int) and not isinstance(value, bool) and value in codes:
        return codes[value]
    text = str(getattr(value, "value", value)).lower()
    return codes.get(int(text), text) if text.isdigit() else text


def _coded_status(value: Any, backend: str) -> Any:
    """A bare service code (``3``, ``"14"``) as the backend's status enum; else ``value``."""
    if isinstance(value, bool) or getattr(value, "name", None) is not None:
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        from terranb.api.models import ModelStatus, TerraJobStatus

        enum_cls = ModelStatus if "flighthub" in backend.lower() else TerraJobStatus
        return enum_cls.parse(value)
    return value


def _status_label(value: Any, backend: str) -> str:
    """The service's status as words (``result processing``), never a bare code (``4``).

    Ledger records and :class:`~terranb.jobs.states.JobStatus` keep the service's integer
    code; it is named by the backend's enum, and a code neither enum knows is left out
    (the unified state beside it already says what the job is doing).
    """
    if value is None or isinstance(value, bool):
        return ""
    value = _coded_status(value, backend)
    name = getattr(value, "name", None)
    if name == "UNKNOWN":
        return ""
    return str(name if name is not None else value).lower().replace("_", " ")


def job_row(obj: Any) -> JobRow:
    """Read a ledger record, a ``Job`` handle or a snapshot into a :class:`JobRow`.

    The ledger, the job handle and the API models name things slightly
    differently (``uuid``/``job_uuid``/``model_uuid``, ``status``/``state``,
    ``percentage``/``progress``); this accepts them all, so the tracker works on
    whichever the caller has.
    """
    if isinstance(obj, JobRow):
        return obj
    snap = _first(obj, "snapshot", "last", "last_status") or obj
    uuid = (_first(obj, "job_id", "uuid", "job_uuid", "model_uuid", "id")
            or _first(snap, "job_id", "uuid") or "?")
    state_value = (_first(snap, "state") or _first(obj, "state")
                   or _first(snap, "status", "model_status"))
    status_value = _first(snap, "raw_status", "status", "model_status")
    backend = str(getattr(_first(obj, "backend", "backend_name") or "", "name",
                          _first(obj, "backend", "backend_name") or ""))
    status_label = _status_label(status_value, backend)
    state_value = _coded_status(state_value, backend)  # a bare code is no state word
    # terranb's own objects say ``progress`` as a 0..1 fraction; the services'
    # models say ``percentage`` / ``reconstruction_progress`` in percent
    pct: Any = None
    frac = _first(snap, "progress")
    if isinstance(frac, (int, float)) and not isinstance(frac, bool):
        pct = float(frac) * 100.0
    else:
        raw_pct = _first(snap, "percentage", "reconstruction_progress")
        if isinstance(raw_pct, (int, float)) and not isinstance(raw_pct, bool):
            pct = float(raw_pct)
    remain = _first(snap, "remain_seconds", "eta_seconds", "eta")
    message = _first(snap, "error", "message") or _first(obj, "error", "message") or ""
    results_dir = _first(obj, "results_dir", "output_dir", "dest") or ""
    return JobRow(
        uuid=str(uuid),
        name=str(_first(obj, "name") or _first(snap, "name") or ""),
        backend=backend,
        job_type=_job_type_word(_first(obj, "job_type", "kind")
                                or _first(snap, "job_type", "type")),
        state=normalise_state(state_value),
        status=status_label,
        percentage=float(pct) if isinstance(pct, (int, float)) else None,
        remain_seconds=float(remain) if isinstance(remain, (int, float)) else None,
        message=str(message),
        results_dir=str(results_dir),
        source=obj,
    )


def _bar_html(pct: float | None, state: str) -> str:
    value = 100.0 if state == "succeeded" else (pct or 0.0)
    colour = _COLOURS.get(state, "#0969da")
    label = "-" if pct is None and state != "succeeded" else f"{value:.0f}%"
    width = max(0.0, min(100.0, value))
    # the label sits beside the bar, not on it: dark text over a full green bar was unreadable
    return (f'<div class="tnb-progress" style="display:flex;align-items:center;gap:6px">'
            f'<div style="width:120px;background:#eaeef2;border-radius:3px;height:14px;'
            f'flex:none"><div style="width:{width:.1f}%;background:{colour};height:14px;'
            f'border-radius:3px"></div></div><span style="font-size:11px;color:#1f2328;'
            f'min-width:3em">{label}</span></div>')


def jobs_table_html(rows: list[JobRow], title: str = "terranb jobs") -> str:
    """A static HTML table of job rows (the tracker's display and its export snapshot)."""
    esc = html.escape
    head = ("<tr>" + "".join(f'<th style="text-align:left;padding:2px 8px">{h}</th>' for h in
                              ("job", "name", "backend", "type", "state", "progress", "ETA",
                               "message")) + "</tr>")
    body = []
    for r in rows:
        colour = _COLOURS.get(r.state, "#0969da")
        status = esc(r.state) + (f' <small style="color:#6e7781">({esc(r.status)})</small>'
                                 if r.status and r.status.lower() not in (r.state, "unknown")
                                 else "")
        eta = fmt_duration(r.remain_seconds) if r.active else "-"
        msg = esc(r.message[:200])
        msg_colour = "#cf222e" if r.state in ("failed", "cancelled", "stopped") else "#57606a"
        body.append(
            "<tr>"
            f'<td style="padding:2px 8px;font-family:monospace" title="{esc(r.uuid)}">'
            f"{esc(r.uuid[:8])}</td>"
            f'<td style="padding:2px 8px">{esc(r.name)}</td>'
            f'<td style="padding:2px 8px">{esc(r.backend)}</td>'
            f'<td style="padding:2px 8px">{esc(r.job_type)}</td>'
            f'<td style="padding:2px 8px;color:{colour};font-weight:600" class="tnb-state">'
            f"{status}</td>"
            f'<td style="padding:2px 8px">{_bar_html(r.percentage, r.state)}</td>'
            f'<td style="padding:2px 8px">{eta}</td>'
            f'<td style="padding:2px 8px;color:{msg_colour}">{msg}</td>'
            "</tr>")
    if not rows:
        body.append('<tr><td colspan="8" style="padding:4px 8px;color:#6e7781">'
                    "no jobs in the ledger yet</td></tr>")
    return (f'<div class="terranb-jobs"><b>{esc(title)}</b>'
            f'<table style="border-collapse:collapse;font-size:13px">{head}{"".join(body)}</table>'
            "</div>")


# -- glue to the other parts (kept here so the widgets stay thin) ---------------------------


def report_footprints(report: Any) -> list[Any]:
    """Photo footprints (GeoJSON-like, WGS84) of a preflight report, or ``[]``."""
    for name in ("footprints", "footprint_collection", "footprints_wgs84"):
        value = getattr(report, name, None)
        if callable(value):
            value = value()
        if not value:
            continue
        if hasattr(value, "to_geojson"):  # dataset.footprint.FootprintSet
            return [value.to_geojson()]
        return list(value) if not isinstance(value, dict) else [value]
    return []


def footprint_map_html(footprints: Any, height: int = 360) -> str:
    """An offline Leaflet map of footprints as HTML (an ``<iframe srcdoc>``)."""
    from terranb.report.template import iframe
    from terranb.viz.maps import map_html, result_map

    m = result_map(footprints=footprints, height=height)
    # the frame is exactly the map's height (+ its 1 px border): no white band under it
    return iframe(map_html(m), height, "photo footprints")


_QUALITY = {"high": 1, "medium": 2, "low": 3}


def make_params(job_type: str, *, crs: str = "", quality: str = "high") -> Any:
    """Typed job parameters for ``job_type`` with the widget's main choices.

    Args:
        job_type: ``2d``, ``3d`` or ``lidar``.
        crs: output CRS (``EPSG:32650``); blank leaves the service's default.
        quality: ``high``, ``medium`` or ``low`` (quality_level 1, 2, 3).
    """
    from terranb.params import GeoDesc, Params2D, Params3D, ParamsLidar

    level = _QUALITY.get(quality, 1)
    geo = GeoDesc(crs) if crs.strip() else None
    if job_type == "2d":
        return Params2D(map_mode=1, quality_level=level, output_geo_desc=geo)
    if job_type == "3d":
        return Params3D(output_mesh=True, generate_obj=True, quality_level=level,
                        output_geo_desc=geo)
    if job_type == "lidar":
        return ParamsLidar(quality_level=level, output_geo_desc=geo)
    from terranb.errors import ValidationError

    raise ValidationError(f"unknown job type {job_type!r}; use '2d', '3d' or 'lidar'")


BackendFactory = Callable[[str], Any]


def backends_for(info: Any) -> BackendFactory:
    """A ``kind -> Backend`` factory for a service described by ``info``.

    ``info`` is anything with the emulator's :class:`EmulatorInfo` fields
    (``base_url``, ``s3_endpoint_url``, ``app_key``, ``secret_key``, ``user_token``,
    ``project_uuid``) -- the local emulator, or your own settings object for the
    real service. Backends are cached, one per kind.
    """
    from terranb.jobs.factory import make_backend

    cache: dict[str, Any] = {}

    def factory(kind: str) -> Any:
        kind = "flighthub" if kind in ("flighthub", "fh2", "flighthub2") else "terra"
        if kind not in cache:
            if kind == "terra":
                cache[kind] = make_backend("terra", app_key=info.app_key,
                                           secret_key=info.secret_key, base_url=info.base_url,
                                           s3_endpoint_url=info.s3_endpoint_url)
            else:
                cache[kind] = make_backend("flighthub", user_token=info.user_token,
                                           project_uuid=info.project_uuid,
                                           base_url=info.base_url)
        return cache[kind]

    return factory


def submit_job(path: Any, *, backend: str, job_type: str, params: Any, name: str,
               on_progress: Callable[[Any], None],
               backend_factory: BackendFactory | None = None, ledger: Any = None) -> Any:
    """Preflight, upload, bind and start a job (blocking); returns the :class:`Job`."""
    from terranb.jobs.factory import make_backend
    from terranb.jobs.job import Job

    be = backend_factory(backend) if backend_factory is not None else make_backend(backend)
    return Job.submit(path, params, backend=be, job_type=job_type, name=name,
                      ledger=ledger, on_progress=on_progress)


class StatusLine:
    """Mixin: the status line of a widget and the errors it showed.

    The widget sets ``self.status`` (an ``ipywidgets.HTML``) and ``self.errors`` (a
    list, kept so that a notebook or a test can read what went wrong).
    """

    status: Any
    errors: list[str]

    def _say(self, text: str, error: bool = False) -> None:
        colour = "#cf222e" if error else "#1f2328"
        self.status.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"
        if error:
            self.errors.append(text)

    def _report_error(self, exc: BaseException) -> None:
        self._say(f"{type(exc).__name__}: {exc}", error=True)
