"""The emulator's FlightHub 2 3DGS job: a Gaussian-splat PLY on the 3D job's surface.

Computed from the inputs like the 3D model (:mod:`terranb.emulator.outputs_3d` builds the
textured surface from the photos' positions, heights and attitude); splats are sampled on
it with the photo colours, one per ``_SPLAT_SPACING_GSD`` ground-sample distances.
"""

from __future__ import annotations

import math

from terranb.emulator.outputs_3d import (
    _SPLAT_SPACING_GSD,
    _build_surface,
    _metadata_xml,
    _surface_samples,
)
from terranb.emulator.outputs_common import OutputJob, atomic_path, write_text
from terranb.errors import require

__all__ = ["produce_3dgs"]


def produce_3dgs(job: OutputJob) -> list[str]:
    """Write a Gaussian-splat PLY of the surface into ``job.out_dir``; returns the paths."""
    np = require("numpy", "geo")
    out_dir, progress, seed = job.out_dir, job.progress, job.seed
    surface, _metas, usable = _build_surface(job)
    progress.stage("splats", "placing splats on the surface")
    max_splats = {1: 1_000_000, 2: 400_000, 3: 100_000}[surface.quality]
    xyz, rgba, spacing = _surface_samples(
        np, surface, surface.gsd_m * _SPLAT_SPACING_GSD, seed, max_splats
    )
    n = len(xyz)
    names = [
        "x",
        "y",
        "z",
        "nx",
        "ny",
        "nz",
        "f_dc_0",
        "f_dc_1",
        "f_dc_2",
        "opacity",
        "scale_0",
        "scale_1",
        "scale_2",
        "rot_0",
        "rot_1",
        "rot_2",
        "rot_3",
    ]
    data = np.zeros((n, len(names)), dtype=np.float32)
    data[:, 0:3] = xyz - np.asarray(surface.origin)
    data[:, 5] = 1.0  # normal up
    sh_c0 = 0.28209479177387814
    data[:, 6:9] = (rgba[:, :3].astype(np.float32) / 255.0 - 0.5) / sh_c0
    data[:, 9] = math.log(0.95 / 0.05)
    data[:, 10:13] = math.log(spacing / 2)
    data[:, 13] = 1.0  # identity quaternion (w first)
    head = "ply\nformat binary_little_endian 1.0\ncomment terranb emulator 3DGS stand-in\n"
    head += f"element vertex {n}\n" + "".join(f"property float {p}\n" for p in names)
    head += "end_header\n"
    progress.stage("report", "writing the splats")
    path = out_dir / "3dgs" / "point_cloud.ply"
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(head.encode("ascii"))
        fh.write(data.astype("<f4").tobytes())
    write_text(out_dir / "3dgs" / "metadata.xml", _metadata_xml(surface))
    produced = ["3dgs/point_cloud.ply", "3dgs/metadata.xml"]
    produced.append(
        job.mission("3dgs", produced, {"photos used": len(usable), "splats": n})
    )
    progress.done(f"{n:,} splats")
    return produced
