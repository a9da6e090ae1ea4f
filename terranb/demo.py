"""The demo pipeline behind ``terranb demo``: emulator -> sample flight -> 3 jobs -> report.

:func:`run_demo` starts the local emulator, writes the sample flight, runs a
2D, a 3D and a LiDAR job (2D and 3D side by side on one uploaded resource --
the emulator, like TerraAPI during its beta, allows two unfinished jobs), shows
progress, downloads the results and writes the HTML survey report with a run
card. Everything stays inside ``out``::

    out/flight/        photos (images/), LiDAR folder (lidar/), ground truth
    out/results/2d|3d|lidar/   the downloaded DJI Terra result trees
    out/results/runcard.json   backend, job ids, parameters, checksums, timings
    out/report.html    the self-contained survey report
    out/state/         the demo's own job ledger and upload journal

Example:
    >>> from terranb.demo import run_demo
    >>> result = run_demo("demo-out")  # doctest: +SKIP
    >>> result.report                  # doctest: +SKIP
    PosixPath('demo-out/report.html')
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terranb.errors import ValidationError

__all__ = ["DemoResult", "run_demo"]

JOB_TYPES = ("2d", "3d", "lidar")


@dataclass
class DemoResult:
    """What :func:`run_demo` produced."""

    out_dir: Path
    report: Path
    results_dir: Path
    runcard: Path
    job_ids: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"out_dir": str(self.out_dir), "report": str(self.report),
                "results_dir": str(self.results_dir), "runcard": str(self.runcard),
                "job_ids": self.job_ids, "timings": self.timings,
                "seconds": round(self.seconds, 2)}


def _iso(ts: float | None) -> str:
    from terranb.report.runcard import utc_iso

    return utc_iso(ts) if ts else ""


class _Progress:
    """tqdm bars for bytes and job percentages on a terminal, plain step lines elsewhere."""

    def __init__(self, enabled: bool, stream: Any = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        # bars redraw with cursor codes: in a log file or CI output they become noise
        isatty = getattr(self.stream, "isatty", None)
        self.bars = enabled and bool(isatty is not None and isatty())
        self._bars: dict[str, Any] = {}

    def say(self, text: str) -> None:
        if self.bars:
            from tqdm import tqdm

            tqdm.write(text, file=self.stream)
        elif self.enabled:
            print(text, file=self.stream, flush=True)

    def bar(self, key: str, total: float, desc: str, unit: str = "%", scale: bool = False) -> Any:
        if not self.bars:
            return None
        if key not in self._bars:
            from tqdm import tqdm

            self._bars[key] = tqdm(total=total, desc=desc, unit=unit, unit_scale=scale,
                                   unit_divisor=1024 if scale else 1000, file=self.stream,
                                   leave=True, dynamic_ncols=True, mininterval=0.5,
                                   bar_format="{desc:<22}{percentage:3.0f}%|{bar}| "
                                              "{n_fmt}/{total_fmt} [{elapsed}]")
        return self._bars[key]

    def set(self, key: str, value: float, total: float | None = None) -> None:
        bar = self._bars.get(key)
        if bar is None:
            return
        if total is not None and bar.total != total:
            bar.total = total
        # update() (not n= + refresh()) so tqdm's mininterval limits the output
        bar.update(value - bar.n)

    def close(self, key: str) -> None:
        bar = self._bars.pop(key, None)
        if bar is not None:
            bar.close()


def _params(kind: str) -> Any:
    from terranb.params import Params2D, Params3D, ParamsLidar

    if kind == "2d":
        return Params2D(map_mode=1, quality_level=1)
    if kind == "3d":
        return Params3D(output_mesh=True, generate_obj=True, quality_level=2)
    if kind == "lidar":
        return ParamsLidar(quality_level=1)
    raise ValidationError(f"unknown job type {kind!r}; use 2d, 3d or lidar")


def run_demo(out: str | os.PathLike[str] = "demo-out", *, seed: int = 0,
             photos: int | None = None, job_seconds: float = 3.0,
             types: Sequence[str] = JOB_TYPES, backend: str = "terra",
             progress: bool = True, on_step: Callable[[str], None] | None = None) -> DemoResult:
    """Run the full offline pipeline and write the survey report.

    Args:
        out: output folder (created).
        seed: seed of the sample flight and of the emulator.
        photos: photos in the sample flight (default: the sample's own size).
        job_seconds: least time each emulated job takes.
        types: job types to run, among ``2d``, ``3d``, ``lidar``.
        backend: ``terra`` (TerraAPI v2) or ``flighthub`` (FlightHub 2).
        progress: show tqdm progress bars on stderr.
        on_step: called with a line of text at each step (besides the bars).

    Returns:
        A :class:`DemoResult` with the report path and the timings.
    """
    from terranb.dataset.synthetic import make_sample_flight
    from terranb.emulator import serve
    from terranb.jobs.factory import make_backend
    from terranb.jobs.job import Job
    from terranb.jobs.ledger import Ledger
    from terranb.report.runcard import JobRecord, RunCard, file_checksums
    from terranb.report.survey import build_report

    kinds = [k.lower() for k in types]
    bad = [k for k in kinds if k not in JOB_TYPES]
    if bad or not kinds:
        raise ValidationError(f"unknown job type(s) {bad or kinds}; use some of 2d, 3d, lidar")
    t_start = time.monotonic()
    root = Path(out)
    results_dir = root / "results"
    state_dir = root / "state"
    for d in (root, results_dir, state_dir):
        d.mkdir(parents=True, exist_ok=True)
    ui = _Progress(progress)

    def step(text: str) -> None:
        ui.say(text)
        if on_step is not None:
            on_step(text)

    card = RunCard(backend=backend)
    t = time.monotonic()
    step(f"writing the sample flight (seed {seed}) to {root / 'flight'}")
    flight = make_sample_flight(root / "flight", seed=seed, photos=photos,
                                lidar_folder="lidar" in kinds)
    card.add_timing("sample flight", time.monotonic() - t)
    images = flight.photos[0].parent
    lidar_dir = flight.lidar_dir
    inputs = list(flight.photos) + (sorted(p for p in lidar_dir.rglob("*") if p.is_file())
                                    if (lidar_dir and "lidar" in kinds) else [])
    card.inputs = file_checksums(flight.out_dir, inputs)

    t = time.monotonic()
    step("starting the local emulator")
    with serve(job_seconds=job_seconds, seed=seed) as emu:
        card.add_timing("emulator start", time.monotonic() - t)
        card.service_url = "local emulator (127.0.0.1)"
        if backend == "terra":
            be = make_backend("terra", app_key=emu.app_key, secret_key=emu.secret_key,
                              base_url=emu.base_url, s3_endpoint_url=emu.s3_endpoint_url)
        else:
            be = make_backend("flighthub", user_token=emu.user_token,
                              project_uuid=emu.project_uuid, base_url=emu.base_url)
        ledger = Ledger(state_dir)
        journal = str(state_dir / "journal.sqlite3")
        records: dict[str, JobRecord] = {}
        jobs: dict[str, Any] = {}

        def submit(kind: str) -> None:
            dataset = lidar_dir if kind == "lidar" else images
            if dataset is None:
                raise ValidationError("the sample flight has no LiDAR folder")
            t0 = time.monotonic()

            def on_progress(ev: Any) -> None:
                if hasattr(ev, "total_bytes"):
                    phase = getattr(ev, "phase", "upload")
                    bar_key = f"{phase} {kind}"
                    if phase == "upload":
                        ui.bar(bar_key, ev.total_bytes, bar_key, unit="B", scale=True)
                        ui.set(bar_key, ev.total_done, ev.total_bytes)
                    else:  # bind / verify: count files
                        ui.bar(bar_key, ev.files_total, bar_key, unit="files")
                        ui.set(bar_key, ev.files_done, ev.files_total)
                elif getattr(ev, "step", "") in ("resource", "start"):
                    ui.say(f"  {kind}: {ev.message}")

            params = _params(kind)
            job = Job.submit(dataset, params, backend=be, job_type=kind, ledger=ledger,
                             journal=journal, on_progress=on_progress,
                             name=f"terranb demo {kind}")
            for phase in ("upload", "bind", "verify"):
                ui.close(f"{phase} {kind}")
            jobs[kind] = job
            # the card names the results folder relative to itself
            records[kind] = JobRecord.from_ledger(job.record, results_dir=kind)
            records[kind].timings["upload and start"] = round(time.monotonic() - t0, 3)
            step(f"{kind} job {job.id} started")

        def wait(batch: list[str]) -> None:
            t0 = {k: time.monotonic() for k in batch}
            pending = list(batch)
            for k in batch:
                ui.bar(f"job {k}", 100, f"{k} job")
            while pending:
                for k in list(pending):
                    st = jobs[k].status()
                    ui.set(f"job {k}", round(st.progress * 100, 1))
                    if st.is_terminal:
                        pending.remove(k)
                        ui.close(f"job {k}")
                        rec = records[k]
                        rec.status = st.state.value
                        rec.finished_at = _iso(time.time())
                        rec.output_resource_uuid = st.output_ref
                        rec.timings["processing"] = round(time.monotonic() - t0[k], 3)
                        if not ui.bars:  # a bar already showed it on a terminal
                            ui.say(f"{k} job {st.state.value} after "
                                   f"{rec.timings['processing']:.1f} s")
                        if not st.state.is_success:
                            from terranb.errors import JobFailed

                            raise JobFailed(f"the demo's {k} job {jobs[k].id} ended "
                                            f"{st.state.value}: {st.message}", job=st)
                        download(k)
                if pending:
                    time.sleep(0.5)

        def download(kind: str) -> None:
            t0 = time.monotonic()
            key = f"download {kind}"

            def on_progress(ev: Any) -> None:
                ui.bar(key, ev.total_bytes, f"download {kind}", unit="B", scale=True)
                ui.set(key, ev.total_done, ev.total_bytes)

            # The demo's own output tree: a re-run refreshes it with the new job's results.
            jobs[kind].results(results_dir / kind, on_progress=on_progress, overwrite=True)
            ui.close(key)
            records[kind].timings["download"] = round(time.monotonic() - t0, 3)
            step(f"{kind} results downloaded to {results_dir / kind}")

        # 2D and 3D share the photos: the second submit reuses the uploaded,
        # bound resource. Two unfinished jobs at a time, as the service allows.
        photo_kinds: list[str] = [k for k in ("2d", "3d") if k in kinds]
        t = time.monotonic()
        for k in photo_kinds:
            submit(k)
        if photo_kinds:
            wait(photo_kinds)
        if "lidar" in kinds:
            submit("lidar")
            wait(["lidar"])
        card.add_timing("jobs (upload, processing, download)", time.monotonic() - t)
        ledger.close()

    card.jobs = [records[k] for k in kinds]
    card.outputs = file_checksums(results_dir, [p for k in kinds
                                                for p in sorted((results_dir / k).rglob("*"))
                                                if p.is_file()])
    card.add_timing("total before report", time.monotonic() - t_start)
    runcard_path = card.write(results_dir)
    t = time.monotonic()
    step("writing the survey report")
    report = build_report(results_dir, root / "report.html", runcard=card,
                          title="terranb demo survey report")
    card.add_timing("report", time.monotonic() - t)
    card.write(results_dir)  # with the report's own timing, for the next report
    total = time.monotonic() - t_start
    step(f"survey report: {report} ({report.stat().st_size / 1e6:.1f} MB) in {total:.0f} s")
    return DemoResult(out_dir=root, report=report, results_dir=results_dir,
                      runcard=runcard_path, job_ids={k: r.uuid for k, r in records.items()},
                      timings=dict(card.timings), seconds=total)
