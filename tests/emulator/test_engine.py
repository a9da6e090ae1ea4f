"""Engine outputs: real geospatial files computed from the inputs, in DJI Terra's layout."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
rasterio = pytest.importorskip("rasterio")
laspy = pytest.importorskip("laspy")
pyproj = pytest.importorskip("pyproj")

from terranb.emulator.engine import Engine  # noqa: E402
from terranb.errors import ValidationError  # noqa: E402


@pytest.fixture(scope="module")
def flight(tmp_path_factory):
    from terranb.dataset.synthetic import make_sample_flight

    return make_sample_flight(
        tmp_path_factory.mktemp("flight"),
        seed=3,
        rows=3,
        cols=4,
        image_size=(480, 320),
        lidar=False,
    )


@pytest.fixture(scope="module")
def photo_inputs(flight):
    return [(f"images/{p.name}", p) for p in flight.photos]


def _positions(flight):
    from terranb.dataset.exif import read_photo_meta

    metas = [read_photo_meta(p) for p in flight.photos]
    return [(m.longitude, m.latitude) for m in metas]


def _produce(job, params, inputs, out):
    seen = []
    produced = Engine(seed=0).produce(job, params, inputs, out, lambda f, m: seen.append((f, m)))
    fracs = [f for f, _ in seen]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0 and all(isinstance(m, str) for _, m in seen)
    for rel in produced:
        assert (out / rel).is_file() and (out / rel).stat().st_size > 0, rel
    assert not list(out.rglob("*.part*")), "temporary files left behind"
    return produced


def _check_tfw(tif: Path):
    with rasterio.open(tif) as ds:
        t = ds.transform
    lines = [float(v) for v in tif.with_suffix(".tfw").read_text().split()]
    expected = [t.a, t.d, t.b, t.e, t.c + t.a / 2 + t.b / 2, t.f + t.d / 2 + t.e / 2]
    assert lines == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize("geo_cs", [None, "EPSG:3857"])
def test_2d_geotiff_has_requested_crs_contains_photos_and_matching_tfw(
    flight, photo_inputs, tmp_path, geo_cs
):
    params = {"parameter": {"map_mode": 1, "quality_level": 2}}
    if geo_cs:
        params["parameter"]["output_geo_desc"] = {
            "cs_type": "GEO_CS",
            "geo_cs": geo_cs,
            "geo_cs_wkt": "",
            "override_vertical_cs": "",
        }
    produced = _produce("2d", params, photo_inputs, tmp_path)
    assert {
        "map/result.tif",
        "map/result.tfw",
        "map/result.prj",
        "map/report/map_report.json",
        "AT/sfm_report.json",
        "mission.json",
    } <= set(produced)
    tif = tmp_path / "map" / "result.tif"
    expected_crs = pyproj.CRS.from_user_input(geo_cs or f"EPSG:{flight.epsg}")
    with rasterio.open(tif) as ds:
        assert ds.count == 4 and set(ds.dtypes) == {"uint8"}
        assert pyproj.CRS.from_wkt(ds.crs.to_wkt()).equals(expected_crs)
        bounds = ds.bounds
        alpha = ds.read(4)
    assert 0.3 < (alpha > 0).mean() <= 1.0
    to_map = pyproj.Transformer.from_crs(4326, expected_crs, always_xy=True)
    for lon, lat in _positions(flight):
        x, y = to_map.transform(lon, lat)
        assert bounds.left < x < bounds.right and bounds.bottom < y < bounds.top
    _check_tfw(tif)
    prj = pyproj.CRS.from_wkt((tmp_path / "map" / "result.prj").read_text())
    assert prj.to_epsg() == expected_crs.to_epsg()

    report = json.loads((tmp_path / "map" / "report" / "map_report.json").read_text())
    corner = report["gps corner"]
    for lon, lat in _positions(flight):
        assert corner["top left lon"] < lon < corner["bottom right lon"]
        assert corner["bottom right lat"] < lat < corner["top left lat"]
    assert report["output coordinate"] == expected_crs.name
    assert report["quality level"] == 2 and report["map mode"] == 1
    assert report["fly altitude"] == pytest.approx(flight.height, rel=0.05)
    truth_area_km2 = (
        (flight.bounds[2] - flight.bounds[0]) * (flight.bounds[3] - flight.bounds[1]) / 1e6
    )
    assert 0.3 * truth_area_km2 < report["covered area"] < 1.5 * truth_area_km2
    if geo_cs is None:  # UTM: GSD is quality 2 = twice the native GSD
        assert report["TDOM GSD"] == pytest.approx(2 * flight.gsd, rel=0.1)
    sfm = json.loads((tmp_path / "AT" / "sfm_report.json").read_text())
    assert sfm["images number"] == len(flight.photos) == sfm["images reconstructed"]
    assert sfm["average ground sampling distance(GSD)"] == pytest.approx(flight.gsd, rel=0.1)
    assert sfm["cameras"][0]["camera model"] == "DJI FC6310"
    mission = json.loads((tmp_path / "mission.json").read_text())
    assert mission["job type"] == "2d" and "map/result.tif" in mission["output files"]


def test_2d_results_reader_accepts_the_tree(photo_inputs, tmp_path):
    layout = pytest.importorskip("terranb.results.layout")
    _produce("2d", {"parameter": {"quality_level": 3}}, photo_inputs, tmp_path)
    tree = layout.open_results(tmp_path)
    assert tree.kind == "2d" and tree.ortho is not None
    errors = [f for f in tree.findings if getattr(f, "level", "") == "error"]
    assert not errors, errors


def _read_obj(path: Path):
    verts, faces, uvs = [], [], 0
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            verts.append([float(v) for v in line.split()[1:4]])
        elif line.startswith("vt "):
            uvs += 1
        elif line.startswith("f "):
            faces.append([int(p.split("/")[0]) - 1 for p in line.split()[1:]])
    return np.array(verts), np.array(faces), uvs


def test_3d_textured_surface_metadata_and_las(flight, photo_inputs, tmp_path):
    params = {
        "parameter": {
            "output_mesh": True,
            "generate_obj": True,
            "generate_ply": True,
            "output_pointcloud": True,
            "generate_las": True,
            "quality_level": 3,
            "model_simplify": 0.5,
            "generate_b3dm": True,
        }
    }
    produced = _produce("3d", params, photo_inputs, tmp_path)
    obj_dir = tmp_path / "models/pc/0/terra_obj"
    assert {
        "models/pc/0/terra_obj/BlockR/BlockR.obj",
        "models/pc/0/terra_obj/metadata.xml",
        "models/pc/0/terra_las/cloud.las",
        "report/model_report.json",
    } <= set(produced)
    meta = ET.parse(obj_dir / "metadata.xml").getroot()
    assert meta.tag == "ModelMetadata" and meta.findtext("SRS") == f"EPSG:{flight.epsg}"
    origin = np.array([float(v) for v in meta.findtext("SRSOrigin").split(",")])
    verts, faces, uvs = _read_obj(obj_dir / "BlockR" / "BlockR.obj")
    assert uvs == len(verts) and faces.max() < len(verts)
    assert 0.5 * 10_000 <= len(faces) <= 1.1 * 10_000  # 20 000 (quality 3) x 0.5
    absolute = verts + origin
    west, south, east, north = flight.bounds
    assert np.abs(verts[:, :2]).max() < 200  # local to the origin
    assert absolute[:, 0].min() > west - 30 and absolute[:, 0].max() < east + 30
    assert absolute[:, 1].min() > south - 30 and absolute[:, 1].max() < north + 30
    # The synthetic ground is flat at 180 m: the surface fitted to the photos says so.
    assert absolute[:, 2] == pytest.approx(180.0, abs=0.5)
    mtl = (obj_dir / "BlockR" / "BlockR.mtl").read_text()
    assert "map_Kd BlockR_0.jpg" in mtl and (obj_dir / "BlockR" / "BlockR_0.jpg").is_file()
    trimesh = pytest.importorskip("trimesh")
    mesh = trimesh.load(obj_dir / "BlockR" / "BlockR.obj", force="mesh")
    assert len(mesh.faces) == len(faces)
    assert (mesh.face_normals[:, 2] > 0.99).all()  # faces point up

    las = laspy.read(tmp_path / "models/pc/0/terra_las/cloud.las")
    assert las.header.parse_crs().to_epsg() == flight.epsg
    assert len(las.points) > 1000
    assert las.x.min() > west - 30 and las.x.max() < east + 30
    assert np.asarray(las.red).max() > 0
    report = json.loads((tmp_path / "report/model_report.json").read_text())
    assert report["generate obj"] is True and report["generate las"] is True
    assert report["generate b3dm"] is True
    assert "generate_b3dm" not in report["not generated by the emulator"]
    assert "models/pc/0/terra_b3dms/tileset.json" in produced
    assert report["output coordinate"] == pyproj.CRS.from_epsg(flight.epsg).name
    ply = tmp_path / "models/pc/0/terra_ply/BlockR/BlockR.ply"
    assert trimesh.load(ply, force="mesh").faces.shape == faces.shape


def test_3d_model_simplify_scales_face_count(photo_inputs, tmp_path):
    counts = []
    for simplify in (1.0, 0.25):
        out = tmp_path / str(simplify)
        _produce(
            "3d", {"parameter": {"quality_level": 3, "model_simplify": simplify}}, photo_inputs, out
        )
        counts.append(json.loads((out / "report/model_report.json").read_text())["face number"])
    assert counts[1] < 0.35 * counts[0]


def test_3dgs_ply_of_gaussian_centres(flight, photo_inputs, tmp_path):
    _produce("3dgs", {"parameter": {"quality_level": 2}}, photo_inputs, tmp_path)
    raw = (tmp_path / "3dgs" / "point_cloud.ply").read_bytes()
    head, _, body = raw.partition(b"end_header\n")
    props = [ln.split()[-1].decode() for ln in head.splitlines() if ln.startswith(b"property")]
    assert props[:3] == ["x", "y", "z"] and "f_dc_0" in props and "rot_3" in props
    n = int(next(ln for ln in head.splitlines() if ln.startswith(b"element vertex")).split()[-1])
    data = np.frombuffer(body, dtype="<f4").reshape(n, len(props))
    assert n > 1000 and np.isfinite(data).all()
    meta = ET.parse(tmp_path / "3dgs" / "metadata.xml").getroot()
    origin = np.array([float(v) for v in meta.findtext("SRSOrigin").split(",")])
    xy = data[:, :2] + origin[:2]
    west, _south, east, _north = flight.bounds
    assert xy[:, 0].min() > west - 30 and xy[:, 0].max() < east + 30


# -- LiDAR ------------------------------------------------------------------------------------


def _lonlat_las(
    path: Path, n: int = 20_000, seed: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lon = -91.9937 + rng.uniform(0, 0.0015, n)
    lat = 46.8429 + rng.uniform(0, 0.0010, n)
    z = 180 + rng.uniform(0, 5, n)
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales = np.array([1e-8, 1e-8, 0.001])
    header.offsets = np.array([-92.0, 46.0, 0.0])
    header.add_crs(pyproj.CRS.from_epsg(4326))
    las = laspy.LasData(header)
    las.x, las.y, las.z = lon, lat, z
    las.red = rng.integers(0, 65535, n, dtype=np.uint16)
    las.classification = np.full(n, 2, dtype=np.uint8)
    las.write(str(path))
    back = laspy.read(str(path))
    return np.asarray(back.x), np.asarray(back.y), np.asarray(back.z)


def test_lidar_reprojection_matches_pyproj(tmp_path):
    src = tmp_path / "in" / "cloud.las"
    src.parent.mkdir()
    lon, lat, z = _lonlat_las(src)
    params = {
        "parameter": {
            "quality_level": 1,
            "output_height_offset": 1.5,
            "output_geo_desc": {"cs_type": "GEO_CS", "geo_cs": "EPSG:32615"},
        }
    }
    produced = _produce("lidar", params, [("L1/cloud.las", src)], tmp_path / "out")
    assert produced[0] == "lidars/terra_las/cloud_merged.copc.laz"
    out = laspy.read(tmp_path / "out" / produced[0])
    assert out.header.parse_crs().to_epsg() == 32615
    assert out.header.version.minor == 4 and out.header.point_format.id == 7
    ex, ey = pyproj.Transformer.from_crs(4326, 32615, always_xy=True).transform(lon, lat)
    # COPC stores points in octree order: pair them with the inputs by (x, y) at 1 mm.
    io = np.lexsort((np.asarray(out.y), np.asarray(out.x)))
    ie = np.lexsort((np.round(ey, 3), np.round(ex, 3)))
    assert np.abs(np.asarray(out.x)[io] - ex[ie]).max() < 0.002
    assert np.abs(np.asarray(out.y)[io] - ey[ie]).max() < 0.002
    assert np.abs(np.asarray(out.z)[io] - (z[ie] + 1.5)).max() < 0.002
    assert (np.asarray(out.classification) == 2).all()
    report = json.loads((tmp_path / "out" / "lidars/report/report.json").read_text())
    assert report["output coordinate"] == "WGS 84 / UTM zone 15N"
    # Corners of the UTM bounds: they enclose the points, a few metres wider at most.
    assert lon.min() - 5e-5 < report["gps corner"]["top left lon"] <= lon.min()
    assert lat.max() <= report["gps corner"]["top left lat"] < lat.max() + 5e-5
    assert report["output point number"] == len(lon)
    assert 0 < report["point cloud density"]["average density"] < 1000


def test_lidar_sample_distance_thins_to_one_point_per_voxel(tmp_path):
    src = tmp_path / "cloud.las"
    _lonlat_las(src, n=30_000)
    out_dir = tmp_path / "out"
    Engine(chunk_points=7_000).produce(  # several chunks: the voxel index spans them
        "lidar", {"parameter": {"sample_distance": 2.0}}, [("cloud.las", src)], out_dir, None
    )
    out = laspy.read(out_dir / "lidars/terra_las/cloud_merged.copc.laz")
    assert out.header.parse_crs().to_epsg() == 32615  # default: UTM zone of the data
    n = len(out.points)
    assert 100 < n < 30_000 / 2
    thin = json.loads((out_dir / "lidars/report/report.json").read_text())["thinning"]
    size, origin = np.array(thin["voxel size"]), np.array(thin["voxel origin"])
    assert size.tolist() == [2.0, 2.0, 2.0]

    def voxels(x, y, z):
        return np.floor((np.stack([x, y, z], 1) - origin) / size).astype(np.int64)

    kept = voxels(np.asarray(out.x), np.asarray(out.y), np.asarray(out.z))
    # One point per voxel (up to points that 1 mm LAS rounding moved across a voxel face).
    assert n - len(np.unique(kept, axis=0)) <= max(2, n // 1000)
    src_las = laspy.read(src)
    ex, ey = pyproj.Transformer.from_crs(4326, 32615, always_xy=True).transform(
        np.asarray(src_las.x), np.asarray(src_las.y)
    )
    every = voxels(ex, ey, np.asarray(src_las.z))
    assert len(np.unique(every, axis=0)) == n  # ... and every occupied voxel kept


def test_lidar_quality_level_decimates_in_order(tmp_path):
    src = tmp_path / "cloud.las"
    _lonlat_las(src, n=10_001)
    Engine().produce(
        "lidar", {"parameter": {"quality_level": 3}}, [("cloud.las", src)], tmp_path / "out", None
    )
    out = laspy.read(tmp_path / "out/lidars/terra_las/cloud_merged.copc.laz")
    assert len(out.points) == math.ceil(10_001 / 16)


@pytest.mark.slow
def test_lidar_real_clouds_merge_reproject_and_thin(real_data, tmp_path):
    beach = real_data / "las" / "brighton_beach" / "model.laz"
    autzen_ft = real_data / "las" / "laspy" / "autzen_trim.laz"
    if not beach.is_file() or not autzen_ft.is_file():
        pytest.skip("real LAS samples missing")
    out = tmp_path / "beach"
    Engine().produce(
        "lidar", {"parameter": {"sample_distance": 0.5}}, [("model.laz", beach)], out, None
    )
    thinned = laspy.read(out / "lidars/terra_las/cloud_merged.copc.laz")
    with laspy.open(beach) as r:
        n_in = r.header.point_count
    assert len(thinned.points) < 0.2 * n_in
    assert thinned.header.parse_crs().to_epsg() == 32615

    # State Plane in US feet -> WGS 84 / UTM 10N in metres, z converted too.
    src = laspy.read(autzen_ft)
    out = tmp_path / "autzen"
    Engine().produce(
        "lidar",
        {"parameter": {"output_geo_desc": {"geo_cs": "EPSG:32610"}}},
        [("autzen.laz", autzen_ft)],
        out,
        None,
    )
    got = laspy.read(out / "lidars/terra_las/cloud_merged.copc.laz")
    t = pyproj.Transformer.from_crs(src.header.parse_crs(), 32610, always_xy=True)
    ex, ey = t.transform(np.asarray(src.x), np.asarray(src.y))
    # COPC order is octree order: compare as sets of points (sorted the same way).
    io = np.lexsort((np.asarray(got.z), np.asarray(got.y), np.asarray(got.x)))
    ie = np.lexsort((np.round(np.asarray(src.z) * 0.3048006, 3), np.round(ey, 3),
                     np.round(ex, 3)))
    assert np.abs(np.asarray(got.x)[io] - ex[ie]).max() < 0.002
    assert np.abs(np.asarray(got.y)[io] - ey[ie]).max() < 0.002
    assert np.asarray(got.z)[io] == pytest.approx(np.asarray(src.z)[ie] * 0.3048006, abs=0.002)


def test_errors_name_the_problem(photo_inputs, tmp_path):
    eng = Engine()
    with pytest.raises(ValidationError, match=r"no \.las or \.laz"):
        eng.produce("lidar", {"parameter": {}}, [("x.LDR", tmp_path)], tmp_path / "o", None)
    bare = tmp_path / "bare.las"
    las = laspy.LasData(laspy.LasHeader(point_format=3, version="1.2"))
    las.x, las.y, las.z = np.array([500000.0, 500010.0]), np.array([4e6, 4e6 + 5]), np.zeros(2)
    las.write(str(bare))
    with pytest.raises(ValidationError, match="no coordinate system"):
        eng.produce("lidar", {"parameter": {}}, [("bare.las", bare)], tmp_path / "o", None)
    with pytest.raises(ValidationError, match="unknown job type"):
        eng.produce("5d", {}, [], tmp_path / "o", None)
    with pytest.raises(ValidationError, match="JPEG"):
        eng.produce("2d", '{"parameter": {}}', [("bare.las", bare)], tmp_path / "o", None)
    with pytest.raises(ValidationError, match="coordinate system"):
        eng.produce(
            "2d",
            {"parameter": {"output_geo_desc": {"geo_cs": "EPSG:999999"}}},
            photo_inputs,
            tmp_path / "o",
            None,
        )


def test_lidar_dem_from_ground_points(tmp_path):
    src = tmp_path / "cloud.las"
    lon, lat, z = _lonlat_las(src, n=20_000)  # all class 2, z in 180..185
    out = tmp_path / "out"
    produced = Engine().produce(
        "lidar",
        {"parameter": {"generate_dem": True, "dem_resolution": 5.0}},
        [("cloud.las", src)],
        out,
        None,
    )
    assert "lidars/terra_dem/dem.tif" in produced
    with rasterio.open(out / "lidars/terra_dem/dem.tif") as ds:
        assert ds.crs.to_epsg() == 32615 and ds.res == pytest.approx((5.0, 5.0))
        dem = ds.read(1, masked=True)
        # Each cell holds the lowest point in it: never above the cloud's range.
        assert 180.0 <= dem.min() and dem.max() <= 185.0
        assert dem.count() > 0.8 * dem.size
        ex, ey = pyproj.Transformer.from_crs(4326, 32615, always_xy=True).transform(lon, lat)
        rows, cols = rasterio.transform.rowcol(ds.transform, ex[:200], ey[:200])
        cells = dem[np.asarray(rows), np.asarray(cols)]
        assert (cells <= z[:200] + 0.001).all()
    report = json.loads((out / "lidars/report/report.json").read_text())
    assert report["generate dem tif"] is True and report["dem generation"]["dem resolution"] == 5.0


def test_2d_predefine_aoi_crops_and_masks(flight, photo_inputs, tmp_path):
    west, south, east, north = flight.bounds
    cx, cy = (west + east) / 2, (south + north) / 2
    # A triangle in the middle of the flight, given in the output CRS (UTM metres).
    tri = [[cx - 15, cy - 10, 0], [cx + 15, cy - 10, 0], [cx, cy + 12, 0]]
    params = {
        "parameter": {"quality_level": 3},
        "predefine_AOI": {
            "polygon_points": tri,
            "geo_desc": {"cs_type": "GEO_CS", "geo_cs": f"EPSG:{flight.epsg}"},
        },
    }
    _produce("2d", params, photo_inputs, tmp_path)
    tif = tmp_path / "map" / "result.tif"
    with rasterio.open(tif) as ds:
        b = ds.bounds
        px = ds.res[0]
        assert b.left >= cx - 15 - px and b.right <= cx + 15 + px
        assert b.bottom >= cy - 10 - px and b.top <= cy + 12 + px
        alpha = ds.read(4)
        t = ds.transform
    _check_tfw(tif)  # the world file follows the cropped raster
    rows, cols = np.mgrid[0 : alpha.shape[0], 0 : alpha.shape[1]]
    x = t.c + (cols + 0.5) * t.a
    y = t.f + (rows + 0.5) * t.e
    # Inside the triangle: below both slanted edges.
    left_edge = (y - (cy - 10)) <= (x - (cx - 15)) * 22 / 15 - px * 2
    right_edge = (y - (cy - 10)) <= ((cx + 15) - x) * 22 / 15 - px * 2
    inside = left_edge & right_edge & (y >= cy - 10 + px * 2)
    outside = ~((y - (cy - 10)) <= (x - (cx - 15)) * 22 / 15 + px * 2) | (
        ~((y - (cy - 10)) <= ((cx + 15) - x) * 22 / 15 + px * 2)
    )
    assert (alpha[inside] == 255).mean() > 0.99
    assert (alpha[outside] == 0).all()
