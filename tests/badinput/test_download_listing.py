"""Downloader and unzip on hostile listings and local trees: nothing lost, nothing clobbered."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from badinput_helpers import no_partials, one_line, tree_files

from terranb.errors import (
    DuplicateNameError,
    FileConflictError,
    ResultFormatError,
    TransferError,
    UnsafePathError,
    ValidationError,
)
from terranb.transfer.download import Downloader, RemoteFile
from terranb.transfer.download_guard import JOURNAL_NAME
from terranb.transfer.zipper import safe_extract, zip_result_tree

BODIES = {f"map/tile_{i}.tif": bytes([i]) * (1000 + i) for i in range(7)}
BODIES["map/tile_0_dup.tif"] = b"another file with a clashing name"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = BODIES[self.path.lstrip("/").split("?")[0]]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _rf(base: str, name: str, body_key: str | None = None, *, md5: bool = True,
        checksum: str | None = None) -> RemoteFile:
    body = BODIES[body_key or name]
    return RemoteFile(name, len(body), checksum or (hashlib.md5(body).hexdigest() if md5 else None),
                      f"{base}/{body_key or name}")


def _listing(base: str) -> list[RemoteFile]:
    return [_rf(base, f"map/tile_{i}.tif") for i in range(7)]


def test_duplicate_names_are_an_error_before_anything_is_written(base: str, tmp_path: Path) -> None:
    """8 listed, two share a name: nothing is written (not 8 reported and 7 on disk)."""
    files = [*_listing(base), _rf(base, "map/tile_0.tif", "map/tile_0_dup.tif")]
    with pytest.raises(DuplicateNameError) as exc:
        Downloader().download(files, tmp_path / "out")
    one_line(str(exc.value), "map/tile_0.tif", "--rename-duplicates", "nothing was written")
    assert not (tmp_path / "out").exists() or tree_files(tmp_path / "out") == {}


def test_rename_duplicates_keeps_every_file_and_counts_the_disk(base: str, tmp_path: Path) -> None:
    files = [*_listing(base), _rf(base, "map/tile_0.tif", "map/tile_0_dup.tif")]
    res = Downloader().download(files, tmp_path / "out", duplicates="rename")
    on_disk = {n for n in tree_files(tmp_path / "out") if n != JOURNAL_NAME}
    assert len(res.files) == 8 == len(on_disk) and set(res.files) == on_disk
    assert (tmp_path / "out/map/tile_0~2.tif").read_bytes() == BODIES["map/tile_0_dup.tif"]
    assert (tmp_path / "out/map/tile_0.tif").read_bytes() == BODIES["map/tile_0.tif"]


def test_the_same_object_listed_twice_is_one_file(base: str, tmp_path: Path) -> None:
    files = [*_listing(base), _rf(base, "map/tile_3.tif")]
    res = Downloader().download(files, tmp_path / "out")
    assert len(res.files) == 7 == len([n for n in tree_files(tmp_path / "out")
                                       if n != JOURNAL_NAME])


def test_names_equal_but_for_case_clash(base: str, tmp_path: Path) -> None:
    files = [*_listing(base), _rf(base, "MAP/Tile_1.tif", "map/tile_0_dup.tif")]
    with pytest.raises(DuplicateNameError) as exc:
        Downloader().download(files, tmp_path / "out")
    one_line(str(exc.value), "Tile_1.tif")


def test_a_name_used_as_file_and_folder_is_refused(base: str, tmp_path: Path) -> None:
    files = [_rf(base, "map", "map/tile_1.tif"), _rf(base, "map/tile_2.tif")]
    with pytest.raises(DuplicateNameError) as exc:
        Downloader().download(files, tmp_path / "out")
    one_line(str(exc.value), "'map'", "folder")
    assert not (tmp_path / "out" / "map").exists()


def test_existing_different_file_is_refused_and_nothing_written(base: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "map").mkdir(parents=True)
    (out / "map" / "tile_4.tif").write_bytes(b"mine")
    with pytest.raises(FileConflictError) as exc:
        Downloader().download(_listing(base), out)
    one_line(str(exc.value), "tile_4.tif", "--overwrite")
    assert tree_files(out) == {"map/tile_4.tif": b"mine"}  # no other file, no journal
    no_partials(out)


def test_same_size_without_a_checksum_is_not_assumed_identical(base: str, tmp_path: Path) -> None:
    """No MD5 from the service and no journal entry: a same-size file is not ours to skip."""
    out = tmp_path / "out"
    f = _rf(base, "map/tile_2.tif", checksum="d41d8cd98f00b204e9800998ecf8427e-3")
    (out / "map").mkdir(parents=True)
    (out / "map" / "tile_2.tif").write_bytes(b"x" * (f.size or 0))
    with pytest.raises(FileConflictError):
        Downloader().download([f], out)
    assert (out / "map" / "tile_2.tif").read_bytes() == b"x" * (f.size or 0)


def test_journal_lets_a_rerun_skip_files_without_md5(base: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = [_rf(base, n, checksum="abc-2") for n in (f"map/tile_{i}.tif" for i in range(3))]
    assert len(Downloader().download(files, out).written) == 3
    again = Downloader().download(files, out)
    assert again.written == [] and len(again.skipped) == 3
    # The journal keeps a sha256: a same-size edit is noticed.
    (out / "map" / "tile_1.tif").write_bytes(b"\x00" * (files[1].size or 0))
    with pytest.raises(FileConflictError):
        Downloader().download(files, out)


def test_overwrite_replaces_atomically(base: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "map").mkdir(parents=True)
    (out / "map" / "tile_4.tif").write_bytes(b"mine")
    res = Downloader().download(_listing(base), out, overwrite=True)
    assert (out / "map" / "tile_4.tif").read_bytes() == BODIES["map/tile_4.tif"]
    assert len(res.files) == 7
    no_partials(out)


def test_a_folder_in_the_way_is_never_removed(base: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "map" / "tile_5.tif").mkdir(parents=True)
    (out / "map" / "tile_5.tif" / "keep.txt").write_text("keep")
    for overwrite in (False, True):
        with pytest.raises(TransferError) as exc:
            Downloader().download(_listing(base), out, overwrite=overwrite)
        one_line(str(exc.value), "tile_5.tif")
    assert (out / "map" / "tile_5.tif" / "keep.txt").read_text() == "keep"


def test_unsafe_name_refused_before_any_write(base: str, tmp_path: Path) -> None:
    files = [*_listing(base), _rf(base, "../escape.tif", "map/tile_1.tif")]
    with pytest.raises(UnsafePathError) as exc:
        Downloader().download(files, tmp_path / "out")
    one_line(str(exc.value), "../escape.tif")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("workers", [0, -1, 2.5])
def test_downloader_workers_must_be_positive(workers: object) -> None:
    with pytest.raises(ValidationError) as exc:
        Downloader(workers=workers)  # type: ignore[arg-type]
    one_line(str(exc.value), "workers")


def _zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate on purpose
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members:
                zf.writestr(name, data)
    return path


def test_unzip_refuses_a_different_local_file(tmp_path: Path) -> None:
    z = _zip(tmp_path / "m.zip", [("a/one.txt", b"1"), ("a/two.txt", b"2")])
    dest = tmp_path / "dest"
    (dest / "a").mkdir(parents=True)
    (dest / "a" / "two.txt").write_bytes(b"mine")
    with pytest.raises(FileConflictError) as exc:
        safe_extract(z, dest)
    one_line(str(exc.value), "two.txt", "--overwrite")
    assert tree_files(dest) == {"a/two.txt": b"mine"}
    assert sorted(safe_extract(z, dest, overwrite=True)) == ["a/one.txt", "a/two.txt"]
    assert (dest / "a" / "two.txt").read_bytes() == b"2"
    assert sorted(safe_extract(z, dest)) == ["a/one.txt", "a/two.txt"]  # identical: fine
    no_partials(dest)


def test_unzip_refuses_duplicate_members(tmp_path: Path) -> None:
    z = _zip(tmp_path / "m.zip", [("x.txt", b"first"), ("x.txt", b"second")])
    with pytest.raises(DuplicateNameError) as exc:
        safe_extract(z, tmp_path / "dest")
    one_line(str(exc.value), "x.txt")
    assert not (tmp_path / "dest" / "x.txt").exists()
    got = safe_extract(z, tmp_path / "dest2", duplicates="rename")
    assert sorted(got) == ["x.txt", "x~2.txt"]


def test_unzip_of_a_non_zip_is_a_result_format_error(tmp_path: Path) -> None:
    bad = tmp_path / "m.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ResultFormatError) as exc:
        safe_extract(bad, tmp_path / "dest")
    one_line(str(exc.value), "m.zip", "download it again")
    assert not (tmp_path / "dest").exists()


def test_zip_for_terra_leaves_out_the_download_journal(base: str, tmp_path: Path) -> None:
    out = tmp_path / "tree"
    Downloader().download(_listing(base), out)
    (out / "mission.json").write_text("{}")
    assert (out / JOURNAL_NAME).is_file()
    with zipfile.ZipFile(zip_result_tree(out)) as zf:
        assert JOURNAL_NAME not in zf.namelist() and "mission.json" in zf.namelist()
