"""Tileset case of ``bench/preview.py`` (issue 14's done-when): tileset viewer vs OBJ viewer.

* ``tileset``: the ``mesh`` case's 1 M-face textured OBJ written as a 3-level b3dm
  tileset by terranb's own writer (``terranb.results.tiles.mesh_tileset``: level 2 =
  the full mesh in 16 tiles, levels 1 and 0 decimated to 1/4 and 1/16). Then, in fresh
  child processes, interleaved ``RUNS`` times each: ``Scene3D.from_tileset(tileset.json,
  max_triangles=100k)`` saved as HTML, and ``Scene3D.from_mesh(Mesh.open(obj),
  max_faces=100k)`` saved as HTML (the ``mesh`` case's viewer). Both get the same face
  budget; the tileset picks its deepest level within it, the OBJ path parses and
  decimates the full mesh. Targets: tileset HTML <= 10 MB and its median time
  <= 2x the OBJ path's median.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

RUNS = 3


def task_tileset_viewer(tileset: str, out: str, max_faces: str) -> dict[str, Any]:
    """terranb's viewer page of a tileset at the deepest level within the face budget."""
    import numpy  # noqa: F401
    from preview import _child_result, _rss_now_kb  # bench/preview.py (the parent module)

    from terranb.viz.scene3d import Scene3D

    base = _rss_now_kb()
    t0 = time.perf_counter()
    scene = Scene3D.from_tileset(tileset, max_triangles=int(max_faces))
    scene.save(out)
    shown = sum(layer["shown"] for layer in scene.stats["layers"])
    return _child_result(base, time.perf_counter() - t0, bytes=Path(out).stat().st_size,
                         faces=shown, findings=len(scene.findings))


def make_tileset(obj: Path, out_dir: Path) -> dict[str, Any]:
    """Write the 3-level tileset of ``obj`` (its one textured part) with terranb's writer."""
    import numpy as np
    from PIL import Image
    from pyproj import CRS

    from terranb.results.mesh import Mesh
    from terranb.results.tiles import mesh_tileset

    t0 = time.perf_counter()
    mesh = Mesh.open(obj)
    (part,) = mesh.parts
    assert part.texture_path is not None
    with Image.open(part.texture_path) as im:
        texture = np.asarray(im.convert("RGB"))
    written = mesh_tileset(out_dir, part.vertices, part.faces, uv=part.uv, texture=texture,
                           crs=CRS.from_epsg(32650), origin=(500_000.0, 2_500_000.0, 0.0),
                           levels=3)
    return {"seconds": time.perf_counter() - t0, "faces_per_level": written.faces_per_level,
            "tiles_per_level": written.tiles_per_level, "bytes": written.bytes_total}


def case_tileset(workdir: Path) -> dict[str, Any]:
    """3-level tileset of the 1 M-face mesh -> viewer HTML, against the OBJ viewer."""
    import preview as pv  # bench/preview.py: children, the OBJ generator, the budgets

    folder = workdir / "mesh1m"
    obj = folder / "block 0.obj"
    if not obj.exists():
        pv.make_obj(folder)
    ts_dir = workdir / "mesh1m_tileset"
    root = ts_dir / "tileset.json"
    if not root.exists():
        made = pv.run_child("make_tileset", str(obj), str(ts_dir))
        print(f"  wrote the 3-level tileset in {made['seconds']:.1f} s: faces per level "
              f"{made['faces_per_level']}, tiles {made['tiles_per_level']}, "
              f"{made['bytes'] / 1e6:.1f} MB")
    tiles, objs = [], []
    for _ in range(RUNS):  # interleaved, so a busy machine weighs on both sides alike
        tiles.append(pv.run_child("tileset_viewer", str(root), str(workdir / "tileset.html"),
                                  str(pv.MESH_FACES)))
        objs.append(pv.run_child("mesh_viewer", str(obj), str(workdir / "mesh_viewer.html"),
                                 str(pv.MESH_FACES), str(pv.MESH_MAX_BYTES)))
    t_med = statistics.median(r["seconds"] for r in tiles)
    o_med = statistics.median(r["seconds"] for r in objs)
    tile, objv = tiles[0], objs[0]
    for label, runs, r in (("tileset", tiles, tile), ("OBJ", objs, objv)):
        secs = sorted(x["seconds"] for x in runs)
        print(f"    {label:<8} viewer: {r['bytes'] / 1e6:5.2f} MB HTML, {r['faces']:,} faces "
              f"shown; {len(runs)} runs: median {statistics.median(secs):.2f} s "
              f"(min {secs[0]:.2f}, max {secs[-1]:.2f}); peak {max(x['peak_mb'] for x in runs):.0f}"
              " MB")
    ratio = t_med / o_med
    return {"tileset_viewer": tile, "obj_viewer": objv, "tileset_seconds_median": t_med,
            "obj_seconds_median": o_med, "tileset_vs_obj_time_ratio": ratio,
            "pass": tile["bytes"] <= pv.MESH_MAX_BYTES and ratio <= 2.0 and tile["faces"] > 0
            and tile["findings"] == 0}
