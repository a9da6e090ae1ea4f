"""Downloads from a local HTTP server: resume, renewal, verification, unsafe names, zips."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
import zipfile

import pytest

from terranb.errors import TransferError, UnsafePathError
from terranb.transfer.download import Downloader, RemoteFile, check_name
from terranb.transfer.zipper import safe_extract, zip_result_tree

FILES = {
    "map/result.tif": bytes(range(256)) * 4000,
    "map/result.tfw": b"0.1\n0\n0\n-0.1\n500000\n4000000\n",
    "AT/sfm_report.json": b'{"images number": 200}',
}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = dict(FILES)
        self.truncate_once: set[str] = set()
        self.valid_token = "t1"
        self.requests: list[tuple[str, str | None]] = []
        self.ignore_range = False

    def url(self, name: str, token: str | None = None) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}?token={token or self.valid_token}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        name = path.lstrip("/")
        self.server.requests.append((name, self.headers.get("Range")))
        if f"token={self.server.valid_token}" not in query:
            body = (b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
                    b"</Error>")
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        data = self.server.files[name]
        start = 0
        rng = self.headers.get("Range")
        if rng and not self.server.ignore_range:
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name in self.server.truncate_once:
            self.server.truncate_once.discard(name)
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(2)  # cut the connection mid-body
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def _module_server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture()
def server(_module_server):
    srv = _module_server
    srv.files = dict(FILES)
    srv.truncate_once = set()
    srv.requests = []
    srv.ignore_range = False
    return srv


def _remote(server: _Server, name: str, token: str | None = None, checksum: bool = True):
    data = server.files[name]
    return RemoteFile(name, len(data), hashlib.md5(data).hexdigest() if checksum else None,
                      server.url(name, token), ref=name)


def test_downloads_verify_and_skip_complete(server, tmp_path):
    files = [_remote(server, n) for n in FILES]
    res = Downloader(sleep=lambda s: None).download(files, tmp_path / "out")
    assert res.written == sorted(FILES) and res.skipped == []
    for name, data in FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert not list((tmp_path / "out").rglob("*.part"))
    n = len(server.requests)
    res = Downloader().download(files, tmp_path / "out")
    assert res.skipped == sorted(FILES) and len(server.requests) == n  # nothing fetched


def test_truncated_transfer_is_resumed_with_range(server, tmp_path):
    server.truncate_once.add("map/result.tif")
    events = []
    res = Downloader(sleep=lambda s: None, on_progress=events.append).download(
        [_remote(server, "map/result.tif")], tmp_path)
    assert (tmp_path / "map/result.tif").read_bytes() == FILES["map/result.tif"]
    ranges = [r for n, r in server.requests if n == "map/result.tif"]
    assert ranges[0] is None and ranges[1] is not None and ranges[1] != "bytes=0-"
    assert res.bytes_received == len(FILES["map/result.tif"])  # nothing fetched twice
    assert events[-1].total_done == len(FILES["map/result.tif"])


def test_existing_part_file_is_resumed(server, tmp_path):
    data = FILES["map/result.tif"]
    (tmp_path / "map").mkdir()
    (tmp_path / "map/result.tif.part").write_bytes(data[:1000])
    Downloader().download([_remote(server, "map/result.tif")], tmp_path)
    assert (tmp_path / "map/result.tif").read_bytes() == data
    assert server.requests[-1][1] == "bytes=1000-"


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.ignore_range = True
    (tmp_path / "map").mkdir()
    (tmp_path / "map/result.tif.part").write_bytes(b"x" * 1000)
    Downloader().download([_remote(server, "map/result.tif")], tmp_path)
    assert (tmp_path / "map/result.tif").read_bytes() == FILES["map/result.tif"]


def test_expired_url_is_renewed(server, tmp_path):
    stale = _remote(server, "map/result.tfw", token="old")
    renewed = []

    def renew(f: RemoteFile) -> str:
        renewed.append(f.ref)
        return server.url(f.ref)

    res = Downloader(renew=renew).download([stale], tmp_path)
    assert renewed == ["map/result.tfw"] and res.renewed == 1
    assert (tmp_path / "map/result.tfw").read_bytes() == FILES["map/result.tfw"]


def test_expired_url_without_renew_is_a_clear_error(server, tmp_path):
    with pytest.raises(TransferError, match="expired"):
        Downloader().download([_remote(server, "map/result.tfw", token="old")], tmp_path)


def test_checksum_mismatch_is_refused(server, tmp_path):
    bad = RemoteFile("map/result.tfw", len(FILES["map/result.tfw"]), "0" * 32,
                     server.url("map/result.tfw"))
    with pytest.raises(TransferError, match="MD5"):
        Downloader().download([bad], tmp_path)
    assert not (tmp_path / "map/result.tfw").exists()


def test_multipart_etag_is_not_checked_as_md5(server, tmp_path):
    f = RemoteFile("map/result.tfw", None, '"' + "a" * 32 + '-3"', server.url("map/result.tfw"))
    Downloader().download([f], tmp_path)
    assert (tmp_path / "map/result.tfw").read_bytes() == FILES["map/result.tfw"]


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "C:/x", "a\\..\\b", "a/../../b",
                                  "", "a//b", "./a"])
def test_unsafe_names_refused_before_anything_is_written(server, tmp_path, name):
    server.files[name] = b"evil"
    dest = tmp_path / "inner" / "dest"
    files = [_remote(server, "map/result.tfw"), RemoteFile(name, 4, None, server.url(name))]
    with pytest.raises(UnsafePathError):
        Downloader().download(files, dest)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert server.requests == []


def test_symlink_escape_refused(server, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (tmp_path / "outside").mkdir()
    (dest / "map").symlink_to(tmp_path / "outside")
    with pytest.raises(UnsafePathError):
        Downloader().download([_remote(server, "map/result.tfw")], dest)
    assert not list((tmp_path / "outside").iterdir())


def test_check_name_accepts_normal_paths():
    assert check_name("models/pc/0/terra_obj/BlockR/BlockR.obj")


def test_zip_result_tree_and_safe_extract(tmp_path):
    tree = tmp_path / "job"
    for name, data in {**FILES, "mission.json": b"{}"}.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    out = zip_result_tree(tree)
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == sorted([*FILES, "mission.json"])
    got = safe_extract(out, tmp_path / "again")
    assert sorted(got) == sorted([*FILES, "mission.json"])
    assert (tmp_path / "again/map/result.tif").read_bytes() == FILES["map/result.tif"]
    with pytest.raises(Exception, match="result tree"):
        zip_result_tree(tmp_path / "again" / "AT")


def test_safe_extract_refuses_zip_slip(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("ok.txt", b"fine")
        zf.writestr("../../x", b"evil")
    with pytest.raises(UnsafePathError):
        safe_extract(evil, tmp_path / "dest")
    assert not (tmp_path / "dest" / "ok.txt").exists() and not (tmp_path.parent / "x").exists()
