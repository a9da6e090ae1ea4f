"""Fixtures of the report tests: result trees generated in code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("_terranb_test_trees",
                                               Path(__file__).with_name("_trees.py"))
assert _spec is not None and _spec.loader is not None
trees = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(trees)


@pytest.fixture()
def result_trees(tmp_path: Path) -> Path:
    """``tmp/results/{2d,3d,lidar}`` result trees."""
    return trees.make_all(tmp_path / "results")
