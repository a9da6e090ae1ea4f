"""The PNG fallback renderer resolves depth per batch: memory does not grow with overdraw."""

from __future__ import annotations

import tracemalloc

import numpy as np

from terranb.viz._soft3d import Camera, render


def _stack(layers: int) -> tuple[np.ndarray, np.ndarray]:
    """``layers`` screen-filling quads stacked in z (each pixel is drawn ``2*layers`` times)."""
    verts, faces = [], []
    for k in range(layers):
        z = float(k)
        base = len(verts)
        verts += [(0, 0, z), (100, 0, z), (100, 100, z), (0, 100, z)]
        faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return np.array(verts, dtype=float), np.array(faces)


def _peak(layers: int) -> tuple[int, np.ndarray]:
    v, f = _stack(layers)
    tracemalloc.start()
    img = render([], [(v, f, None, None, None)], width=300, height=300,
                 camera=Camera(azimuth=0, elevation=90))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, img


def test_overdraw_does_not_grow_memory() -> None:
    small, _ = _peak(4)
    large, img_large = _peak(64)  # ~5.8 M fragments: ~110 MB if all were kept to the end
    assert large < 1.5 * small + 8e6, (small, large)
    assert (img_large != 30).any()  # it drew something


def test_nearest_layer_wins() -> None:
    # From straight above, the top quad (highest z) is nearest: its colour is seen.
    v, f = _stack(2)
    cols = np.zeros((len(v), 3), dtype=np.uint8)
    cols[:4] = (255, 0, 0)   # bottom quad red
    cols[4:] = (0, 0, 255)   # top quad blue
    img = render([], [(v, f, None, None, cols)], width=50, height=50,
                 camera=Camera(azimuth=0, elevation=90))
    centre = img[25, 25]
    assert centre[2] > centre[0], centre
