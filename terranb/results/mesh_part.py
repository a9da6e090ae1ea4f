"""One material's worth of a mesh: the unit every reader, decimator and viewer shares.

Its own module so that :mod:`terranb.results.decimate` and
:mod:`terranb.results.simplify` can both use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MeshPart"]


@dataclass
class MeshPart:
    """One material's worth of a mesh.

    Attributes:
        vertices: float array (n, 3).
        faces: int array (m, 3) of vertex indexes.
        uv: float array (n, 2) texture coordinates, or ``None``.
        texture_path: the diffuse texture image file, or ``None``.
        material: the material name, if any.
        colors: uint8 (n, 3) vertex colours, or ``None``.
        texture: an in-memory texture (PIL image or array; tiles embed theirs), or ``None``.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None
    texture_path: Path | None
    material: str | None
    colors: np.ndarray | None = None
    texture: Any = field(default=None, repr=False)
