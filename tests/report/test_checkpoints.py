"""Check points planted at known positions in the synthetic scene: residuals == the known error."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
rasterio = pytest.importorskip("rasterio")

from terranb.errors import ValidationError  # noqa: E402
from terranb.report.checkpoints import measure, read_checkpoints  # noqa: E402
from terranb.results.ortho import Orthomosaic  # noqa: E402

EPSG = 32650
X0, Y0 = 500_000.0, 2_500_000.0
GSD = 0.05
SIZE = 640  # 32 m x 32 m
# the products' (unknown to the measuring code) absolute error
SHIFT = (0.137, -0.081, 0.042)
TARGETS = {"CP1": (6.30, 7.10, 0.0), "CP2": (24.85, 9.40, 0.0), "CP3": (15.02, 25.77, 90.0)}


def plant_scene(root: Path) -> tuple[Path, Path, list[tuple[str, float, float, float]]]:
    """Synthetic scene (dataset.synthetic) with 60 cm checkerboards at known positions.

    The ortho and DSM are written with their georeference off by SHIFT, so the true
    residual of every check point is SHIFT.
    """
    from rasterio.transform import from_origin

    from terranb.dataset.scene import scene_at as _scene_at

    scene = _scene_at(np.random.default_rng(3), SIZE, SIZE, GSD)
    rgb = scene.rgb.copy()
    dsm = (scene.dsm + 12.0).astype("float32")  # ground at 12 m
    truth = []
    ss = 8  # supersampling: the target edges fall between pixels like in a real photo
    for name, (ex, ny, rot) in TARGETS.items():
        half = 0.3
        c0, r0 = int((ex - 0.5) / GSD), int((SIZE * GSD - ny - 0.5) / GSD)
        block = np.zeros((20, 20))
        for i in range(20):
            for j in range(20):
                sub = []
                for a in range(ss):
                    for b in range(ss):
                        px = (c0 + j + (b + 0.5) / ss) * GSD - ex
                        py = (SIZE * GSD - (r0 + i + (a + 0.5) / ss) * GSD) - ny
                        if max(abs(px), abs(py)) > half:
                            sub.append(-1)
                        else:
                            q = (px > 0) ^ (py > 0)
                            sub.append(int(q) ^ int(rot == 90.0))
                vals = [v for v in sub if v >= 0]
                block[i, j] = (np.mean(vals) * 255 if len(vals) == len(sub) else -1)
        region = rgb[r0:r0 + 20, c0:c0 + 20]
        inside = block >= 0
        for k in range(3):
            region[..., k][inside] = block[inside].astype("uint8")
        dsm[r0:r0 + 20, c0:c0 + 20] = 12.0
        truth.append((name, X0 + ex, Y0 + ny, 12.0))
    dx, dy, dz = SHIFT
    t = from_origin(X0 + dx, Y0 + SIZE * GSD + dy, GSD, GSD)
    ortho = root / "map" / "result.tif"
    ortho.parent.mkdir(parents=True)
    with rasterio.open(ortho, "w", driver="GTiff", width=SIZE, height=SIZE, count=3,
                       dtype="uint8", crs=f"EPSG:{EPSG}", transform=t) as dst:
        dst.write(np.moveaxis(rgb, -1, 0))
    dsm_path = root / "map" / "dsm.tif"
    with rasterio.open(dsm_path, "w", driver="GTiff", width=SIZE, height=SIZE, count=1,
                       dtype="float32", crs=f"EPSG:{EPSG}", transform=t) as dst:
        dst.write(dsm + dz, 1)
    return ortho, dsm_path, truth


def write_csv(path: Path, rows: list[tuple[str, float, float, float]], crs: str = "EPSG:32650"
              ) -> Path:
    path.write_text("name,x,y,z,crs\n" + "".join(f"{n},{x:.3f},{y:.3f},{z:.3f},{crs}\n"
                                                 for n, x, y, z in rows))
    return path


def test_planted_targets_give_the_known_residuals_within_one_gsd(tmp_path: Path) -> None:
    ortho_p, dsm_p, truth = plant_scene(tmp_path)
    pts = read_checkpoints(write_csv(tmp_path / "cp.csv", truth))
    res = measure(pts, Orthomosaic.open(ortho_p), Orthomosaic.open(dsm_p))
    assert [p.method for p in res.points] == ["target"] * 3
    for p in res.points:
        assert abs(p.dx - SHIFT[0]) < GSD and abs(p.dy - SHIFT[1]) < GSD, p
        assert p.dz is not None and abs(p.dz - SHIFT[2]) < 1e-3
    assert res.rmse_x is not None and abs(res.rmse_x - abs(SHIFT[0])) < GSD
    assert res.rmse_y is not None and abs(res.rmse_y - abs(SHIFT[1])) < GSD
    assert res.rmse_z is not None and abs(res.rmse_z - SHIFT[2]) < 1e-3


def test_points_in_another_crs_and_a_missing_target(tmp_path: Path) -> None:
    from pyproj import Transformer

    ortho_p, _dsm, truth = plant_scene(tmp_path)
    to_ll = Transformer.from_crs(EPSG, 4326, always_xy=True)
    rows = []
    for n, x, y, z in truth:
        lon, lat = to_ll.transform(x, y)
        rows.append((n, lon, lat, z))
    rows.append(("NOPE", *to_ll.transform(X0 + 3.0, Y0 + 28.0), 12.0))
    csv = tmp_path / "ll.csv"
    csv.write_text("name,x,y,z\n" + "".join(f"{n},{x:.9f},{y:.9f},{z}\n" for n, x, y, z in rows))
    res = measure(read_checkpoints(csv, crs="EPSG:4326"), Orthomosaic.open(ortho_p))
    assert all(math.hypot(p.dx - SHIFT[0], p.dy - SHIFT[1]) < GSD for p in res.points[:3])
    assert res.points[3].method == "target not found" and res.points[3].dx is None


def test_bad_csv_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,x,y\nA,1,2\n")
    with pytest.raises(ValidationError, match="missing column"):
        read_checkpoints(bad)
    bad.write_text("name,x,y,z\nA,1,abc,3\n")
    with pytest.raises(ValidationError, match="not a number"):
        read_checkpoints(bad, crs="EPSG:32650")
    bad.write_text("name,x,y,z\nA,1,2,3\n")
    with pytest.raises(ValidationError, match="no CRS"):
        read_checkpoints(bad)
    with pytest.raises(ValidationError, match="cannot read"):
        read_checkpoints(tmp_path / "missing.csv")


if __name__ == "__main__":  # print the measured figures (for the report to the lead)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        o, z, tr = plant_scene(Path(d))
        r = measure(read_checkpoints(write_csv(Path(d) / "c.csv", tr)), Orthomosaic.open(o),
                    Orthomosaic.open(z))
        for p in r.points:
            print(p.name, round(p.dx, 4), round(p.dy, 4), round(p.dz, 4), p.score)
        print("rmse", r.rmse_x, r.rmse_y, r.rmse_z)
