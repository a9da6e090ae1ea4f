"""What a download may write: duplicate names in a listing, files the user already has.

Two rules, both checked for the whole listing before the first byte is written:

* **Duplicate names.** Two entries of a listing that land on the same local path
  (same name, or names equal after case folding, which is the same file on macOS
  and Windows, or a file whose name is another entry's folder) would silently lose
  one of them. Entries equal in name, size and checksum are one object listed
  twice and are kept once; anything else raises :class:`DuplicateNameError`, or,
  with ``duplicates="rename"``, the later entries get ``<stem>~2<suffix>``,
  ``~3``... so every file reaches the disk.
* **Existing files.** A local file at a target path is *the same file* when its size
  matches the listing and either its MD5 equals the service's plain-MD5 checksum
  (TerraAPI ``File.checksum`` / single-part ETag), or, when the service gives no
  usable MD5 (multipart ``<md5>-<n>`` ETags, no checksum), the download journal
  ``<dest>/.terranb-downloads.json`` says terranb itself wrote it with this size
  and the same service checksum and the file's sha256 still equals the one
  recorded then. The same file is skipped. Anything else is *different*: it is
  never replaced unless ``overwrite=True`` (CLI ``--overwrite``); otherwise
  :class:`~terranb.errors.FileConflictError` names the file(s) and the fix.

The journal is a small JSON object ``{name: {"size", "sha256", "checksum"}}``
written atomically after each download; it is advisory (deleting it only means
unverifiable same-size files are reported as conflicts next time).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from terranb.errors import DuplicateNameError, FileConflictError

__all__ = ["JOURNAL_NAME", "DownloadJournal", "conflict_error", "digests", "existing_conflicts",
           "resolve_duplicates"]

JOURNAL_NAME = ".terranb-downloads.json"
_CHUNK = 1 << 20


def digests(path: Path, *, md5: bool = True, sha256: bool = True) -> tuple[str, str]:
    """(md5 hex, sha256 hex) of a file, read once ("" for a digest not asked for)."""
    hashes = [hashlib.md5() if md5 else None, hashlib.sha256() if sha256 else None]
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            for h in hashes:
                if h is not None:
                    h.update(block)
    return tuple(h.hexdigest() if h is not None else "" for h in hashes)  # type: ignore[return-value]


class DownloadJournal:
    """``{name: {size, sha256, checksum}}`` of the files terranb wrote under ``dest``."""

    def __init__(self, dest: Path) -> None:
        self.path = dest / JOURNAL_NAME
        self.entries: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}  # missing or damaged: advisory only, start afresh
        if isinstance(data, dict):
            self.entries = {k: v for k, v in data.items() if isinstance(v, dict)}

    def record(self, name: str, size: int, sha256: str, checksum: str | None) -> None:
        self.entries[name] = {"size": size, "sha256": sha256, "checksum": checksum}

    def matches(self, name: str, size: int, sha256: str, checksum: str | None) -> bool:
        e = self.entries.get(name)
        return (e is not None and e.get("size") == size and e.get("sha256") == sha256
                and e.get("checksum") == checksum)

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".part")
        try:
            tmp.write_text(json.dumps(self.entries, indent=0, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a read-only tree still downloads, unjournalled


@dataclass(frozen=True)
class _Key:
    name: str
    folded: str


def _renamed(name: str, n: int) -> str:
    p = PurePosixPath(name)
    return str(p.with_name(f"{p.stem}~{n}{p.suffix}"))


def resolve_duplicates(files: Sequence[Any], duplicates: str = "error") -> list[Any]:
    """The listing with identical repeats dropped and clashing names refused or renamed.

    Args:
        files: :class:`~terranb.transfer.download.RemoteFile` entries.
        duplicates: ``"error"`` (default) or ``"rename"``.

    Raises:
        DuplicateNameError: two different entries share a local path (``"error"``), or a
            file name is also used as a folder by another entry (always).
    """
    if duplicates not in ("error", "rename"):
        raise ValueError("duplicates must be 'error' or 'rename'")
    out: list[Any] = []
    by_fold: dict[str, Any] = {}
    clashes: list[str] = []
    for f in files:
        folded = f.name.casefold()
        prev = by_fold.get(folded)
        if prev is None:
            by_fold[folded] = f
            out.append(f)
            continue
        same = prev.name == f.name and prev.size == f.size and (
            (f.checksum is not None and prev.checksum == f.checksum)
            or (f.url is not None and prev.url == f.url))
        if same:
            continue  # the same object listed twice: one file on disk
        if duplicates == "error":
            clashes.append(f.name if prev.name == f.name else f"{prev.name} / {f.name}")
            continue
        n = 2
        while _renamed(f.name, n).casefold() in by_fold:
            n += 1
        g = replace(f, name=_renamed(f.name, n))
        by_fold[g.name.casefold()] = g
        out.append(g)
    if clashes:
        raise DuplicateNameError(
            f"the listing has {len(clashes)} name(s) used by more than one different file "
            f"({', '.join(repr(c) for c in clashes[:3])}{', ...' if len(clashes) > 3 else ''}); "
            "nothing was written; download with --rename-duplicates (duplicates='rename') to "
            "keep every file as <name>~2, ~3...")
    folders = {str(parent).casefold() for f in out
               for parent in PurePosixPath(f.name).parents if str(parent) != "."}
    both = sorted(f.name for f in out if f.name.casefold() in folders)
    if both:
        raise DuplicateNameError(
            f"the listing uses {both[0]!r} both as a file and as a folder of other files; "
            "nothing was written; one of them cannot be stored, report it to the service")
    return out


def existing_conflicts(files: Sequence[Any], targets: Sequence[Path],
                       journal: DownloadJournal, expected_md5: Any,
                       workers: int = 4) -> tuple[set[str], list[str]]:
    """(names already downloaded identically, names where a different thing exists).

    ``expected_md5(checksum)`` gives the plain MD5 a service checksum stands for, or None.
    Files are hashed in ``workers`` threads (hashlib releases the GIL on large blocks).
    """

    def verdict(pair: tuple[Any, Path]) -> str | None:
        f, target = pair
        if not (target.exists() or target.is_symlink()):
            return None
        if not target.is_file():
            return "different"  # a folder or a dangling link: never replaced blindly
        size = target.stat().st_size
        if f.size is not None and size != f.size:
            return "different"
        want = expected_md5(f.checksum)
        md5, sha = digests(target, md5=want is not None, sha256=want is None)
        if (want is not None and md5 == want) or (
                want is None and journal.matches(f.name, size, sha, f.checksum)):
            return "same"
        return "different"

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        verdicts = list(pool.map(verdict, zip(files, targets, strict=True)))
    same = {f.name for f, v in zip(files, verdicts, strict=True) if v == "same"}
    different = [f.name for f, v in zip(files, verdicts, strict=True) if v == "different"]
    return same, different


def conflict_error(dest: Path, names: list[str]) -> FileConflictError:
    """The one-line refusal for files that differ from what the service has."""
    first = dest / names[0]
    more = f" and {len(names) - 1} more" if len(names) > 1 else ""
    return FileConflictError(
        f"refusing to overwrite {first}{more}: a different file is already there (its size "
        "or checksum does not match the service's); nothing was written; pass --overwrite "
        "(overwrite=True) to replace it, or download into an empty folder")
