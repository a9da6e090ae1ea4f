"""The emulator's object store: moto on loopback behind an authenticating proxy, persisted on disk.

:class:`EmbeddedStorage` starts two servers on the loopback interface:

* moto in server mode (``ThreadedMotoServer`` on a free port), the S3 API
  itself. Clients never talk to it directly;
* :class:`~terranb.emulator.s3proxy.S3Proxy` on another free port, the endpoint
  clients use (:attr:`EmbeddedStorage.endpoint_url`). It accepts only access
  keys issued by :meth:`EmbeddedStorage.issue_credentials` (until they expire)
  and the storage's internal key, and applies the network knobs of
  :class:`~terranb.emulator.netem.NetemConfig`.

Isolation: moto keeps its state in process-wide dictionaries. Each storage
instance uses its own moto account id (the proxy adds ``x-moto-account-id``)
and removes its buckets from moto when it stops, so instances started one
after another in one process do not see each other's objects. moto has one
global bucket namespace; when two instances run at the same time in one
process and both need a bucket name (the DJI default buckets),
:meth:`~EmbeddedStorage.ensure_bucket` creates the second one directly in its
own account, bypassing moto's global name check, and each serves its own.

Persistence (``data_dir/s3/``): moto is in-memory, so every completed write is
mirrored to disk before the client gets its answer:

* ``objects/<bucket>/<key>``: the object bytes (keys that are not safe as
  paths, or that collide with a folder, go to ``objects/<bucket>/.escaped/<sha256 of key>``);
* ``meta/<bucket>/<sha256 of key>.json``: key, ETag, size, content type, user metadata;
* ``buckets.json``: bucket -> region; ``keys.json``: the internal key and the
  issued STS keys with their expiry (emulator-made secrets, file mode 0600).

The proxy reports PutObject, CopyObject, CompleteMultipartUpload,
DeleteObject(s), CreateBucket and DeleteBucket; the storage then reads the
object back from moto and writes it atomically (``.part`` then ``os.replace``).
On :meth:`~EmbeddedStorage.start` the buckets and objects found there are
uploaded into moto again, and the original ETags are restored (multipart ETags
``<md5>-<n>`` included), so keys, sizes, ETags, issued STS keys and presigned
URLs survive a restart (URLs name the proxy's port: pass the old ``port`` to
keep them valid). In-progress multipart uploads do not. Start-up time grows
with the data kept, since every object is loaded into moto again.

Credentials: :meth:`~EmbeddedStorage.issue_credentials` makes STS-style keys
(``ASIA...`` access key, secret, session token) valid for ``ttl`` seconds. The
proxy rejects them afterwards with S3's ``ExpiredToken`` error, and rejects
unknown keys with ``InvalidAccessKeyId`` (details in :mod:`.s3auth`). Issued
keys carry an :class:`~.s3policy.StsPolicy` (bucket + storePath prefix) that
the proxy enforces (:mod:`.s3policy`). The storage itself (uploads of job
outputs, presigned download URLs) uses an internal key that never expires and
has no policy; moto's own port is not published.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import string
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from terranb.emulator.netem import NetemConfig
from terranb.emulator.s3policy import StsPolicy
from terranb.emulator.s3proxy import KeyRing, S3Proxy
from terranb.emulator.storage_mirror import MirrorMixin, atomic_write_bytes
from terranb.errors import require
from terranb.redact import register

__all__ = ["EmbeddedStorage", "IssuedCredentials", "ObjectInfo"]

log = logging.getLogger(__name__)

_ALNUM_UPPER = string.ascii_uppercase + string.digits
# Issued keys are kept on disk this long after expiry (so late requests still get ExpiredToken).
_KEEP_EXPIRED_S = 24 * 3600


@dataclass(frozen=True)
class IssuedCredentials:
    """STS-style credentials issued by the emulator.

    ``expire_time`` is in Unix seconds. ``repr`` masks the secrets.
    """

    access_key_id: str
    secret_access_key: str
    session_token: str
    expire_time: float
    policy: StsPolicy | None = None

    def __repr__(self) -> str:
        return (
            f"IssuedCredentials(access_key_id={self.access_key_id!r}, secret_access_key=***, "
            f"session_token=***, expire_time={self.expire_time!r}, policy={self.policy!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object; ``etag`` without quotes."""

    key: str
    size: int
    etag: str


def _random(n: int, alphabet: str = _ALNUM_UPPER) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


class _QuietMotoServer:
    """moto's ThreadedMotoServer with request logging off (URLs can carry tokens)."""

    def __init__(self, host: str) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import MotoRequestHandler

        class _Handler(MotoRequestHandler):  # type: ignore[misc, valid-type]
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

            def log(self, *args: Any, **kwargs: Any) -> None:
                pass

        class _Server(ThreadedMotoServer):  # type: ignore[misc, valid-type]
            def _server_entry(self) -> None:
                from moto.moto_server.werkzeug_app import (
                    DomainDispatcherApplication,
                    create_backend_app,
                )
                from werkzeug.serving import make_server

                class _S3Dispatcher(DomainDispatcherApplication):  # type: ignore[misc]
                    # moto's dispatcher finds the service of every request anew: it lists
                    # moto's package folder (a stat per service) and tries each service's
                    # URL patterns, under one lock, about 1-3 ms per request. Behind the
                    # proxy every request is S3, so it goes straight to the S3 app; moto's
                    # own API paths still take the general route.
                    _s3_app: Any = None

                    def get_application(self, environ: dict[str, Any]) -> Any:
                        path = environ.get("PATH_INFO", "")
                        if (isinstance(path, str) and path.startswith(
                                ("/moto-api", "/latest/", "/v20180820/"))):
                            return super().get_application(environ)
                        app = self._s3_app
                        if app is None:
                            with self.lock:
                                app = self.app_instances.get("s3")
                                if app is None:
                                    app = self.create_app("s3")
                                    self.app_instances["s3"] = app
                            self._s3_app = app
                        return app

                app = _S3Dispatcher(create_backend_app)
                self._server = make_server(
                    self._ip_address, self._port, app, True, request_handler=_Handler
                )
                self._server_ready_event.set()
                self._server.serve_forever()

        self.server = _Server(ip_address=host, port=0, verbose=False)

    def start(self) -> tuple[str, int]:
        self.server.start()
        host, port = self.server.get_host_and_port()
        return host, int(port)

    def stop(self) -> None:
        self.server.stop()


class EmbeddedStorage(MirrorMixin):
    """A real S3 endpoint on loopback with STS-style keys, knobs and on-disk persistence.

    Args:
        data_dir: folder for the mirrored objects and keys (created if needed).
        netem: network knobs applied to client traffic through the proxy.
        host: interface to listen on (keep the loopback default).
        verify_signatures: check SigV4 signatures, not only the access keys.
        port: proxy port (0 = any free port). Presigned URLs name the port, so
            reuse the port across restarts to keep old URLs working.
        body_timeout: seconds a request body (or any read/write within a request)
            may stall before the endpoint answers ``RequestTimeout``, as S3 does.

    Example:
        >>> storage = EmbeddedStorage(Path("/tmp/emu"))  # doctest: +SKIP
        >>> storage.start(); storage.ensure_bucket("vg-terra-be-dev", "us-east-1")  # doctest: +SKIP
        >>> creds = storage.issue_credentials(600)  # doctest: +SKIP
    """

    def __init__(
        self,
        data_dir: Path,
        netem: NetemConfig | None = None,
        host: str = "127.0.0.1",
        verify_signatures: bool = True,
        port: int = 0,
        body_timeout: float = 20.0,
    ) -> None:
        self.port = port
        self.body_timeout = body_timeout
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "s3"
        self.netem = netem or NetemConfig()
        self.host = host
        self.verify_signatures = verify_signatures
        self.keyring = KeyRing()
        self.account_id = "".join(secrets.choice(string.digits[1:]) for _ in range(12))
        self._moto: _QuietMotoServer | None = None
        self._proxy: S3Proxy | None = None
        self._upstream: tuple[str, int] | None = None
        self._client: Any = None
        self._root_key: tuple[str, str] | None = None
        self._buckets: dict[str, str] = {}
        self._signers: dict[str, Any] = {}
        self._lock = threading.RLock()

    # -- lifecycle --------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint clients use (the proxy), e.g. ``http://127.0.0.1:40123``."""
        if self._proxy is None:
            raise RuntimeError("storage is not started; call start() first")
        return self._proxy.endpoint_url

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._proxy is not None

    def start(self) -> None:
        """Start moto and the proxy, then restore buckets, objects and keys from ``data_dir``."""
        if self._proxy is not None:
            return
        require("moto", "emulator")
        require("boto3", "emulator")
        self.root.mkdir(parents=True, exist_ok=True)
        self._load_keys()
        self._moto = _QuietMotoServer(self.host)
        try:
            self._upstream = self._moto.start()
            self._client = self._make_internal_client()
            proxy = S3Proxy(
                self._upstream[0],
                self._upstream[1],
                self.keyring,
                netem=self.netem,
                host=self.host,
                port=self.port,
                on_change=self._on_change,
                verify_signatures=self.verify_signatures,
                extra_upstream_headers={"x-moto-account-id": self.account_id},
                body_timeout=self.body_timeout,
                mirror_copy=self.mirror_copy,
            )
            # `terranb emulator --no-range` (env so every start path sees it): a bucket that
            # ignores Range, for the no-download preview's warning and max_bytes cap.
            proxy.ignore_range = os.environ.get("TERRANB_EMULATOR_NO_RANGE") == "1"
            # Bind the proxy port first: if it is taken, fail before the (slow) re-seed.
            proxy.start()
            self._proxy = proxy
            self._reseed()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the proxy and moto; the data stays in ``data_dir``. Safe to call twice."""
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
            self._forget_moto_state()
        self._client = None
        self._signers = {}

    def __enter__(self) -> EmbeddedStorage:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _forget_moto_state(self) -> None:
        # Drop this instance's buckets from moto's process-wide backend so a later
        # instance can own buckets of the same name (see module docstring).
        try:
            from moto.s3.models import s3_backends

            backend = s3_backends[self.account_id]["global"]
            for name, bucket in list(backend.buckets.items()):
                for key in list(bucket.keys.values()):
                    with contextlib.suppress(Exception):
                        key.dispose()
                for part in list(bucket.multiparts.values()):
                    with contextlib.suppress(Exception):
                        part.dispose()
                # Another running storage may own the global entry of this name.
                if s3_backends.bucket_accounts.get(name, ("", ""))[1] == self.account_id:
                    s3_backends.bucket_accounts.pop(name, None)
                backend.buckets.pop(name, None)
        except Exception:  # moto internals changed: nothing worse than a leak
            log.debug("could not clear moto state", exc_info=True)

    def _make_internal_client(self) -> Any:
        boto3 = require("boto3", "emulator")
        from botocore.config import Config

        assert self._upstream is not None and self._root_key is not None
        client = boto3.client(
            "s3",
            endpoint_url=f"http://{self._upstream[0]}:{self._upstream[1]}",
            aws_access_key_id=self._root_key[0],
            aws_secret_access_key=self._root_key[1],
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                signature_version="s3v4",
            ),
        )
        account = self.account_id

        def _add_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        client.meta.events.register("before-send.s3", _add_account)
        return client

    # -- keys -------------------------------------------------------------------
    def _keys_file(self) -> Path:
        return self.root / "keys.json"

    def _load_keys(self) -> None:
        path = self._keys_file()
        data: dict[str, Any] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                log.warning("ignoring unreadable %s; issuing a new internal key", path)
        root = data.get("root") or {}
        if root.get("access_key_id") and root.get("secret_access_key"):
            self._root_key = (root["access_key_id"], root["secret_access_key"])
        else:
            self._root_key = (
                "AKIA" + _random(16),
                _random(40, string.ascii_letters + string.digits),
            )
        self.keyring.add(self._root_key[0], self._root_key[1], "", float("inf"))
        for item in data.get("issued", []):
            with contextlib.suppress(KeyError, TypeError, ValueError):
                self.keyring.add(
                    item["access_key_id"],
                    item["secret_access_key"],
                    item["session_token"],
                    float(item["expire_time"]),
                    StsPolicy.from_json(item.get("policy")),
                )
        self._save_keys()

    def _save_keys(self) -> None:
        assert self._root_key is not None
        now = time.time()
        self.keyring.prune(now, _KEEP_EXPIRED_S)
        issued = [
            {
                "access_key_id": k,
                "secret_access_key": e.secret_access_key,
                "session_token": e.session_token,
                "expire_time": e.expire_time,
                "policy": e.policy.to_json() if e.policy is not None else None,
            }
            for k, e in self.keyring.items()
            if k != self._root_key[0]
        ]
        doc = {
            "root": {"access_key_id": self._root_key[0], "secret_access_key": self._root_key[1]},
            "issued": issued,
        }
        atomic_write_bytes(self._keys_file(), json.dumps(doc).encode(), mode=0o600)

    def issue_credentials(self, ttl: float, policy: StsPolicy | None = None) -> IssuedCredentials:
        """New STS-style keys accepted by the endpoint for ``ttl`` seconds, within ``policy``.

        After expiry the endpoint answers ``ExpiredToken``. ``policy`` scopes the
        keys to a bucket and a storePath prefix (:mod:`.s3policy`); every route
        of the emulator passes one, ``None`` (unrestricted) is for tests of the
        storage alone.
        """
        if ttl <= 0:
            raise ValueError(f"ttl must be > 0 seconds, got {ttl}")
        creds = IssuedCredentials(
            access_key_id="ASIA" + _random(16),
            secret_access_key=_random(40, string.ascii_letters + string.digits + "+/"),
            session_token="FwoGZXIvYXdzE" + secrets.token_urlsafe(180),
            expire_time=time.time() + ttl,
            policy=policy,
        )
        register(creds.access_key_id, creds.secret_access_key, creds.session_token)
        with self._lock:
            self.keyring.add(creds.access_key_id, creds.secret_access_key, creds.session_token,
                             creds.expire_time, creds.policy)
            self._save_keys()
        return creds

    def register_credentials(self, creds: IssuedCredentials) -> None:
        """Accept keys issued earlier (e.g. restored from the emulator's own state)."""
        with self._lock:
            self.keyring.add(creds.access_key_id, creds.secret_access_key, creds.session_token,
                             creds.expire_time, creds.policy)
            self._save_keys()

    # -- buckets and objects ----------------------------------------------------------
    def _require_started(self) -> Any:
        if self._client is None:
            raise RuntimeError("storage is not started; call start() first")
        return self._client

    def ensure_bucket(self, bucket: str, region: str = "us-east-1") -> None:
        """Create ``bucket`` in ``region`` unless it exists."""
        client = self._require_started()
        with self._lock:
            if not self._owns_bucket(client, bucket):
                kwargs: dict[str, Any] = {"Bucket": bucket}
                if region and region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
                try:
                    client.create_bucket(**kwargs)
                except client.exceptions.BucketAlreadyExists:
                    self._create_shadowed_bucket(bucket, region)
            if self._buckets.get(bucket) != region:
                self._buckets[bucket] = region
                self._save_buckets()

    def _owns_bucket(self, client: Any, bucket: str) -> bool:
        # moto answers HEAD for a bucket of another account (another storage in this
        # process) too, so look at this account's own table when possible.
        try:
            from moto.s3.models import s3_backends

            return bucket in s3_backends[self.account_id]["global"].buckets
        except Exception:
            try:
                client.head_bucket(Bucket=bucket)
                return True
            except client.exceptions.ClientError:
                return False

    def _create_shadowed_bucket(self, bucket: str, region: str) -> None:
        """Create a bucket whose name another storage in this process already owns.

        moto keeps one global bucket namespace per process (as S3 has one per
        partition); two emulators running side by side in one process (tests,
        notebooks) both need the DJI bucket names, so the name check is bypassed
        for this account. Each account then serves its own bucket.
        """
        try:
            from moto.s3.models import s3_backends

            owner = s3_backends.bucket_accounts.pop(bucket, None)
            try:
                s3_backends[self.account_id]["global"].create_bucket(bucket, region or "us-east-1")
            finally:
                if owner is not None:
                    s3_backends.bucket_accounts[bucket] = owner
        except Exception as exc:
            raise RuntimeError(
                f"bucket {bucket!r} is owned by another emulator storage running in this "
                "process and could not be shadowed; stop the other one first"
            ) from exc

    def head_object(self, bucket: str, key: str) -> ObjectInfo | None:
        """Size and ETag of an object, or ``None`` when it does not exist."""
        client = self._require_started()
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except client.exceptions.ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise
        return ObjectInfo(key, int(head["ContentLength"]), head["ETag"].strip('"'))

    def download_file(self, bucket: str, key: str, path: Path) -> None:
        """Copy an object to ``path`` (atomically)."""
        client = self._require_started()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.part")
        try:
            client.download_file(bucket, key, str(tmp))
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def upload_file(self, bucket: str, key: str, path: Path) -> str:
        """Store a local file as ``bucket/key``; returns its ETag (unquoted)."""
        client = self._require_started()
        client.upload_file(str(path), bucket, key)
        self._mirror(bucket, key, source=Path(path))
        info = self.head_object(bucket, key)
        if info is None:
            raise RuntimeError(f"upload of s3://{bucket}/{key} did not store the object")
        return info.etag

    def delete_object(self, bucket: str, key: str) -> None:
        """Remove an object (no error when it does not exist)."""
        client = self._require_started()
        client.delete_object(Bucket=bucket, Key=key)
        self._unmirror(bucket, key)

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """All objects under ``prefix`` (ListObjectsV2, every page)."""
        client = self._require_started()
        out: list[ObjectInfo] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                out.append(ObjectInfo(item["Key"], int(item["Size"]), item["ETag"].strip('"')))
        return out

    def presigned_get_url(self, bucket: str, key: str, expires: int = 3600) -> str:
        """A presigned GET URL through the proxy endpoint (honours ``Range``).

        Signed with the storage's internal key, which never expires, so the URL
        works for ``expires`` seconds (at most 7 days, as on S3).
        """
        signer = self._signer(self._buckets.get(bucket, "us-east-1"))
        return str(
            signer.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=int(expires)
            )
        )

    def _signer(self, region: str) -> Any:
        # One client per region: building a boto3 client costs tens of milliseconds,
        # and file listings ask for a URL per file.
        with self._lock:
            signer = self._signers.get(region)
            if signer is None:
                boto3 = require("boto3", "emulator")
                from botocore.config import Config

                assert self._root_key is not None
                signer = boto3.client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    aws_access_key_id=self._root_key[0],
                    aws_secret_access_key=self._root_key[1],
                    region_name=region,
                    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
                )
                self._signers[region] = signer
            return signer
