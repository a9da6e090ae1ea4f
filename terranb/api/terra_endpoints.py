"""TerraAPI v2 endpoint groups of :class:`~terranb.api.terra.TerraClient`.

``client.store`` (STS upload credentials, binding), ``client.resources``, ``client.files``
and ``client.jobs`` each wrap the routes of one part of the API and return models. They
call back into the client (``call``, ``page``) for signing, retries and envelopes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from terranb.api.json_fields import parameters_string
from terranb.api.models import File, Job, JobType, Resource, ResourceDetail
from terranb.credentials import StorageCredentials
from terranb.errors import ServerError, ValidationError

if TYPE_CHECKING:  # annotations only: the client imports this module
    from terranb.api.terra import TerraClient

__all__ = ["DEFAULT_PAGE_SIZE", "UPLOAD_CALLBACK_BATCH", "FilesAPI", "JobsAPI", "ResourcesAPI",
           "StoreAPI"]

UPLOAD_CALLBACK_BATCH = 50  # what every published example uses
DEFAULT_PAGE_SIZE = 100


def _job_type(value: Any) -> int:
    from terranb.params import job_type_code

    return job_type_code(value)


class _Endpoint:
    def __init__(self, client: TerraClient) -> None:
        self._c = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._c.base_url!r})"


def _file_entry(item: Any) -> dict[str, Any]:
    """Normalise one uploaded-file record to ``{name, etag, checksum[, meta, position]}``."""
    if isinstance(item, Mapping):
        src = dict(item)
    else:
        src = {k: getattr(item, k) for k in ("name", "etag", "checksum", "meta", "position")
               if getattr(item, k, None) is not None}
    name = src.get("name")
    etag = src.get("etag")
    if not name or not etag:
        raise ValidationError(
            f"every uploaded file needs 'name' (its relative path) and 'etag'; got {src!r}")
    etag = str(etag).strip('"')
    entry: dict[str, Any] = {"name": str(name).replace("\\", "/"), "etag": etag,
                             "checksum": str(src.get("checksum") or etag).strip('"')}
    if src.get("meta") is not None:
        entry["meta"] = src["meta"]
    if src.get("position") is not None:
        entry["position"] = src["position"]
    return entry


class StoreAPI(_Endpoint):
    """``/v2/store``: upload credentials and binding uploaded files to a resource."""

    def obtain_token(self) -> StorageCredentials:
        """``POST /v2/store/obtain_token`` (empty body) -> STS credentials.

        The endpoint is filled from ``s3_endpoint_url`` (TerraAPI tokens carry none).
        """
        data = self._c.call("POST", "/v2/store/obtain_token", idempotent=True)
        if not isinstance(data, Mapping):
            raise ServerError("obtain_token answered without credentials",
                              hint="retry; if it persists the service is misbehaving")
        return StorageCredentials.from_terra(dict(data)).with_endpoint(self._c.s3_endpoint_url)

    def upload_callback(
        self,
        resource_uuid: str,
        callback_param: str | StorageCredentials,
        files: Iterable[Any],
        *,
        batch_size: int = UPLOAD_CALLBACK_BATCH,
    ) -> list[File]:
        """``POST /v2/store/upload_callback``: link uploaded objects to a resource.

        Sent in batches of ``batch_size`` (50 as in DJI's examples). Quotes around
        ETags are stripped; ``checksum`` defaults to the ETag (as the quick start).

        Args:
            resource_uuid: the resource to link to (sent as ``resourceUUID``).
            callback_param: ``callbackParam`` from the token, or the token itself.
            files: dicts or objects with ``name`` (relative path), ``etag`` and
                optionally ``checksum``, ``meta``, ``position``.

        Returns:
            The linked File objects, in order.
        """
        if isinstance(callback_param, StorageCredentials):
            callback_param = callback_param.callback_param
        entries = [_file_entry(f) for f in files]
        out: list[File] = []
        for i in range(0, len(entries), max(1, batch_size)):
            payload = {"resourceUUID": resource_uuid, "callbackParam": callback_param,
                       "files": entries[i:i + batch_size]}
            data = self._c.call("POST", "/v2/store/upload_callback", json_body=payload,
                                idempotent=False)
            if isinstance(data, list):
                out.extend(File.from_api(d) for d in data if isinstance(d, Mapping))
        return out


class ResourcesAPI(_Endpoint):
    """``/v2/resources``."""

    def create(self, name: str, type: str = "map", meta: str | None = None,
               files: Sequence[str] | None = None) -> Resource:
        """``POST /v2/resources`` -> the new Resource (``Return-Detail: true``)."""
        payload: dict[str, Any] = {"name": name, "type": type}
        if meta is not None:
            payload["meta"] = meta
        if files:
            payload["files"] = list(files)
        data = self._c.call("POST", "/v2/resources", json_body=payload,
                            headers={"Return-Detail": "true"}, idempotent=False)
        return Resource.from_api(data)

    def list(self, *, search: str | None = None, uuids: Sequence[str] | None = None,
             type: str | None = None, page_size: int = DEFAULT_PAGE_SIZE,
             limit: int | None = None) -> Iterator[Resource]:
        """``GET /v2/resources`` over all pages (``type``: ``map`` | ``job_output``)."""
        params = {"search": search, "uuids": list(uuids) if uuids else None, "type": type}
        return self._c._pages("/v2/resources", params, page_size, limit, Resource.from_api)

    def get(self, uuid: str) -> ResourceDetail:
        """``GET /v2/resources/{uuid}`` -> summary plus file and job uuids."""
        data = self._c.call("GET", f"/v2/resources/{uuid}")
        return ResourceDetail.from_api(data)

    def delete(self, uuid: str, delete_mode: int = 0) -> None:
        """``DELETE /v2/resources/{uuid}?deleteMode=N``.

        ``delete_mode`` 0 keeps the files, 1 also deletes files no other resource uses.
        """
        if delete_mode not in (0, 1):
            raise ValidationError("delete_mode must be 0 (keep files) or 1 (delete files)")
        self._c.call("DELETE", f"/v2/resources/{uuid}", params={"deleteMode": delete_mode})


class FilesAPI(_Endpoint):
    """``/v2/files``."""

    def list(self, resource_uuid: str | None = None, need_url: bool = False, *,
             search: str | None = None, name: str | None = None,
             uuids: Sequence[str] | None = None, order_asc: bool | None = None,
             page_size: int = DEFAULT_PAGE_SIZE, limit: int | None = None) -> Iterator[File]:
        """``GET /v2/files`` over all pages; ``need_url`` adds presigned download URLs."""
        params = {"search": search, "needURL": True if need_url else None, "name": name,
                  "uuids": list(uuids) if uuids else None, "resourceUuid": resource_uuid,
                  "orderAsc": order_asc}
        return self._c._pages("/v2/files", params, page_size, limit, File.from_api)

    def get(self, uuid: str) -> File:
        """``GET /v2/files/{uuid}`` -> File with its download ``url`` (``\\u0026`` decoded)."""
        data = self._c.call("GET", f"/v2/files/{uuid}")
        return File.from_api(data)

    def delete(self, uuid: str) -> None:
        """``DELETE /v2/files/{uuid}``."""
        self._c.call("DELETE", f"/v2/files/{uuid}")


class JobsAPI(_Endpoint):
    """``/v2/jobs``."""

    def create(self, name: str, meta: str | None = None) -> Job:
        """``POST /v2/jobs`` -> the new Job (status 0, ``Return-Detail: true``)."""
        payload: dict[str, Any] = {"name": name}
        if meta is not None:
            payload["meta"] = meta
        data = self._c.call("POST", "/v2/jobs", json_body=payload,
                            headers={"Return-Detail": "true"}, idempotent=False)
        return Job.from_api(data)

    def list(self, *, search: str | None = None, uuids: Sequence[str] | None = None,
             type: int | str | JobType | None = None, status: int | None = None,
             origin_resource_uuid: str | None = None, output_resource_uuid: str | None = None,
             page_size: int = DEFAULT_PAGE_SIZE, limit: int | None = None) -> Iterator[Job]:
        """``GET /v2/jobs`` over all pages, with the documented filters."""
        params = {"search": search, "uuids": list(uuids) if uuids else None,
                  "type": None if type is None else _job_type(type),
                  "status": None if status is None else int(status),
                  "originResourceUuid": origin_resource_uuid,
                  "outputResourceUuid": output_resource_uuid}
        return self._c._pages("/v2/jobs", params, page_size, limit, Job.from_api)

    def get(self, uuid: str) -> Job:
        """``GET /v2/jobs/{uuid}`` -> Job."""
        data = self._c.call("GET", f"/v2/jobs/{uuid}")
        return Job.from_api(data)

    def start(self, uuid: str, type: int | str | JobType, resource_uuid: str,
              parameters: Any, *, output_resource_uuid: str | None = None) -> Job:
        """``POST /v2/jobs/{uuid}/start`` with ``{type, resourceUuid, parameters}``.

        Args:
            uuid: the job.
            type: 14/15/13, a :class:`JobType`, or ``"2d"``/``"3d"``/``"lidar"``.
            resource_uuid: the input resource (sent as ``resourceUuid``).
            parameters: a :mod:`terranb.params` object, a dict, or the JSON string;
                always sent as a string, as the API requires.
            output_resource_uuid: optional ``outputResourceUuid``.

        Returns:
            The Job from the answer, or a fresh ``get`` when the answer had no job.
            Not retried on ambiguous failures (a second start is refused with 102003).
        """
        payload: dict[str, Any] = {"type": _job_type(type), "resourceUuid": resource_uuid,
                                   "parameters": parameters_string(parameters)}
        if output_resource_uuid:
            payload["outputResourceUuid"] = output_resource_uuid
        data = self._c.call("POST", f"/v2/jobs/{uuid}/start", json_body=payload,
                            idempotent=False)
        if isinstance(data, Mapping) and data.get("uuid"):
            return Job.from_api(data)
        return self.get(uuid)

    def stop(self, uuid: str) -> None:
        """``POST /v2/jobs/{uuid}/stop`` (allowed while 0 < status < 4)."""
        self._c.call("POST", f"/v2/jobs/{uuid}/stop", idempotent=True)

    def delete(self, uuid: str) -> None:
        """``DELETE /v2/jobs/{uuid}``."""
        self._c.call("DELETE", f"/v2/jobs/{uuid}")
