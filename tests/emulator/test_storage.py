"""EmbeddedStorage: boto3 against the authenticating proxy, keys, expiry and persistence."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")
requests = pytest.importorskip("requests")

from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from terranb.emulator.storage import EmbeddedStorage, IssuedCredentials  # noqa: E402

BUCKET = "vg-terra-be-dev"


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory):
    st = EmbeddedStorage(tmp_path_factory.mktemp("s3data"))
    st.start()
    st.ensure_bucket(BUCKET, "us-east-1")
    yield st
    st.stop()


def client(st: EmbeddedStorage, creds: IssuedCredentials, **cfg):
    return boto3.client(
        "s3",
        endpoint_url=st.endpoint_url,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, **cfg),
    )


def error_of(exc: ClientError) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def test_quick_start_script_with_only_aws_endpoint_url_s3(storage, monkeypatch, tmp_path):
    """The quick start's boto3 code, unchanged, with AWS_ENDPOINT_URL_S3 set to the emulator."""
    creds = storage.issue_credentials(600)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", storage.endpoint_url)
    photo = tmp_path / "DJI_0001.JPG"
    photo.write_bytes(os.urandom(50_000))
    s3_client = boto3.client(
        "s3",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        region_name="us-east-1",
    )
    with open(photo, "rb") as fh:
        put_result = s3_client.put_object(Bucket=BUCKET, Key="qs/tmp/x/DJI_0001.JPG", Body=fh)
    etag = put_result["ETag"].strip('"')
    assert etag == hashlib.md5(photo.read_bytes()).hexdigest()
    info = storage.head_object(BUCKET, "qs/tmp/x/DJI_0001.JPG")
    assert info is not None and info.etag == etag and info.size == 50_000


def test_put_get_range_head_list(storage):
    s3 = client(storage, storage.issue_credentials(600))
    body = bytes(range(256)) * 40
    s3.put_object(Bucket=BUCKET, Key="rng/a b+ü.bin", Body=body)
    s3.put_object(Bucket=BUCKET, Key="rng/sub/c.bin", Body=b"c")
    got = s3.get_object(Bucket=BUCKET, Key="rng/a b+ü.bin", Range="bytes=100-199")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == body[100:200]
    head = s3.head_object(Bucket=BUCKET, Key="rng/a b+ü.bin")
    assert head["ContentLength"] == len(body)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="rng/", MaxKeys=1)
    assert listed["KeyCount"] == 1 and listed["IsTruncated"]
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix="rng/", PaginationConfig={"PageSize": 1}
    )
    assert sorted(o["Key"] for p in pages for o in p["Contents"]) == [
        "rng/a b+ü.bin",
        "rng/sub/c.bin",
    ]
    assert {o.key for o in storage.list_objects(BUCKET, "rng/")} == {
        "rng/a b+ü.bin",
        "rng/sub/c.bin",
    }
    assert storage.head_object(BUCKET, "rng/missing") is None


def test_multipart_upload_and_download(storage, tmp_path):
    from boto3.s3.transfer import TransferConfig

    s3 = client(storage, storage.issue_credentials(600))
    src = tmp_path / "big.las"
    src.write_bytes(os.urandom(11 * 1024 * 1024))
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(src), BUCKET, "mp/big.las", Config=cfg)
    info = storage.head_object(BUCKET, "mp/big.las")
    assert info is not None and info.etag.endswith("-3")
    dst = tmp_path / "back.las"
    s3.download_file(BUCKET, "mp/big.las", str(dst), Config=cfg)  # ranged GETs in threads
    assert dst.read_bytes() == src.read_bytes()
    local = tmp_path / "via_storage.las"
    storage.download_file(BUCKET, "mp/big.las", local)
    assert local.read_bytes() == src.read_bytes()


def test_storage_upload_and_presigned_url_honours_range(storage, tmp_path):
    src = tmp_path / "result.tif"
    src.write_bytes(os.urandom(4000))
    etag = storage.upload_file(BUCKET, "out/map/result.tif", src)
    assert etag == hashlib.md5(src.read_bytes()).hexdigest()
    url = storage.presigned_get_url(BUCKET, "out/map/result.tif", expires=60)
    assert url.startswith(storage.endpoint_url)
    full = requests.get(url, timeout=10)
    assert full.status_code == 200 and full.content == src.read_bytes()
    part = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=10)
    assert part.status_code == 206 and part.content == src.read_bytes()[10:20]
    tampered = url.replace("result.tif", "result.tfw")
    assert requests.get(tampered, timeout=10).status_code == 403


def test_expired_credentials_get_expired_token(storage):
    creds = storage.issue_credentials(0.6)
    s3 = client(storage, creds)
    s3.put_object(Bucket=BUCKET, Key="exp/ok.txt", Body=b"ok")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "exp/ok.txt"})
    assert requests.get(url, timeout=10).status_code == 200
    time.sleep(0.8)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="exp/late.txt", Body=b"late")
    assert error_of(exc.value) == ("ExpiredToken", 400)
    # Like AWS: URLs presigned with temporary keys die with the keys.
    late = requests.get(url, timeout=10)
    assert late.status_code == 400 and b"<Code>ExpiredToken</Code>" in late.content
    assert storage.head_object(BUCKET, "exp/late.txt") is None


def test_unknown_key_wrong_secret_wrong_token_and_anonymous(storage):
    creds = storage.issue_credentials(600)
    unknown = IssuedCredentials(
        "ASIAUNKNOWNUNKNOWN00", creds.secret_access_key, creds.session_token, 0
    )
    with pytest.raises(ClientError) as exc:
        client(storage, unknown).list_objects_v2(Bucket=BUCKET)
    assert error_of(exc.value) == ("InvalidAccessKeyId", 403)
    wrong_secret = IssuedCredentials(creds.access_key_id, "x" * 40, creds.session_token, 0)
    with pytest.raises(ClientError) as exc:
        client(storage, wrong_secret).list_objects_v2(Bucket=BUCKET)
    assert error_of(exc.value) == ("SignatureDoesNotMatch", 403)
    wrong_token = IssuedCredentials(creds.access_key_id, creds.secret_access_key, "nope", 0)
    with pytest.raises(ClientError) as exc:
        client(storage, wrong_token).list_objects_v2(Bucket=BUCKET)
    assert error_of(exc.value) == ("InvalidToken", 400)
    anon = requests.get(f"{storage.endpoint_url}/{BUCKET}?list-type=2", timeout=10)
    assert anon.status_code == 403 and b"AccessDenied" in anon.content


def test_presigned_urls_sigv2_and_sigv4_and_their_expiry(storage):
    creds = storage.issue_credentials(600)
    s3v2 = client(storage, creds)  # boto3's default presigner for S3 is SigV2 (query auth)
    s3v4 = client(storage, creds, signature_version="s3v4")
    s3v4.put_object(Bucket=BUCKET, Key="pre/x.txt", Body=b"presigned")
    for s3 in (s3v2, s3v4):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "pre/x.txt"})
        assert requests.get(url, timeout=10).content == b"presigned"
        put_url = s3.generate_presigned_url(
            "put_object", Params={"Bucket": BUCKET, "Key": "pre/y.txt"}
        )
        # A generator body goes out with Transfer-Encoding: chunked.
        assert (
            requests.put(put_url, data=iter([b"chunk1", b"chunk2"]), timeout=10).status_code == 200
        )
        assert storage.head_object(BUCKET, "pre/y.txt").size == 12
    short = s3v4.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "pre/x.txt"}, ExpiresIn=1
    )
    time.sleep(1.3)
    gone = requests.get(short, timeout=10)
    assert gone.status_code == 403 and b"Request has expired" in gone.content


def test_persistence_across_restart(tmp_path):
    from boto3.s3.transfer import TransferConfig

    data_dir = tmp_path / "emu"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    with EmbeddedStorage(data_dir) as st:
        st.ensure_bucket("persist-bucket", "eu-west-1")
        creds = st.issue_credentials(600)
        s3 = client(st, creds)
        s3.put_object(Bucket="persist-bucket", Key="a", Body=b"file a", ContentType="text/plain")
        s3.put_object(
            Bucket="persist-bucket", Key="a/b", Body=b"file a/b"
        )  # "a" is a file and a folder
        # The endpoint refuses such a key (400, emulator/s3policy.py); the internal
        # client can still store one, and the disk mirror must not follow it.
        with pytest.raises(Exception, match="InvalidArgument"):
            s3.put_object(Bucket="persist-bucket", Key="../escape", Body=b"unsafe key")
        unsafe = tmp_path / "unsafe.txt"
        unsafe.write_bytes(b"unsafe key")
        st.upload_file("persist-bucket", "../escape", unsafe)
        s3.put_object(Bucket="persist-bucket", Key="gone", Body=b"deleted later")
        s3.delete_object(Bucket="persist-bucket", Key="gone")
        cfg = TransferConfig(
            multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024
        )
        s3.upload_file(str(big), "persist-bucket", "mp/big.bin", Config=cfg)
        before = {o.key: o for o in st.list_objects("persist-bucket")}
    assert not (data_dir.parent / "escape").exists()
    assert set(before) == {"a", "a/b", "../escape", "mp/big.bin"}
    with EmbeddedStorage(data_dir) as st2:
        after = {o.key: o for o in st2.list_objects("persist-bucket")}
        assert after == before  # same keys, sizes and ETags (multipart ETag included)
        s3 = client(st2, creds)  # issued keys survive too
        assert s3.get_object(Bucket="persist-bucket", Key="a/b")["Body"].read() == b"file a/b"
        head = s3.head_object(Bucket="persist-bucket", Key="a")
        assert head["ContentType"] == "text/plain"
        assert s3.get_bucket_location(Bucket="persist-bucket")["LocationConstraint"] == "eu-west-1"
        local = tmp_path / "big.back"
        st2.download_file("persist-bucket", "mp/big.bin", local)
        assert local.read_bytes() == big.read_bytes()


def test_two_storages_one_after_another_are_isolated(tmp_path):
    with EmbeddedStorage(tmp_path / "one") as one:
        one.ensure_bucket(BUCKET + "-iso", "us-east-1")
        one.upload_file(BUCKET + "-iso", "k", Path(__file__))
    with EmbeddedStorage(tmp_path / "two") as two:
        two.ensure_bucket(BUCKET + "-iso", "us-east-1")
        assert two.list_objects(BUCKET + "-iso") == []


def test_secrets_stay_out_of_reprs(storage):
    creds = storage.issue_credentials(60)
    text = repr(creds) + str(creds)
    assert creds.secret_access_key not in text and creds.session_token not in text
    assert creds.access_key_id in text
    assert oct((storage.root / "keys.json").stat().st_mode & 0o777) == "0o600"
    entry = storage.keyring.get(creds.access_key_id)
    assert entry is not None
    assert creds.secret_access_key not in repr(entry) and creds.session_token not in repr(entry)


def test_emulator_options_and_context_reprs_hide_secrets(tmp_path):
    from terranb.emulator.config import EmulatorOptions
    from terranb.emulator.context import EmulatorContext

    opts = EmulatorOptions(app_key="ak-visible", secret_key="sk-hidden", user_token="ut-hidden")
    ctx = EmulatorContext(options=opts, state=None, storage=None, user_token="ut-hidden",  # type: ignore[arg-type]
                          project_uuid="p", app_key="ak-visible", secret_key="sk-hidden")
    for text in (repr(opts), repr(ctx)):
        assert "ak-visible" in text
        assert "sk-hidden" not in text and "ut-hidden" not in text


def test_taken_port_fails_cleanly_and_a_retry_works(tmp_path):
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        taken = blocker.getsockname()[1]
        st = EmbeddedStorage(tmp_path, port=taken)
        with pytest.raises(OSError):
            st.start()
        assert not st.running
    finally:
        blocker.close()
    with EmbeddedStorage(tmp_path) as again:
        again.ensure_bucket("retry-bucket", "us-east-1")
        assert again.list_objects("retry-bucket") == []


def test_two_storages_running_side_by_side_keep_their_own_buckets(storage, tmp_path):
    """A second emulator in the same process gets its own vg-terra-be-dev."""
    storage.upload_file(BUCKET, "side/one.txt", Path(__file__))
    with EmbeddedStorage(tmp_path) as other:
        other.ensure_bucket(BUCKET, "us-east-1")
        assert other.list_objects(BUCKET, "side/") == []
        creds = other.issue_credentials(60)
        client(other, creds).put_object(Bucket=BUCKET, Key="side/two.txt", Body=b"two")
        assert [o.key for o in other.list_objects(BUCKET, "side/")] == ["side/two.txt"]
        assert [o.key for o in storage.list_objects(BUCKET, "side/")] == ["side/one.txt"]
    # The first one is unaffected after the second stopped.
    assert [o.key for o in storage.list_objects(BUCKET, "side/")] == ["side/one.txt"]
    s3 = client(storage, storage.issue_credentials(60))
    s3.put_object(Bucket=BUCKET, Key="side/three.txt", Body=b"3")
    assert storage.head_object(BUCKET, "side/three.txt") is not None


def test_virtual_hosted_style_on_localhost_and_cors_preflight(storage):
    """boto3 with an ``http://localhost:PORT`` endpoint addresses ``bucket.localhost``."""
    creds = storage.issue_credentials(60)
    client(storage, creds).put_object(Bucket=BUCKET, Key="vh/a.txt", Body=b"virtual")
    port = storage.endpoint_url.rsplit(":", 1)[1]
    for version in ("s3v4", "s3"):
        vh = boto3.client(
            "s3",
            endpoint_url=f"http://localhost:{port}",
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "virtual"}, signature_version=version),
        )
        url = vh.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "vh/a.txt"})
        host = f"{BUCKET}.localhost:{port}"
        assert url.startswith(f"http://{host}/vh/a.txt?")
        # *.localhost may not resolve here: connect to 127.0.0.1 and send the Host header.
        got = requests.get(
            url.replace(host, f"127.0.0.1:{port}"), headers={"Host": host}, timeout=10
        )
        assert got.status_code == 200 and got.content == b"virtual", version
    pre = requests.options(
        f"{storage.endpoint_url}/{BUCKET}/vh/a.txt",
        headers={"Origin": "http://localhost:8888", "Access-Control-Request-Method": "PUT"},
        timeout=10,
    )
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == "http://localhost:8888"
    assert "ETag" in pre.headers["Access-Control-Expose-Headers"]
