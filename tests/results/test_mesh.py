"""Meshes: OBJ + MTL + textures with spaces, metadata.xml georeferencing, statistics, decimation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from terranb.errors import ResultFormatError
from terranb.results.mesh import Mesh, read_terra_metadata
from terranb.results.samples import write_sample_obj

META = ('<?xml version="1.0" encoding="utf-8"?>\n<ModelMetadata version="1">\n'
        "<SRS>{srs}</SRS>\n<SRSOrigin>{origin}</SRSOrigin>\n</ModelMetadata>\n")


def _tree(tmp_path: Path, srs: str = "EPSG:32650", origin: str = "202000,2499960,12.5") -> Path:
    obj = write_sample_obj(tmp_path / "terra_obj" / "BlockR")
    (tmp_path / "terra_obj" / "metadata.xml").write_text(META.format(srs=srs, origin=origin))
    return obj


def test_textured_obj_with_spaces_and_metadata(tmp_path: Path) -> None:
    obj = _tree(tmp_path)
    m = Mesh.open(obj)
    tex = obj.parent / "Block R texture.jpg"
    assert m.textures == {"terra_mat0": tex} and m.textured
    assert m.metadata is not None and m.metadata.origin == (202000.0, 2499960.0, 12.5)
    assert m.crs is not None and m.crs.to_epsg() == 32650 and not m.findings
    ref = trimesh.load(obj, process=False, maintain_order=True)
    assert (m.vertex_count, m.face_count) == (441, 800) == (len(ref.vertices), len(ref.faces))
    assert m.area == pytest.approx(ref.area)
    lo, hi = ref.bounds
    assert m.bounds_local == pytest.approx((*lo, *hi))
    assert m.bounds == pytest.approx((lo[0] + 202000, lo[1] + 2499960, lo[2] + 12.5,
                                      hi[0] + 202000, hi[1] + 2499960, hi[2] + 12.5))
    w, s, e, n = m.bounds_wgs84 or (0, 0, 0, 0)
    assert 114.0 < w < e < 114.2 and 22.5 < s < n < 22.7
    json.dumps(m.to_dict())


def test_decimate_to_budget_keeps_uvs(tmp_path: Path) -> None:
    m = Mesh.open(_tree(tmp_path))
    d = m.decimate(200)
    assert 0 < d.face_count <= 200 and d.source_faces == 800
    v, f, uv = d.vertices, d.faces, d.uv
    assert v.dtype == np.float32 and f.dtype == np.uint32 and uv is not None
    assert len(uv) == len(v) and f.max() < len(v)
    assert (uv >= -1e-6).all() and (uv <= 1 + 1e-6).all()
    lo = np.array(m.bounds_local[:3]) - 1e-3
    hi = np.array(m.bounds_local[3:]) + 1e-3
    assert ((v >= lo) & (v <= hi)).all()
    assert d.texture_path == tmp_path / "terra_obj" / "BlockR" / "Block R texture.jpg"
    assert d.origin == m.origin and d.crs is not None
    # No degenerate triangles.
    assert ((f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])).all()
    same = m.decimate(10_000)
    assert same.face_count == 800 and len(same.vertices) == 441
    with pytest.raises(ValueError):
        m.decimate(0)


def test_metadata_variants(tmp_path: Path) -> None:
    p = tmp_path / "metadata.xml"
    p.write_text(META.format(srs="ENU:22.5,113.9", origin="0,0,0"))
    md = read_terra_metadata(p)
    assert md.enu_origin == (22.5, 113.9) and md.crs is not None and md.crs.is_projected
    p.write_text(META.format(srs="WGS 84 / UTM zone 50N", origin="1,2"))
    md2 = read_terra_metadata(p)
    assert md2.crs is not None and md2.crs.to_epsg() == 32650 and md2.origin == (1.0, 2.0, 0.0)
    p.write_text(META.format(srs="EPSG:4547", origin="1 2 3 4"))
    with pytest.raises(ResultFormatError, match="SRSOrigin"):
        read_terra_metadata(p)
    p.write_text("<not xml")
    with pytest.raises(ResultFormatError):
        read_terra_metadata(p)


def test_enu_mesh_has_wgs84_bounds(tmp_path: Path) -> None:
    m = Mesh.open(_tree(tmp_path, srs="ENU:22.5,113.9", origin="0,0,0"))
    assert any(f.code == "mesh.enu_frame" for f in m.findings)
    w, s, e, n = m.bounds_wgs84 or (0, 0, 0, 0)
    assert 113.9 - 1e-6 <= w < e < 113.91 and 22.5 - 1e-6 <= s < n < 22.51


def test_missing_parts_are_findings(tmp_path: Path) -> None:
    obj = write_sample_obj(tmp_path)
    (tmp_path / "Block R texture.jpg").unlink()
    m = Mesh.open(obj)
    codes = {f.code for f in m.findings}
    assert {"mesh.missing_texture", "mesh.no_metadata"} <= codes
    assert not m.textured and m.face_count == 800
    (tmp_path / "BlockR.mtl").unlink()
    assert "mesh.missing_mtl" in {f.code for f in Mesh.open(obj).findings}
    with pytest.raises(ResultFormatError, match="does not exist"):
        Mesh.open(tmp_path / "none.obj")
    empty = tmp_path / "empty.obj"
    empty.write_text("# nothing\n")
    with pytest.raises(ResultFormatError):
        _ = Mesh.open(empty).face_count


def test_multi_material_parts(tmp_path: Path) -> None:
    obj = write_sample_obj(tmp_path, texture_name="a b.jpg", grid=6)
    (tmp_path / "second.jpg").write_bytes((tmp_path / "a b.jpg").read_bytes())
    mtl = tmp_path / "BlockR.mtl"
    mtl.write_text(mtl.read_text() + "newmtl other\nmap_Kd second.jpg\n")
    lines = obj.read_text().splitlines()
    faces = [i for i, ln in enumerate(lines) if ln.startswith("f ")]
    lines.insert(faces[len(faces) // 2], "usemtl other")
    obj.write_text("\n".join(lines) + "\n")
    m = Mesh.open(obj)
    assert len(m.parts) == 2 and m.face_count == 72
    assert {p.texture_path.name for p in m.parts if p.texture_path} == {"a b.jpg", "second.jpg"}
    d = m.decimate(40)
    assert d.face_count <= 40 and len(d.parts) >= 1


def test_real_meshes_match_trimesh(real_data: Path) -> None:
    objs = sorted((real_data / "obj").rglob("*.obj"))
    assert len(objs) >= 3
    for obj in objs:
        m = Mesh.open(obj)
        ref = trimesh.load(obj, process=False, maintain_order=True, force="mesh")
        assert m.face_count == len(ref.faces), obj
        used = len(np.unique(ref.faces))  # unreferenced vertices are not counted
        if m.textured:
            assert m.vertex_count >= used, obj  # split where one position has several UVs
        else:
            assert m.vertex_count == used, obj
        assert m.area == pytest.approx(ref.area, rel=1e-6), obj
        d = m.decimate(500)
        assert d.face_count <= 500
    fuze = Mesh.open(real_data / "obj" / "trimesh_fuze" / "fuze.obj")
    assert fuze.textured and fuze.parts[0].texture_path is not None
    assert fuze.parts[0].texture_path.name == "fuze uv.jpg"
    bunny = Mesh.open(real_data / "obj" / "stanford_bunny" / "stanford-bunny.obj")
    assert not bunny.textured and bunny.face_count == 69_451


@pytest.mark.parametrize("faces", ["f 1 2 3 4\n", "f 1//1 2//1 3//1\nf 1//1 3//1 4//1\n",
                                   "f -4 -3 -2\nf -4 -2 -1\n"])
def test_layouts_the_fast_parser_leaves_to_trimesh(tmp_path: Path, faces: str) -> None:
    obj = tmp_path / "q.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvn 0 0 1\n" + faces)
    m = Mesh.open(obj)
    assert m.face_count == 2 and m.area == pytest.approx(1.0)
    assert m.bounds_local == pytest.approx((0, 0, 0, 1, 1, 0))
