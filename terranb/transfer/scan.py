"""The files of a data set folder and the fingerprint of a data set."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from terranb.errors import TransferError
from terranb.transfer.journal import FileRow

__all__ = ["LocalFile", "dataset_fingerprint", "scan_folder"]


@dataclass(frozen=True)
class LocalFile:
    """A file of the data set folder."""

    rel: str
    path: Path
    size: int
    mtime_ns: int


def scan_folder(root: str | os.PathLike[str],
                files: Iterable[str] | None = None) -> list[LocalFile]:
    """Files under ``root`` (recursively, hidden ones skipped), sorted by relative path.

    Args:
        root: data set folder.
        files: only these relative paths (``/`` or ``os.sep`` separated).
    """
    base = Path(root).resolve()
    if not base.is_dir():
        raise TransferError(f"{base} is not a folder; give the folder that holds the photos")
    found: list[LocalFile] = []
    if files is not None:
        candidates = [base / f.replace("\\", "/") for f in files]
    else:
        candidates = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            candidates += [Path(dirpath) / n for n in filenames if not n.startswith(".")]
    for path in candidates:
        st = path.stat()
        rel = path.relative_to(base).as_posix()
        found.append(LocalFile(rel, path, st.st_size, st.st_mtime_ns))
    found.sort(key=lambda f: f.rel)
    return found


def dataset_fingerprint(rows: Iterable[FileRow | tuple[str, int, str]]) -> str:
    """SHA-256 over the sorted ``(path, size, sha256)`` of a data set's files."""
    items = sorted((r.rel, r.size, r.sha256) if isinstance(r, FileRow) else tuple(r)
                   for r in rows)
    digest = hashlib.sha256()
    for rel, size, sha in items:
        digest.update(f"{rel}\t{size}\t{sha}\n".encode())
    return digest.hexdigest()
