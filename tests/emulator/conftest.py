"""Fixtures for the emulator tests: a served emulator and geotagged photos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One emulator per test module (jobs take about a second).

    Module scope, not session: an idle emulator must not outlive this folder's
    tests and sit in the same process as other folders' emulators.
    """
    pytest.importorskip("fastapi")
    pytest.importorskip("moto")
    from emu_helpers import Served

    from terranb.emulator.config import EmulatorOptions
    from terranb.emulator.server import Emulator

    opts = EmulatorOptions(data_dir=tmp_path_factory.mktemp("emu"), job_seconds=0.8, seed=1)
    emulator = Emulator(opts)
    emulator.start()
    try:
        yield Served(emulator)
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """12 small geotagged JPEGs of a flight (sorted)."""
    from emu_photos import make_photos

    return make_photos(tmp_path_factory.mktemp("photos"), n=12)
