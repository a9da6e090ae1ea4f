"""Settings precedence, bad CLI parameters, bad submit and preflight inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from badinput_helpers import cli_error, one_line

from terranb.cli.main import main
from terranb.config import Settings
from terranb.errors import ConfigError, ValidationError


# ------------------------------------------------------------------ precedence
def _profile(tmp_path: Path, **values: str) -> Path:
    body = "".join(f'{k} = "{v}"\n' for k, v in values.items())
    p = tmp_path / "config.toml"
    p.write_text(f"[profile.default]\n{body}")
    return p


@pytest.mark.parametrize(("given", "env", "profile", "ledger", "want", "source"), [
    ("http://kw", "http://env", "http://prof", "http://led", "http://kw", "kwarg"),
    (None, "http://env", "http://prof", "http://led", "http://env", "env"),
    (None, None, "http://prof", "http://led", "http://prof", "profile"),
    (None, None, None, "http://led", "http://led", "ledger"),
    (None, None, None, None, "https://openapi-us.dji.com", None),
])
def test_one_precedence_rule(tmp_path: Path, given: str | None, env: str | None,
                             profile: str | None, ledger: str | None, want: str,
                             source: str | None) -> None:
    path = _profile(tmp_path, **({"base_url": profile} if profile else {}))
    s = Settings.load(env={"TERRANB_BASE_URL": env} if env else {}, path=path,
                      remembered={"base_url": ledger} if ledger else None, base_url=given)
    assert s.terra_base_url == want
    assert s.sources.get("base_url") == source
    if source:
        assert s.explain("base_url").startswith("base_url from ")


def test_remembered_fh2_origin_yields_to_a_general_base_url(tmp_path: Path) -> None:
    s = Settings.load(env={"TERRANB_BASE_URL": "http://emu"}, path=tmp_path / "none.toml",
                      remembered={"fh2_base_url": "http://old"})
    assert s.flighthub_base_url == "http://emu"
    s = Settings.load(env={}, path=tmp_path / "none.toml",
                      remembered={"fh2_base_url": "http://old"})
    assert s.flighthub_base_url == "http://old" and s.sources["fh2_base_url"] == "ledger"


def test_unknown_remembered_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.load(env={}, path=tmp_path / "none.toml", remembered={"bogus": "x"})
    one_line(str(exc.value), "bogus")


def test_job_attach_prefers_env_over_the_ledger(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """No network: the backend Job.attach builds points where TERRANB_BASE_URL says."""
    from terranb.jobs.job import Job
    from terranb.jobs.ledger import Ledger, LedgerRecord

    monkeypatch.setenv("DJI_APP_KEY", "ak")
    monkeypatch.setenv("DJI_SECRET_KEY", "sk-value")
    monkeypatch.setenv("TERRANB_BASE_URL", "http://127.0.0.1:8001")
    ledger = Ledger(tmp_path)
    ledger.add(LedgerRecord("abcd-1234", "terra", base_url="http://127.0.0.1:7777"))
    with caplog.at_level("WARNING"):
        job = Job.attach("abcd", ledger=ledger)
    assert job.backend.base_url == "http://127.0.0.1:8001"
    notes = [r.getMessage() for r in caplog.records if "submitted to" in r.getMessage()]
    assert len(notes) == 1 and "TERRANB_BASE_URL" in notes[0] and "7777" in notes[0]
    monkeypatch.delenv("TERRANB_BASE_URL")
    assert Job.attach("abcd", ledger=ledger).backend.base_url == "http://127.0.0.1:7777"


def test_bad_region_in_env_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.load(env={"TERRANB_REGION": "mars"}, path=tmp_path / "none.toml")
    one_line(str(exc.value), "mars", "TERRANB_REGION")


def test_malformed_profile_file(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text("[profile.default\nbase_url = ")
    with pytest.raises(ConfigError) as exc:
        Settings.load(env={}, path=p)
    one_line(str(exc.value), "config.toml")


def test_missing_named_profile(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        Settings.load("nope", env={}, path=_profile(tmp_path, region="us"))
    one_line(str(exc.value), "'nope'", "terranb configure")


# ------------------------------------------------------------------ CLI parameters
@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    return d


def test_params_from_a_missing_file(photos: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["submit", str(photos), "--type", "2d", "--params", "@/missing.json",
                 "--ledger", str(tmp_path / "L")])
    assert code == 1
    cli_error(capsys.readouterr().err, "/missing.json", "does not exist")
    assert not (tmp_path / "L").exists() or main(["jobs", "list", "--ledger",
                                                   str(tmp_path / "L")]) == 0


@pytest.mark.parametrize(("content", "needle"), [
    (None, "is a folder"), (b"{bad", "not valid JSON"), (b"\xff\xfe\x00", "UTF-8"),
    (b'{"parameter": {"no_such_knob": 1}, "junk": 2}', "junk")])
def test_params_file_problems(photos: Path, tmp_path: Path, content: bytes | None, needle: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "p.json"
    if content is None:
        target.mkdir()
    else:
        target.write_bytes(content)
    assert main(["submit", str(photos), "--type", "2d", "--params", f"@{target}"]) == 1
    cli_error(capsys.readouterr().err, needle)


@pytest.mark.parametrize("value", ["-1", "0", "abc", "2.5"])
def test_workers_must_be_a_positive_whole_number(photos: Path, value: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", str(photos), "--type", "2d", "--workers", value]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(line) == 1 and "--workers" in line[0] and repr(value) in line[0]


@pytest.mark.parametrize("workers", [-1, 0, True, 1.5])
def test_job_submit_checks_workers_before_anything(tmp_path: Path, workers: object) -> None:
    from terranb.jobs.job import Job
    from terranb.jobs.ledger import Ledger
    from terranb.params import Params2D

    class NoService:
        kind = "terra"

        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"the service was touched ({name})")

    with pytest.raises(ValidationError) as exc:
        Job.submit(tmp_path, Params2D(), backend=NoService(),  # type: ignore[arg-type]
                   ledger=Ledger(tmp_path / "L"), workers=workers)  # type: ignore[arg-type]
    one_line(str(exc.value), "workers")
    assert Ledger(tmp_path / "L").list() == []


def test_uploader_workers(tmp_path: Path) -> None:
    from terranb.transfer.upload import Uploader

    with pytest.raises(ValidationError) as exc:
        Uploader(lambda: None, workers=0)  # type: ignore[arg-type, return-value]
    one_line(str(exc.value), "workers")


# ------------------------------------------------------------------ preflight inputs
def test_preflight_of_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preflight", str(tmp_path / "nope"), "--type", "2d"]) == 1
    cli_error(capsys.readouterr().err, "nope")


def test_preflight_of_an_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code = main(["preflight", str(tmp_path / "empty"), "--type", "2d", "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert code != 0
    data = json.loads(captured.out)
    assert data  # a report (or an error object) saying why, never a crash


def test_preflight_of_a_file_not_a_folder(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "one.jpg"
    f.write_bytes(b"\xff\xd8\xff\xd9")
    code = main(["preflight", str(f), "--type", "2d"])
    captured = capsys.readouterr()
    assert code != 0 and "Traceback" not in captured.err


def test_preflight_names_cut_and_empty_photos_and_survives_odd_entries(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    from terranb.dataset.synthetic import make_sample_flight

    flight = make_sample_flight(tmp_path / "f", photos=10, image_size=(64, 64), lidar=False,
                                seed=1)
    root = flight.photos[0].parent
    data = flight.photos[0].read_bytes()
    flight.photos[1].write_bytes(data[:200])  # a copy cut inside the headers
    (root / "zero.jpg").write_bytes(b"")
    (root / "loop").symlink_to(root)  # a symlink loop inside the data set
    with open(os.fsencode(str(root)) + b"/caf\xe9.jpg", "wb") as fh:  # non-UTF-8 name
        fh.write(data)
    assert main(["preflight", str(root), "--type", "2d", "--json"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    text = captured.out
    assert "truncated" in text and "zero.jpg" in text and flight.photos[1].name in text


# ------------------------------------------------------------------ ledger and config files
def test_a_ledger_that_is_not_a_database(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ledger.sqlite3").write_bytes(b"junk junk junk junk" * 10)
    assert main(["jobs", "list", "--ledger", str(tmp_path)]) == 1
    cli_error(capsys.readouterr().err, "ledger.sqlite3", "not a database", "--ledger")
    assert (tmp_path / "ledger.sqlite3").read_bytes().startswith(b"junk")  # left as it was


def test_a_ledger_folder_under_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("x")
    assert main(["jobs", "list", "--ledger", str(tmp_path / "afile" / "sub")]) == 1
    cli_error(capsys.readouterr().err, "afile", "--ledger")


@pytest.mark.parametrize("content", [None, b"\xff\xfe", b"[profile.default]\nregion = 3\n"])
def test_config_file_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              content: bytes | None,
                              capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.toml"
    if content is None:
        cfg.mkdir()
    else:
        cfg.write_bytes(content)
    monkeypatch.setenv("TERRANB_CONFIG_FILE", str(cfg))
    code = main(["jobs", "show", "abc", "--ledger", str(tmp_path / "L")])
    assert code == 1
    cli_error(capsys.readouterr().err)
