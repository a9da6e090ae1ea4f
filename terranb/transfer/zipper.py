"""Zip a result tree for DJI Terra, and unzip service archives safely.

With ``pc_dir_structure`` the service's output has the layout DJI Terra imports
(``AT/``, ``map/`` or ``models/`` or ``lidars/``, ``mission.json``); DJI's quick
start says to zip that tree and import the zip. :func:`zip_result_tree` does
that, streaming each file into the archive and writing it atomically.

:func:`safe_extract` unpacks an archive (FlightHub 2 model zips) after checking
every member name with the same rules as downloads, so a hostile archive
cannot write outside the destination ("zip slip"), and refuses symlinks.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
import zlib
from pathlib import Path

from terranb.errors import ResultFormatError, UnsafePathError
from terranb.transfer.download import RemoteFile, check_name, safe_target
from terranb.transfer.download_guard import conflict_error, resolve_duplicates

__all__ = ["RESULT_KINDS", "safe_extract", "zip_result_tree"]

RESULT_KINDS = ("map", "models", "lidars")


def zip_result_tree(src: str | os.PathLike[str], out_zip: str | os.PathLike[str] | None = None,
                    *, check_layout: bool = True) -> Path:
    """Zip a ``pc_dir_structure`` result tree for import into DJI Terra.

    Args:
        src: folder holding ``AT/``, ``map|models|lidars/`` and ``mission.json``.
        out_zip: the archive to write (default: ``<src>.zip`` beside the folder).
        check_layout: refuse a folder that does not have DJI Terra's layout.

    Returns:
        the path of the archive.

    Example:
        >>> zip_result_tree("results/job-1")  # doctest: +SKIP
        PosixPath('results/job-1.zip')
    """
    root = Path(src).resolve()
    if not root.is_dir():
        raise ResultFormatError(f"{root} is not a folder")
    if check_layout:
        missing = []
        if not (root / "mission.json").is_file():
            missing.append("mission.json")
        if not any((root / k).is_dir() for k in RESULT_KINDS):
            missing.append("map/, models/ or lidars/")
        if missing:
            raise ResultFormatError(
                f"{root} does not look like a DJI Terra result tree (missing "
                f"{', '.join(missing)}); start the job with pc_dir_structure=true, or pass "
                "check_layout=False to zip it anyway")
    out = Path(out_zip) if out_zip is not None else root.with_suffix(".zip")
    tmp = out.with_name(out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if (path.resolve() in (out.resolve(), tmp.resolve()) or name.endswith(".part")
                        or name.startswith(".terranb-")):  # our journals, not results
                    continue
                arcname = path.relative_to(root).as_posix()
                # Images compress badly; store them to save time.
                kind = (zipfile.ZIP_STORED if path.suffix.lower() in
                        {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".laz", ".zip", ".b3dm"}
                        else zipfile.ZIP_DEFLATED)
                zf.write(path, arcname, compress_type=kind)
    os.replace(tmp, out)
    return out


def _crc32_of(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            crc = zlib.crc32(block, crc)
    return crc


def safe_extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                 overwrite: bool = False, duplicates: str = "error") -> list[str]:
    """Extract ``archive`` into ``dest``; every member is checked before anything is written.

    Members already on disk with the same size and CRC-32 are left alone (and listed);
    a different local file is refused unless ``overwrite``; two different members of
    one name are refused unless ``duplicates="rename"`` (``<stem>~2<suffix>``).

    Returns:
        the relative paths extracted (or found identical).

    Raises:
        UnsafePathError: a member is absolute, has ``..``, a drive letter, a
            backslash or is a symlink.
        DuplicateNameError, FileConflictError: see above.
        ResultFormatError: the archive is not a readable zip.
    """
    root = Path(dest)
    out: list[str] = []
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ResultFormatError(f"cannot unpack {archive}: not a readable zip ({exc}); "
                                "download it again") from None
    with zf:
        members = zf.infolist()
        for info in members:
            check_name(info.filename.rstrip("/") if info.is_dir() else info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafePathError(f"refusing to extract {info.filename!r}: it is a symlink")
        listed = [RemoteFile(i.filename, i.file_size, f"crc32:{i.CRC:08x}", ref=i)
                  for i in members if not i.is_dir()]
        files = resolve_duplicates(listed, duplicates)
        root.mkdir(parents=True, exist_ok=True)
        targets = [safe_target(root, f.name) for f in files]
        for info in members:
            safe_target(root, info.filename.rstrip("/"))
        same: set[str] = set()
        different: list[str] = []
        for f, target in zip(files, targets, strict=True):
            if not (target.exists() or target.is_symlink()):
                continue
            if (target.is_file() and target.stat().st_size == f.size
                    and _crc32_of(target) == f.ref.CRC):
                same.add(f.name)
            elif overwrite and target.is_file():
                continue
            else:
                different.append(f.name)
        if different and (not overwrite or any(not (root / n).is_file() for n in different)):
            raise conflict_error(root, different)
        for info in members:
            if info.is_dir():
                safe_target(root, info.filename.rstrip("/")).mkdir(parents=True, exist_ok=True)
        for f, target in zip(files, targets, strict=True):
            out.append(f.name)
            if f.name in same:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            try:
                with zf.open(f.ref) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                tmp.unlink(missing_ok=True)
                raise ResultFormatError(f"cannot unpack {f.name} from {archive}: {exc}; "
                                        "download it again") from None
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            os.replace(tmp, target)
    return out
