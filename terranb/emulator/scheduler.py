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

import json
import logging
import shutil
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
        for row in st.query("SELECT uuid FROM jobs WHERE status IN (1, 2, 3, 4)"):
            st.execute(
                "UPDATE jobs SET status = 1, percentage = 0, stop_requested = 0, "
                "message = 'resumed after an emulator restart', updated_at = ? "
                "WHERE uuid = ?",
                (now, row["uuid"]),
            )
            self.submit_job(row["uuid"])
            resumed.append(row["uuid"])
        for row in st.query(
            "SELECT uuid FROM models WHERE status IN (12, 14) OR "
            "(status = 15 AND zip_status IN (0, 1))"
        ):
            st.execute(
                "UPDATE models SET status = 12, progress = 0, zip_status = 0, "
                "zip_progress = 0, message = 'resumed after an emulator restart', "
                "updated_at = ? WHERE uuid = ?",
                (now, row["uuid"]),
            )
            self.submit_model(row["uuid"])
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

    # ------------------------------------------------------------ terra jobs
    def _job(self, job_uuid: str) -> dict[str, Any] | None:
        return self.ctx.state.one("SELECT * FROM jobs WHERE uuid = ?", (job_uuid,))

    def _job_update(self, job_uuid: str, **values: Any) -> None:
        """Update a job unless it reached a terminal state (5/6/7) meanwhile."""
        values["updated_at"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in values)
        changed = self.ctx.state.execute(
            f"UPDATE jobs SET {sets} WHERE uuid = ? AND status NOT IN (5, 6, 7)",
            [*values.values(), job_uuid],
        )
        if not changed:
            raise _Cancelled()

    def _check_job(self, job_uuid: str) -> None:
        if self._shutdown.is_set():
            raise JobStopped("emulator shutting down")
        row = self._job(job_uuid)
        if row is None or int(row["status"]) in (5, 6, 7) or row["stop_requested"]:
            raise _Cancelled()

    def _run_job(self, job_uuid: str) -> None:
        row = self._job(job_uuid)
        if row is None:
            return
        t0 = time.monotonic()
        total = self.job_seconds
        work = self.work_dir / f"job-{job_uuid}"

        def progress(stage: int, fraction: float) -> None:
            lo = STAGE_MARKS[stage - 1] if stage > 0 else 0.0
            hi = STAGE_MARKS[stage]
            pct = lo + (hi - lo) * max(0.0, min(1.0, fraction))
            elapsed = time.monotonic() - t0
            remain = max(total - elapsed, elapsed / pct * (1 - pct) if pct > 0.05 else total)
            self._job_update(job_uuid, percentage=round(pct, 4), remain_seconds=int(remain + 0.5))

        def hold(stage: int, started: float) -> None:
            """Wait until the stage used its share of job_seconds, checking for stop."""
            until = started + total * STAGE_SHARES[stage]
            while True:
                self._check_job(job_uuid)
                now = time.monotonic()
                if now >= until:
                    break
                span = max(total * STAGE_SHARES[stage], 1e-6)
                progress(stage, 1 - (until - now) / span)
                time.sleep(min(0.1, until - now))
            progress(stage, 1.0)

        try:
            job_type = TERRA_TYPES[int(row["type"])]
            params = json.loads(row["parameters"] or "{}")
            # 1 waiting
            s = time.monotonic()
            self._job_update(job_uuid, status=1)
            hold(0, s)
            # 2 preparing: fetch the inputs
            s = time.monotonic()
            self._job_update(job_uuid, status=2)
            inputs, pixels = self._download_inputs(
                row["origin_resource_uuid"],
                work / "inputs",
                lambda f: progress(1, f),
                lambda: self._check_job(job_uuid),
            )
            self._job_update(job_uuid, pixels=float(pixels))
            hold(1, s)
            # 3 executing: compute outputs
            s = time.monotonic()
            self._job_update(job_uuid, status=3)
            out_dir = work / "outputs"
            produced = self._produce(
                job_type,
                params,
                inputs,
                out_dir,
                lambda f, _m: progress(2, f),
                lambda: self._check_job(job_uuid),
            )
            hold(2, s)
            # 4 result processing: upload and register the output resource
            s = time.monotonic()
            self._job_update(job_uuid, status=4)
            self._register_outputs(row, out_dir, produced, lambda f: progress(3, f))
            hold(3, s)
            now = time.time()
            # message keeps a resume note, if any; it is "" for an uninterrupted job
            self._job_update(job_uuid, status=6, percentage=1.0, remain_seconds=0, completed_at=now)
        except (_Cancelled, JobStopped):
            pass
        except Exception as exc:  # the job fails, the emulator goes on
            if self._shutdown.is_set():
                return  # interrupted by shutdown: left as is for resume()
            log.warning("job %s failed: %s", job_uuid, exc)
            log.debug("%s", traceback.format_exc())
            try:
                self._job_update(
                    job_uuid,
                    status=7,
                    remain_seconds=0,
                    message=f"reconstruction failed: {exc}",
                    completed_at=time.time(),
                )
            except _Cancelled:
                pass
        finally:
            if not self._shutdown.is_set():
                shutil.rmtree(work, ignore_errors=True)

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
    def _model(self, model_uuid: str) -> dict[str, Any] | None:
        return self.ctx.state.one("SELECT * FROM models WHERE uuid = ?", (model_uuid,))

    def _model_update(self, model_uuid: str, *, allow_done: bool = False, **values: Any) -> None:
        values["updated_at"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in values)
        terminal = "(8, 16)" if allow_done else "(8, 15, 16)"
        changed = self.ctx.state.execute(
            f"UPDATE models SET {sets} WHERE uuid = ? AND status NOT IN {terminal}",
            [*values.values(), model_uuid],
        )
        if not changed:
            raise _Cancelled()

    def _check_model(self, model_uuid: str) -> None:
        if self._shutdown.is_set():
            raise JobStopped("emulator shutting down")
        row = self._model(model_uuid)
        if row is None or int(row["status"]) in (8, 16) or row["stop_requested"]:
            raise _Cancelled()

    def _run_model(self, model_uuid: str) -> None:
        from terranb.emulator.config import FH2_BUCKET

        row = self._model(model_uuid)
        if row is None:
            return
        total = self.job_seconds
        work = self.work_dir / f"model-{model_uuid}"
        t0 = time.monotonic()

        def hold(share: float, started: float, status_progress: Callable[[float], None]) -> None:
            until = started + total * share
            while True:
                self._check_model(model_uuid)
                now = time.monotonic()
                if now >= until:
                    break
                status_progress(1 - (until - now) / max(total * share, 1e-6))
                time.sleep(min(0.1, until - now))
            status_progress(1.0)

        try:
            job_type = row["job_type"]
            params = json.loads(row["parameters"] or "{}")
            s = time.monotonic()
            self._model_update(model_uuid, status=12, started_at=time.time())
            inputs, _ = self._download_inputs(
                row["resource_uuid"],
                work / "inputs",
                lambda f: None,
                lambda: self._check_model(model_uuid),
            )
            hold(STAGE_SHARES[0] + STAGE_SHARES[1], s, lambda f: None)
            s = time.monotonic()
            self._model_update(model_uuid, status=14, progress=0)

            def on_progress(f: float, _m: str = "") -> None:
                self._model_update(model_uuid, progress=int(max(0.0, min(1.0, f)) * 99))

            out_dir = work / "outputs"
            produced = self._produce(
                job_type,
                params,
                inputs,
                out_dir,
                on_progress,
                lambda: self._check_model(model_uuid),
            )
            hold(STAGE_SHARES[2], s, lambda f: None)
            size = sum(out_dir.joinpath(*p.split("/")).stat().st_size for p in produced)
            self._model_update(
                model_uuid,
                status=15,
                progress=100,
                model_size=size,
                zip_status=1,
                zip_progress=0,
                completed_at=time.time(),
            )
            # zip the outputs into the bucket of obtain_token (NOTES.md decision)
            s = time.monotonic()
            zip_path = work / f"{model_uuid}.zip"
            with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
                for i, rel in enumerate(sorted(set(produced))):
                    self._check_model(model_uuid)
                    zf.write(out_dir.joinpath(*rel.split("/")), rel)
                    self._model_update(
                        model_uuid,
                        allow_done=True,
                        zip_progress=int(90 * (i + 1) / max(1, len(produced))),
                    )
            key = f"{row['project']}/open_model/{model_uuid}/{model_uuid}.zip"
            self.ctx.storage.upload_file(FH2_BUCKET, key, zip_path)
            hold(
                STAGE_SHARES[3],
                s,
                lambda f: self._model_update(
                    model_uuid, allow_done=True, zip_progress=90 + int(9 * f)
                ),
            )
            self._model_update(
                model_uuid,
                allow_done=True,
                zip_status=2,
                zip_progress=100,
                zip_file_key=key,
                message="",
            )
            if row["delete_resource"]:
                self._delete_fh2_resource_if_idle(row["resource_uuid"])
            log.debug("model %s done in %.1fs", model_uuid, time.monotonic() - t0)
        except (_Cancelled, JobStopped):
            pass
        except Exception as exc:
            if self._shutdown.is_set():
                return  # interrupted by shutdown: left as is for resume()
            log.warning("model %s failed: %s", model_uuid, exc)
            log.debug("%s", traceback.format_exc())
            try:
                cur = self._model(model_uuid)
                if cur is not None and int(cur["status"]) == 15:
                    self._model_update(
                        model_uuid,
                        allow_done=True,
                        zip_status=3,
                        message=f"packing the model failed: {exc}",
                    )
                else:
                    self._model_update(
                        model_uuid,
                        status=8,
                        error_code=FH2_ERROR_FAILED,
                        message=f"reconstruction failed: {exc}",
                        completed_at=time.time(),
                    )
            except _Cancelled:
                pass
        finally:
            if not self._shutdown.is_set():
                shutil.rmtree(work, ignore_errors=True)

    def _delete_fh2_resource_if_idle(self, resource_uuid: str) -> None:
        st = self.ctx.state
        busy = st.one(
            "SELECT COUNT(*) AS n FROM models WHERE resource_uuid = ? AND "
            "(status IN (12, 14) OR (status = 15 AND zip_status IN (0, 1)))",
            (resource_uuid,),
        )
        if busy and int(busy["n"]) == 0:
            with st.transaction():
                st.execute("DELETE FROM resource_files WHERE resource_uuid = ?", (resource_uuid,))
                st.execute(
                    "UPDATE resources SET status = 3, updated_at = ? WHERE uuid = ?",
                    (time.time(), resource_uuid),
                )


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
