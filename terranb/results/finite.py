"""Mesh input checks: NaN/inf coordinates dropped and reported, parser failures named.

A NaN vertex poisons bounds (``min`` of anything with NaN is NaN), areas and
every viewer's camera fit, so readers drop such vertices together with the faces
that use them and add one WARNING finding with the counts, instead of letting the
NaN travel on silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from terranb.errors import ResultFormatError, require
from terranb.results.findings import Finding

__all__ = ["guarded_parse", "without_nonfinite"]


def guarded_parse(parse: Callable[..., Any], path: Path, *args: Any) -> Any:
    """``parse(path, *args)`` with numpy/index failures as a :class:`ResultFormatError`.

    The fast OBJ parser trusts the text layout (``v x y z``, valid face indexes); a
    damaged file makes numpy raise ValueError/IndexError, which names no file.
    """
    try:
        return parse(path, *args)
    except (ValueError, IndexError, TypeError, UnicodeDecodeError) as exc:
        raise ResultFormatError(f"cannot parse OBJ {path}: {exc}; the file is damaged, export "
                                "or download it again") from None


def without_nonfinite(parts: list[Any], path: Path, findings: list[Finding]) -> list[Any]:
    """``parts`` (mesh parts with ``vertices``/``faces``/``uv``) without NaN/inf vertices.

    Faces are re-indexed to the kept vertices; parts left without faces are dropped.
    Parts that are not (n, 3) vertices with in-range (m, 3) faces are refused.

    Raises:
        ResultFormatError: malformed geometry, or no face with finite vertices is left.
    """
    np_ = require("numpy", "geo")
    out: list[Any] = []
    bad_v = bad_f = 0
    for p in parts:
        v, f = np_.asarray(p.vertices), np_.asarray(p.faces)
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or (
                f.size and (f.min() < 0 or f.max() >= len(v))):
            raise ResultFormatError(f"OBJ {path} is malformed: vertices need x y z and faces "
                                    "must index existing vertices; export or download it again")
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
