"""FlightHub 2 OpenAPI "open modeling" client (protocol.md §3).

Nine endpoints under ``/openapi/v0.1`` or ``/openapi/v2.0``. Every request carries
``X-User-Token`` (the organization key), ``X-Project-Uuid``, a fresh
``X-Request-Id`` (uuid4; reused by the retries of the same call so the service's
logs tie them together) and ``X-Language``. The envelope is
``{"code", "message", "data"}``; an HTTP 200 with ``code != 0`` is an error too.

Example:
    >>> fh = FlightHubClient(user_token="...", project_uuid="...", region="eu")  # doctest: +SKIP
    >>> creds = fh.obtain_token()                                               # doctest: +SKIP
    >>> refs = fh.start_reconstruction(res_uuid, parameter_3d=Params3D(...))    # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import uuid as _uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # PEP 692 **kwargs typing; typing.Unpack is 3.11+
    from typing_extensions import Unpack

import requests

from terranb.api.flighthub_projects import FlightTasksApi, MapModelsApi, ProjectsApi, SystemApi
from terranb.api.json_fields import answer_json, envelope_code, parameters_string
from terranb.api.models_flighthub import FlightHubResource, Model, ModelRef, UploadCallbackResult
from terranb.api.session import ApiSession, Transport, settings_without_secrets
from terranb.closing import Closable
from terranb.config import FLIGHTHUB_HOSTS, Settings
from terranb.credentials import StorageCredentials
from terranb.errors import (
    ApiError,
    AuthenticationError,
    ServerError,
    UnsupportedRouteError,
    ValidationError,
    error_for_status,
)
from terranb.redact import Secret

__all__ = [
    "API_VERSIONS",
    "FLIGHTHUB_HOSTS",
    "MAX_CALLBACK_FILES",
    "FlightHubClient",
    "batch_uuid",
    "decode_flighthub_response",
]

API_VERSIONS = ("v0.1", "v2.0")
# flighthub2-cli (verified against a live organization): at most 100 files per
# upload_callback; more go in further calls with the same resource_uuid.
MAX_CALLBACK_FILES = 100
UPLOAD_CALLBACK_BATCH = MAX_CALLBACK_FILES
# The terranb emulator's code for a route it does not serve (HTTP 404); see
# docs/flighthub2-notes.md.
NO_ROUTE_CODE = 200501

# Hints for the statuses (and business-code tails) FlightHub 2 is known to answer;
# the error class comes from errors.error_for_status.
_HINTS: dict[int, str] = {
    400: "the service rejected a parameter; check the values sent",
    401: ("the X-User-Token was rejected: check the organization key (FlightHub 2 > "
          "Organization Settings > FlightHub Sync / OpenAPI), that it was not revoked, and "
          "that the region matches: a key works only on its own region's gateway (an EU "
          "key gets 401 from es-flight-api-us); set TERRANB_FH2_REGION"),
    403: "the organization key may not access this project: check X-Project-Uuid",
    404: "not found: check the uuid and the project",
    409: "not allowed in the object's current state",
    429: ("too many requests or concurrent reconstructions (2/5/10 by edition): wait for one "
          "to finish or stop one"),
}


def _uuid4() -> str:
    return str(_uuid.uuid4())


def batch_uuid(store_path: str) -> str:
    """The batch id in an open-modeling ``store_path``: the ``resource_uuid`` to bind to.

    ``fh/organizations/<org>/open_reconstruction/tmp/<batch-uuid>/{fileName}`` ->
    ``<batch-uuid>``: the path segment before ``{fileName}`` (flighthub2-cli, verified
    live: the API returns the id nowhere else).

    Raises:
        ValidationError: the path has no such segment.

    Example:
        >>> batch_uuid("fh/organizations/o/open_reconstruction/tmp/b-1/{fileName}")
        'b-1'
    """
    prefix = store_path.partition("{fileName}")[0].rstrip("/")
    batch = prefix.rsplit("/", 1)[-1] if prefix else ""
    if not batch:
        raise ValidationError(
            f"obtain_token's store_path {store_path!r} has no batch id before {{fileName}}; "
            "the resource uuid cannot be derived from it")
    return batch


def decode_flighthub_response(resp: requests.Response, request_id: str | None = None,
                              route: str = "") -> Any:
    """Return ``data`` of a successful answer, else raise a typed error.

    HTTP status decides first (401, 403, 404, 429, 5xx ...). An HTTP 200 with a
    non-zero ``code`` is an error too; FlightHub 2's error-code table is not
    public, so the type comes from the code's last three digits when they are an
    HTTP status (``200404`` -> :class:`NotFoundError`, as in the published
    contract's examples), else it is a plain :class:`ApiError` carrying the code.
    """
    status = resp.status_code
    body = answer_json(resp)
    code: int | None = None
    message = ""
    if isinstance(body, Mapping):
        code = envelope_code(body.get("code"))
        message = str(body.get("message") or body.get("msg") or "")
    ok_status = 200 <= status < 300
    if status in (404, 405) and code in (None, 0, NO_ROUTE_CODE):
        # No business code: the server has no such route (flighthub2-cli: unknown routes
        # are HTTP 404), which is not "the object does not exist".
        where = route or "this route"
        raise UnsupportedRouteError(
            f"the server does not offer {where} (HTTP {status} on that route"
            + (f": {message}" if message else "") + ")",
            status_code=status, code=code or None, request_id=request_id, route=route,
            hint="this FlightHub 2 server (or API version) lacks the endpoint; check "
                 "TERRANB_FH2_API_VERSION (v0.1 or v2.0) and the base URL",
            body=body if body is not None else resp.text[:200] or None)
    if ok_status and isinstance(body, Mapping) and code == 0:
        return body.get("data")
    if ok_status and not resp.content:
        return None
    if ok_status and not isinstance(body, Mapping):
        raise ServerError("FlightHub 2 answered with a body that is not a JSON envelope",
                          status_code=status, request_id=request_id,
                          hint="check the base URL points at the FlightHub 2 OpenAPI host",
                          body=resp.text[:200])
    if status in _HINTS:
        cls, hint = error_for_status(status), _HINTS[status]
    elif status >= 500:
        cls, hint = ServerError, "the service failed; retry later"
    elif not ok_status:
        cls, hint = ApiError, ""
    else:
        cls, hint = ApiError, ("FlightHub 2 returned an error code with HTTP 200; see the "
                               "'Model Reconstruction Error Code' page of the FlightHub 2 docs")
        # [infer] Business codes seen in the published contract's fixtures end in an
        # HTTP status (200401, 200404, 210429 ...); use it to pick the type.
        tail = code % 1000 if code and code >= 100000 else code
        if tail in _HINTS:
            cls, hint = error_for_status(tail), _HINTS[tail]
        elif tail and 500 <= tail < 600:
            cls, hint = ServerError, "the service failed; retry later"
        elif "token" in message.lower() and "invalid" in message.lower():
            cls, hint = AuthenticationError, _HINTS[401]
    text = message or (f"FlightHub 2 error code {code}" if code else f"HTTP {status}")
    raise cls(text, status_code=status, code=code if code else None, request_id=request_id,
              hint=hint or None, body=body if body is not None else resp.text[:200] or None)


class FlightHubClient(Closable):
    """FlightHub 2 open-modeling client.

    Args:
        user_token: the organization key (``X-User-Token``), else from settings.
        project_uuid: ``X-Project-Uuid``, else from settings.
        base_url: origin override (e.g. the emulator); default by ``region``.
        region: ``"us"``, ``"cn"`` or ``"eu"`` (es-flight-api-<region>.djigate.com).
        api_version: ``"v0.1"`` or ``"v2.0"`` path prefix.
        language: ``X-Language`` (``"en"`` or ``"zh"``).
        settings: resolved settings; kwargs given here win.
        timeout, retry, http, sleep, clock, rand, request_id: transport knobs;
            ``request_id`` makes the X-Request-Id generator injectable for tests.
    """

    def __init__(
        self,
        user_token: str | None = None,
        project_uuid: str | None = None,
        *,
        base_url: str | None = None,
        region: str | None = None,
        api_version: str | None = None,
        language: str | None = None,
        settings: Settings | None = None,
        request_id: Callable[[], str] = _uuid4,
        **transport: Unpack[Transport],
    ) -> None:
        settings = Settings.for_client(
            settings, fh2_user_token=user_token, fh2_project_uuid=project_uuid,
            fh2_base_url=base_url, fh2_region=region, fh2_api_version=api_version,
            language=language)
        self.settings = settings_without_secrets(settings)  # the secrets live in Secrets
        token, self.project_uuid = settings.require_flighthub()
        self._token = Secret(token)  # the organisation key; revealed only into the header
        self.api_version = settings.fh2_api_version
        self.language = settings.language
        if self.language not in ("en", "zh"):
            # X-Language takes en or zh only (FH2-AUTH, flighthub2-cli).
            raise ValidationError(f"language {self.language!r} is not supported by FlightHub 2; "
                                  "use 'en' or 'zh' (TERRANB_LANGUAGE)")
        self.base_url = settings.flighthub_base_url
        self.prefix = f"/openapi/{self.api_version}"
        self._request_id = request_id
        self.session = ApiSession(self.base_url, **transport)
        # FlightHub 2 beyond open modeling: one attribute per area (flighthub_projects.py).
        self.system = SystemApi(self)
        self.projects = ProjectsApi(self)
        self.flight_tasks = FlightTasksApi(self)
        self.map_models = MapModelsApi(self)

    def __repr__(self) -> str:
        return (f"FlightHubClient(base_url={self.base_url!r}, api_version={self.api_version!r}, "
                f"project_uuid={self.project_uuid!r}, user_token='***')")

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def call(self, method: str, path: str, *, json_body: Any = None,
             idempotent: bool | None = None, prefix: str | None = None) -> Any:
        """Send one request to ``/openapi/<version>{path}``; return decoded ``data``.

        ``prefix`` replaces ``/openapi/<version>`` (the routes beyond open modeling
        exist under ``/openapi/v0.1`` only).
        """
        request_id = self._request_id()
        headers = {"X-User-Token": self._token.reveal(), "X-Project-Uuid": self.project_uuid,
                   "X-Request-Id": request_id, "X-Language": self.language}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        resp = self.session.request(method, (self.prefix if prefix is None else prefix) + path,
                                    body=body, headers=headers,
                                    idempotent=idempotent)
        return decode_flighthub_response(resp, request_id, f"{method.upper()} {self.prefix}{path}")

    # ----------------------------------------------------------------- storage

    def obtain_token(self) -> StorageCredentials:
        """``POST /open_model/stores/obtain_token`` -> STS credentials (with ``end_point``)."""
        data = self.call("POST", "/open_model/stores/obtain_token", idempotent=True)
        if not isinstance(data, Mapping):
            raise ServerError("obtain_token answered without credentials")
        return StorageCredentials.from_flighthub(dict(data))

    def upload_callback(
        self,
        resource_uuid: str,
        callback_param: str | StorageCredentials,
        files: Iterable[Any],
        resource_name: str | None = None,
        *,
        batch_size: int = UPLOAD_CALLBACK_BATCH,
    ) -> UploadCallbackResult:
        """``POST /open_model/stores/upload_callback``: register uploaded files.

        ``resource_uuid`` is the batch id of the token's ``store_path``
        (:func:`batch_uuid`; pass the token itself as ``callback_param`` and ``""`` to
        have it derived); the first call creates the resource. Files are
        ``{"name", "etag"}`` dicts or objects (quotes stripped from ETags), sent in
        batches of ``batch_size``, at most :data:`MAX_CALLBACK_FILES`.
        """
        if isinstance(callback_param, StorageCredentials):
            resource_uuid = resource_uuid or batch_uuid(callback_param.store_path)
            callback_param = callback_param.callback_param
        if not resource_uuid:
            raise ValidationError("upload_callback needs the resource_uuid: the batch id "
                                  "in obtain_token's store_path (batch_uuid(store_path))")
        batch_size = max(1, min(batch_size, MAX_CALLBACK_FILES))
        entries = []
        for f in files:
            name = f.get("name") if isinstance(f, Mapping) else getattr(f, "name", None)
            etag = f.get("etag") if isinstance(f, Mapping) else getattr(f, "etag", None)
            if not name or not etag:
                raise ValidationError("every uploaded file needs 'name' and 'etag'")
            entries.append({"name": str(name).replace("\\", "/"), "etag": str(etag).strip('"')})
        parts = []
        for i in range(0, len(entries), batch_size):
            payload: dict[str, Any] = {"resource_uuid": resource_uuid}
            if resource_name is not None:
                payload["resource_name"] = resource_name
            payload["callback_param"] = callback_param
            payload["files"] = entries[i:i + batch_size]
            data = self.call("POST", "/open_model/stores/upload_callback", json_body=payload,
                             idempotent=False)
            parts.append(UploadCallbackResult.from_api(data if isinstance(data, Mapping) else
                                                       {"resource_uuid": resource_uuid}))
        return UploadCallbackResult.merge(parts)

    # ----------------------------------------------------------------- resources

    def get_resource(self, resource_uuid: str) -> FlightHubResource:
        """``GET /open_model/resource/{uuid}``."""
        data = self.call("GET", f"/open_model/resource/{resource_uuid}")
        return FlightHubResource.from_api(data)

    def delete_resource(self, resource_uuid: str) -> None:
        """``DELETE /open_model/resource/{uuid}``."""
        self.call("DELETE", f"/open_model/resource/{resource_uuid}")

    # ----------------------------------------------------------------- models

    def start_reconstruction(
        self,
        resource_uuid: str,
        parameter_2d: Any = "",
        parameter_3d: Any = "",
        parameter_3dgs: Any = "",
        parameter_lidar: Any = "",
        delete_resource_if_finish: bool = False,
    ) -> dict[str, ModelRef]:
        """``POST /open_model/models/reconstruction/start``.

        Each ``parameter_*`` is a :mod:`terranb.params` object, a dict or a JSON
        string (``""`` = do not build that type); at least one is required.

        Returns:
            ``{"model_3d": ModelRef(...), ...}``, one entry per requested type.
        """
        given = {"parameter_2d": parameter_2d, "parameter_3d": parameter_3d,
                 "parameter_3dgs": parameter_3dgs, "parameter_lidar": parameter_lidar}
        payload: dict[str, Any] = {"resource_uuid": resource_uuid}
        payload.update({k: parameters_string(v, k, check_json=True) for k, v in given.items()})
        payload["delete_resource_if_finish"] = bool(delete_resource_if_finish)
        if not any(payload[k] for k in given):
            raise ValidationError("start_reconstruction needs at least one of parameter_2d, "
                                  "parameter_3d, parameter_3dgs, parameter_lidar")
        data = self.call("POST", "/open_model/models/reconstruction/start", json_body=payload,
                         idempotent=False)
        if not isinstance(data, Mapping):
            return {}
        return {k: ModelRef.from_api(v) for k, v in data.items() if isinstance(v, Mapping)}

    def get_model(self, model_uuid: str) -> Model:
        """``GET /open_model/models/{uuid}``."""
        data = self.call("GET", f"/open_model/models/{model_uuid}")
        model = Model.from_api(data)
        if not model.model_uuid:
            model = dataclasses.replace(model, model_uuid=model_uuid)
        return model

    def stop_model(self, model_uuid: str) -> None:
        """``POST /open_model/models/{uuid}/reconstruction/stop``."""
        self.call("POST", f"/open_model/models/{model_uuid}/reconstruction/stop",
                  idempotent=True)

    def delete_model(self, model_uuid: str) -> None:
        """``DELETE /open_model/models/{uuid}``."""
        self.call("DELETE", f"/open_model/models/{model_uuid}")

    def running_models(self) -> list[Model]:
        """``GET /open_model/models/running`` -> models being reconstructed (``data.list``)."""
        data = self.call("GET", "/open_model/models/running")
        items = data.get("list") if isinstance(data, Mapping) else data
        return [Model.from_api(m) for m in (items or []) if isinstance(m, Mapping)]
