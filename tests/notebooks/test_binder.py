"""binder/ names only things that exist; the notebooks it opens are committed, checked and small."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = ["01_quick_start", "02_orthomosaic_analysis", "03_3d_mesh", "04_lidar_point_cloud",
            "05_flighthub2_open_modeling", "06_survey_report", "07_dock_mission"]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_binder_files_exist_and_are_executable() -> None:
    for name in ("requirements.txt", "postBuild", "start", "jupyter_server_config.py"):
        assert (BINDER / name).is_file(), f"binder/{name} is missing"
    for script in ("postBuild", "start"):
        assert os.access(BINDER / script, os.X_OK), f"binder/{script} must be executable"
        assert (BINDER / script).read_text().startswith("#!/bin/bash")
    # a start script must hand over to the server command it wraps
    assert re.search(r'^exec "\$@"\s*$', (BINDER / "start").read_text(), re.M)


def test_post_build_installs_extras_that_pyproject_defines() -> None:
    text = (BINDER / "postBuild").read_text()
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs, "postBuild must pip install terranb"
    extras_defined = set(_pyproject()["project"]["optional-dependencies"])
    named: set[str] = set()
    for line in installs:
        for token in shlex.split(line):
            m = re.fullmatch(r"\.\[([\w,-]+)\]", token)
            if m:
                named.update(m.group(1).split(","))
    assert named, "postBuild must install the checkout with extras, e.g. '.[all]'"
    assert named <= extras_defined, f"unknown extras {named - extras_defined}"
    # "all" must really pull in what the notebooks use
    all_extra = " ".join(_pyproject()["project"]["optional-dependencies"]["all"])
    for needed in ("widgets", "viz", "emulator", "geo", "transfer"):
        assert needed in all_extra, f"the 'all' extra lacks {needed}"
    # files that postBuild copies exist
    for token in re.findall(r"binder/[\w./-]+", text):
        assert (ROOT / token).exists(), f"postBuild names {token}, which does not exist"


def test_binder_requirements_are_installable_names() -> None:
    text = (BINDER / "requirements.txt").read_text()
    lines = [ln.split("#")[0].strip() for ln in text.splitlines()]
    reqs = [ln for ln in lines if ln]
    assert reqs
    for req in reqs:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+\s*([<>=!~]=?\s*[\w.*]+\s*,?\s*)*", req), req


def test_binder_opens_notebook_01() -> None:
    cfg = (BINDER / "jupyter_server_config.py").read_text()
    m = re.search(r'default_url\s*=\s*"/lab/tree/([^"]+)"', cfg)
    assert m, "jupyter_server_config.py must set ServerApp.default_url"
    assert (ROOT / m.group(1)).is_file(), f"{m.group(1)} does not exist"
    assert m.group(1) == "notebooks/01_quick_start.ipynb"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_committed_with_outputs_and_small(name: str) -> None:
    path = NOTEBOOKS / f"{name}.ipynb"
    assert path.is_file()
    assert path.stat().st_size < 5_000_000, f"{path.name} is {path.stat().st_size} bytes"
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c.get("outputs") is not None for c in code)
    executed = [c for c in code if c.get("execution_count")]
    assert len(executed) == len(code), "commit the notebook executed top to bottom"
    assert [c["execution_count"] for c in executed] == list(range(1, len(executed) + 1))
    errors = [o for c in code for o in c["outputs"] if o.get("output_type") == "error"]
    assert not errors, errors[:1]
    first = "".join(nb["cells"][0]["source"])
    assert "real service" in first.lower(), "say at the top how to use the real service"
    text = path.read_text(encoding="utf-8")
    # nothing secret or machine-specific that the sanitizer would not cover
    assert "secret_key=" not in text.replace("secret_key=emu.secret_key", "")
    assert "/work/" not in text


def test_sanitizer_config_covers_uuids_paths_ports_and_times() -> None:
    cfg = (NOTEBOOKS / "sanitize.cfg").read_text()
    for section in ("uuid", "iso_datetime", "loopback_port", "work_dir", "tmp_path"):
        assert f"[{section}]" in cfg


def test_voila_configured_on_binder_is_installed_there() -> None:
    """jupyter_server_config.py sets Voila's file allowlist: Binder must install Voila."""
    cfg = (BINDER / "jupyter_server_config.py").read_text()
    reqs = (BINDER / "requirements.txt").read_text()
    if "VoilaConfiguration" in cfg:
        assert re.search(r"^voila\b", reqs, re.M), "binder/requirements.txt lacks voila"
