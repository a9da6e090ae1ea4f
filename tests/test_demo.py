"""``terranb demo``: the whole offline pipeline ends in a survey report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("moto")
pytest.importorskip("rasterio")
pytest.importorskip("folium")


@pytest.mark.slow
@pytest.mark.served
def test_demo_runs_three_jobs_and_writes_the_report(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import terranb.emulator
    from terranb.cli.main import main

    # known emulator secrets, so the test can prove none of them reaches a file or the console
    sk, token = "SK-demo-" + "q7" * 16, "UT-demo-" + "z9" * 16
    real_serve = terranb.emulator.serve
    served: list[dict[str, object]] = []

    def serve(**kw: object) -> object:
        served.append(kw)
        return real_serve(secret_key=sk, user_token=token, **kw)

    monkeypatch.setattr(terranb.emulator, "serve", serve)
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--photos", "12", "--job-seconds", "1", "--json"])
    assert code == 0 and len(served) == 1  # the demo ran on the emulator with those keys
    captured = capsys.readouterr()
    for where, blob in [("stdout", captured.out.encode()), ("stderr", captured.err.encode())] + [
            (str(f.relative_to(out)), f.read_bytes()) for f in out.rglob("*")
            if f.is_file() and f.suffix in (".html", ".json", ".sqlite3", ".txt", ".log")]:
        for secret in (sk, token):
            assert secret.encode() not in blob, f"an emulator secret is in {where}"
    summary = json.loads(captured.out)
    assert set(summary["job_ids"]) == {"2d", "3d", "lidar"}
    report = out / "report.html"
    assert Path(summary["report"]) == report and report.is_file()
    text = report.read_text(encoding="utf-8")
    for job_id in summary["job_ids"].values():
        assert job_id in text  # the run card names every job
    card = json.loads((out / "results" / "runcard.json").read_text(encoding="utf-8"))
    assert card["backend"] == "terra"
    assert len(card["inputs"]) >= 12  # every photo (and the LiDAR files) checksummed
    assert any(o["path"].startswith("2d/map/result.tif") for o in card["outputs"])
    assert any(o["path"].endswith((".las", ".laz")) for o in card["outputs"])  # COPC: .copc.laz
    assert any(o["path"].endswith(".obj") for o in card["outputs"])
    assert all(j["status"] == "succeeded" for j in card["jobs"])
    assert "processing" in card["jobs"][0]["timings"]
    # the result trees open and the report is self-contained
    for kind in ("2d", "3d", "lidar"):
        assert (out / "results" / kind / "mission.json").is_file()
    assert report.stat().st_size < 20_000_000


def test_demo_rejects_unknown_job_types(tmp_path: Path) -> None:
    from terranb.demo import run_demo
    from terranb.errors import ValidationError

    with pytest.raises(ValidationError, match="2d, 3d, lidar"):
        run_demo(tmp_path, types=("2d", "4d"), progress=False)


def test_progress_is_plain_lines_off_a_terminal() -> None:
    import io

    from terranb.demo import _Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    log = io.StringIO()
    ui = _Progress(True, stream=log)
    assert ui.bar("job 2d", 100, "2d job") is None  # no cursor-code bars in a log file
    ui.say("2d job started")
    assert log.getvalue() == "2d job started\n"
    term = Tty()
    tty_ui = _Progress(True, stream=term)
    bar = tty_ui.bar("job 2d", 100, "2d job")
    assert bar is not None
    tty_ui.set("job 2d", 100)
    tty_ui.close("job 2d")
    assert "2d job" in term.getvalue() and "100%" in term.getvalue()
    quiet = io.StringIO()
    _Progress(False, stream=quiet).say("x")
    assert quiet.getvalue() == ""
