"""Links to files the kernel wrote: Voila's /voila/files/, Jupyter's /files/, else relative."""

from __future__ import annotations

import json
import os
from pathlib import Path

from terranb.widgets.links import file_link, jupyter_servers, voila_root


def test_voila_single_notebook_root_is_the_notebook_folder(tmp_path: Path) -> None:
    f = tmp_path / "work dir" / "report.html"
    env = {"VOILA_BASE_URL": "/", "VOILA_REQUEST_URL": "http://127.0.0.1:8866/"}
    link = file_link(f, env=env, cwd=tmp_path, servers=[])
    assert link.served and link.via == "voila"
    assert link.href == "/voila/files/work%20dir/report.html"


def test_voila_render_under_a_server_strips_the_notebook_folders(tmp_path: Path) -> None:
    nb_dir = tmp_path / "repo" / "notebooks"
    env = {"VOILA_BASE_URL": "/user/x/",
           "VOILA_REQUEST_URL": "https://hub/user/x/voila/render/notebooks/06_survey.ipynb"}
    assert voila_root(env, nb_dir) == tmp_path / "repo"
    link = file_link(nb_dir / "w" / "r.html", env=env, cwd=nb_dir)
    assert link.href == "/user/x/voila/files/notebooks/w/r.html"
    # a notebook path that does not match the kernel's folder: the folder itself is the root
    env["VOILA_REQUEST_URL"] = "https://hub/user/x/voila/render/other/06.ipynb"
    assert voila_root(env, nb_dir) == nb_dir


def test_voila_file_outside_the_root_is_relative_and_says_so(tmp_path: Path) -> None:
    env = {"VOILA_BASE_URL": "/", "VOILA_REQUEST_URL": "http://127.0.0.1:1/"}
    link = file_link(tmp_path / "out.html", env=env, cwd=tmp_path / "nb")
    assert not link.served and link.via == "relative" and link.href == "../out.html"
    assert "outside the folder Voila serves" in link.note and str(tmp_path) in link.note


def test_jupyter_server_files_url_with_base_url(tmp_path: Path) -> None:
    servers = [(tmp_path / "elsewhere", "/"), (tmp_path, "/user/me/")]
    link = file_link(tmp_path / "a" / "r #1.html", env={}, cwd=tmp_path / "a", servers=servers)
    assert link.served and link.via == "jupyter"
    assert link.href == "/user/me/files/a/r%20%231.html"
    none = file_link(tmp_path / "r.html", env={}, cwd=tmp_path, servers=[])
    assert not none.served and none.href == "r.html"
    assert "no running Jupyter server" in none.note


def test_runtime_files_give_root_and_base_url_of_live_servers_only(tmp_path: Path) -> None:
    (tmp_path / "jpserver-1.json").write_text(json.dumps(
        {"pid": os.getpid(), "root_dir": str(tmp_path), "base_url": "/b/", "token": "x"}))
    (tmp_path / "jpserver-2.json").write_text(json.dumps(
        {"pid": 2 ** 22 + 12345, "root_dir": "/gone", "base_url": "/"}))  # no such process
    (tmp_path / "jpserver-3.json").write_text("{half")
    assert list(jupyter_servers(tmp_path)) == [(tmp_path.resolve(), "/b/")]
    assert list(jupyter_servers(tmp_path / "missing")) == []
