"""What emulated STS keys may do: a policy scoped to a bucket and a storePath prefix.

DJI's services hand out STS keys together with a bucket and a ``storePath``
(``<account>/tmp/<id>/{fileName}``); AWS STS keys of that kind carry a session
policy, so the keys cannot touch anything else in a shared bucket. The
emulator's keys carry a :class:`StsPolicy` and the S3 proxy enforces it after
authentication (:func:`authorize`):

* the request must name the policy's bucket (no ``ListBuckets``, no bucket
  creation or deletion, no bucket configuration, no other bucket: TerraAPI keys
  cannot write into the FlightHub 2 bucket and vice versa);
* object writes (PutObject, multipart create/part/complete/abort, DeleteObject,
  CopyObject's target) must lie under a *write prefix*: the policy's own prefix
  (the storePath before ``{fileName}``) and the prefixes of keys issued to the
  same principal (account or project) that the key ring still holds. That last
  part is the emulator's choice where DJI says nothing: terranb renews keys in
  the middle of an upload and keeps the first key's prefix (one resource, one
  callbackParam), so a principal's fresh keys may finish its own recent uploads,
  but never write elsewhere;
* object reads (GetObject, HeadObject, ListParts, CopyObject's source) must lie
  under a write prefix or a *read prefix* (FlightHub 2 keys may read their
  project's model results, ``<project>/open_model/``, which is how DJI's
  ``zip_file_key`` is fetched);
* listings (ListObjects v1/v2, ListMultipartUploads) need a ``prefix`` under
  one of those; a listing of the whole bucket is refused;
* DeleteObjects (the batch POST) is refused: its keys are in the body, which
  the proxy streams and does not parse first.

Violations answer 403 ``AccessDenied``. Keys that are not plain relative paths
(a ``.`` or ``..`` segment, a leading ``/``, a backslash, NUL) answer 400
``InvalidArgument`` for every caller, since such keys would escape the prefix
on any system that maps keys to paths. TerraAPI and Cloud API results are
downloaded through presigned URLs signed with the storage's internal key,
which has no policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from terranb.emulator.s3wire import S3Error, is_auth_param

__all__ = ["StsPolicy", "authorize", "check_key"]

_DENIED = "Access Denied"
# Bucket-level sub-resources that are listings (need a prefix) or harmless reads.
_LISTINGS = frozenset({"", "list-type", "uploads", "versions"})
_HARMLESS_BUCKET_READS = frozenset({"location"})


@dataclass(frozen=True)
class StsPolicy:
    """The scope of one issued key set.

    Attributes:
        bucket: the only bucket the keys may use.
        prefix: object-key prefix they may write, read and list (storePath up
            to ``{fileName}``, ending in ``/``).
        principal: account or project the keys were issued to (keys of the same
            principal share their write prefixes; ``""`` shares nothing).
        read_prefixes: further prefixes they may only read and list.
    """

    bucket: str
    prefix: str
    principal: str = ""
    read_prefixes: tuple[str, ...] = ()

    @classmethod
    def for_store_path(cls, bucket: str, store_path: str, principal: str = "",
                       read_prefixes: Iterable[str] = ()) -> StsPolicy:
        """The policy of a storePath such as ``acct/tmp/id/{fileName}``."""
        prefix = store_path.split("{fileName}", 1)[0]
        return cls(bucket, prefix, principal, tuple(read_prefixes))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (persisted with the keys)."""
        return {"bucket": self.bucket, "prefix": self.prefix, "principal": self.principal,
                "read_prefixes": list(self.read_prefixes)}

    @classmethod
    def from_json(cls, data: Any) -> StsPolicy | None:
        """Inverse of :meth:`to_json`; ``None`` for a missing or malformed policy."""
        if not isinstance(data, dict) or not isinstance(data.get("bucket"), str):
            return None
        return cls(str(data["bucket"]), str(data.get("prefix", "")),
                   str(data.get("principal", "")),
                   tuple(str(p) for p in data.get("read_prefixes") or ()))


def check_key(key: str) -> None:
    """Refuse keys that are not plain relative paths (400 ``InvalidArgument``)."""
    if not key:
        return
    segments = key.split("/")
    bad = (key.startswith("/") or "\\" in key or "\x00" in key
           or any(s in (".", "..") for s in segments))
    if bad:
        raise S3Error(400, "InvalidArgument",
                      "Object key must be a relative path without '.' or '..' segments, "
                      "a leading '/', backslashes or NUL characters")


def _under(key: str, prefixes: Iterable[str]) -> bool:
    return any(p and key.startswith(p) for p in prefixes)


def _copy_source(headers: dict[str, str]) -> tuple[str, str] | None:
    source = headers.get("x-amz-copy-source")
    if not source:
        return None
    path = unquote(source.split("?", 1)[0]).lstrip("/")
    bucket, _, key = path.partition("/")
    return bucket, key


def authorize(
    policy: StsPolicy | None,
    write_prefixes: Iterable[str],
    method: str,
    bucket: str,
    key: str,
    query_pairs: list[tuple[str, str]],
    headers: dict[str, str],
) -> None:
    """Raise :class:`S3Error` unless ``policy`` allows this request.

    Args:
        policy: the key's policy; ``None`` (the storage's internal key) allows all
            but malformed keys.
        write_prefixes: the policy's prefix plus those it shares (see module doc).
        method: HTTP method; bucket, key: path-style target (key URL-decoded).
        query_pairs: decoded query; headers: lower-case request headers.
    """
    check_key(key)
    copy = _copy_source(headers)
    if copy is not None:
        check_key(copy[1])
    if policy is None:
        return
    writes = [p for p in write_prefixes if p]
    reads = writes + [p for p in policy.read_prefixes if p]
    if not bucket or bucket != policy.bucket:
        raise S3Error(403, "AccessDenied", _DENIED)
    sub = {k for k, _ in query_pairs if not is_auth_param(k)} - {"x-id"}
    if not key:
        if method in ("GET", "HEAD") and sub <= _HARMLESS_BUCKET_READS and (
                method == "HEAD" or sub):
            return  # HeadBucket, GetBucketLocation
        if method == "GET" and sub - {"prefix", "delimiter", "max-keys", "marker",
                                      "continuation-token", "start-after", "encoding-type",
                                      "fetch-owner", "key-marker", "upload-id-marker",
                                      "max-uploads"} <= _LISTINGS:
            prefix = dict(query_pairs).get("prefix", "")
            if prefix and _under(prefix, reads):
                return
        raise S3Error(403, "AccessDenied", _DENIED)
    if method in ("GET", "HEAD"):
        allowed = _under(key, reads)
    else:
        allowed = _under(key, writes)
        if allowed and copy is not None:
            allowed = copy[0] == policy.bucket and _under(copy[1], reads)
    if not allowed:
        raise S3Error(403, "AccessDenied", _DENIED)
