"""Fixtures for interop tests: ``terranb emulator`` as a subprocess on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``python -m terranb emulator --port 0``; yields its first stdout line (JSON)."""
    pytest.importorskip("fastapi")
    pytest.importorskip("moto")
    data = tmp_path_factory.mktemp("emu-proc")
    proc = subprocess.Popen(
        [sys.executable, "-m", "terranb", "emulator", "--port", "0", "--data-dir", str(data),
         "--job-seconds", "3", "--seed", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=data,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        raise AssertionError(f"the emulator printed nothing; stderr: {proc.stderr.read()}")
    try:
        yield json.loads(line)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def six_photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six small geotagged photos of one flight (a 2D model needs at least 5)."""
    synthetic = pytest.importorskip("terranb.dataset.synthetic")
    flight = synthetic.make_sample_flight(tmp_path_factory.mktemp("six"), photos=6,
                                          image_size=(64, 64), lidar=False, seed=11)
    return sorted(flight.photos)
