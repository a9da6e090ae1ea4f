"""NaN/inf coordinates in mesh geometry: dropped, counted, reported once.

A NaN vertex poisons bounds (``min`` of anything with NaN is NaN), areas and
every viewer's camera fit, so readers drop such vertices together with the faces
that use them and add one WARNING finding with the counts, instead of letting the
NaN travel on silently.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from terranb.errors import ResultFormatError, require
from terranb.results.findings import Finding

__all__ = ["without_nonfinite"]


def without_nonfinite(parts: list[Any], path: Path, findings: list[Finding]) -> list[Any]:
    """``parts`` (mesh parts with ``vertices``/``faces``/``uv``) without NaN/inf vertices.

    Faces are re-indexed to the kept vertices; parts left without faces are dropped.

    Raises:
        ResultFormatError: no face with finite vertices is left.
    """
    np_ = require("numpy", "geo")
    out: list[Any] = []
    bad_v = bad_f = 0
    for p in parts:
        keep = np_.isfinite(p.vertices).all(axis=1)
        if keep.all():
            out.append(p)
            continue
        remap = np_.cumsum(keep) - 1
        ok = keep[p.faces].all(axis=1) if len(p.faces) else np_.zeros(0, dtype=bool)
        bad_v += int((~keep).sum())
        bad_f += int((~ok).sum())
        out.append(dataclasses.replace(
            p, vertices=p.vertices[keep], faces=remap[p.faces[ok]],
            uv=p.uv[keep] if p.uv is not None else None))
    if not bad_v:
        return out
    findings.append(Finding.make(
        "warning", "mesh.nonfinite_vertices",
        f"{bad_v} vertex/vertices are NaN or inf; they and the {bad_f} face(s) using them "
        "were left out (also of the bounds)", path))
    out = [p for p in out if len(p.faces)]
    if not out:
        raise ResultFormatError(f"OBJ {path} has no faces with finite vertices; the file is "
                                "damaged, export or download it again")
    return out
