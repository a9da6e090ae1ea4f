"""Preflight and footprints of a dock mission's photos without downloading them.

A FlightHub 2 flight task's media come with presigned ``original_url`` links
(``GET /flight-task/{uuid}/media``). Everything preflight needs from a photo --
position, attitude, camera, capture time, frame size -- sits in the JPEG headers
before the compressed image data, plus a few bytes at the end that tell a
complete file from a truncated one. :func:`preflight_flight_task` reads exactly
those by HTTP ``Range`` (:class:`~terranb.transfer.rangeio.RangeFile`, counted per
photo), hands them to the same EXIF/XMP reader and the same checks as a local
folder (:func:`terranb.dataset.preflight.preflight`), and reports how many bytes
were read against the photos' total size.

This module sits in ``jobs`` because it joins three lower parts: the FlightHub 2
client (``api``), the byte layer (``transfer``) and the checks (``dataset``, which
itself does no HTTP).

Example:
    >>> pre = preflight_flight_task(task.uuid, client=fh, job_type="2d")  # doctest: +SKIP
    >>> print(pre.headline())                                             # doctest: +SKIP
    >>> result_map(footprints=pre.footprints)                             # doctest: +SKIP
"""

from __future__ import annotations

import html
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terranb.api.models_fh2_dock import FlightTask, TaskMedia
from terranb.dataset.exif import PhotoMeta, read_photo_meta_from
from terranb.dataset.findings import Finding
from terranb.dataset.footprint import FootprintSet
from terranb.dataset.preflight import PreflightReport, preflight
from terranb.errors import ValidationError
from terranb.transfer.rangeio import ByteBudget, PreviewBudgetError, RangeFile, _session

__all__ = ["HEAD_BYTES", "TAIL_BYTES", "MissionPreflight", "preflight_flight_task", "task_crs"]

#: First request per photo: DJI's EXIF + XMP segments mostly fit, bigger ones take one more.
HEAD_BYTES = 8 * 1024
#: Bytes read at the end of each photo for the truncation check (the local reader reads
#: 64 KiB; the marker test only looks at the last 4 KiB, so that is what is fetched).
TAIL_BYTES = 4 * 1024
#: Refuse to read more than this per photo: headers are never that large, a server that
#: ignores Range would otherwise stream whole photos.
MAX_HEADER_BYTES = 1024 * 1024


@dataclass
class MissionPreflight:
    """What :func:`preflight_flight_task` found, with the byte count that proves it.

    Attributes:
        task: the flight task.
        report: the preflight report (same findings as for a local folder).
        media: the task's media files.
        bytes_read: body bytes received over HTTP (headers of every photo + tails).
        bytes_total: the photos' total size (what a download would have cost).
        requests: HTTP range requests made.
        seconds: wall time of the reads.
    """

    task: FlightTask
    report: PreflightReport
    media: list[TaskMedia] = field(default_factory=list, repr=False)
    bytes_read: int = 0
    bytes_total: int = 0
    requests: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the preflight found no error."""
        return self.report.ok

    @property
    def footprints(self) -> FootprintSet | None:
        """Photo footprints (for ``terranb.viz.maps.result_map(footprints=...)``)."""
        return self.report.footprints

    @property
    def fraction_read(self) -> float:
        """``bytes_read / bytes_total`` (0 when there is nothing)."""
        return self.bytes_read / self.bytes_total if self.bytes_total else 0.0

    def read_line(self) -> str:
        """One line: bytes read by range against the photos' size."""
        photos = sum(1 for m in self.media if m.is_photo)
        return (f"read {self.bytes_read:,} of {self.bytes_total:,} bytes "
                f"({self.fraction_read:.1%}) of {photos} photos by HTTP Range in "
                f"{self.requests} requests; no photo was downloaded")

    def headline(self) -> str:
        """The preflight headline and the byte count."""
        return f"{self.report.headline()}\n{self.read_line()}"

    def to_text(self) -> str:
        """Headline, byte count and the findings table."""
        return f"{self.report.to_text()}\n{self.read_line()}"

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        return (self.report._repr_html_()
                + f"<p>{html.escape(self.read_line())}</p>")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"task_uuid": self.task.uuid, "task_name": self.task.name,
                "folder_id": self.task.folder_id, **self.report.to_dict(),
                "bytes_read": self.bytes_read, "bytes_total": self.bytes_total,
                "fraction_read": round(self.fraction_read, 4), "requests": self.requests,
                "read_seconds": round(self.seconds, 2)}


def _client_of(client: Any, client_kwargs: dict[str, Any]) -> Any:
    if client is None:
        from terranb.jobs.factory import make_backend

        return make_backend("flighthub-map", **client_kwargs).client  # type: ignore[attr-defined]
    if hasattr(client, "flight_tasks"):
        return client
    inner = getattr(client, "client", None)
    if inner is not None and hasattr(inner, "flight_tasks"):
        return inner  # a FlightHub backend (or a Job's backend)
    raise ValidationError("client must be a FlightHubClient or a FlightHub 2 backend; build "
                          "one with make_backend('flighthub-map', ...)")


@dataclass
class _Reader:
    """Reads one photo's headers by range; one requests session per thread.

    ``budgets`` gathers each photo's :class:`ByteBudget` (from all worker threads) so the
    caller can total the bytes and requests afterwards.
    """

    head_bytes: int
    tail_bytes: int
    max_header_bytes: int
    budgets: list[ByteBudget] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _sess(self) -> Any:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = _session()
        return s

    def __call__(self, media: TaskMedia) -> PhotoMeta:
        path = Path(media.name)
        budget = ByteBudget(max_bytes=self.max_header_bytes)
        with self._lock:
            self.budgets.append(budget)
        f = RangeFile(media.original_url, budget=budget, session=self._sess(),
                      readahead=self.head_bytes, name=media.name)
        try:
            return read_photo_meta_from(f, path, f.size, tail_bytes=self.tail_bytes)
        except PreviewBudgetError:
            return PhotoMeta(path=path, size_bytes=media.size, findings=(Finding(
                "error", "unreadable", f"{media.name}: its headers are larger than "
                f"{self.max_header_bytes:,} bytes (or the server ignores HTTP Range); pass "
                "max_header_bytes= higher, or download the photos and preflight the folder.",
                path),))


def preflight_flight_task(task_uuid: str, *, client: Any = None, job_type: str = "3d",
                          ground_elevation: float | None = None, workers: int = 8,
                          head_bytes: int = HEAD_BYTES, tail_bytes: int = TAIL_BYTES,
                          max_header_bytes: int = MAX_HEADER_BYTES,
                          **client_kwargs: Any) -> MissionPreflight:
    """Preflight a FlightHub 2 flight task's photos by reading their headers over HTTP.

    Args:
        task_uuid: the flight task (``terranb fh2 tasks`` lists them).
        client: a :class:`~terranb.api.flighthub.FlightHubClient` or a FlightHub 2
            backend; default: built from settings and ``client_kwargs``.
        job_type: ``"2d"`` or ``"3d"`` (the limits checked are FlightHub 2's).
        ground_elevation: ground height above sea level for photos without
            RelativeAltitude (footprints), metres.
        workers: photos read in parallel.
        head_bytes: first request per photo, bytes (more is read when the headers are
            longer).
        tail_bytes: bytes read at the end of each photo (truncation check).
        max_header_bytes: cap per photo, bytes; a photo over it gets an ``unreadable``
            finding instead of being streamed.

    Returns:
        A :class:`MissionPreflight` (``.report`` is a normal PreflightReport).

    Raises:
        ValidationError: the task has no photos with download links.
        ExpiredUrlError / RangeNotSupportedError: the media links cannot be read by range.
    """
    if str(job_type).lower() not in ("2d", "3d"):
        raise ValidationError(f"a dock mission is reconstructed as 2d or 3d, not {job_type!r}")
    if workers < 1:
        raise ValidationError(f"workers must be at least 1, not {workers}")
    fh = _client_of(client, client_kwargs)
    task = fh.flight_tasks.get(task_uuid)
    media = fh.flight_tasks.media(task_uuid)
    photos = [m for m in media if m.is_photo and m.original_url]
    if not photos:
        raise ValidationError(f"flight task {task_uuid} has no photos with a download link "
                              f"({len(media)} media files); wait until its media are uploaded, "
                              "or choose another task")
    reader = _Reader(head_bytes, tail_bytes, max_header_bytes)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(workers, len(photos))) as pool:
        metas = dict(zip([Path(m.name) for m in photos], pool.map(reader, photos), strict=True))
    seconds = time.monotonic() - started
    sizes = {Path(m.name): int(metas[Path(m.name)].size_bytes if Path(m.name) in metas
                               else m.size) for m in media}

    def meta_of(path: Path) -> PhotoMeta:
        if path in metas:
            return metas[path]
        return PhotoMeta(path=path, size_bytes=sizes.get(path, 0), findings=(Finding(
            "error", "unreadable", f"{path.name}: the service gave no download link for it; "
            "wait until the task's media are uploaded, then run the preflight again.",
            path),))

    report = preflight([Path(m.name) for m in media], backend="flighthub", job_type=job_type,
                       ground_elevation=ground_elevation, reader=meta_of,
                       sizes=sizes, label=f"flight task {task.name or task_uuid}")
    return MissionPreflight(
        task=task, report=report, media=media,
        bytes_read=sum(b.fetched for b in reader.budgets),
        bytes_total=sum(sizes[Path(m.name)] for m in photos),
        requests=sum(b.requests for b in reader.budgets), seconds=seconds)


def task_crs(task_uuid: str, *, client: Any = None, **client_kwargs: Any) -> str:
    """``EPSG:<code>`` of the UTM zone under a flight task's first located photo.

    A map model needs an output coordinate system (``wkt``); this is the one terranb
    chooses when none is given. One photo's headers are read by range (a few KiB).
    """
    fh = _client_of(client, client_kwargs)
    photos = [m for m in fh.flight_tasks.media(task_uuid) if m.is_photo and m.original_url]
    reader = _Reader(HEAD_BYTES, TAIL_BYTES, MAX_HEADER_BYTES)
    for m in photos[:5]:  # a few tries: the first photo may lack a fix
        meta = reader(m)
        if meta.longitude is not None and meta.latitude is not None:
            from terranb.dataset.camera import utm_epsg_for

            return f"EPSG:{utm_epsg_for(meta.longitude, meta.latitude)}"
    raise ValidationError(f"flight task {task_uuid}: no photo with a GPS position among the "
                          "first ones, so no UTM zone can be chosen; pass the CRS (--crs "
                          "EPSG:<code>, or output_geo_desc=GeoDesc(...))")
