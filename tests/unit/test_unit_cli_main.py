"""The dispatcher: every sub-command registers, -v works anywhere, usage errors exit 2."""

from __future__ import annotations

import logging

import pytest

from terranb.cli import main as cli_main


def test_every_command_module_registers() -> None:
    parser = cli_main.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = set(sub.choices)  # type: ignore[attr-defined]
    for expected in ("configure", "resources", "files", "sample-data", "preflight", "submit",
                     "jobs", "download", "emulator", "demo", "report", "info", "stac"):
        assert expected in names


def test_verbose_flag_after_the_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_basic_config(**kwargs: object) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(logging, "basicConfig", fake_basic_config)
    # The command fails (no such path) after logging was configured from the trailing -vv.
    assert cli_main.main(["info", "/nonexistent/terranb-results", "-vv"]) == 1
    assert seen.get("level") == logging.DEBUG
    seen.clear()
    assert cli_main.main(["-v", "info", "/nonexistent/terranb-results"]) == 1
    assert seen.get("level") == logging.INFO


def test_usage_error_exits_2() -> None:
    assert cli_main.main(["no-such-command"]) == 2
    assert cli_main.main([]) == 2
