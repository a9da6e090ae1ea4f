"""Large downloads in parallel Range pieces: offsets, resume, renewal, fallback, retries.

One local HTTP server plays both a presigned-URL host (``/<name>?token=``) and an S3
endpoint for boto3 (``/<bucket>/<key>``, keys checked from the Authorization
header), with switches for the failures a WAN and a store produce.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import random
import re
import threading

import pytest

from terranb.credentials import StorageCredentials
from terranb.errors import TransferError, ValidationError
from terranb.transfer.download import Downloader, RemoteFile, download_object
from terranb.transfer.ranged import PieceFile

PIECE = 64 * 1024
SIZE = 10 * PIECE + 1234  # 11 pieces, the last one short
DATA = random.Random(7).randbytes(SIZE)
RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.reset()

    def reset(self) -> None:
        self.files: dict[str, bytes] = {"big.bin": DATA, "bkt/result.zip": DATA}
        self.requests: list[tuple[str, str, str | None]] = []  # method, name, Range
        self.ignore_range = False
        self.truncate_once: set[int] = set()  # range starts cut mid-body once
        self.fail_at: set[int] = set()  # range starts that always answer 500
        self.token = "t1"
        self.key: str | None = None  # the S3 access key accepted (None: any)
        self.rotate_after: int | None = None  # GETs after which token/key change
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, name: str, token: str | None = None) -> str:
        return f"{self.base}/{name}?token={token or self.token}"

    def gets(self, name: str) -> list[str | None]:
        return [r for m, n, r in self.requests if m == "GET" and n == name]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              head: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        srv = self.server
        path, _, query = self.path.partition("?")
        name = path.lstrip("/")
        rng = self.headers.get("Range")
        with srv.lock:
            srv.requests.append(("HEAD" if head else "GET", name, rng))
            gets = sum(1 for m, _, _ in srv.requests if m == "GET")
            if srv.rotate_after is not None and gets > srv.rotate_after:
                srv.rotate_after = None
                srv.token = "t2"
                srv.key = "K2" if srv.key else None
            token, key = srv.token, srv.key
        auth = self.headers.get("Authorization", "")
        if auth:  # boto3
            if key is not None and f"Credential={key}/" not in auth:
                body = (b"<Error><Code>ExpiredToken</Code><Message>The provided token has "
                        b"expired.</Message></Error>")
                self._send(403, body, {"Content-Type": "application/xml"}, head)
                return
        elif f"token={token}" not in query:
            self._send(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired"
                       b"</Message></Error>", head=head)
            return
        data = srv.files.get(name)
        if data is None:
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>",
                       {"Content-Type": "application/xml"}, head)
            return
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        m = RANGE.match(rng or "")
        if head or not m or srv.ignore_range:
            self._send(200, data, {"ETag": etag}, head)
            return
        first = int(m.group(1))
        last = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
        if first in srv.fail_at:
            self._send(500, b"<Error><Code>InternalError</Code></Error>",
                       {"Content-Type": "application/xml"})
            return
        body = data[first:last + 1]
        self.send_response(206)
        self.send_header("ETag", etag)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if first in srv.truncate_once:
            srv.truncate_once.discard(first)
            self.wfile.write(body[:len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(2)
            self.close_connection = True
            return
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)


@pytest.fixture(scope="module")
def _module_server():
    srv = _Server()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture()
def server(_module_server):
    _module_server.reset()
    return _module_server


def _big(server: _Server, checksum: str | None = None) -> RemoteFile:
    return RemoteFile("out/big.bin", SIZE, checksum or hashlib.md5(DATA).hexdigest(),
                      server.url("big.bin"), ref="big.bin")


def _dl(**kw) -> Downloader:
    opts = dict(ranged_threshold=4 * PIECE, piece_size=PIECE, workers=4, sleep=lambda s: None)
    opts.update(kw)
    return Downloader(**opts)


def _served(server: _Server, name: str) -> list[tuple[int, int]]:
    out = []
    for r in server.gets(name):
        m = RANGE.match(r or "")
        assert m and m.group(2), f"not a bounded Range request: {r!r}"
        out.append((int(m.group(1)), int(m.group(2))))
    return out


def test_pieces_land_at_their_offsets_and_nothing_is_left_behind(server, tmp_path):
    res = _dl().download([_big(server)], tmp_path)
    assert (tmp_path / "out/big.bin").read_bytes() == DATA
    spans = sorted(_served(server, "big.bin"))
    assert spans == [(i * PIECE, min(SIZE, (i + 1) * PIECE) - 1) for i in range(11)]
    assert res.bytes_received == SIZE and res.written == ["out/big.bin"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["big.bin"]


def test_pieces_that_do_not_match_the_checksum_are_refused(server, tmp_path):
    with pytest.raises(TransferError, match="MD5"):
        _dl().download([_big(server, checksum="0" * 32)], tmp_path)
    assert not (tmp_path / "out/big.bin").exists()
    assert not list((tmp_path / "out").glob("*.pieces"))


def test_interrupted_download_fetches_only_the_missing_pieces(server, tmp_path):
    server.fail_at = {10 * PIECE}  # the last piece: every other one has started by then
    with pytest.raises(TransferError, match="run it again"):
        _dl(retries=2).download([_big(server)], tmp_path)
    sidecar = tmp_path / "out/big.bin.part.pieces"
    assert sorted(json.loads(sidecar.read_text())["done"]) == list(range(10))
    assert not (tmp_path / "out/big.bin").exists()
    server.reset()
    _dl().download([_big(server)], tmp_path)
    assert [s[0] for s in _served(server, "big.bin")] == [10 * PIECE]
    assert (tmp_path / "out/big.bin").read_bytes() == DATA
    assert not sidecar.exists() and not (tmp_path / "out/big.bin.part").exists()


def test_a_stale_sidecar_starts_over(server, tmp_path):
    server.fail_at = {5 * PIECE}
    with pytest.raises(TransferError):
        _dl(retries=1).download([_big(server)], tmp_path)
    server.reset()
    new = bytes(reversed(DATA))  # same size, another checksum: the file changed
    server.files["big.bin"] = new
    f = RemoteFile("out/big.bin", SIZE, hashlib.md5(new).hexdigest(), server.url("big.bin"))
    _dl().download([f], tmp_path)
    assert len(_served(server, "big.bin")) == 11
    assert (tmp_path / "out/big.bin").read_bytes() == new


def test_a_single_stream_prefix_is_kept(server, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/big.bin.part").write_bytes(DATA[:2 * PIECE + 100])
    _dl().download([_big(server)], tmp_path)
    assert min(s[0] for s in _served(server, "big.bin")) == 2 * PIECE
    assert (tmp_path / "out/big.bin").read_bytes() == DATA


def test_url_expiring_mid_file_is_renewed_once(server, tmp_path):
    server.rotate_after = 3
    renewed = []

    def renew(f: RemoteFile) -> str:
        renewed.append(f.ref)
        return server.url("big.bin")

    res = _dl(renew=renew).download([_big(server)], tmp_path)
    assert (tmp_path / "out/big.bin").read_bytes() == DATA
    assert renewed == ["big.bin"] and res.renewed == 1


def test_server_ignoring_range_falls_back_to_one_stream(server, tmp_path):
    server.ignore_range = True
    res = _dl().download([_big(server)], tmp_path)
    assert (tmp_path / "out/big.bin").read_bytes() == DATA
    assert server.gets("big.bin")[-1] is None  # the fallback: one plain GET
    assert res.bytes_received == SIZE  # the ignored pieces' bodies were never read
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["big.bin"]


def test_truncated_piece_is_retried_not_the_file(server, tmp_path):
    server.truncate_once = {4 * PIECE}
    res = _dl().download([_big(server)], tmp_path)
    assert (tmp_path / "out/big.bin").read_bytes() == DATA
    starts = [s[0] for s in _served(server, "big.bin")]
    # piece 4 twice (from its start, or from where the cut left it), every other once
    again = [s for s in starts if 4 * PIECE <= s < 5 * PIECE]
    assert len(starts) == 12 and len(again) == 2 and len(set(starts) - set(again)) == 10
    assert res.bytes_received == SIZE


def test_small_and_unknown_size_files_use_one_stream(server, tmp_path):
    server.files["small.bin"] = DATA[:3 * PIECE]
    server.files["empty.bin"] = b""
    files = [RemoteFile("small.bin", 3 * PIECE, None, server.url("small.bin")),
             RemoteFile("unknown.bin", None, None, server.url("big.bin")),
             RemoteFile("empty.bin", 0, None, server.url("empty.bin"))]
    _dl(ranged_threshold=1).download(files[2:], tmp_path)  # size 0: never in pieces
    _dl().download(files[:2], tmp_path)
    assert server.gets("small.bin") == [None] and server.gets("big.bin") == [None]
    assert server.gets("empty.bin") == [None]
    assert (tmp_path / "unknown.bin").read_bytes() == DATA
    assert (tmp_path / "empty.bin").read_bytes() == b""


def test_ranged_threshold_none_keeps_one_stream_per_file(server, tmp_path):
    _dl(ranged_threshold=None).download([_big(server)], tmp_path)
    assert server.gets("big.bin") == [None]


@pytest.mark.parametrize("kw", [{"ranged_threshold": 0}, {"piece_size": 1000},
                                {"workers": 0}, {"ranged_threshold": "big"}])
def test_bad_options_are_refused(kw):
    with pytest.raises(ValidationError):
        Downloader(**kw)


def test_default_downloader_tunes_its_concurrency(server, tmp_path):
    dl = Downloader(ranged_threshold=4 * PIECE, piece_size=PIECE)
    dl.download([_big(server)], tmp_path)
    assert dl.tuner is not None and (tmp_path / "out/big.bin").read_bytes() == DATA


# -- download_object (boto3) against the same server as an S3 endpoint ---------------------
def _provider(server: _Server, keys: list[str]):
    it = iter(keys)

    def provide() -> StorageCredentials:
        return StorageCredentials(provider="aws_s3", access_key_id=next(it),
                                  secret_access_key="s", session_token="t", region="us-east-1",
                                  bucket="bkt", store_path="x/{fileName}", callback_param="",
                                  expire_time=4e9, endpoint_url=server.base)
    return provide


def _obj(server, tmp_path, keys=("K1",), **kw):
    opts = dict(ranged_threshold=4 * PIECE, piece_size=PIECE, workers=4, sleep=lambda s: None)
    opts.update(kw)
    return download_object(_provider(server, list(keys)), "result.zip", tmp_path / "r.zip",
                           **opts)


def test_object_in_pieces_resumes_and_verifies(server, tmp_path):
    server.fail_at = {2 * PIECE}
    with pytest.raises(TransferError):
        _obj(server, tmp_path, retries=2)
    assert not (tmp_path / "r.zip").exists()
    server.reset()
    out = _obj(server, tmp_path)
    assert out.read_bytes() == DATA
    assert [s[0] for s in _served(server, "bkt/result.zip")] == [2 * PIECE]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zip"]


def test_object_keys_expiring_mid_file_are_renewed(server, tmp_path):
    server.key = "K1"
    server.rotate_after = 4
    assert _obj(server, tmp_path, keys=("K1", "K2")).read_bytes() == DATA
    assert len(_served(server, "bkt/result.zip")) >= 11


def test_object_store_ignoring_range_falls_back(server, tmp_path):
    server.ignore_range = True
    assert _obj(server, tmp_path).read_bytes() == DATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zip"]


def test_object_truncated_piece_is_retried(server, tmp_path):
    server.truncate_once = {6 * PIECE}
    assert _obj(server, tmp_path).read_bytes() == DATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zip"]


def test_piece_file_stale_identity_discards(tmp_path):
    part = tmp_path / "x.part"
    pf = PieceFile(part, SIZE, {"etag": "a"}, PIECE)
    assert len(pf.prepare()) == 11
    pf.mark_done(0)
    pf.save()
    assert PieceFile(part, SIZE, {"etag": "a"}, PIECE).prepare() == list(range(1, 11))
    assert len(PieceFile(part, SIZE, {"etag": "b"}, PIECE).prepare()) == 11
