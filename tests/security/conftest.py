"""Fixtures for the attack battery: one served emulator per module, signed callers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Reuse the emulator tests' signed TerraAPI caller and served-emulator handle.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulator"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    pytest.importorskip("fastapi")
    pytest.importorskip("moto")
    from emu_helpers import Served

    from terranb.emulator.config import EmulatorOptions
    from terranb.emulator.server import Emulator

    emulator = Emulator(EmulatorOptions(data_dir=tmp_path_factory.mktemp("emu"),
                                        job_seconds=0.5, seed=7))
    emulator.start()
    try:
        yield Served(emulator)
    finally:
        emulator.stop()
