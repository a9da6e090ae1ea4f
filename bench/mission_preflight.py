"""Preflight of a dock mission by HTTP Range vs download-then-preflight, in one process.

Baseline: download every photo of the emulator's flight task (presigned ``original_url``)
and run :func:`terranb.dataset.preflight.preflight` on the folder. Candidate:
:func:`terranb.jobs.mission_preflight.preflight_flight_task` (headers + 4 KiB tails by
Range). Printed: bytes on the wire and wall time of each, and their ratios; both reports
must agree (same photo count, same errors, same overlap).

    PYTHONPATH=$PWD python bench/mission_preflight.py
"""

from __future__ import annotations

import shutil
import tempfile
import time
import urllib.request
from pathlib import Path


def main() -> None:
    from terranb.api.flighthub import FlightHubClient
    from terranb.dataset.preflight import preflight
    from terranb.emulator import serve
    from terranb.jobs.mission_preflight import preflight_flight_task

    with serve(job_seconds=1, seed=0) as emu, tempfile.TemporaryDirectory() as tmp:
        fh = FlightHubClient(emu.user_token, emu.project_uuid, base_url=emu.base_url)
        task = fh.flight_tasks.recent()[0]

        t0 = time.perf_counter()
        folder = Path(tmp) / "photos"
        folder.mkdir()
        downloaded = 0
        for m in fh.flight_tasks.media(task.uuid):
            with urllib.request.urlopen(m.original_url) as r, open(folder / m.name, "wb") as f:
                shutil.copyfileobj(r, f)
            downloaded += (folder / m.name).stat().st_size
        local = preflight(folder, backend="flighthub", job_type="2d")
        t_base = time.perf_counter() - t0

        t0 = time.perf_counter()
        remote = preflight_flight_task(task.uuid, client=fh, job_type="2d")
        t_range = time.perf_counter() - t0

    same = (len(local.photos) == len(remote.report.photos)
            and len(local.errors) == len(remote.report.errors)
            and local.overlap is not None and remote.report.overlap is not None
            and local.overlap.forward_median == remote.report.overlap.forward_median)
    print(f"baseline (download + preflight): {downloaded:,} bytes, {t_base:.2f} s")
    print(f"range preflight:                 {remote.bytes_read:,} bytes, {t_range:.2f} s, "
          f"{remote.requests} requests")
    print(f"bytes ratio {remote.bytes_read / downloaded:.3f}, time ratio "
          f"{t_range / t_base:.2f}, reports agree: {same}")


if __name__ == "__main__":
    main()
