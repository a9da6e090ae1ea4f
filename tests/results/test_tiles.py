"""3D Tiles written by the emulator and read by terranb: structure, georeferencing, bad input.

The b3dm/pnts containers are checked against the 3D Tiles 1.0 byte layout with
plain ``struct`` here, and their glTF with pygltflib (an independent reader).
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pyproj = pytest.importorskip("pyproj")
pytest.importorskip("trimesh")

from terranb.emulator.engine import Engine  # noqa: E402
from terranb.errors import ResultFormatError  # noqa: E402
from terranb.results.tiles.tileset import Tileset  # noqa: E402

# FlightHub 2's default parameter_3d (seed 004, protocol.md §2.4): b3dm only.
FH2_3D = ('{"parameter":{"cut_AOI":false,"generate_b3dm":true,"generate_las":false,'
          '"generate_obj":false,"generate_osgb":false,"generate_ply":false,"generate_pnts":false,'
          '"generate_point_ply":false,"global_min_depth":-1,"model_simplify":0.2,'
          '"output_geo_desc":{"cs_type":"GEO_CS","geo_cs":"EPSG:32650","geo_cs_wkt":"",'
          '"override_vertical_cs":""},"output_mesh":true,"output_ply_with_normals":false,'
          '"output_pointcloud":false,"ply_with_normals_level":0,"quality_level":3,'
          '"stereo_mode":false,"usable_memory_GB":60,"water_refine":false}}')
# In UTM zone 50 (EPSG:32650), where the FH2 seed's output CRS is valid.
ORIGIN = (30.52, 117.05)


@pytest.fixture(scope="module")
def flight(tmp_path_factory):
    from terranb.dataset.synthetic import make_sample_flight

    return make_sample_flight(tmp_path_factory.mktemp("flight"), seed=3, rows=3, cols=4,
                              image_size=(480, 320), lidar=False, origin=ORIGIN)


@pytest.fixture(scope="module")
def fh2_tree(flight, tmp_path_factory):
    out = tmp_path_factory.mktemp("fh2-3d")
    inputs = [(f"images/{p.name}", p) for p in flight.photos]
    produced = Engine(seed=0).produce("3d", json.loads(FH2_3D), inputs, out, lambda f, m: None)
    return out, produced


def _tiles_dir(out: Path) -> Path:
    return out / "models" / "pc" / "0" / "terra_b3dms"


def _walk(doc, base: Path, transform=None, depth=0):
    """Yield (depth, tile json, folder) through external tilesets (the test's own walker)."""
    kids = doc.get("children") or []
    uri = (doc.get("content") or {}).get("uri")
    if uri and uri.endswith(".json"):
        ext = json.loads((base / uri).read_text())
        assert ext["asset"]["version"] == "1.0"
        yield from _walk(ext["root"], (base / uri).parent, transform, depth)
        return
    yield depth, doc, base
    for k in kids:
        yield from _walk(k, base, transform, depth + 1)


def test_fh2_default_3d_job_writes_a_tileset_only_result(fh2_tree):
    out, produced = fh2_tree
    assert not any("terra_obj" in p for p in produced)  # generate_obj false
    assert "models/pc/0/terra_b3dms/tileset.json" in produced
    report = json.loads((out / "report/model_report.json").read_text())
    assert report["generate b3dm"] is True and report["generate obj"] is False
    from terranb.results.layout import open_results

    tree = open_results(out)
    assert tree.meshes == [] and len(tree.tiled_models) == 1
    assert [f for f in tree.all_findings if f.level == "error"] == []


def test_tileset_json_is_3d_tiles_1_0_with_shrinking_errors_and_ecef_root(fh2_tree, flight):
    out, _ = fh2_tree
    doc = json.loads((_tiles_dir(out) / "tileset.json").read_text())
    assert doc["asset"]["version"] == "1.0"
    root = doc["root"]
    assert root["refine"] == "REPLACE"
    tiles = list(_walk(root, _tiles_dir(out)))
    depths = sorted({d for d, _, _ in tiles})
    assert depths == [0, 1, 2]
    by_depth = {d: [t for dd, t, _ in tiles if dd == d] for d in depths}
    assert [len(by_depth[d]) for d in depths] == [1, 4, 16]
    errors = [max(t["geometricError"] for t in by_depth[d]) for d in depths]
    assert doc["geometricError"] > errors[0] > errors[1] > errors[2] == 0
    # External child tilesets are used for the level-1 subtrees.
    assert any(c["content"]["uri"].endswith("tileset.json") for c in root["children"])
    # Root transform: column-major, local origin -> ECEF of the SRSOrigin in EPSG:32650.
    m = np.asarray(root["transform"]).reshape(4, 4).T
    o = doc["asset"]["extras"]["origin"]
    ecef = pyproj.Transformer.from_crs("EPSG:32650", "EPSG:4978", always_xy=True)
    # 2D EPSG:32650 to geocentric: height passes through as ellipsoidal height.
    expect = np.asarray(ecef.transform(o[0], o[1], o[2]))
    assert np.linalg.norm(m[:3, 3] - expect) < 0.05
    lon, lat = pyproj.Transformer.from_crs(4978, 4326, always_xy=True).transform(*m[:3, 3])[:2]
    assert lat == pytest.approx(ORIGIN[0], abs=0.01) and lon == pytest.approx(ORIGIN[1], abs=0.01)


def test_every_b3dm_is_spec_exact_textured_and_inside_its_box(fh2_tree):
    pygltflib = pytest.importorskip("pygltflib")
    out, _ = fh2_tree
    doc = json.loads((_tiles_dir(out) / "tileset.json").read_text())
    for _depth, tile, base in _walk(doc["root"], _tiles_dir(out)):
        raw = (base / tile["content"]["uri"]).read_bytes()
        magic, version, total, ftj, ftb, btj, btb = struct.unpack_from("<4s6I", raw)
        assert (magic, version, total) == (b"b3dm", 1, len(raw))
        assert (28 + ftj) % 8 == 0 and ftb % 8 == 0 and total % 8 == 0
        ft = json.loads(raw[28:28 + ftj])
        assert ft["BATCH_LENGTH"] == 0
        glb = raw[28 + ftj + ftb + btj + btb:]
        assert (28 + ftj + ftb + btj + btb) % 8 == 0
        gltf = pygltflib.GLTF2.load_from_bytes(glb)
        assert gltf.images and gltf.textures and gltf.images[0].mimeType == "image/jpeg"
        prim = gltf.meshes[0].primitives[0]
        assert prim.attributes.TEXCOORD_0 is not None
        acc = gltf.accessors[prim.attributes.POSITION]
        # glTF is y-up: (x, z, -y) of the tile's z-up frame; the box must hold the content.
        lo = np.array([acc.min[0], -acc.max[2], acc.min[1]])
        hi = np.array([acc.max[0], -acc.min[2], acc.max[1]])
        box = np.asarray(tile["boundingVolume"]["box"])
        c, half = box[:3], np.abs(box[3:].reshape(3, 3)).sum(axis=0)
        assert np.all(lo >= c - half - 1e-3) and np.all(hi <= c + half + 1e-3)


def test_reader_bounds_levels_budget_and_mesh(fh2_tree, flight):
    out, _ = fh2_tree
    ts = Tileset(_tiles_dir(out))
    assert ts.findings == [] and ts.georeferenced and ts.crs.to_epsg() == 32650
    w, s, e, _n = ts.bounds_wgs84
    assert w < ORIGIN[1] + 0.01 and e > ORIGIN[1] - 0.01 and s < ORIGIN[0] + 0.01
    minx, _miny, minz, maxx, _maxy, _maxz = ts.bounds()
    assert minz == pytest.approx(180.0, abs=1.0)  # the synthetic ground is flat at 180 m
    tri = [ts.level_stats(d).triangles for d in range(3)]
    assert tri[0] < tri[1] < tri[2]
    assert ts.pick_level(max_triangles=tri[2]) == 2
    assert ts.pick_level(max_triangles=tri[2] - 1) == 1
    assert ts.pick_level(max_triangles=10**9, max_bytes=ts.level_stats(1).bytes) == 1
    mesh = ts.read_mesh(1)
    assert mesh.level == 1 and mesh.face_count == tri[1] and len(mesh.parts) == 4
    v = np.concatenate([p.vertices for p in mesh.parts]) + np.asarray(mesh.origin)
    assert v[:, 0].min() >= minx - 0.5 and v[:, 0].max() <= maxx + 0.5


def test_scene3d_from_result_folder_shows_the_tileset(fh2_tree):
    from terranb.viz.scene3d import Scene3D

    out, _ = fh2_tree
    scene = Scene3D.from_result(out, max_bytes=3_000_000)
    stats = scene.stats
    assert stats["layers"] and all(lay["kind"] == "mesh" for lay in stats["layers"])
    assert sum(lay["shown"] for lay in stats["layers"]) > 1000
    assert stats["texture_bytes"] > 0
    html = scene.html()
    assert len(html) < 3_000_000 and "terra_b3dms" in html


def test_mesh_tileset_of_any_mesh_and_point_tileset(tmp_path):
    from terranb.results.tiles import mesh_tileset, point_tileset

    n = 120
    g = np.linspace(-50, 50, n)
    gx, gy = np.meshgrid(g, g)
    v = np.c_[gx.ravel(), gy.ravel(), np.sin(gx.ravel() / 9) * 2]
    i = np.arange(n * n).reshape(n, n)
    a, b, c, d = i[:-1, :-1].ravel(), i[:-1, 1:].ravel(), i[1:, :-1].ravel(), i[1:, 1:].ravel()
    f = np.r_[np.c_[a, c, b], np.c_[b, c, d]]
    uv = np.c_[(gx.ravel() + 50) / 100, (gy.ravel() + 50) / 100]
    tex = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    crs = pyproj.CRS.from_epsg(32633)
    w = mesh_tileset(tmp_path / "m", v, f, uv=uv, texture=tex, crs=crs,
                     origin=(400_000.0, 5_000_000.0, 100.0), levels=3)
    assert w.tiles_per_level == [1, 4, 16]
    assert w.faces_per_level[0] < w.faces_per_level[1] < w.faces_per_level[2] == len(f)
    ts = Tileset(tmp_path / "m" / "tileset.json")
    assert ts.kind == "b3dm" and ts.read_mesh(0).face_count == w.faces_per_level[0]
    xy = np.random.default_rng(1).uniform(0, 100, (30_000, 2)) + np.array([400_000, 5_000_000])
    pts = np.c_[xy, np.full(30_000, 100.0)]
    p = point_tileset(tmp_path / "p", pts, np.zeros((30_000, 3), np.uint8), crs=crs,
                      origin=(400_050.0, 5_000_050.0, 100.0), points_per_tile=2_000)
    assert p.faces_per_level[-1] == 30_000
    tp = Tileset(tmp_path / "p")
    assert tp.kind == "pnts"
    cloud = tp.read_points(2)
    assert len(cloud.xyz) == 30_000
    assert np.allclose(cloud.xyz.min(axis=0) + cloud.origin, pts.min(axis=0), atol=0.01)
    assert tp.pick_level(max_triangles=5_000) == 0


# ---------------------------------------------------------------- bad input
@pytest.fixture()
def copy_tiles(fh2_tree, tmp_path):
    dst = tmp_path / "terra_b3dms"
    shutil.copytree(_tiles_dir(fh2_tree[0]), dst)
    return dst


def _a_leaf(folder: Path) -> Path:
    return sorted(folder.glob("Data/L1_0_0/L2_*.b3dm"))[0]


def test_truncated_b3dm_is_a_finding_naming_the_file_and_the_rest_is_shown(copy_tiles):
    leaf = _a_leaf(copy_tiles)
    leaf.write_bytes(leaf.read_bytes()[:500])
    ts = Tileset(copy_tiles)
    mesh = ts.read_mesh(2)
    assert len(mesh.parts) == 15  # 16 leaves, one unreadable
    (bad,) = [f for f in ts.findings if f.code == "tileset.bad_tile"]
    assert leaf.name in bad.message and "truncated" in bad.message and bad.path.endswith(leaf.name)


def test_wrong_magic_is_a_finding_naming_the_file(copy_tiles):
    leaf = _a_leaf(copy_tiles)
    leaf.write_bytes(b"glTF" + leaf.read_bytes()[4:])
    ts = Tileset(copy_tiles)
    assert len(ts.read_mesh(2).parts) == 15
    (bad,) = [f for f in ts.findings if f.code == "tileset.bad_tile"]
    assert "magic" in bad.message and leaf.name in bad.message


def test_missing_child_tile_and_missing_external_tileset(copy_tiles):
    leaf = _a_leaf(copy_tiles)
    leaf.unlink()
    (copy_tiles / "Data" / "L1_1_1" / "tileset.json").unlink()
    ts = Tileset(copy_tiles)
    mesh = ts.read_mesh(2)
    # The L1_1_1 subtree (4 leaves) and one leaf of L1_0_0 are gone; the other 11 show.
    assert len(mesh.parts) == 11
    missing = {f.code: f for f in ts.findings}
    assert missing["tileset.missing_tile"].path.endswith(leaf.name)
    assert "L1_1_1" in missing["tileset.missing_tileset"].path


def test_transform_not_ecef_plausible_is_a_finding_and_the_model_still_shows(copy_tiles):
    from terranb.viz.scene3d import Scene3D

    doc = json.loads((copy_tiles / "tileset.json").read_text())
    doc["root"]["transform"] = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 500_000, 3_000_000, 50, 1]
    (copy_tiles / "tileset.json").write_text(json.dumps(doc))
    ts = Tileset(copy_tiles)
    (f,) = [f for f in ts.findings if f.code == "tileset.not_ecef"]
    assert f.level == "error" and f.path.endswith("tileset.json") and "km" in f.message
    assert ts.bounds_wgs84 is None and ts.bounds() is None
    scene = Scene3D.from_tileset(ts)
    assert scene.stats["layers"] and scene.findings and scene.findings[0].code == "tileset.not_ecef"


def test_not_a_tileset_raises_naming_the_file(tmp_path):
    p = tmp_path / "tileset.json"
    p.write_text('{"asset": {"version": "1.0"}}')
    with pytest.raises(ResultFormatError, match="no root tile"):
        Tileset(p)


def test_tileset_box_is_drawn_on_the_folium_map(fh2_tree):
    pytest.importorskip("folium")
    from terranb.viz.maps import result_map

    ts = Tileset(_tiles_dir(fh2_tree[0]))
    w = ts.bounds_wgs84[0]
    html = result_map(bboxes={"terra_b3dms": ts})._repr_html_()
    assert "terra_b3dms" in html and f"{w:.5f}"[:8] in html.replace("&quot;", '"')
