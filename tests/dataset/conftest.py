"""Shared synthetic flights for the dataset tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("numpy")
pytest.importorskip("rasterio")


@pytest.fixture(scope="session")
def small_flight(tmp_path_factory: pytest.TempPathFactory):
    """A 5 x 4 flight of 600 x 400 photos at 5 cm, heading 0, default overlaps."""
    from terranb.dataset.synthetic import make_sample_flight

    out: Path = tmp_path_factory.mktemp("small_flight")
    return make_sample_flight(out, seed=3, rows=5, cols=4, image_size=(600, 400), lidar=True)


@pytest.fixture(scope="session")
def rotated_flight(tmp_path_factory: pytest.TempPathFactory):
    """A 5 x 5 flight heading 35 degrees with attitude jitter, 800 x 533 photos."""
    from terranb.dataset.synthetic import make_sample_flight

    out: Path = tmp_path_factory.mktemp("rotated_flight")
    return make_sample_flight(out, seed=11, rows=5, cols=5, image_size=(800, 533), gsd=0.04,
                              heading_deg=35.0, attitude_jitter_deg=1.0, lidar=False)
