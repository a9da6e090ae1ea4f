"""Runs TerraAPI jobs and FlightHub 2 models through their states in worker threads.

A job's life (TerraAPI statuses, protocol.md §1.7)::

    1 waiting -> 2 preparing (download the resource's objects into a work dir)
      -> 3 executing (Engine.produce computes the outputs from the inputs)
      -> 4 result processing (upload outputs, register them as the output resource)
      -> 6 finished        (7 failed with a message, 5 stopped by the user)

A FlightHub 2 model goes 12 requesting resource -> 14 executing -> 15 done (8
failed, 16 canceled), then zips its outputs into the bucket (``zip_status`` 1 ->
2, ``zip_file_key``).

``job_seconds`` is the least time the four stages take together (10/20/50/20 %),
so clients see every state even when the engine is fast. ``percentage`` (0..1)
and ``remainSeconds`` are updated as the stages advance.

Restart: :meth:`Scheduler.resume` picks up every job or model that was between
start and finish when the emulator stopped, records that in ``message`` and runs
it again from the beginning (outputs are a deterministic function of the inputs,
so re-running is the same as continuing). Jobs whose inputs are gone fail with a
message; nothing silently disappears.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from terranb.emulator.context import EmulatorContext, account_prefix

__all__ = ["JobStopped", "Scheduler"]

log = logging.getLogger(__name__)

# Share of job_seconds per stage: waiting, preparing, executing, result processing.
STAGE_SHARES = (0.1, 0.2, 0.5, 0.2)
# percentage reached at the end of each stage.
STAGE_MARKS = (0.02, 0.10, 0.85, 1.0)
TERRA_TYPES = {13: "lidar", 14: "2d", 15: "3d"}
FH2_TYPES = {1: "2d", 2: "3d", 3: "3dgs", 4: "lidar"}
FH2_ERROR_FAILED = 310001  # reconstruction failure code (AERO fixture value; DJI's list is unknown)


class JobStopped(Exception):
    """The job was stopped by the user or the emulator is shutting down."""


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class _Table:
    """Where a worker writes its progress: TerraAPI's jobs or FlightHub 2's models.

    ``done``: once a row is in one of these states no worker writes to it again (the
    user stopped it, or it ended); ``stopped``: the states in which a worker gives up at
    its next checkpoint. They differ for models: 15 ends the reconstruction, but the
    worker still packs the zip (its writes pass ``allow_done=True``).
    """

    name: str
    kind: str  # "job" / "model": names work dirs, threads and log lines
    done: tuple[int, ...]
    stopped: tuple[int, ...]
    running: str  # SQL: the rows a restart picks up again
    restart: str  # SQL SET clause: how a picked-up row starts over

    def not_done(self, *, allow_done: bool) -> str:
        """SQL: the row has not reached an end state."""
        ends = self.stopped if allow_done else self.done
        return f"status NOT IN ({', '.join(map(str, ends))})"


class _Run(NamedTuple):
    """What a worker's stages get: its row, writes guarded by the end states, checkpoints."""

    uuid: str
    row: dict[str, Any]
    update: Callable[..., None]
    check: Callable[[], None]
    work: Path  # scratch dir, removed when the run ends (kept over a shutdown)


_JOBS = _Table(
    "jobs", "job", done=(5, 6, 7), stopped=(5, 6, 7), running="status IN (1, 2, 3, 4)",
    restart="status = 1, percentage = 0, stop_requested = 0",
)
_MODELS = _Table(
    "models", "model", done=(8, 15, 16), stopped=(8, 16),
    running="status IN (12, 14) OR (status = 15 AND zip_status IN (0, 1))",
    restart="status = 12, progress = 0, zip_status = 0, zip_progress = 0",
)


class Scheduler:
    """Owns the worker threads.

    Args:
        ctx: the emulator context (state, storage, options).
        engine_factory: builds the output engine (``Engine(seed=...)``); called
            lazily so the API works even before the first job.
        work_dir: scratch space for inputs and outputs of running jobs.
    """

    def __init__(
        self, ctx: EmulatorContext, engine_factory: Callable[[], Any], work_dir: Path
    ) -> None:
        self.ctx = ctx
        self.engine_factory = engine_factory
        self.work_dir = Path(work_dir)
        self._engine: Any = None
        self._engine_lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self._shutdown = threading.Event()
        self._lock = threading.Lock()
        # At most two engines compute at once: the machine running the emulator is
        # usually also running the client and its tests.
        self._compute = threading.Semaphore(2)

    # ------------------------------------------------------------- control
    @property
    def job_seconds(self) -> float:
        """The least duration of a job."""
        return float(self.ctx.options.job_seconds)

    def engine(self) -> Any:
        """The engine, built on first use."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = self.engine_factory()
            return self._engine

    def submit_job(self, job_uuid: str) -> None:
        """Run a started TerraAPI job in a worker thread."""
        self._spawn(f"job-{job_uuid}", self._run_job, job_uuid)

    def submit_model(self, model_uuid: str) -> None:
        """Run a started FlightHub 2 model in a worker thread."""
        self._spawn(f"model-{model_uuid}", self._run_model, model_uuid)

    def _spawn(self, name: str, target: Callable[[str], None], arg: str) -> None:
        with self._lock:
            old = self._threads.get(name)
            if old is not None and old.is_alive():
                return
            t = threading.Thread(target=target, args=(arg,), name=f"terranb-{name}", daemon=True)
            self._threads[name] = t
            t.start()

    def resume(self) -> list[str]:
        """Pick up jobs and models left running by a previous process; returns their uuids."""
        st = self.ctx.state
        resumed: list[str] = []
        now = time.time()
        for table, submit in ((_JOBS, self.submit_job), (_MODELS, self.submit_model)):
            for row in st.query(f"SELECT uuid FROM {table.name} WHERE {table.running}"):
                st.execute(
                    f"UPDATE {table.name} SET {table.restart}, "
                    "message = 'resumed after an emulator restart', updated_at = ? "
                    "WHERE uuid = ?",
                    (now, row["uuid"]),
                )
                submit(row["uuid"])
                resumed.append(row["uuid"])
        return resumed

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every worker to stop at its next checkpoint and wait for them.

        Interrupted jobs keep their state in the database and are resumed by the
        next :meth:`resume` with the same data dir.
        """
        self._shutdown.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def idle(self) -> bool:
        """True when no worker is running."""
        with self._lock:
            return not any(t.is_alive() for t in self._threads.values())

    # ------------------------------------------------ the rows workers write
    def _row(self, table: _Table, uuid_: str) -> dict[str, Any] | None:
        return self.ctx.state.one(f"SELECT * FROM {table.name} WHERE uuid = ?", (uuid_,))

    def _update(
        self, table: _Table, uuid_: str, *, allow_done: bool = False, **values: Any
    ) -> None:
        """Update a row unless it reached an end state meanwhile (then the worker stops)."""
        values["updated_at"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in values)
        changed = self.ctx.state.execute(
            f"UPDATE {table.name} SET {sets} WHERE uuid = ? AND "
            f"{table.not_done(allow_done=allow_done)}",
            [*values.values(), uuid_],
        )
        if not changed:
            raise _Cancelled()

    def _check(self, table: _Table, uuid_: str) -> None:
        """A checkpoint: stop if the emulator shuts down or the user stopped the row."""
        if self._shutdown.is_set():
            raise JobStopped("emulator shutting down")
        row = self._row(table, uuid_)
        if row is None or int(row["status"]) in table.stopped or row["stop_requested"]:
            raise _Cancelled()

    def _run(
        self, table: _Table, uuid_: str, stages: Callable[[_Run], None],
        fail: Callable[[_Run, Exception], None],
    ) -> None:
        """Run a worker's ``stages``: a stop ends them quietly, an error marks the row with
        ``fail``; after a shutdown the row and the work dir stay as they are for resume()."""
        row = self._row(table, uuid_)
        if row is None:
            return
        run = _Run(
            uuid_, row, functools.partial(self._update, table, uuid_),
            functools.partial(self._check, table, uuid_), self.work_dir / f"{table.kind}-{uuid_}",
        )
        try:
            stages(run)
        except (_Cancelled, JobStopped):
            pass
        except Exception as exc:  # the job fails, the emulator goes on
            if not self._shutdown.is_set():
                log.warning("%s %s failed: %s", table.kind, uuid_, exc)
                log.debug("%s", traceback.format_exc())
                try:
                    fail(run, exc)
                except _Cancelled:
                    pass
        finally:
            if not self._shutdown.is_set():
                shutil.rmtree(run.work, ignore_errors=True)

    # ------------------------------------------------------------ terra jobs
    def _run_job(self, job_uuid: str) -> None:
        self._run(_JOBS, job_uuid, self._job_stages, _job_failed)

    def _job_stages(self, run: _Run) -> None:
        row, update, check, work = run.row, run.update, run.check, run.work
        t0 = time.monotonic()
        total = self.job_seconds

        def progress(stage: int, fraction: float) -> None:
            lo = STAGE_MARKS[stage - 1] if stage > 0 else 0.0
            hi = STAGE_MARKS[stage]
            pct = lo + (hi - lo) * max(0.0, min(1.0, fraction))
            elapsed = time.monotonic() - t0
            remain = max(total - elapsed, elapsed / pct * (1 - pct) if pct > 0.05 else total)
            update(percentage=round(pct, 4), remain_seconds=int(remain + 0.5))

        def hold(stage: int, started: float) -> None:
            _hold(started, total * STAGE_SHARES[stage], check, lambda f: progress(stage, f))

        job_type = TERRA_TYPES[int(row["type"])]
        params = json.loads(row["parameters"] or "{}")
        # 1 waiting
        s = time.monotonic()
        update(status=1)
        hold(0, s)
        # 2 preparing: fetch the inputs
        s = time.monotonic()
        update(status=2)
        inputs, pixels = self._download_inputs(
            row["origin_resource_uuid"],
            work / "inputs",
            lambda f: progress(1, f),
            check,
        )
        update(pixels=float(pixels))
        hold(1, s)
        # 3 executing: compute outputs
        s = time.monotonic()
        update(status=3)
        out_dir = work / "outputs"
        produced = self._produce(
            job_type,
            params,
            inputs,
            out_dir,
            lambda f, _m: progress(2, f),
            check,
        )
        hold(2, s)
        # 4 result processing: upload and register the output resource
        s = time.monotonic()
        update(status=4)
        self._register_outputs(row, out_dir, produced, lambda f: progress(3, f))
        hold(3, s)
        now = time.time()
        # message keeps a resume note, if any; it is "" for an uninterrupted job
        update(status=6, percentage=1.0, remain_seconds=0, completed_at=now)

    # ---------------------------------------------------------- shared steps
    def _download_inputs(
        self,
        resource_uuid: str,
        dest: Path,
        on_fraction: Callable[[float], None],
        check: Callable[[], None],
    ) -> tuple[list[tuple[str, Path]], int]:
        files = self.ctx.state.resource_files(resource_uuid)
        if not files:
            raise RuntimeError(f"input resource {resource_uuid} has no files (deleted?)")
        dest.mkdir(parents=True, exist_ok=True)
        inputs: list[tuple[str, Path]] = []
        pixels = 0
        for i, f in enumerate(files):
            check()
            name = f["bound_name"]
            local = dest.joinpath(*name.split("/"))
            local.parent.mkdir(parents=True, exist_ok=True)
            if self.ctx.storage.head_object(f["bucket"], f["object_key"]) is None:
                raise RuntimeError(f"input file {name!r} is no longer in the bucket")
            self.ctx.storage.download_file(f["bucket"], f["object_key"], local)
            inputs.append((name, local))
            pixels += _pixels(local)
            on_fraction((i + 1) / len(files))
        return inputs, pixels

    def _produce(
        self,
        job_type: str,
        params: dict[str, Any],
        inputs: list[tuple[str, Path]],
        out_dir: Path,
        on_progress: Callable[[float, str], None],
        check: Callable[[], None],
    ) -> list[str]:
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        engine = self.engine()

        def cb(fraction: float, message: str = "") -> None:
            check()  # raises inside the engine to abandon a stopped job
            on_progress(float(fraction), message)

        with self._compute:
            check()
            produced: list[str] = list(engine.produce(job_type, params, inputs, out_dir, cb))
        return produced

    def _register_outputs(
        self,
        job: dict[str, Any],
        out_dir: Path,
        produced: list[str],
        on_fraction: Callable[[float], None],
    ) -> None:
        from terranb.emulator.config import TERRA_BUCKET

        st = self.ctx.state
        out_uuid = job["output_resource_uuid"]
        prefix = f"{account_prefix(job['owner'])}/output/{job['uuid']}"
        rows: list[tuple[dict[str, Any], str]] = []
        for i, rel in enumerate(sorted(set(produced))):
            local = out_dir.joinpath(*rel.split("/"))
            key = f"{prefix}/{rel}"
            etag = str(self.ctx.storage.upload_file(TERRA_BUCKET, key, local)).strip('"')
            now = time.time()
            rows.append(
                (
                    {
                        "uuid": str(uuid.uuid4()),
                        "owner": job["owner"],
                        "name": rel,
                        "checksum": etag,
                        "etag": etag,
                        "size": local.stat().st_size,
                        "meta": "",
                        "position": {},
                        "bucket": TERRA_BUCKET,
                        "object_key": key,
                        "created_at": now,
                        "updated_at": now,
                    },
                    rel,
                )
            )
            on_fraction((i + 1) / max(1, len(produced)))
        with st.transaction():
            existing = {r["bound_name"] for r in st.resource_files(out_uuid)}
            for row, rel in rows:
                if rel in existing:  # a resumed job re-registers: keep the first binding
                    continue
                st.insert("files", row)
                st.bind_file(out_uuid, row["uuid"], rel)
            st.update("resources", "uuid", out_uuid, {"updated_at": time.time()})

    # ------------------------------------------------------------ FH2 models
    def _run_model(self, model_uuid: str) -> None:
        self._run(_MODELS, model_uuid, self._model_stages, self._model_failed)

    def _model_stages(self, run: _Run) -> None:
        from terranb.emulator.config import FH2_BUCKET, MODEL_PREVIEW_SOURCE, model_preview_key

        model_uuid, row, update, check = run.uuid, run.row, run.update, run.check
        total = self.job_seconds
        t0 = time.monotonic()

        def hold(share: float, started: float, status_progress: Callable[[float], None]) -> None:
            _hold(started, total * share, check, status_progress)

        job_type = row["job_type"]
        params = json.loads(row["parameters"] or "{}")
        s = time.monotonic()
        update(status=12, started_at=time.time())
        inputs, _ = self._download_inputs(
            row["resource_uuid"], run.work / "inputs", lambda f: None, check
        )
        hold(STAGE_SHARES[0] + STAGE_SHARES[1], s, lambda f: None)
        s = time.monotonic()
        update(status=14, progress=0)

        def on_progress(f: float, _m: str = "") -> None:
            update(progress=int(max(0.0, min(1.0, f)) * 99))

        out_dir = run.work / "outputs"
        produced = self._produce(job_type, params, inputs, out_dir, on_progress, check)
        hold(STAGE_SHARES[2], s, lambda f: None)
        size = sum(out_dir.joinpath(*p.split("/")).stat().st_size for p in produced)
        update(
            status=15,
            progress=100,
            model_size=size,
            zip_status=1,
            zip_progress=0,
            completed_at=time.time(),
        )
        # zip the outputs into the bucket of obtain_token (NOTES.md decision)
        s = time.monotonic()
        zip_path = run.work / f"{model_uuid}.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for i, rel in enumerate(sorted(set(produced))):
                check()
                zf.write(out_dir.joinpath(*rel.split("/")), rel)
                update(
                    allow_done=True,
                    zip_progress=int(90 * (i + 1) / max(1, len(produced))),
                )
        key = f"{row['project']}/open_model/{model_uuid}/{model_uuid}.zip"
        self.ctx.storage.upload_file(FH2_BUCKET, key, zip_path)
        preview = out_dir.joinpath(*MODEL_PREVIEW_SOURCE.split("/"))
        if preview.is_file():
            self.ctx.storage.upload_file(FH2_BUCKET, model_preview_key(key), preview)
        hold(
            STAGE_SHARES[3], s, lambda f: update(allow_done=True, zip_progress=90 + int(9 * f))
        )
        update(
            allow_done=True,
            zip_status=2,
            zip_progress=100,
            zip_file_key=key,
            message="",
        )
        if row["delete_resource"]:
            self._delete_fh2_resource_if_idle(row["resource_uuid"])
        log.debug("model %s done in %.1fs", model_uuid, time.monotonic() - t0)

    def _model_failed(self, run: _Run, exc: Exception) -> None:
        # A failure after status 15 is one of packing the zip: the model itself stays done.
        cur = self._row(_MODELS, run.uuid)
        if cur is not None and int(cur["status"]) == 15:
            run.update(allow_done=True, zip_status=3, message=f"packing the model failed: {exc}")
        else:
            run.update(
                status=8, error_code=FH2_ERROR_FAILED, message=f"reconstruction failed: {exc}",
                completed_at=time.time(),
            )

    def _delete_fh2_resource_if_idle(self, resource_uuid: str) -> None:
        st = self.ctx.state
        busy = st.one(
            f"SELECT COUNT(*) AS n FROM models WHERE resource_uuid = ? AND ({_MODELS.running})",
            (resource_uuid,),
        )
        if busy and int(busy["n"]) == 0:
            with st.transaction():
                st.execute("DELETE FROM resource_files WHERE resource_uuid = ?", (resource_uuid,))
                st.execute(
                    "UPDATE resources SET status = 3, updated_at = ? WHERE uuid = ?",
                    (time.time(), resource_uuid),
                )


def _job_failed(run: _Run, exc: Exception) -> None:
    run.update(
        status=7, remain_seconds=0, message=f"reconstruction failed: {exc}",
        completed_at=time.time(),
    )


def _hold(
    started: float, span: float, check: Callable[[], None], report: Callable[[float], None]
) -> None:
    """Wait until ``span`` seconds after ``started``, checking for a stop, reporting 0..1."""
    until = started + span
    while True:
        check()
        now = time.monotonic()
        if now >= until:
            break
        report(1 - (until - now) / max(span, 1e-6))
        time.sleep(min(0.1, until - now))
    report(1.0)


def _pixels(path: Path) -> int:
    """Width x height of an image (header only), 0 for anything else."""
    if path.suffix.lower() not in (".jpg", ".jpeg", ".tif", ".tiff", ".png"):
        return 0
    try:
        from PIL import Image

        with Image.open(path) as im:
            return int(im.width) * int(im.height)
    except Exception:
        return 0
