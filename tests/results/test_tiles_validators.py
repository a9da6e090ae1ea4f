"""Tilesets written by the emulator pass independent readers (node, where present).

loaders.gl's ``Tiles3DLoader`` parses every b3dm/pnts tile and the Khronos
glTF-Validator checks each b3dm's GLB. Both come from the npm registry into a
cache folder on first use; the test skips without node/npm or when the registry
cannot be reached. (3d-tiles-validator itself is not published on npm.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pyproj = pytest.importorskip("pyproj")

from terranb.emulator.engine import Engine  # noqa: E402

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
NPM_PACKAGES = ["gltf-validator@2.0.0-dev.3.10", "@loaders.gl/core@4", "@loaders.gl/3d-tiles@4"]


@pytest.fixture(scope="session")
def node_tools(tmp_path_factory) -> Path:
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm not installed")
    cache = Path(os.environ.get("TERRANB_NPM_CACHE", Path.home() / ".cache" / "terranb-npm"))
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "node_modules" / "@loaders.gl" / "3d-tiles").is_dir():
        try:
            subprocess.run(["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund",
                            "--silent", *NPM_PACKAGES], check=True, timeout=240,
                           capture_output=True)
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"npm could not install the validators: {exc}")
    script = cache / "check_tiles.mjs"  # next to node_modules so its imports resolve
    shutil.copy(HERE / "js" / "check_tiles.mjs", script)
    return script


def _check(script: Path, files: list[Path]) -> list[dict]:
    done = subprocess.run(["node", str(script), *map(str, files)], check=True, timeout=120,
                          capture_output=True, text=True)
    return json.loads(done.stdout)


def test_emulator_b3dm_and_pnts_pass_loaders_gl_and_gltf_validator(node_tools, tmp_path):
    from terranb.dataset.synthetic import make_sample_flight

    flight = make_sample_flight(tmp_path / "flight", seed=3, rows=3, cols=4,
                                image_size=(480, 320), lidar=False, origin=(30.52, 117.05))
    params = {"parameter": {"output_mesh": True, "generate_obj": False, "generate_b3dm": True,
                            "output_pointcloud": True, "generate_pnts": True,
                            "quality_level": 3, "model_simplify": 0.2,
                            "output_geo_desc": {"geo_cs": "EPSG:32650"}}}
    out = tmp_path / "out"
    Engine(seed=0).produce("3d", params, [(f"images/{p.name}", p) for p in flight.photos],
                           out, lambda f, m: None)
    b3dm = sorted(out.rglob("*.b3dm"))
    pnts = sorted(out.rglob("*.pnts"))
    assert len(b3dm) == 21 and len(pnts) >= 3
    results = _check(node_tools, b3dm + pnts)
    for rec, path in zip(results, b3dm + pnts, strict=True):
        assert "exception" not in rec, rec
        assert rec["version"] == 1 and rec["byteLength"] == path.stat().st_size, rec
        if path.suffix == ".b3dm":
            assert rec["type"] == "b3dm" and rec["errors"] == 0, rec
            assert rec["issues"] == [], rec  # no errors or warnings (hints are allowed)
            assert rec["textures"] and rec["triangles"] > 0
        else:
            assert rec["type"] == "pnts" and rec["featureTable"]["POINTS_LENGTH"] > 0


def test_a_broken_tile_is_caught_by_the_independent_reader(node_tools, tmp_path):
    from terranb.results.tiles import mesh_tileset

    g = np.linspace(0, 10, 5)
    gx, gy = np.meshgrid(g, g)
    v = np.c_[gx.ravel(), gy.ravel(), np.zeros(25)]
    i = np.arange(25).reshape(5, 5)
    a, b, c, d = i[:-1, :-1].ravel(), i[:-1, 1:].ravel(), i[1:, :-1].ravel(), i[1:, 1:].ravel()
    w = mesh_tileset(tmp_path / "t", v, np.r_[np.c_[a, c, b], np.c_[b, c, d]], levels=1,
                     crs=pyproj.CRS.from_epsg(32650), origin=(500_000.0, 3_300_000.0, 0.0))
    tile = next(p for p in w.files if p.suffix == ".b3dm")
    raw = bytearray(tile.read_bytes())
    raw[-60:] = b"\xff" * 60  # corrupt the binary chunk's end
    tile.write_bytes(bytes(raw))
    (rec,) = _check(node_tools, [tile])
    assert "exception" in rec or rec["errors"] > 0 or rec["issues"], rec
