"""DJI Cloud API demo client (protocol.md §4, seed 003): login, media, STS.

The server is DJI's open-source Cloud API demo (or terranb's emulator of it).
Authentication is a JWT from ``POST /manage/api/v1/login`` sent as
``x-auth-token``; a 401 (the demo answers it with an empty body) triggers one
automatic ``token/refresh`` (or a fresh login when a password is known) and a
single replay of the call. Business errors arrive as HTTP 200 with
``{"code": non-zero, "message": ...}``.

Example:
    >>> api = CloudApiClient("http://127.0.0.1:6789", username="adminPC",
    ...                      password="adminPC")                       # doctest: +SKIP
    >>> user = api.login()                                             # doctest: +SKIP
    >>> for media in api.list_media(): print(media.file_name)          # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # PEP 692 **kwargs typing; typing.Unpack is 3.11+
    from typing_extensions import Unpack

import requests

from terranb.api.json_fields import answer_json, envelope_code
from terranb.api.models_cloudapi import CloudUser, MediaFile
from terranb.api.session import ApiSession, Transport, settings_without_secrets
from terranb.closing import Closable
from terranb.config import Settings
from terranb.credentials import StorageCredentials
from terranb.errors import (
    ApiError,
    AuthenticationError,
    ConfigError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    ValidationError,
)
from terranb.redact import Secret, register, reveal

__all__ = ["CloudApiClient", "decode_cloudapi_response"]

LOGIN_PATH = "/manage/api/v1/login"
REFRESH_PATH = "/manage/api/v1/token/refresh"

_EXT_ORDER = ("drone_model_key", "file_group_id", "is_original", "payload_model_key",
              "tinny_fingerprint", "sn")
_META_ORDER = ("absolute_altitude", "created_time", "gimbal_yaw_degree", "shoot_position",
               "relative_altitude")
_SUB_FILE_TYPES = {"NORMAL": 0, "PANORAMA": 1}

_HINT_401 = ("log in again (CloudApiClient.login) with a valid username/password; the token "
             "may have expired or been issued by another server")


def _ordered(data: Mapping[str, Any], order: Iterable[str]) -> dict[str, Any]:
    out = {k: data[k] for k in order if k in data}
    out.update({k: v for k, v in data.items() if k not in out})
    return out


def decode_cloudapi_response(resp: requests.Response) -> Any:
    """Return ``data`` of a successful Cloud API answer, else raise a typed error."""
    status = resp.status_code
    body = answer_json(resp)
    if status == 401:
        msg = str(body.get("message")) if isinstance(body, Mapping) and body.get("message") \
            else "missing or invalid x-auth-token"
        raise AuthenticationError(f"Cloud API rejected the request: {msg}", status_code=401,
                                  hint=_HINT_401)
    if status == 403:
        raise PermissionDeniedError("Cloud API: forbidden", status_code=403,
                                    hint="this user may not access the workspace")
    if status >= 500:
        raise ServerError(f"Cloud API answered HTTP {status}", status_code=status,
                          hint="the server failed; retry later", body=resp.text[:200] or None)
    if not 200 <= status < 300:
        cls: type[ApiError] = NotFoundError if status == 404 else (
            InvalidParameterError if status == 400 else ApiError)
        raise cls(f"Cloud API answered HTTP {status}", status_code=status,
                  body=resp.text[:200] or None)
    if not resp.content:
        return None  # e.g. group-upload-callback returns null
    if not isinstance(body, Mapping):
        raise ServerError("Cloud API answered with a body that is not a JSON envelope",
                          status_code=status, hint="check the base URL", body=resp.text[:200])
    code = envelope_code(body.get("code"))
    if code == 0:
        return body.get("data")
    message = str(body.get("message") or "")
    low = message.lower()
    if code == 401 or low.startswith("invalid username") or low.startswith("invalid password"):
        raise AuthenticationError(f"Cloud API login failed: {message}", status_code=status,
                                  code=code, hint="check the username and password")
    if "account type does not match" in low:
        raise AuthenticationError(
            f"Cloud API login failed: {message}", status_code=status, code=code,
            hint="the login flag must match the user's type: 1 = web user, 2 = pilot")
    if "exist" in low:
        raise NotFoundError(f"Cloud API: {message}", status_code=status, code=code)
    raise ApiError(f"Cloud API error: {message or code}", status_code=status, code=code)


class CloudApiClient(Closable):
    """Client for the DJI Cloud API demo server.

    Args:
        base_url: server origin (else ``TERRANB_CLOUDAPI_BASE_URL`` / profile).
        username, password: for :meth:`login` (and automatic re-login).
        flag: user type for login: 1 web (default), 2 pilot.
        access_token: an existing ``x-auth-token`` (skips the first login).
        workspace_id: default workspace (login fills it in).
        settings: resolved settings; kwargs given here win.
        timeout, retry, http, sleep, clock, rand, now: transport knobs; ``now`` is the
            wall clock used to turn STS lifetimes into expiry times.
    """

    def __init__(
        self,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        *,
        flag: int = 1,
        access_token: str | None = None,
        workspace_id: str | None = None,
        settings: Settings | None = None,
        now: Callable[[], float] = time.time,
        **transport: Unpack[Transport],
    ) -> None:
        settings = Settings.for_client(
            settings, cloudapi_base_url=base_url, cloudapi_username=username,
            cloudapi_password=password, cloudapi_workspace_id=workspace_id)
        if not settings.cloudapi_base_url:
            raise ConfigError("Cloud API base URL missing: pass base_url= or set "
                              "TERRANB_CLOUDAPI_BASE_URL")
        self.settings = settings_without_secrets(settings)  # the secrets live in Secrets
        self.base_url = settings.cloudapi_base_url.rstrip("/")
        self.username = settings.cloudapi_username
        # Password and JWT live in Secrets (masked repr, registered for the log filter).
        self._password = (Secret(settings.cloudapi_password)
                          if settings.cloudapi_password is not None else None)
        self.flag = flag
        self._token = Secret(access_token) if access_token else None
        self.workspace_id = settings.cloudapi_workspace_id
        self.user: CloudUser | None = None
        self._now = now
        self.session = ApiSession(self.base_url, **transport)

    def __repr__(self) -> str:
        return (f"CloudApiClient(base_url={self.base_url!r}, username={self.username!r}, "
                f"workspace_id={self.workspace_id!r}, password='***', "
                f"token={'***' if self._token else None!r})")

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    @property
    def has_token(self) -> bool:
        """True once logged in (or given a token)."""
        return bool(self._token)

    # ----------------------------------------------------------------- auth

    def login(self) -> CloudUser:
        """``POST /manage/api/v1/login`` with ``{username, password, flag}``; keeps the token.

        Raises:
            AuthenticationError: unknown user, wrong password or wrong ``flag``.
        """
        if not self.username or self._password is None:
            missing = " and ".join(n for n, absent in (("username", not self.username),
                                                       ("password", self._password is None))
                                   if absent)
            raise ConfigError(f"Cloud API login needs a {missing}: pass username=/password=, "
                              "set TERRANB_CLOUDAPI_USERNAME / TERRANB_CLOUDAPI_PASSWORD, or "
                              "store them with `terranb configure --cloudapi-username USER "
                              "--cloudapi-password PASSWORD`")
        payload = {"username": self.username, "password": reveal(self._password), "flag": self.flag}
        resp = self.session.request("POST", LOGIN_PATH, body=_json(payload),
                                    headers={"Content-Type": "application/json"},
                                    idempotent=True)
        return self._accept_user(decode_cloudapi_response(resp))

    def refresh(self) -> CloudUser:
        """``POST /manage/api/v1/token/refresh`` with the current ``x-auth-token``."""
        if not self._token:
            raise AuthenticationError("no Cloud API token to refresh", hint="call login() first")
        token = reveal(self._token) or ""
        resp = self.session.request("POST", REFRESH_PATH, headers={"x-auth-token": token},
                                    idempotent=True)
        return self._accept_user(decode_cloudapi_response(resp))

    def _accept_user(self, data: Any) -> CloudUser:
        if not isinstance(data, Mapping) or not data.get("access_token"):
            raise AuthenticationError("Cloud API login answered without an access token",
                                      hint=_HINT_401)
        user = CloudUser.from_api(data)
        self._token = Secret(user.access_token)
        register(getattr(user, "mqtt_password", ""))
        self.user = user
        if user.workspace_id and not self.workspace_id:
            self.workspace_id = user.workspace_id
        return user

    def _reauthenticate(self) -> None:
        if self._token:
            try:
                self.refresh()
                return
            except AuthenticationError:
                if not (self.username and self._password is not None):
                    raise
        self.login()

    def _ws(self, workspace_id: str | None) -> str:
        ws = workspace_id or self.workspace_id
        if not ws:
            if not self._token and self.username:
                self.login()
                ws = self.workspace_id
            if not ws:
                raise ConfigError("no Cloud API workspace id: pass workspace_id= or log in "
                                  "first (login fills it from the user)")
        return ws

    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              json_body: Any = None, idempotent: bool | None = None,
              allow_redirects: bool = True) -> requests.Response:
        """Authenticated request; on 401 re-authenticate once and replay."""
        if not self._token and self.username and self._password is not None:
            self.login()
        for attempt in (1, 2):
            headers = {"x-auth-token": self._token.reveal()} if self._token else {}
            body = None
            if json_body is not None:
                body = _json(json_body)
                headers["Content-Type"] = "application/json"
            resp = self.session.request(method, path, params=params, body=body, headers=headers,
                                        idempotent=idempotent, allow_redirects=allow_redirects)
            can_reauth = bool(self._token) or bool(self.username and self._password is not None)
            if resp.status_code == 401 and attempt == 1 and can_reauth:
                resp.close()
                self._reauthenticate()
                continue
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return decode_cloudapi_response(self._send(method, path, **kwargs))

    # ----------------------------------------------------------------- media files

    def list_media(self, workspace_id: str | None = None, *, page_size: int = 10,
                   limit: int | None = None) -> Iterator[MediaFile]:
        """``GET /media/api/v1/files/{workspace_id}/files?page=&page_size=`` over all pages."""
        if page_size < 1:
            raise ValidationError("page_size must be at least 1")
        ws = self._ws(workspace_id)
        page, seen = 1, 0
        while True:
            data = self._call("GET", f"/media/api/v1/files/{ws}/files",
                              params={"page": page, "page_size": page_size}) or {}
            items = (data.get("list") or []) if isinstance(data, Mapping) else []
            pagination = (data.get("pagination") or {}) if isinstance(data, Mapping) else {}
            for item in items:
                yield MediaFile.from_api(item)
                seen += 1
                if limit is not None and seen >= limit:
                    return
            total = int(pagination.get("total") or 0)
            if not items or len(items) < page_size or (total and page * page_size >= total):
                return
            page += 1

    def media_download_url(self, workspace_id: str | None, file_id: str) -> str:
        """``GET /media/api/v1/files/{ws}/file/{file_id}/url`` -> the 302 ``Location``.

        The redirect is not followed: the presigned URL is returned for a plain GET.
        """
        ws = self._ws(workspace_id)
        resp = self._send("GET", f"/media/api/v1/files/{ws}/file/{file_id}/url",
                          allow_redirects=False)
        if resp.status_code in (301, 302, 303, 307, 308):
            location = resp.headers.get("Location")
            if location:
                return location
            raise ServerError("Cloud API redirect without a Location header",
                              status_code=resp.status_code)
        data = decode_cloudapi_response(resp)
        if isinstance(data, str) and data.startswith(("http://", "https://")):
            return data
        raise NotFoundError(f"no download URL for media file {file_id}",
                            status_code=resp.status_code)

    def fast_upload(self, workspace_id: str | None, fingerprint: str, name: str,
                    ext: Mapping[str, Any], path: str | None = None) -> bool:
        """``POST .../fast-upload``: True when the server already has this fingerprint."""
        ws = self._ws(workspace_id)
        payload: dict[str, Any] = {"ext": _ordered(ext, _EXT_ORDER), "fingerprint": fingerprint,
                                   "name": name}
        if path is not None:
            payload["path"] = path
        try:
            self._call("POST", f"/media/api/v1/workspaces/{ws}/fast-upload", json_body=payload,
                       idempotent=True)
        except NotFoundError:
            return False
        return True

    def upload_callback(
        self,
        workspace_id: str | None,
        *,
        object_key: str,
        name: str,
        fingerprint: str,
        ext: Mapping[str, Any],
        metadata: Mapping[str, Any],
        sub_file_type: int | str = 0,
        path: str | None = None,
        result: int | None = None,
    ) -> str:
        """``POST .../upload-callback`` with the body of seed 003; returns the object key.

        Args:
            object_key: key of the uploaded object in the bucket.
            name, fingerprint: media file name and fingerprint.
            ext: ``drone_model_key``, ``file_group_id``, ``is_original``,
                ``payload_model_key``, ``tinny_fingerprint`` (sic), ``sn``.
            metadata: ``absolute_altitude``, ``created_time``, ``gimbal_yaw_degree``,
                ``shoot_position`` ``{lat, lng}``, ``relative_altitude``.
            sub_file_type: 0 normal, 1 panorama (or ``"NORMAL"``/``"PANORAMA"``).
            path: the wayline folder, when there is one.
            result: the official doc's upload result (0 = ok); omitted when ``None``.
        """
        if isinstance(sub_file_type, str):
            if sub_file_type.upper() not in _SUB_FILE_TYPES:
                raise ValidationError("sub_file_type must be 0/NORMAL or 1/PANORAMA")
            sub_file_type = _SUB_FILE_TYPES[sub_file_type.upper()]
        ws = self._ws(workspace_id)
        payload: dict[str, Any] = {"object_key": object_key, "sub_file_type": int(sub_file_type),
                                   "ext": _ordered(ext, _EXT_ORDER), "fingerprint": fingerprint,
                                   "name": name}
        if path is not None:
            payload["path"] = path
        payload["metadata"] = _ordered(metadata, _META_ORDER)
        if result is not None:
            payload["result"] = int(result)
        data = self._call("POST", f"/media/api/v1/workspaces/{ws}/upload-callback",
                          json_body=payload, idempotent=False)
        if isinstance(data, Mapping):
            return str(data.get("object_key") or object_key)
        return str(data) if data else object_key

    def tiny_fingerprints(self, workspace_id: str | None, fingerprints: Iterable[str]) -> list[str]:
        """``POST .../files/tiny-fingerprints``: the subset that already exists."""
        ws = self._ws(workspace_id)
        data = self._call("POST", f"/media/api/v1/workspaces/{ws}/files/tiny-fingerprints",
                          json_body={"tiny_fingerprints": list(fingerprints)}, idempotent=True)
        found = data.get("tiny_fingerprints") if isinstance(data, Mapping) else None
        return [str(f) for f in (found or [])]

    def group_upload_callback(self, workspace_id: str | None, file_group_id: str,
                              file_count: int, file_uploaded_count: int) -> None:
        """``POST .../group-upload-callback`` after a file group finished uploading."""
        ws = self._ws(workspace_id)
        self._call("POST", f"/media/api/v1/workspaces/{ws}/group-upload-callback",
                   json_body={"file_group_id": file_group_id, "file_count": int(file_count),
                              "file_uploaded_count": int(file_uploaded_count)},
                   idempotent=True)

    # ----------------------------------------------------------------- storage

    def sts(self, workspace_id: str | None = None) -> StorageCredentials:
        """``POST /storage/api/v1/workspaces/{ws}/sts`` -> storage credentials."""
        ws = self._ws(workspace_id)
        data = self._call("POST", f"/storage/api/v1/workspaces/{ws}/sts", idempotent=True)
        if not isinstance(data, Mapping):
            raise ServerError("sts answered without credentials")
        return StorageCredentials.from_cloudapi(dict(data), now=self._now())


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode("utf-8")
