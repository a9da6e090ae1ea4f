"""The 2D job's result.tif is a COG with overviews; the LiDAR job's cloud is COPC."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
rasterio = pytest.importorskip("rasterio")

from terranb.emulator.engine import Engine  # noqa: E402


@pytest.fixture(scope="module")
def flight(tmp_path_factory):
    from terranb.dataset.synthetic import make_sample_flight

    return make_sample_flight(tmp_path_factory.mktemp("flight"), seed=3, rows=3, cols=4,
                              image_size=(480, 320), lidar=True)


def test_2d_result_tif_is_a_valid_cog_with_internal_overviews(flight, tmp_path):
    cogeo = pytest.importorskip("rio_cogeo.cogeo")
    inputs = [(f"images/{p.name}", p) for p in flight.photos]
    Engine(seed=0).produce("2d", {"parameter": {"quality_level": 1}}, inputs, tmp_path,
                           lambda f, m: None)
    tif = tmp_path / "map" / "result.tif"
    valid, errors, warnings = cogeo.cog_validate(str(tif))
    assert valid and not errors, errors
    with rasterio.open(tif) as ds:
        assert ds.count == 4 and ds.block_shapes[0] == (512, 512)
        assert max(ds.width, ds.height) > 512  # big enough that overviews are due
        assert ds.overviews(1), "no internal overviews"
        # An overview is a real reduction of the image, not an empty level.
        small = ds.read(4, out_shape=(ds.height // ds.overviews(1)[0],
                                      ds.width // ds.overviews(1)[0]))
        assert small.mean() > 10
    assert not warnings or all("overview" not in w.lower() for w in warnings)
