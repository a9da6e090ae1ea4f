"""Every option of every sub-command (also ones added later) has help with its default and unit.

The test walks the whole argparse tree built by :func:`terranb.cli.main.build_parser`, so a
sub-command another part of terranb registers is held to the same rules without editing it.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from terranb.cli.main import build_parser, main

# units a numeric option may state (seconds, metres, bytes, percent, counts ...)
_UNIT = re.compile(r"\b(s|seconds?|ms|m|metres?|meters?|m/pixel|bytes?|B|MB|MiB|bytes/s|Mbit/s|"
                   r"%|percent|degrees?|probability|fraction|count|number|photos?|files?|"
                   r"jobs?|items?|resources?|points?|pixels?|faces?|triangles?|uploads?|"
                   r"workers?|port|seed|"
                   r"CRS units?|N)\b")
# reST / Sphinx markup that argparse would print verbatim
_REST = re.compile(r"``|:class:|:func:|:meth:|:mod:|:attr:|\.\. \w+::")
_NO_DEFAULT = (None, False, argparse.SUPPRESS)


def _walk(parser: argparse.ArgumentParser,
          path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def _commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    return list(_walk(build_parser()))


def test_the_tree_has_every_known_command() -> None:
    names = {" ".join(p) for p, _ in _commands()}
    for cmd in ("demo", "report", "submit", "download", "preflight", "jobs list", "emulator",
                "sample-data", "mosaic", "info", "stac", "configure", "resources list"):
        assert cmd in names


def _problems(commands: list[tuple[tuple[str, ...], argparse.ArgumentParser]]) -> list[str]:
    problems: list[str] = []
    for path, parser in commands:
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction,
                                   argparse._SubParsersAction)):
                continue
            where = f"terranb {' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
            text = action.help or ""
            if not text or text == argparse.SUPPRESS:
                problems.append(f"{where}: no help text")
                continue
            if action.option_strings and action.default not in _NO_DEFAULT \
                    and action.nargs != 0 and "default" not in text:
                problems.append(f"{where}: default {action.default!r} not stated")
            if action.type in (int, float) and not _UNIT.search(text):
                problems.append(f"{where}: numeric option without a unit: {text!r}")
            if _REST.search(text):
                problems.append(f"{where}: reST markup in help: {text!r}")
    return problems


def test_every_option_has_help_with_default_and_unit() -> None:
    problems = _problems(_commands())
    assert not problems, "\n".join(problems)


def test_the_checker_catches_each_kind_of_problem() -> None:
    """The walk above must be able to fail: one planted fault of each kind is reported."""
    top = argparse.ArgumentParser(prog="terranb")
    sub = top.add_subparsers().add_parser("x")
    sub.add_argument("--bare")
    sub.add_argument("--quiet-default", default="a", help="a choice")
    sub.add_argument("--count", type=int, default=None, help="how many, (default: all)")
    sub.add_argument("--rest", help="see ``terranb info`` (default: none)")
    sub.add_argument("--ok", type=float, default=2.0, help="wait in seconds (default 2)")
    found = "\n".join(_problems(list(_walk(top))))
    for fault in ("--bare: no help text", "--quiet-default: default 'a' not stated",
                  "--count: numeric option without a unit", "--rest: reST markup"):
        assert fault in found
    assert "--ok" not in found


def test_no_rest_markup_in_descriptions() -> None:
    bad = [f"terranb {' '.join(path)}: {m.group(0)!r}"
           for path, parser in _commands()
           for text in (parser.description or "", parser.epilog or "")
           for m in [_REST.search(text)] if m]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("cmd", [p for p, _ in _commands()], ids=lambda p: " ".join(p) or "top")
def test_help_prints_without_markup(cmd: tuple[str, ...],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: terranb") and not _REST.search(out)


def test_every_leaf_command_takes_json() -> None:
    """The README says so; a group (``jobs``) only dispatches to its actions."""
    missing = [" ".join(path) for path, parser in _commands()
               if path and not any(isinstance(a, argparse._SubParsersAction)
                                   for a in parser._actions)
               and "--json" not in parser._option_string_actions]
    assert not missing, f"commands without --json: {missing}"
