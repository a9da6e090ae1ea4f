"""What the widgets share: lazy ipywidgets, the asyncio runner, formatting and glue.

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
from functools import partial
from typing import Any, TypeVar

from terranb.errors import require

__all__ = [
    "StatusLine",
    "fmt_bytes",
    "fmt_duration",
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
