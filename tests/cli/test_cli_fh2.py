"""``terranb fh2 ...`` run as a user runs it: subprocesses against ``terranb emulator`` (its
dock mission: one project, one dock, one flight task with 16 photos) over a real socket.

Covered: status, projects, tasks, media, preflight by HTTP Range (bytes read counted and well
below the photos' size, footprints written to a relative --geojson), models, create --wait
with a relative --out, and the one-line errors with a hint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.served, pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
TERRANB = Path(sys.executable).parent / "terranb"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    pytest.importorskip("fastapi")
    pytest.importorskip("moto")
    data = tmp_path_factory.mktemp("fh2-emu")
    proc = subprocess.Popen(
        [str(TERRANB), "emulator", "--port", "0", "--data-dir", str(data), "--job-seconds", "1",
         "--seed", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=data,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)})
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        raise AssertionError(f"the emulator printed nothing: {proc.stderr.read()}")
    try:
        yield json.loads(line)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fh2 home")  # a space, as users' folders have


def _env(emu: dict[str, Any], home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJI_", "TERRANB_", "FH2_", "FLIGHTHUB"))}
    env.update(PYTHONPATH=str(REPO), HOME=str(home), XDG_DATA_HOME=str(home / "data"),
               XDG_CONFIG_HOME=str(home / "config"), TERRANB_FH2_USER_TOKEN=emu["user_token"],
               TERRANB_FH2_PROJECT_UUID=emu["project_uuid"],
               TERRANB_FH2_BASE_URL=emu["base_url"], **extra)
    return env


def _run(emu: dict[str, Any], home: Path, *argv: str, cwd: Path | None = None,
         ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(TERRANB), "fh2", *argv], cwd=cwd or home, env=_env(emu, home),
                          text=True, capture_output=True, timeout=200, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    if ok:
        assert proc.returncode == 0, f"fh2 {argv}: {proc.stderr}"
    return proc


def _json(emu: dict[str, Any], home: Path, *argv: str, cwd: Path | None = None) -> Any:
    return json.loads(_run(emu, home, *argv, "--json", cwd=cwd).stdout)


@pytest.fixture(scope="module")
def task(emu: dict[str, Any], home: Path) -> str:
    tasks = _json(emu, home, "tasks")
    assert len(tasks) == 1 and tasks[0]["folder_id"]
    return str(tasks[0]["uuid"])


def test_status_projects_tasks_media(emu: dict[str, Any], home: Path, task: str) -> None:
    assert _json(emu, home, "status")["healthy"] is True
    assert "operates normally" in _run(emu, home, "status").stdout
    projects = _json(emu, home, "projects")
    assert [p["uuid"] for p in projects] == [emu["project_uuid"]]
    # --project by name resolves to the same project's tasks
    by_name = _json(emu, home, "tasks", "--project", projects[0]["name"])
    assert [t["uuid"] for t in by_name] == [task]
    assert task in _run(emu, home, "tasks").stdout
    media = _json(emu, home, "media", task)
    assert len(media) == 16 and all(m["name"].endswith(".JPG") for m in media)
    assert all(m["size"] > 10_000 for m in media)


def test_preflight_reads_headers_only(emu: dict[str, Any], home: Path, task: str,
                                      tmp_path: Path) -> None:
    pre = _json(emu, home, "preflight", task, "--type", "2d", "--geojson", "fp/foot.geojson",
                cwd=tmp_path)
    assert pre["ok"] is True and pre["photos"] == 16
    total = pre["bytes_total"]
    assert total == sum(m["size"] for m in _json(emu, home, "media", task))
    # headers + tails of 16 photos, far from the photos themselves
    assert 0 < pre["bytes_read"] < total / 2, (pre["bytes_read"], total)
    assert pre["requests"] >= 16
    assert pre["overlap"]["forward_median"] > 0.5
    fc = json.loads((tmp_path / "fp" / "foot.geojson").read_text())  # relative to the cwd
    assert len(fc["features"]) == 16
    text = _run(emu, home, "preflight", task, "--type", "2d").stdout
    assert "by HTTP Range" in text and "no photo was downloaded" in text
    both = _json(emu, home, "media", task, "--preflight")
    assert len(both["media"]) == 16 and both["preflight"]["bytes_read"] < total / 2


def test_create_wait_out_relative(emu: dict[str, Any], home: Path, task: str,
                                  tmp_path: Path) -> None:
    before = _json(emu, home, "models")
    run = _json(emu, home, "create", task, "--type", "2d", "--quality", "low", "--wait",
                "--interval", "0.3", "--timeout", "150", "--out", "results/ortho",
                cwd=tmp_path)
    assert run["state"] == "succeeded" and run["crs"] == "EPSG:32615"  # chosen from the photos
    dest = tmp_path / "results" / "ortho"
    assert run["dest"] == str(dest) and run["files"]
    assert all((dest / n).is_file() for n in run["files"])
    assert any(n.endswith(".tif") for n in run["files"])
    models = _json(emu, home, "models")
    assert len(models) == len(before) + 1
    assert str(models[-1]["id"]) == run["job_id"]
    # the map model is a job like any other: in the ledger, shown by `terranb jobs show`
    shown = subprocess.run([str(TERRANB), "jobs", "show", run["job_id"], "--json"],
                           cwd=tmp_path, env=_env(emu, home), text=True, capture_output=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["backend"] == "flighthub-map"


def _one_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("terranb: error:")]
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_errors_are_one_line_with_a_hint(emu: dict[str, Any], home: Path, task: str) -> None:
    _one_error(_run(emu, home, "tasks", "--project", "no such project", ok=False),
               "no such project", "projects:")
    _one_error(_run(emu, home, "media", "00000000-0000-4000-8000-000000000000", ok=False),
               "00000000-0000-4000-8000-000000000000", "check")
    _one_error(_run(emu, home, "create", task, "--type", "2d", "--out", "x", ok=False),
               "--wait")
    _one_error(_run(emu, home, "create", task, "--type", "2d", "--crs", "NOT A CRS",
                    ok=False), "CRS")
    usage = _run(emu, home, "tasks", "--days", "0", ok=False)
    assert usage.returncode == 2 and "--days" in usage.stderr


def test_preflight_with_errors_exits_1_with_one_line(tmp_path: Path, monkeypatch: Any,
                                                     capsys: Any) -> None:
    """A task whose photos fail preflight (too few, one truncated): the table on stdout, one
    error line on stderr, exit 1. In-process, over a Range server and a stand-in client."""
    import importlib.util

    from terranb.api.models_fh2_dock import FlightTask, TaskMedia
    from terranb.cli import cmd_fh2
    from terranb.cli.main import main

    spec = importlib.util.spec_from_file_location(
        "_terranb_rangeserver_cli", REPO / "tests" / "results" / "_rangeserver.py")
    assert spec is not None and spec.loader is not None
    rs = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = rs
    spec.loader.exec_module(rs)
    synthetic = pytest.importorskip("terranb.dataset.synthetic")
    photos = sorted(synthetic.make_sample_flight(tmp_path / "f", seed=1, photos=3,
                                                 image_size=(300, 200), lidar=False).photos)
    photos[1].write_bytes(photos[1].read_bytes()[:-4000])  # cut off: truncated

    class Client:
        def __init__(self, base: str) -> None:
            self.flight_tasks = self
            self.items = [TaskMedia.from_api({"uuid": p.name, "name": p.name, "suffix": "jpg",
                                              "size": p.stat().st_size,
                                              "original_url": f"{base}/{p.name}"})
                          for p in photos]

        def __enter__(self) -> Client:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def get(self, uuid: str) -> FlightTask:
            return FlightTask.from_api({"uuid": uuid, "name": "bad", "folder_id": 3})

        def media(self, uuid: str) -> list[TaskMedia]:
            return self.items

    with rs.serve(photos[0].parent) as srv:
        monkeypatch.setattr(cmd_fh2, "_client", lambda args: Client(srv.base))
        code = main(["fh2", "preflight", "t-bad", "--type", "2d"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "too_few_photos" in out and "truncated" in out and "by HTTP Range" in out
    lines = [ln for ln in err.splitlines() if ln.startswith("terranb: error:")]
    assert len(lines) == 1 and "t-bad" in lines[0] and "error(s)" in lines[0], err
