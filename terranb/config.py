"""Settings and credentials: keyword arguments > environment > profile > ledger > defaults.

Each setting is resolved on its own, in this one order, everywhere (Python API,
CLI, widgets):

1. keyword arguments to :meth:`Settings.load` (``None`` means "not given");
2. environment variables (``DJI_APP_KEY``, ``DJI_SECRET_KEY``, ``TERRANB_*``,
   see :data:`ENV_VARS`);
3. the profile file: TOML at ``<user config dir>/terranb/config.toml``
   (``$XDG_CONFIG_HOME`` respected; ``TERRANB_CONFIG_FILE`` overrides the path),
   table ``[profile.<name>]``; the profile is the ``profile`` kwarg, else
   ``TERRANB_PROFILE``, else ``default``;
4. values remembered for the object at hand (``remembered=``: the job ledger's
   service origin when attaching to a job submitted earlier): they only fill what
   nothing above set, so ``TERRANB_BASE_URL`` beats the ledger;
5. defaults (region ``us``, FlightHub 2 API ``v0.1``, language ``en``).

``Settings.sources`` names where each value came from (``kwarg``, ``env``,
``profile``, ``ledger``, ``default``) and :meth:`Settings.explain` says it in words.

Loading never writes anything. :func:`save_profile`, used only by
``terranb configure``, writes the file atomically with mode 0600.

Secrets (SK, FlightHub 2 user token, Cloud API password) are masked in
``repr``/``str``.

Example:
    >>> s = Settings.load(app_key="ak", secret_key="sk", region="cn")
    >>> s.terra_base_url
    'https://openapi-cn.dji.com'
    >>> "sk" in repr(s)
    False
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terranb.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as _toml

__all__ = [
    "DEFAULT_PROFILE",
    "ENV_VARS",
    "FLIGHTHUB_HOSTS",
    "SECRET_FIELDS",
    "TERRA_HOSTS",
    "Settings",
    "config_path",
    "read_config_file",
    "save_profile",
]

DEFAULT_PROFILE = "default"

TERRA_HOSTS = {"us": "https://openapi-us.dji.com", "cn": "https://openapi-cn.dji.com"}
FLIGHTHUB_HOSTS = {
    "us": "https://es-flight-api-us.djigate.com",
    "cn": "https://es-flight-api-cn.djigate.com",
    "eu": "https://es-flight-api-eu.djigate.com",
}

# Setting name -> environment variable.
ENV_VARS: dict[str, str] = {
    "app_key": "DJI_APP_KEY",
    "secret_key": "DJI_SECRET_KEY",
    "region": "TERRANB_REGION",
    "base_url": "TERRANB_BASE_URL",
    "s3_endpoint_url": "TERRANB_S3_ENDPOINT_URL",
    "fh2_user_token": "TERRANB_FH2_USER_TOKEN",
    "fh2_project_uuid": "TERRANB_FH2_PROJECT_UUID",
    "fh2_base_url": "TERRANB_FH2_BASE_URL",
    "fh2_region": "TERRANB_FH2_REGION",
    "fh2_api_version": "TERRANB_FH2_API_VERSION",
    "language": "TERRANB_LANGUAGE",
    "cloudapi_base_url": "TERRANB_CLOUDAPI_BASE_URL",
    "cloudapi_username": "TERRANB_CLOUDAPI_USERNAME",
    "cloudapi_password": "TERRANB_CLOUDAPI_PASSWORD",
    "cloudapi_workspace_id": "TERRANB_CLOUDAPI_WORKSPACE_ID",
}

SECRET_FIELDS = frozenset({"secret_key", "fh2_user_token", "cloudapi_password"})

_DEFAULTS: dict[str, str | None] = {
    "region": "us",
    "fh2_api_version": "v0.1",
    "language": "en",
}


def config_path() -> Path:
    """Where the profile file lives.

    ``TERRANB_CONFIG_FILE`` if set; else ``$XDG_CONFIG_HOME/terranb/config.toml``
    if ``XDG_CONFIG_HOME`` is set (on every OS); else platformdirs' user config dir.
    """
    explicit = os.environ.get("TERRANB_CONFIG_FILE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        return Path(xdg).expanduser() / "terranb" / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir("terranb", appauthor=False)) / "config.toml"


def read_config_file(path: Path | None = None) -> dict[str, Any]:
    """Parse the profile file (``{}`` when it does not exist). Never writes.

    Raises:
        ConfigError: the file exists but is not valid TOML.
    """
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the terranb config file {path}: {exc.strerror}") from exc
    try:
        return _toml.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, _toml.TOMLDecodeError) as exc:
        raise ConfigError(
            f"the terranb config file {path} is not valid TOML ({exc}); fix it or run "
            "`terranb configure` to rewrite the profile"
        ) from exc


def _mask(value: str | None) -> str:
    return "None" if value is None else ("'***'" if value else "''")


def _require(values: dict[str, str | None], what: str, how: str) -> tuple[str, str]:
    """The two settings ``values`` (by variable name), or a ConfigError naming those unset
    (``"<what> missing: <names>. <how>"``)."""
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ConfigError(f"{what} missing: {', '.join(missing)}. {how}")
    first, second = (str(v) for v in values.values())
    return first, second


@dataclass(frozen=True)
class Settings:
    """Resolved settings for the three APIs (all optional until a client needs them).

    Attributes:
        profile: the profile name that was read.
        app_key, secret_key: TerraAPI AK/SK.
        region: TerraAPI region, ``us`` or ``cn``.
        base_url: TerraAPI origin override (e.g. the emulator's ``http://127.0.0.1:PORT``).
        s3_endpoint_url: object-store endpoint for TerraAPI tokens (they carry none).
        fh2_user_token, fh2_project_uuid: FlightHub 2 organization key and project.
        fh2_base_url, fh2_region, fh2_api_version: FlightHub 2 origin / region / ``v0.1``|``v2.0``.
        language: ``X-Language`` for FlightHub 2 (``en`` or ``zh``).
        cloudapi_base_url, cloudapi_username, cloudapi_password, cloudapi_workspace_id:
            DJI Cloud API demo server.
        sources: where each non-default value came from (``kwarg``/``env``/``profile``/``default``).
    """

    profile: str = DEFAULT_PROFILE
    app_key: str | None = None
    secret_key: str | None = None
    region: str = "us"
    base_url: str | None = None
    s3_endpoint_url: str | None = None
    fh2_user_token: str | None = None
    fh2_project_uuid: str | None = None
    fh2_base_url: str | None = None
    fh2_region: str | None = None
    fh2_api_version: str = "v0.1"
    language: str = "en"
    cloudapi_base_url: str | None = None
    cloudapi_username: str | None = None
    cloudapi_password: str | None = None
    cloudapi_workspace_id: str | None = None
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.region not in TERRA_HOSTS:
            raise ConfigError(
                f"unknown TerraAPI region {self.region!r}; use one of {sorted(TERRA_HOSTS)} "
                "(set TERRANB_REGION or region=...)"
            )
        if self.fh2_region is not None and self.fh2_region not in FLIGHTHUB_HOSTS:
            raise ConfigError(
                f"unknown FlightHub 2 region {self.fh2_region!r}; use one of "
                f"{sorted(FLIGHTHUB_HOSTS)} (set TERRANB_FH2_REGION)"
            )
        if self.fh2_api_version not in ("v0.1", "v2.0"):
            raise ConfigError(
                f"unknown FlightHub 2 API version {self.fh2_api_version!r}; use 'v0.1' or 'v2.0'"
            )

    # ----------------------------------------------------------------- loading

    @classmethod
    def load(
        cls,
        profile: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        path: Path | None = None,
        remembered: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Settings:
        """Resolve every setting: kwargs > env > profile file > remembered > defaults.

        Args:
            profile: profile name (else ``TERRANB_PROFILE``, else ``default``).
            env: environment to read (default ``os.environ``; tests pass a dict).
            path: profile file (default :func:`config_path`).
            remembered: values remembered elsewhere (the ledger's ``base_url`` or
                ``fh2_base_url`` of a job); used only where nothing above set one. A
                remembered ``fh2_base_url`` also yields to a ``base_url`` given by kwarg,
                environment or profile (that one override serves every API).
            **kwargs: any field of :class:`Settings`; ``None`` values are ignored.

        Raises:
            ConfigError: unknown keyword, bad region, or an unreadable config file.
        """
        fields = {f.name for f in dataclasses.fields(cls)} - {"profile", "sources"}
        unknown = set(kwargs) - fields
        if unknown:
            raise ConfigError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(fields)}")
        env = os.environ if env is None else env
        name = profile or env.get("TERRANB_PROFILE") or DEFAULT_PROFILE
        if path is None and env is not os.environ and "TERRANB_CONFIG_FILE" in env:
            path = Path(env["TERRANB_CONFIG_FILE"])
        data = read_config_file(path)
        profiles = data.get("profile", {})
        table = profiles.get(name) if isinstance(profiles, dict) else None
        if table is None:
            table = {}
            if name != DEFAULT_PROFILE:
                # Also for a name from TERRANB_PROFILE: a typo there would otherwise
                # surface later as "credentials missing", far from its cause.
                origin = "" if profile else " (named by TERRANB_PROFILE)"
                raise ConfigError(
                    f"profile {name!r}{origin} not found in {path or config_path()}; create it "
                    f"with `terranb configure --profile {name}`"
                    + ("" if profile else " or unset TERRANB_PROFILE")
                )
        if not isinstance(table, dict):
            raise ConfigError(f"[profile.{name}] in the config file must be a table")
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for key in sorted(fields):
            if kwargs.get(key) is not None:
                values[key], sources[key] = kwargs[key], "kwarg"
            elif env.get(ENV_VARS.get(key, "")):
                values[key], sources[key] = env[ENV_VARS[key]], "env"
            elif table.get(key) not in (None, ""):
                values[key], sources[key] = str(table[key]), "profile"
            elif remembered and remembered.get(key) not in (None, ""):
                values[key], sources[key] = remembered[key], "ledger"
            elif _DEFAULTS.get(key) is not None:
                values[key], sources[key] = _DEFAULTS[key], "default"
        if sources.get("fh2_base_url") == "ledger" and sources.get("base_url") in (
                "kwarg", "env", "profile"):
            del values["fh2_base_url"], sources["fh2_base_url"]
        unknown_remembered = set(remembered or ()) - fields
        if unknown_remembered:
            raise ConfigError(f"unknown remembered setting(s) {sorted(unknown_remembered)}")
        if isinstance(values.get("region"), str):
            values["region"] = values["region"].lower()
        if isinstance(values.get("fh2_region"), str):
            values["fh2_region"] = values["fh2_region"].lower()
        return cls(profile=name, sources=sources, **values)

    @classmethod
    def for_client(cls, settings: Settings | None = None, **given: Any) -> Settings:
        """What an API client runs with: ``settings`` (else :meth:`load`) with the keyword
        arguments its caller gave (the non-``None`` ``given`` values) put over it.

        Raises:
            ConfigError: as :meth:`load`, or a ``given`` value that fails validation.
        """
        given = {k: v for k, v in given.items() if v is not None}
        if settings is None:
            return cls.load(**given)
        return dataclasses.replace(settings, **given) if given else settings

    # ----------------------------------------------------------------- derived

    @property
    def terra_base_url(self) -> str:
        """TerraAPI origin: ``base_url`` or the region's DJI host."""
        return (self.base_url or TERRA_HOSTS[self.region]).rstrip("/")

    @property
    def flighthub_base_url(self) -> str:
        """FlightHub 2 origin: ``fh2_base_url``; else ``base_url`` (an override such as
        the emulator, which serves all three APIs on one origin); else the public
        host of ``fh2_region`` (default: the TerraAPI region)."""
        if self.fh2_base_url:
            return self.fh2_base_url.rstrip("/")
        if self.base_url:
            return self.base_url.rstrip("/")
        return FLIGHTHUB_HOSTS[self.fh2_region or self.region].rstrip("/")

    def explain(self, key: str) -> str:
        """Where ``key``'s value came from, in words (for CLI notes and errors).

        Example:
            >>> Settings.load(env={"TERRANB_BASE_URL": "http://x"}).explain("base_url")
            'base_url from the environment (TERRANB_BASE_URL)'
        """
        src = self.sources.get(key)
        where = {"kwarg": "an explicit argument",
                 "env": f"the environment ({ENV_VARS.get(key, key)})",
                 "profile": f"profile {self.profile!r} of {config_path()}",
                 "ledger": "the job ledger (the origin the job was submitted to)",
                 "default": "the default"}.get(src or "", "nowhere (unset)")
        return f"{key} from {where}"

    def require_terra(self) -> tuple[str, str]:
        """Return (AK, SK) or raise a :class:`ConfigError` that says how to set them."""
        profile = f" --profile {self.profile}" if self.profile != DEFAULT_PROFILE else ""
        return _require({"DJI_APP_KEY": self.app_key, "DJI_SECRET_KEY": self.secret_key},
                        "TerraAPI credentials", "Set the environment variable(s), pass "
                        "app_key=/secret_key=, or run `terranb configure`" + profile)

    def require_flighthub(self) -> tuple[str, str]:
        """Return (user token, project uuid) or raise a :class:`ConfigError`."""
        return _require({"TERRANB_FH2_USER_TOKEN": self.fh2_user_token,
                         "TERRANB_FH2_PROJECT_UUID": self.fh2_project_uuid},
                        "FlightHub 2 settings", "The user token is the organization key "
                        "(FlightHub 2 > Organization Settings > FlightHub Sync); set the "
                        "variable(s), pass user_token=/project_uuid=, or run `terranb configure`")

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        """Plain dict of the settings, secrets masked unless ``reveal``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value is not None and not reveal:
                value = "***" if value else ""
            out[f.name] = value
        return out

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                parts.append(f"{f.name}={_mask(value)}")
            elif value is not None:
                parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__


# --------------------------------------------------------------------------- writing


def _without_none(data: Mapping[str, Any]) -> dict[str, Any]:
    """``None`` means "leave unset": TOML has no null, so such keys are dropped."""
    return {k: _without_none(v) if isinstance(v, Mapping) else v
            for k, v in data.items() if v is not None}


def _dump_toml(data: Mapping[str, Any]) -> str:
    """Serialise the config with tomli-w (the maintained writer to tomllib's reader)."""
    import tomli_w

    try:
        return tomli_w.dumps(_without_none(data))
    except TypeError as exc:
        raise ConfigError(f"cannot store this value in the config file: {exc}") from None


def save_profile(
    values: Mapping[str, Any],
    profile: str = DEFAULT_PROFILE,
    *,
    path: Path | None = None,
    replace: bool = False,
) -> Path:
    """Write ``values`` into ``[profile.<profile>]`` of the config file.

    Other profiles and tables are kept. ``None`` values leave a key unchanged;
    ``""`` removes it. The file is written to ``.part`` with mode 0600, fsynced
    and renamed over the old one, so a crash never leaves half a file and the
    secrets are never readable by other users.

    Args:
        values: setting name -> value (names as in :class:`Settings`).
        profile: the profile to update.
        path: the config file (default :func:`config_path`).
        replace: drop the profile's existing keys first.

    Returns:
        The path written.
    """
    known = set(ENV_VARS)
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    path = path or config_path()
    data = read_config_file(path)
    profiles = data.setdefault("profile", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"'profile' in {path} must be a table")
    table = {} if replace else dict(profiles.get(profile) or {})
    for key, value in values.items():
        if value is None:
            continue
        if value == "":
            table.pop(key, None)
        else:
            table[key] = value
    profiles[profile] = table
    text = "# terranb settings; written by `terranb configure`. Keep this file private.\n"
    text += _dump_toml(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        fchmod = getattr(os, "fchmod", None)  # absent on Windows
        if fchmod is not None:
            with contextlib.suppress(OSError):  # umask may have narrowed it; widen to 0600
                fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise
    return path
