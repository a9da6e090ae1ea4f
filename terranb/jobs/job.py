"""One Job handle over TerraAPI and FlightHub 2: submit, status, wait, cancel, results.

:meth:`Job.submit` runs the whole chain of DJI's quick start, robustly:
preflight -> upload (parallel, resumable, journaled) -> resource -> bind (once
per file) -> create and start; it records the job in the :class:`Ledger`.
A second job with other parameters on the same data set reuses the bound
resource (the journal recognises the data set fingerprint), so nothing is
uploaded again. :meth:`Job.attach` finds a job again after a restart.

Example:
    >>> from terranb.params import Params2D
    >>> backend = make_backend("terra")                          # doctest: +SKIP
    >>> job = Job.submit("flight/", Params2D(), backend=backend)  # doctest: +SKIP
    >>> job.wait(on_update=print)                                # doctest: +SKIP
    >>> job.results("out/")                                      # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from terranb.config import Settings
from terranb.errors import (
    ConfigError,
    JobFailed,
    PreflightError,
    TransferError,
    ValidationError,
)
from terranb.jobs.backend import Backend
from terranb.jobs.factory import make_backend
from terranb.jobs.ledger import Ledger, LedgerRecord
from terranb.jobs.origin import origin_note, remembered_origin
from terranb.jobs.states import JobState, JobStatus
from terranb.jobs.waiter import wait_for
from terranb.transfer.journal import Journal
from terranb.transfer.progress import ProgressCallback, ProgressEvent
from terranb.transfer.upload import DEFAULT_PART_SIZE, DEFAULT_WORKERS, Uploader

__all__ = ["Job", "SubmitProgress"]

log = logging.getLogger(__name__)

_KIND_BY_CODE = {14: "2d", 15: "3d", 13: "lidar"}


@dataclass(frozen=True)
class SubmitProgress:
    """A step of :meth:`Job.submit` (``on_progress`` receives these and ProgressEvents).

    Attributes:
        step: ``preflight``, ``upload``, ``resource``, ``bind``, ``start`` or ``done``.
        message: what happens.
    """

    step: str
    message: str


def _resolve_kind(params: Any, job_type: Any) -> tuple[int, str]:
    """``(TerraAPI type code, kind)`` from an explicit type or the parameters object."""
    from terranb.params import job_type_code

    if job_type is None:
        job_type = getattr(params, "job_type", None)
        if job_type is None and type(params).__name__ == "Params3DGS":
            return 0, "3dgs"
        if not job_type:
            raise ValidationError("cannot tell the job type: pass job_type='2d', '3d' or "
                                  "'lidar', or a Params2D / Params3D / ParamsLidar object")
    if isinstance(job_type, str) and job_type.strip().lower() == "3dgs":
        return 0, "3dgs"
    code = job_type_code(job_type)
    return code, _KIND_BY_CODE[code]


def _param_string(params: Any) -> str:
    if params is None:
        return ""
    if isinstance(params, str):
        json.loads(params)  # a clear error early if it is not JSON
        return params
    if hasattr(params, "to_json"):
        return str(params.to_json())
    if isinstance(params, Mapping):
        return json.dumps(dict(params), separators=(",", ":"))
    raise ValidationError(f"parameters must be a Params object, a dict or a JSON string, "
                          f"not {type(params).__name__}")


def _run_preflight(dataset: Path, backend: Backend, kind: str, force: bool,
                   notify: Callable[[SubmitProgress], None]) -> None:
    import importlib

    try:
        preflight_mod = importlib.import_module("terranb.dataset.preflight")
    except ImportError:  # the dataset tools are optional at this layer
        log.warning("terranb.dataset.preflight is not available; skipping preflight")
        return
    run = getattr(preflight_mod, "preflight", None)
    if run is None:
        return
    notify(SubmitProgress("preflight", f"checking {dataset}"))
    report = run(dataset, backend=backend.kind, job_type=kind)
    errors = getattr(report, "errors", None)
    if errors is None:
        errors = [f for f in getattr(report, "findings", []) or []
                  if getattr(f, "severity", "") == "error"]
    errors = list(errors() if callable(errors) else errors)
    if errors and not force:
        first = "; ".join(str(getattr(e, "message", e)) for e in errors[:3])
        raise PreflightError(f"{dataset} failed preflight with {len(errors)} error(s): {first}"
                             " -- fix the data set, or submit with force=True (--force)",
                             findings=report)
    if errors:
        log.warning("submitting despite %d preflight error(s) (force=True)", len(errors))
    # Warnings do not stop the job, but the user must see them before the upload (e.g. a
    # LiDAR file in a 2D photo folder would be uploaded and bound with the photos).
    warnings = [f for f in getattr(report, "findings", []) or []
                if getattr(f, "severity", "") == "warning"]
    for finding in warnings[:10]:
        notify(SubmitProgress("preflight", f"warning: {getattr(finding, 'message', finding)}"))
    if len(warnings) > 10:
        notify(SubmitProgress("preflight", f"... and {len(warnings) - 10} more warning(s)"))


class Job:
    """A reconstruction job on TerraAPI or FlightHub 2.

    Do not construct directly: use :meth:`submit` or :meth:`attach`.

    Attributes:
        id: TerraAPI job uuid or FlightHub 2 model uuid.
        backend: the :class:`~terranb.jobs.backend.Backend` it runs on.
        record: its :class:`~terranb.jobs.ledger.LedgerRecord`.
        last_status: the last :class:`JobStatus` seen (``None`` before the first poll).
    """

    def __init__(self, backend: Backend, job_id: str, *, ledger: Ledger | None = None,
                 record: LedgerRecord | None = None) -> None:
        self.backend = backend
        self.id = job_id
        self.ledger = ledger
        self.record = record or LedgerRecord(job_id=job_id, backend=backend.kind,
                                             base_url=backend.base_url)
        self.last_status: JobStatus | None = None

    def __repr__(self) -> str:
        state = self.last_status.describe() if self.last_status else self.record.state
        return f"Job({self.id!r}, backend={self.backend.kind!r}, {state})"

    @property
    def resource_uuid(self) -> str:
        """The input resource."""
        return self.record.resource_uuid

    # -- submit ---------------------------------------------------------------------------
    @classmethod
    def submit(cls, dataset: str | os.PathLike[str] | None, params: Any, *,
               backend: Backend | str,
               job_type: Any = None, name: str | None = None, force: bool = False,
               ledger: Ledger | None = None, on_progress: Callable[[Any], None] | None = None,
               resource: str | None = None, journal: Journal | str | None = None,
               workers: int | None = DEFAULT_WORKERS, part_size: int = DEFAULT_PART_SIZE,
               preflight: bool = True) -> Job:
        """Preflight, upload, bind, create and start a job.

        Args:
            dataset: the folder of photos / LiDAR files (``None`` with ``resource``).
            params: a :mod:`terranb.params` object, a dict or the JSON string.
            backend: where to run it: a backend, or ``"terra"`` / ``"flighthub"`` for
                one built from settings (:func:`~terranb.jobs.factory.make_backend`).
            job_type: ``"2d"``, ``"3d"``, ``"lidar"`` (or 14/15/13); default from ``params``.
            name: job and resource name (default: the folder name and the time).
            force: submit even when preflight finds errors.
            ledger: where to record the job (default: the user's ledger).
            on_progress: gets :class:`SubmitProgress` steps and byte-level
                :class:`~terranb.transfer.progress.ProgressEvent` updates.
            resource: an already uploaded and bound resource: nothing is uploaded.
            journal: the upload journal (default: the user data dir).
            workers: parallel uploads (default None: measured, see transfer.concurrency).
            part_size: multipart part size.
            preflight: run :func:`terranb.dataset.preflight` first.

        Returns:
            the started :class:`Job`.

        Raises:
            PreflightError: the data set failed preflight (and ``force`` is False).
            TransferError: the upload failed; submitting again resumes it.
        """
        for label, value in (("workers", workers), ("part_size", part_size)):
            if label == "workers" and value is None:
                continue  # measured by the uploader
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(f"{label} must be a whole number of at least 1, not "
                                      f"{value!r}; e.g. workers=8 (--workers 8)")
        if isinstance(backend, str):
            backend = make_backend(backend)
        code, kind = _resolve_kind(params, job_type)
        parameters = _param_string(params)
        ledger = ledger if ledger is not None else Ledger()

        def notify(step: SubmitProgress | ProgressEvent) -> None:
            if on_progress is not None:
                on_progress(step)

        root = Path(dataset).resolve() if dataset is not None else None
        if root is None and not resource:
            raise ValidationError("give a data set folder or an uploaded resource uuid")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = name or (f"{root.name} {kind} {stamp}" if root else f"{kind} {stamp}")
        if root is not None and preflight:
            _run_preflight(root, backend, kind, force, notify)
        fingerprint = ""
        upload_seconds = 0.0
        if resource is None:
            assert root is not None
            resource, fingerprint, upload_seconds = cls._upload_and_bind(
                root, backend, name, notify, journal, workers, part_size)
        notify(SubmitProgress("start", f"starting a {kind} job on resource {resource}"))
        job_id = backend.start(resource, code, parameters, name, kind=kind)
        record = LedgerRecord(
            job_id=job_id, backend=backend.kind, base_url=backend.base_url,
            account=backend.label().rsplit(":", 1)[-1], name=name, job_type=kind,
            resource_uuid=resource, dataset=str(root or ""), fingerprint=fingerprint,
            parameters=parameters, state=JobState.QUEUED.value, upload_seconds=upload_seconds,
            started_at=time.time())
        ledger.add(record)
        notify(SubmitProgress("done", f"job {job_id} started"))
        return cls(backend, job_id, ledger=ledger, record=record)

    @staticmethod
    def _upload_and_bind(root: Path, backend: Backend, name: str,
                         notify: Callable[[Any], None], journal: Journal | str | None,
                         workers: int | None, part_size: int) -> tuple[str, str, float]:
        t0 = time.monotonic()
        uploader = Uploader(backend.obtain_credentials, label=backend.label(), journal=journal,
                            workers=workers, part_size=part_size, on_progress=notify)
        notify(SubmitProgress("upload", f"uploading {root}"))
        result = uploader.upload(root)
        session = result.session
        rows = result.files
        # The same data set, already bound to a resource of this account: reuse it.
        reuse = None
        if session.resource_uuid and session.fingerprint == result.fingerprint and all(
                r.bound_resource == session.resource_uuid and r.bind_state == 2 for r in rows):
            reuse = session.resource_uuid
        else:
            other = uploader.journal.find_resource(backend.label(), result.fingerprint)
            if other is not None:
                reuse = other.resource_uuid
        if reuse:
            notify(SubmitProgress("resource", f"reusing resource {reuse} (same data set)"))
            return reuse, result.fingerprint, time.monotonic() - t0
        if session.resource_uuid and not session.fingerprint:
            resource = session.resource_uuid  # binding was interrupted: continue it
        else:
            resource = backend.new_resource(name, store_path=session.store_path)
        uploader.journal.set_resource(session.id, resource)
        notify(SubmitProgress("resource", f"resource {resource}"))
        notify(SubmitProgress("bind", f"binding {len(rows)} files to {resource}"))

        def bind_batch(callback_param: str, batch: Any) -> None:
            backend.bind(resource, callback_param, batch, resource_name=name)

        for attempt in range(2):
            bound = uploader.bind(result, resource, bind_batch,
                                  batch_size=backend.bind_batch_size,
                                  bound_names=lambda: backend.bound_names(resource))
            if not bound.missing:
                break
            if attempt == 1:
                raise TransferError(f"{len(bound.missing)} uploaded file(s) are not in the "
                                    f"bucket ({', '.join(bound.missing[:3])}); submit again")
            log.warning("%d file(s) missing from the bucket; uploading them again",
                        len(bound.missing))
            result = uploader.upload(root)
        uploader.journal.set_resource(session.id, resource, result.fingerprint)
        return resource, result.fingerprint, time.monotonic() - t0

    @classmethod
    def from_flight_task(cls, task_uuid: str, params: Any, *,
                         backend: Backend | str = "flighthub", name: str | None = None,
                         ledger: Ledger | None = None, **client_kwargs: Any) -> Job:
        """Build a FlightHub 2 map model from a dock flight's media (nothing is uploaded).

        Args:
            task_uuid: the flight task (``terranb fh2 tasks`` lists them).
            params: Params2D or Params3D; ``output_geo_desc`` gives the required CRS.
            backend: ``"flighthub"`` (a map-model backend built from settings) or a
                :class:`~terranb.jobs.map_model_backend.MapModelBackend`.
            name: the model name (default: the task name and ``2d``/``3d``).
            client_kwargs: passed to the FlightHub 2 client when built here.
        """
        from terranb.jobs.map_model_backend import MapModelBackend

        if isinstance(backend, str):
            if backend.lower() not in ("flighthub", "fh2", "flighthub2", "flighthub-map"):
                raise ConfigError(f"map models run on FlightHub 2, not {backend!r}; use "
                                  "backend='flighthub'")
            backend = make_backend("flighthub-map", **client_kwargs)
        if not isinstance(backend, MapModelBackend):
            raise ConfigError("from_flight_task needs a MapModelBackend (backend='flighthub')")
        code, kind = _resolve_kind(params, None)
        parameters = _param_string(params)
        task = backend.client.flight_tasks.get(task_uuid)
        if task.folder_id is None:
            raise ValidationError(f"flight task {task_uuid} has no media folder yet; wait "
                                  "until its media are uploaded")
        name = name or f"{task.name or task_uuid} {kind}"
        job_id = backend.start(str(task.folder_id), code, parameters, name, kind=kind)
        ledger = ledger if ledger is not None else Ledger()
        record = LedgerRecord(
            job_id=job_id, backend=backend.kind, base_url=backend.base_url,
            account=backend.label().rsplit(":", 1)[-1], name=name, job_type=kind,
            resource_uuid=str(task.folder_id), dataset=f"flight-task:{task_uuid}",
            parameters=parameters, state=JobState.QUEUED.value, started_at=time.time())
        ledger.add(record)
        return cls(backend, job_id, ledger=ledger, record=record)

    # -- attach ---------------------------------------------------------------------------
    @classmethod
    def attach(cls, job_id: str, *, backend: Backend | None = None,
               ledger: Ledger | None = None, **client_kwargs: Any) -> Job:
        """Find a job again (after a kernel restart) by its id or a unique prefix.

        Args:
            job_id: job / model uuid (or a prefix of one in the ledger).
            backend: the backend; default: built from settings for the ledger's
                backend kind and service origin.
            ledger: the ledger (default: the user's).
            client_kwargs: passed to the client when ``backend`` is built here.

        Raises:
            ConfigError: the job is not in the ledger and no backend was given.
        """
        ledger = ledger if ledger is not None else Ledger()
        record = ledger.get(job_id)
        if record is None:
            if backend is None:
                raise ConfigError(f"job {job_id} is not in the ledger {ledger.path}; pass "
                                  "backend=... (or --backend) to attach to a job submitted "
                                  "elsewhere")
            status = backend.status(job_id)
            record = LedgerRecord(job_id=status.job_id, backend=backend.kind,
                                  base_url=backend.base_url,
                                  account=backend.label().rsplit(":", 1)[-1])
            ledger.add(record)
            ledger.update_status(record.job_id, status)
            job = cls(backend, record.job_id, ledger=ledger, record=record)
            job.last_status = status
            return job
        if backend is None:
            kwargs = dict(client_kwargs)
            if record.base_url and "base_url" not in kwargs and "settings" not in kwargs:
                # The ledger's origin is a remembered value: explicit > env > profile >
                # ledger > default (config.py), never an explicit argument.
                kwargs["settings"] = Settings.load(remembered=remembered_origin(record))
            backend = make_backend(record.backend, **kwargs)
            note = origin_note(record, backend)
            if note:
                log.warning("%s", note)
        elif backend.kind != record.backend:
            raise ConfigError(f"job {record.job_id} runs on {record.backend}, not "
                              f"{backend.kind}")
        return cls(backend, record.job_id, ledger=ledger, record=record)

    # -- status, wait, cancel -------------------------------------------------------------
    def status(self) -> JobStatus:
        """The job's current status (recorded in the ledger)."""
        status = self.backend.status(self.id)
        self._seen(status)
        return status

    def _seen(self, status: JobStatus) -> None:
        self.last_status = status
        self.record.state = status.state.value
        self.record.progress = status.progress
        self.record.message = status.message
        self.record.output_ref = status.output_ref
        if self.ledger is not None:
            self.ledger.update_status(self.id, status)

    def wait(self, on_update: Callable[[JobStatus], None] | None = None,
             timeout: float | None = None, interval: float = 5.0, max_interval: float = 60.0,
             *, raise_on_failure: bool = True, clock: Callable[[], float] | None = None,
             wall: Callable[[], float] | None = None,
             sleep: Callable[[float], None] | None = None) -> JobStatus:
        """Wait until the job ends; see :func:`terranb.jobs.waiter.wait_for`.

        Args:
            on_update: called with each new :class:`JobStatus`.
            timeout: seconds before :class:`~terranb.errors.JobTimeout` (job goes on).
            interval, max_interval: poll interval bounds (backoff in between).
            raise_on_failure: raise :class:`~terranb.errors.JobFailed` when the job
                failed or was cancelled (else return the status).
            clock, wall, sleep: injectable for tests.

        Returns:
            the terminal status.
        """
        given = {"clock": clock, "wall": wall, "sleep": sleep}
        kwargs: dict[str, Any] = {k: v for k, v in given.items() if v is not None}

        def update(status: JobStatus) -> None:
            if on_update is not None:
                on_update(status)

        status = wait_for(self.status, on_update=update, timeout=timeout, interval=interval,
                          max_interval=max_interval, **kwargs)
        if raise_on_failure and not status.state.is_success:
            what = "was cancelled" if status.state is JobState.CANCELLED else "failed"
            raise JobFailed(f"{self.backend.kind} job {self.id} {what} (status "
                            f"{status.raw_status}): {status.message or 'no message'}",
                            job=status)
        return status

    def cancel(self) -> JobStatus:
        """Stop the job; returns the status after the request."""
        self.backend.cancel(self.id)
        return self.status()

    # -- results --------------------------------------------------------------------------
    def results(self, dest: str | os.PathLike[str],
                on_progress: ProgressCallback | None = None, *, overwrite: bool = False,
                duplicates: str = "error") -> Path:
        """Download the finished job's result tree into ``dest`` and return ``dest``.

        Complete files are skipped, so calling it again is cheap. For FlightHub 2
        the result zip is downloaded and unpacked. A different file already at a
        target is never replaced unless ``overwrite=True``; two different files of
        one name in the listing are refused unless ``duplicates="rename"``.

        Raises:
            JobFailed: the job has not succeeded.
            FileConflictError, DuplicateNameError: see above (nothing was written).
        """
        status = self.last_status if (self.last_status and self.last_status.is_terminal) \
            else self.status()
        if not status.state.is_success:
            fix = ("it ended without results: submit a new job (the upload is reused)"
                   if status.is_terminal else "wait for it to succeed first")
            raise JobFailed(f"job {self.id} has no results: {status.describe()}; {fix}",
                            job=status)
        root = Path(dest)
        files = self.backend.download_results(status, root, on_progress=on_progress,
                                              overwrite=overwrite, duplicates=duplicates)
        if self.ledger is not None:
            self.ledger.set_outputs(self.id, str(root.resolve()), files)
        self.record.results_dir = str(root.resolve())
        self.record.outputs = files
        return root

    # -- no-download preview ----------------------------------------------------------------
    def preview(self, *, max_pixels: int = 1_000_000, max_points: int = 250_000,
                max_faces: int = 200_000, max_bytes: int | None = None) -> Any:
        """Preview the results straight from the bucket by range reads (nothing downloaded).

        The ortho COG is read at the overview that fits ``max_pixels``, a COPC cloud at
        its coarse octree levels, a 3D Tiles tileset at one level of detail; OBJ and
        plain LAS are listed with what a download costs. See :mod:`terranb.jobs.preview`.

        Args:
            max_pixels, max_points, max_faces: preview budgets.
            max_bytes: hard cap on bytes fetched (default 256 MB).

        Returns:
            A :class:`~terranb.jobs.preview.RemotePreview` (``summary()``, ``bytes_fetched``).

        Raises:
            JobFailed: the job has not succeeded.
            ConfigError: the backend gives no per-file URLs (FlightHub 2 delivers one zip:
                use :meth:`results`).
        """
        from terranb.errors import ConfigError
        from terranb.jobs.preview import DEFAULT_MAX_BYTES, preview_files

        status = self.last_status if (self.last_status and self.last_status.is_terminal) \
            else self.status()
        if not status.state.is_success:
            raise JobFailed(f"job {self.id} has no results to preview: {status.describe()}",
                            job=status)
        lister = getattr(self.backend, "output_files", None)
        if not callable(lister):
            raise ConfigError(
                f"{self.backend.kind} delivers its results as one zip archive, which cannot be "
                "previewed file by file; download it with job.results(dest)")
        return preview_files(lister(status), max_pixels=max_pixels, max_points=max_points,
                             max_faces=max_faces,
                             max_bytes=DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)
