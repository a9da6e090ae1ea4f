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


def test_lidar_cloud_is_copc_that_laspy_copcreader_reads_level_by_level(flight, tmp_path):
    laspy = pytest.importorskip("laspy")
    pytest.importorskip("copclib")
    inputs = [("L1/cloud.las", flight.lidar_las)]
    produced = Engine(seed=0).produce("lidar", {"parameter": {"quality_level": 1}}, inputs,
                                      tmp_path, lambda f, m: None)
    assert produced[0] == "lidars/terra_las/cloud_merged.copc.laz"
    path = tmp_path / produced[0]
    src = laspy.read(flight.lidar_las)
    with laspy.CopcReader.open(str(path)) as reader:
        total = reader.header.point_count
        assert total == len(src.points)  # quality_level 1 keeps every point
        coarse = reader.query(level=0)
        two = reader.query(level=range(0, 3))
        everything = reader.query()
        assert 0 < len(coarse) < len(two) <= len(everything) == total
    # The octree reorders points but keeps every one of them, with its attributes.
    out = laspy.read(str(path))
    assert out.header.parse_crs().to_epsg() == flight.epsg  # WKT (E)VLR kept
    assert np.array_equal(np.sort(np.asarray(out.z)), np.sort(np.asarray(src.z)))
    assert int(np.asarray(out.intensity).sum()) == int(np.asarray(src.intensity).sum())
    from terranb.results.layout import open_results

    (pc,) = open_results(tmp_path).point_clouds
    assert pc.copc and pc.compressed and pc.point_count == total and pc.crs is not None
    assert not list(tmp_path.rglob(".terranb-work"))
