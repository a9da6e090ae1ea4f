"""The README's two commands, taken from README.md itself and run as a new user would.

Issue 11: ``.venv/bin/terranb demo --out demo-out`` crashed on a fresh clone (relative paths
joined twice) while every test passed, because no test ran the command as written. Here the
commands are read from the "## Two commands" section (a README edit is tested, not a copy),
the terranb part of the first runs in a new empty folder with the same relative ``--out``,
and ``terranb report`` is run on that demo's results with a relative path from another
working directory, paths with spaces and ``~``. The venv-creating part is not re-run (the
installed venv stands for ``.venv``; scripts/test.sh does the fresh install in CI).

One demo run per module (about 25 s): every report check reuses it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
TERRANB = Path(sys.executable).parent / "terranb"
# the sections every report has, whatever else later versions add
SECTIONS = {"overview", "map", "views", "statistics", "findings", "runcard"}


def _two_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Two commands\s*$(.*?)(?=^## )", text, re.M | re.S)
    assert match, "README.md has no '## Two commands' section"
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", match.group(1), re.M | re.S)
    commands = [b.strip() for b in blocks]
    assert len(commands) == 2, f"expected two fenced commands, found {commands}"
    return commands


def _terranb_part(command: str) -> list[str]:
    """The ``.venv/bin/terranb ...`` step of the first command, checked for its shape."""
    steps = [s.strip() for s in command.split("&&")]
    assert len(steps) == 3, steps
    assert shlex.split(steps[0])[:3] == ["python3", "-m", "venv"], steps[0]
    venv = shlex.split(steps[0])[3]
    pip = shlex.split(steps[1])
    assert pip[0] == f"{venv}/bin/pip" and pip[1:3] == ["install", "-e"], steps[1]
    assert pip[3].startswith(".["), f"the install is of the repo itself: {steps[1]}"
    argv = shlex.split(steps[2])
    assert argv[0] == f"{venv}/bin/terranb" and argv[1] == "demo", steps[2]
    assert "--out" in argv and not Path(argv[argv.index("--out") + 1]).is_absolute(), \
        "the README's demo uses a relative --out (the case that broke)"
    return argv[1:]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), **extra)
    env.pop("TERRANB_PROFILE", None)
    return env


def _run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(TERRANB), *argv], cwd=cwd, env=_env(**env), text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, f"terranb {argv} failed:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    return proc


class _Sections(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags += 1
        if tag == "section":
            self.ids.update(v for k, v in attrs if k == "id" and v)


def _check_report(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 10_000, path
    parser = _Sections()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    assert parser.tags > 20
    assert SECTIONS <= parser.ids, f"{path}: missing sections {SECTIONS - parser.ids}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HOME with a space in its name, holding the 'fresh clone' folder the demo runs in."""
    root = tmp_path_factory.mktemp("readme") / "my home"
    root.mkdir()
    return root


@pytest.fixture(scope="module")
def demo(home: Path) -> Path:
    """The README's first command's terranb step, in a new empty folder; returns that folder."""
    argv = _terranb_part(_two_commands()[0])
    fresh = home / "fresh"
    fresh.mkdir()
    _run(argv, cwd=fresh, HOME=str(home))
    return fresh


def test_readme_has_the_two_commands() -> None:
    first, second = _two_commands()
    _terranb_part(first)
    assert shlex.split(second) == ["bash", "scripts/test.sh"]
    assert (REPO / "scripts" / "test.sh").is_file()


def test_readme_points_only_inside_the_repo() -> None:
    """A user has the clone, not the team's shared folder: every pointer resolves in the repo."""
    text = README.read_text(encoding="utf-8")
    assert "../" not in text, "README.md points outside the repository"
    for ref in sorted(set(re.findall(r"`((?:docs|scripts|tests|notebooks|bench)/[^`\s]+)`", text))):
        assert (REPO / ref).exists(), f"README.md names {ref}, which is not in the repository"


def test_readme_demo_with_relative_out_writes_the_report(demo: Path) -> None:
    out = _terranb_part(_two_commands()[0])
    out_dir = demo / out[out.index("--out") + 1]
    _check_report(out_dir / "report.html")
    assert (out_dir / "results" / "runcard.json").is_file()
    # nothing written outside the --out folder of the empty working directory
    assert sorted(p.name for p in demo.iterdir()) == [out_dir.name]


def test_report_relative_path_from_another_cwd(demo: Path, home: Path) -> None:
    other = home / "other cwd"
    other.mkdir()
    results = os.path.relpath(demo / "demo-out" / "results", other)
    assert not Path(results).is_absolute() and " " not in results
    _run(["report", results, "--out", "rel.html"], cwd=other, HOME=str(home))
    _check_report(other / "rel.html")


def test_report_tilde_and_spaces(demo: Path, home: Path, tmp_path: Path) -> None:
    """``~`` given quoted (no shell expands it) and spaces in every path; cwd elsewhere."""
    (home / "out with space").mkdir()
    proc = _run(["report", "~/fresh/demo-out/results", "--out", "~/out with space/r.html",
                 "--json"], cwd=tmp_path, HOME=str(home))
    _check_report(home / "out with space" / "r.html")
    assert not (tmp_path / "~").exists()
    assert '"report"' in proc.stdout


def test_preflight_relative_tilde_and_spaces(demo: Path, home: Path, tmp_path: Path) -> None:
    other = home / "other cwd"
    other.mkdir(exist_ok=True)
    images = demo / "demo-out" / "flight" / "images"
    for where, path in ((other, os.path.relpath(images, other)),
                        (tmp_path, "~/fresh/demo-out/flight/images"),
                        (tmp_path, str(images))):
        proc = _run(["preflight", path, "--json"], cwd=where, HOME=str(home))
        assert json.loads(proc.stdout), path


def test_submit_and_download_with_tilde_relative_and_spaces(demo: Path, home: Path,
                                                            tmp_path: Path) -> None:
    """``submit`` of the demo's photos by ``~`` path to a local emulator, with a ledger whose
    name has a space; ``download`` to a relative destination with a space from another cwd."""
    from terranb.emulator import serve

    with serve(job_seconds=1) as emu:
        creds = {"DJI_APP_KEY": emu.app_key, "DJI_SECRET_KEY": emu.secret_key,
                 "TERRANB_BASE_URL": emu.base_url, "TERRANB_S3_ENDPOINT_URL": emu.s3_endpoint_url,
                 "HOME": str(home)}
        proc = _run(["submit", "~/fresh/demo-out/flight/images", "--type", "2d", "--wait",
                     "--timeout", "120", "--interval", "0.5", "--no-progress",
                     "--ledger", "~/my ledger", "--json"], cwd=tmp_path, **creds)
        job = json.loads(proc.stdout)
        assert job["state"] == "succeeded", job
        assert (home / "my ledger").exists() and not (tmp_path / "~").exists()
        other = home / "other cwd"
        other.mkdir(exist_ok=True)
        proc = _run(["download", job["job_id"], "dl dir", "--ledger", str(home / "my ledger"),
                     "--no-progress", "--json"], cwd=other, **creds)
    files = json.loads(proc.stdout)["files"]
    assert files and all((other / "dl dir" / name).is_file() for name in files)
