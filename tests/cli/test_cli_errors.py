"""Every command ends a failure as ONE ``terranb: error: ...`` line with a hint, and a reader
that goes away (``terranb ... | head -1``) ends it quietly. Run as subprocesses, as a user does.

The traceback appears only with ``-v``; with ``--json`` the error is also a JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from terranb.cli._common import EXIT_BROKEN_PIPE, EXIT_ERROR, run_handler

REPO = Path(__file__).resolve().parents[2]
TERRANB = Path(sys.executable).parent / "terranb"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJI_", "TERRANB_", "FH2_", "FLIGHTHUB"))}
    env.update(PYTHONPATH=str(REPO), HOME=str(home), XDG_DATA_HOME=str(home / "data"),
               XDG_CONFIG_HOME=str(home / "config"))
    return env


def _terranb(argv: list[str], cwd: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TERRANB), *argv], cwd=cwd, env=_env(cwd), text=True,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
                          **kw)  # type: ignore[call-overload]


# (argv, a word the message must name). "FILE" is a regular file where a folder is needed,
# so the operating system raises (NotADirectoryError), not terranb's own checks.
CASES = [
    (["info", "missing"], "missing"),
    (["report", "missing dir", "--out", "r.html"], "missing dir"),
    (["preflight", "missing"], "missing"),
    (["mosaic", "missing", "o.tif"], "missing"),
    (["stac", "missing", "--out", "item.json"], "missing"),
    (["sample-data", "FILE/flight"], "FILE"),
    (["demo", "--out", "FILE/out"], "FILE"),
    (["jobs", "list", "--ledger", "FILE/ledger"], "FILE"),
    (["download", "abcd", "dest", "--ledger", "FILE/ledger"], "FILE"),
    (["submit", "missing", "--type", "2d"], "credentials"),
    (["submit", "missing", "--type", "2d", "--params", "@nope.json"], "nope.json"),
    (["resources", "list"], "credentials"),
    (["emulator", "--port", "99999"], "--port"),
]


def _check_one_error_line(proc: subprocess.CompletedProcess[str], names: str) -> str:
    assert proc.returncode == EXIT_ERROR, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("terranb: error:")]
    assert len(errors) == 1, proc.stderr
    line = errors[0]
    assert names in line, line
    # a hint: a next step after the problem (';' or a second sentence), not the bare message
    message = line.removeprefix("terranb: error:").strip()
    assert ";" in message or ". " in message or ", or " in message, f"no hint: {line}"
    return line


@pytest.mark.parametrize(("argv", "names"), CASES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_failure_is_one_error_line_with_a_hint(argv: list[str], names: str,
                                               tmp_path: Path) -> None:
    (tmp_path / "FILE").write_text("a file, not a folder\n")
    _check_one_error_line(_terranb(argv, tmp_path), names)


def test_verbose_shows_the_traceback_and_json_the_error(tmp_path: Path) -> None:
    (tmp_path / "FILE").write_text("x")
    proc = _terranb(["sample-data", "FILE/flight", "-v"], tmp_path)
    assert proc.returncode == EXIT_ERROR and "Traceback" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("terranb: error: NotADirectoryError")
    proc = _terranb(["info", "missing", "--json"], tmp_path)
    assert json.loads(proc.stdout)["error"]["type"] == "ResultFormatError"
    assert "Traceback" not in proc.stderr


def test_run_handler_guards_any_exception(capsys: pytest.CaptureFixture[str]) -> None:
    def boom(_: argparse.Namespace) -> int:
        raise RuntimeError("first line\nsecond line")

    assert run_handler(boom, argparse.Namespace(json=False, verbose=0)) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("terranb: error: RuntimeError: first line / second line; "
                          "run again with -v")


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"],
                                  ["jobs", "list", "--json", "--ledger", "ledger"]],
                         ids=" ".join)
def test_reader_gone_is_quiet(argv: list[str], tmp_path: Path) -> None:
    """The read end is closed before terranb writes: every write meets EPIPE."""
    proc = subprocess.Popen([str(TERRANB), *argv], cwd=tmp_path, env=_env(tmp_path),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    code = proc.wait(timeout=120)
    # argparse's help printer swallows the OSError itself (exit 0); our handlers exit 141
    assert code == (0 if "--help" in argv else EXIT_BROKEN_PIPE), err
    assert err == ""


def test_pipe_into_head_is_quiet(tmp_path: Path) -> None:
    proc = subprocess.run(["bash", "-c", f"'{TERRANB}' --help | head -1"], cwd=tmp_path,
                          env=_env(tmp_path), text=True, capture_output=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: terranb")
    assert proc.stderr == ""


# Bad inputs found by hand in the issue 11 audit; each used to end in a raw exception name
# (CRSError, IsADirectoryError on '<out>.part'), a message without a hint, or no error at all.
REPORT_CASES = [
    (["--check-points", "empty.csv"], "empty.csv is empty"),
    (["--check-points", "nonnum.csv"], "not a number"),
    (["--check-points", "badcrs.csv"], "EPSG:999999"),
    (["--check-points", "nocrs.csv", "--check-points-crs", "EPSG:nope"], "EPSG:nope"),
    (["--target-size", "-1"], "--target-size"),
    (["--photos", "FILE"], "no JPEG photos"),
    (["--photos", "nothere"], "nothere"),
]


@pytest.mark.parametrize(("extra", "names"), REPORT_CASES,
                         ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_report_bad_options_fail_fast(extra: list[str], names: str, tmp_path: Path) -> None:
    (tmp_path / "FILE").write_text("a file, not a photo\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "nonnum.csv").write_text("name,x,y,z,crs\nA,abc,2,3,EPSG:32650\n")
    (tmp_path / "badcrs.csv").write_text("name,x,y,z,crs\nA,1,2,3,EPSG:999999\n")
    (tmp_path / "nocrs.csv").write_text("name,x,y,z\nA,1,2,3\n")
    (tmp_path / "results" / "map").mkdir(parents=True)  # checked before the results are read
    proc = _terranb(["report", "results", "--out", "r.html", *extra], tmp_path)
    _check_one_error_line(proc, names)
    assert not (tmp_path / "r.html").exists()


def test_report_out_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "results" / "map").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    line = _check_one_error_line(_terranb(["report", "results", "--out", "out"], tmp_path),
                                 "is a folder")
    assert ".part" not in line and not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(("argv", "names"), [
    (["info", "cut.tif"], "cut.tif"),  # a TIFF header and then garbage
    (["stac", "cut.tif", "--out", "folder"], "is a folder"),
    (["demo", "--out", "d", "--photos", "0"], "photos must be at least 1"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_more_bad_inputs_are_one_line(argv: list[str], names: str, tmp_path: Path) -> None:
    (tmp_path / "cut.tif").write_bytes(b"II*\x00garbage")
    (tmp_path / "folder").mkdir()
    _check_one_error_line(_terranb(argv, tmp_path), names)
    assert not list(tmp_path.glob("*.part"))


def test_emulator_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _terranb(["emulator", "--port", str(port), "--data-dir", "emu"], tmp_path)
    line = _check_one_error_line(proc, str(port))
    assert "in use" in line.lower()
    assert proc.stderr.strip() == line, proc.stderr  # no bare '[Errno 98] ...' line above it


def test_ctrl_c_is_one_error_line(tmp_path: Path) -> None:
    """Ctrl-C in the middle of ``terranb demo`` (while it writes the sample flight)."""
    import signal

    proc = subprocess.Popen([str(TERRANB), "demo", "--out", "out"], cwd=tmp_path,
                            env=_env(tmp_path), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "writing the sample flight ...": the command is running
    proc.send_signal(signal.SIGINT)
    _out, rest = proc.communicate(timeout=120)
    err = first + rest
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("terranb: error:")]
    assert errors == [ln for ln in err.splitlines() if "interrupt" in ln.lower()], err
    assert len(errors) == 1 and "run the same command again" in errors[0], err
