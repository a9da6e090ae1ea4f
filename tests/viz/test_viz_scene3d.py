"""Self-contained 3D viewer: size budgets, network-free HTML, iframe repr, PNG fallback."""

from __future__ import annotations

import base64
import html as html_mod
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from terranb.errors import ValidationError
from terranb.results.decimate import cluster_decimate
from terranb.viz.scene3d import Scene3D


def terrain_points(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = 500_000 + rng.uniform(0, 200, n)
    y = 4_000_000 + rng.uniform(0, 150, n)
    z = 30 + 5 * np.sin((x - 500_000) / 20) + 3 * np.cos((y - 4_000_000) / 15)
    return np.c_[x, y, z]


def grid_mesh(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    j, i = np.mgrid[0:n, 0:n]
    x, y = i * 0.5, j * 0.5
    z = np.sin(x / 8) * 2 + np.cos(y / 6)
    v = np.c_[x.ravel(), y.ravel(), z.ravel()]
    uv = np.c_[i.ravel() / (n - 1), j.ravel() / (n - 1)]
    a = (j[:-1, :-1] * n + i[:-1, :-1]).ravel()
    f = np.r_[np.c_[a, a + 1, a + n + 1], np.c_[a, a + n + 1, a + n]]
    return v, f, uv


def checker(px: int = 256) -> np.ndarray:
    yy, xx = np.mgrid[0:px, 0:px]
    img = np.zeros((px, px, 3), np.uint8)
    img[..., 0] = ((xx // 32 + yy // 32) % 2) * 255
    img[..., 1] = xx * 255 // px
    img[..., 2] = yy * 255 // px
    return img


def data_of(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="terranb-data">(.*?)</script>', page, re.S)
    assert m, "data block missing"
    return json.loads(m.group(1))


def external_loads(page: str) -> list[str]:
    patterns = [r"<script[^>]*\bsrc\s*=", r"<link[^>]*\bhref\s*=",
                r"<(img|iframe|source)[^>]*\bsrc\s*=", r"url\(\s*[\"']?(https?:)?//",
                r"@import", r"""(fetch|importScripts)\(\s*["']https?:""",
                r"""\bimport\s*\(?\s*["']https?:"""]
    return [m.group(0) for p in patterns for m in re.finditer(p, page)]


def test_point_viewer_fits_budget_and_is_network_free() -> None:
    xyz = terrain_points(400_000)
    scene = Scene3D.from_points(xyz, color_by="elevation", max_bytes=2_500_000)
    page = scene.html()
    assert len(page.encode()) <= 2_500_000
    assert external_loads(page) == []
    layer = scene.stats["layers"][0]
    assert 50_000 < layer["shown"] < 400_000 and layer["source"] == 400_000
    d = data_of(page)
    (L,) = d["layers"]
    # Quantised positions decode back to real coordinates within 16-bit resolution.
    q = np.frombuffer(base64.b64decode(L["pos"]), dtype="<u2").reshape(-1, 3)
    assert len(q) == layer["shown"]
    centre = (xyz.min(axis=0) + xyz.max(axis=0)) / 2
    pos = centre + np.array(L["offset"]) + q / 65535.0 * np.array(L["scale"])
    assert pos.min(axis=0) == pytest.approx(xyz.min(axis=0), abs=0.01)
    assert pos.max(axis=0) == pytest.approx(xyz.max(axis=0), abs=0.01)
    col = np.frombuffer(base64.b64decode(L["col"]), dtype=np.uint8)
    assert len(col) == 3 * len(q)


def test_viewer_embeds_three_js_and_rejects_tiny_budgets() -> None:
    page = Scene3D.from_points(terrain_points(1000)).html()
    assert "WebGLRenderer" in page and 'const e="160"' in page  # three r160, inline
    with pytest.raises(ValidationError, match="raise max_bytes"):
        Scene3D.from_points(terrain_points(1000), max_bytes=500_000).html()


def test_repr_html_is_an_iframe_srcdoc() -> None:
    scene = Scene3D.from_points(terrain_points(2000), height=360, title="a <b> & c")
    r = scene._repr_html_()
    assert r.startswith("<iframe srcdoc=\"") and r.endswith("</iframe>")
    assert "height:360px" in r and 'sandbox="allow-scripts"' in r
    m = re.match(r'<iframe srcdoc="([^"]*)"', r)
    assert m is not None
    assert html_mod.unescape(m.group(1)) == scene.html()
    assert "a &lt;b&gt; &amp; c" in scene.html()  # the title is escaped, not markup


def test_textured_mesh_decimated_to_face_budget(tmp_path: Path) -> None:
    v, f, uv = grid_mesh(300)  # 178,802 faces
    tex_path = tmp_path / "tex ture.png"
    Image.fromarray(checker(512)).save(tex_path)
    scene = Scene3D.from_arrays(v, f, uv=uv, texture=tex_path, max_faces=30_000,
                                max_bytes=3_000_000)
    page = scene.html()
    assert len(page.encode()) <= 3_000_000 and external_loads(page) == []
    layer = scene.stats["layers"][0]
    assert 20_000 <= layer["shown"] <= 30_000 and layer["source"] == len(f)
    (L,) = data_of(page)["layers"]
    assert L["tex"].startswith("data:image/jpeg;base64,")
    jpg = Image.open(io.BytesIO(base64.b64decode(L["tex"].split(",", 1)[1])))
    assert jpg.size == (512, 512)
    idx = np.frombuffer(base64.b64decode(L["idx"]), dtype="<u4" if L["idx32"] else "<u2")
    assert len(idx) == 3 * layer["shown"]
    nverts = len(base64.b64decode(L["pos"])) // 6
    assert idx.max() < nverts
    out = scene.save(tmp_path / "mesh.html")
    assert out.read_text(encoding="utf-8") == page


def test_cluster_decimation_keeps_shape_and_texture_mapping() -> None:
    v, f, uv = grid_mesh(200)
    d = cluster_decimate(v, f, 5_000, uv=uv)
    assert 0.85 * 5_000 <= len(d.faces) <= 5_000
    # Kept vertices are original vertices, each with its own texture coordinate.
    expect_uv = d.vertices[:, :2] / 0.5 / 199
    assert np.abs(d.uv - expect_uv[:, ::1]).max() < 1e-6
    assert d.vertices[:, 0].min() < 2 and d.vertices[:, 0].max() > 97  # extent kept
    same = cluster_decimate(v, f, len(f) + 1)
    assert len(same.faces) == len(f)


def test_uv_seams_get_their_own_vertices() -> None:
    # Split the grid at column 30 into two texture charts far apart in UV space, the
    # way atlases are built: seam vertices are duplicated, one copy per chart.
    n = 60
    v, f, uv = grid_mesh(n)
    col = np.arange(len(v)) % n
    seam = np.nonzero(col == 30)[0]
    dup = {int(s): len(v) + k for k, s in enumerate(seam)}
    v2 = np.vstack([v, v[seam]])
    uv2 = np.vstack([uv, uv[seam] + [5.0, 0.0]])
    right_face = (col[f] >= 30).all(axis=1)
    f2 = f.copy()
    for r in np.nonzero(right_face)[0]:
        f2[r] = [dup.get(int(i), int(i)) for i in f2[r]]
    uv2[np.nonzero(col >= 31)[0]] += [5.0, 0.0]
    span = np.ptp(uv2[f2][:, :, 0], axis=1)
    assert span.max() < 0.1  # the input never stretches across charts

    d = cluster_decimate(v2, f2, 1_200, uv=uv2)
    assert len(d.faces) <= 1_200
    span = np.ptp(d.uv[d.faces][:, :, 0], axis=1)
    assert span.max() < 1.0  # nor does the decimated mesh
    assert (d.uv[:, 0] > 4).any() and (d.uv[:, 0] < 1).any()


def test_colour_modes_and_inputs() -> None:
    xyz = terrain_points(5000)
    rgb16 = np.random.default_rng(1).integers(0, 65535, (5000, 3), dtype=np.uint16)
    cls = np.random.default_rng(2).integers(1, 7, 5000).astype(np.uint8)
    for mode in ("rgb", "elevation", "classification", "auto"):
        s = Scene3D().add_points(xyz, rgb16, cls, color_by=mode)
        assert "col" in data_of(s.html())["layers"][0]
    elev = data_of(Scene3D().add_points(xyz, color_by="elevation").html())["layers"][0]
    lo, hi = np.percentile(xyz[:, 2], [2, 98])
    assert elev["legend"]["min"] == pytest.approx(lo, abs=0.01)
    assert elev["legend"]["max"] == pytest.approx(hi, abs=0.01)
    classes = data_of(Scene3D().add_points(xyz, classification=cls).html())["layers"][0]
    listed = {c[0]: c[3] for c in classes["legend"]["classes"]}
    assert listed == {int(k): int(v) for k, v in zip(*np.unique(cls, return_counts=True))}
    with pytest.raises(ValidationError, match="rgb"):
        Scene3D().add_points(xyz, color_by="rgb")
    with pytest.raises(ValidationError, match="color_by"):
        Scene3D().add_points(xyz, color_by="nope")
    with pytest.raises(ValidationError, match="triangulate"):
        Scene3D().add_mesh(xyz, np.zeros((3, 4), dtype=int))
    with pytest.raises(ValidationError, match="empty"):
        Scene3D().html()


def _png_stats(data: bytes) -> tuple[np.ndarray, float]:
    img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(float)
    return img, float(img.reshape(-1, 3).std(axis=0).sum())


def test_png_fallback_is_not_blank(tmp_path: Path) -> None:
    scene = Scene3D.from_points(terrain_points(50_000), color_by="elevation")
    data = scene.to_png(tmp_path / "p.png", width=320, height=240)
    assert (tmp_path / "p.png").read_bytes() == data
    img, spread = _png_stats(data)
    assert img.shape == (240, 320, 3) and spread > 30
    bg = np.array([0x1B, 0x1D, 0x22], dtype=float)
    covered = (np.abs(img - bg).sum(axis=2) > 10).mean()
    assert 0.15 < covered < 0.95  # the cloud fills much of the frame, not all of it

    v, f, uv = grid_mesh(80)
    mesh = Scene3D.from_arrays(v, f, uv=uv, texture=checker(128))
    img, spread = _png_stats(mesh.to_png(width=320, height=240))
    red = (img[..., 0] > 200) & (img[..., 1] < 200)
    assert spread > 30 and red.mean() > 0.05  # the checker texture shows


def test_results_objects(tmp_path: Path) -> None:
    from terranb.results.mesh import Mesh
    from terranb.results.pointcloud import PointCloud
    from terranb.results.samples import write_sample_las, write_sample_obj

    las = write_sample_las(tmp_path / "cloud.las", n=4000)
    s = Scene3D.from_pointcloud(PointCloud.open(las), n=3000)
    assert s.stats["layers"][0]["shown"] == 3000 and s.stats["layers"][0]["source"] == 4000
    assert Scene3D.from_result(las).stats["layers"][0]["kind"] == "points"

    obj = write_sample_obj(tmp_path / "mesh")
    m = Scene3D.from_mesh(Mesh.open(obj))
    (L,) = data_of(m.html())["layers"]
    assert L["kind"] == "mesh" and L["tex"].startswith("data:image/jpeg")
    assert Scene3D.from_result(obj).stats["layers"][0]["shown"] == 800


def test_y_up_models_are_turned_upright() -> None:
    v, f, _ = grid_mesh(10)
    tall = np.c_[v[:, 0], v[:, 2] * 0 + v[:, 1] * 3, v[:, 1] * 0]  # a wall along +y
    s = Scene3D(up="y").add_mesh(tall, f)
    assert s._meshes[0].vertices[:, 2].max() == pytest.approx(tall[:, 1].max())
    with pytest.raises(ValidationError, match="up"):
        Scene3D(up="x")


def test_plain_obj_is_y_up_and_terra_obj_z_up(tmp_path: Path) -> None:
    from terranb.results.mesh import Mesh
    from terranb.results.samples import write_sample_tree

    # a wall 30 units tall along +y, as Blender / MeshLab / the Stanford bunny write OBJ
    obj = tmp_path / "wall.obj"
    obj.write_text("v 0 0 0\nv 10 0 0\nv 10 30 0\nv 0 30 0\nf 1 2 3\nf 1 3 4\n")
    s = Scene3D.from_mesh(Mesh.open(obj))
    assert s.up == "y" and s._meshes[0].vertices[:, 2].max() == pytest.approx(30.0)
    assert Scene3D.from_mesh(Mesh.open(obj), up="z").up == "z"  # the caller decides
    # DJI Terra's OBJ with metadata.xml is georeferenced, hence z-up: left as is
    tree = write_sample_tree(tmp_path / "r", "3d")
    from terranb.results import open_results

    mesh = open_results(tree).meshes[0]
    assert mesh.metadata is not None and Scene3D.from_mesh(mesh).up == "z"


def test_real_files_preview(real_data: Path) -> None:
    from terranb.results.pointcloud import PointCloud

    laz = real_data / "las" / "brighton_beach" / "model.laz"
    obj = real_data / "obj" / "trimesh_fuze" / "fuze.obj"  # texture file name has a space
    if not laz.exists() or not obj.exists():
        pytest.skip("real LAZ/OBJ samples missing")
    pc = PointCloud.open(laz)
    s = Scene3D.from_pointcloud(pc, n=50_000, max_bytes=2_000_000)
    assert s.stats["bytes"] <= 2_000_000 and s.stats["layers"][0]["source"] == pc.point_count
    _, spread = _png_stats(s.to_png(width=200, height=150))
    assert spread > 30
    m = Scene3D.from_mesh(obj)
    (L,) = data_of(m.html())["layers"]
    assert L["tex"].startswith("data:image/jpeg") and L["count"] == 1000
