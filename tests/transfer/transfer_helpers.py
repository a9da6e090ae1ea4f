"""Shared constants and data-set writer for the transfer tests."""

from __future__ import annotations

import random
from pathlib import Path

BUCKET = "vg-terra-be-dev"
SMALL_PART = 64 * 1024


def write_dataset(root: Path, sizes: list[int], seed: int = 0) -> Path:
    """Files of the given sizes (random bytes), some in a sub-folder."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i, size in enumerate(sizes):
        sub = root / "sub" if i % 3 == 2 else root
        sub.mkdir(exist_ok=True)
        (sub / f"IMG_{i:04d}.JPG").write_bytes(rng.randbytes(size))
    return root
