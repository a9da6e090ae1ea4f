"""Settings precedence (kwargs > env > profile > defaults), masking, and the
profile file writer (atomic, mode 0600, never written by loading)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from terranb.config import Settings, config_path, read_config_file, save_profile
from terranb.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_config_path_respects_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "terranb" / "config.toml"
    monkeypatch.setenv("TERRANB_CONFIG_FILE", str(tmp_path / "other.toml"))
    assert config_path() == tmp_path / "other.toml"


def test_defaults_without_anything() -> None:
    s = Settings.load()
    assert (s.region, s.fh2_api_version, s.language, s.app_key) == ("us", "v0.1", "en", None)
    assert s.terra_base_url == "https://openapi-us.dji.com"
    assert s.flighthub_base_url == "https://es-flight-api-us.djigate.com"
    assert s.sources["region"] == "default"
    assert not config_path().exists()  # loading never writes


def test_precedence_kwargs_env_profile_default(monkeypatch: pytest.MonkeyPatch) -> None:
    write(config_path(), '[profile.default]\napp_key = "ak-file"\nsecret_key = "sk-file"\n'
                         'region = "cn"\nbase_url = "http://file"\nfh2_project_uuid = "p-file"\n')
    monkeypatch.setenv("DJI_APP_KEY", "ak-env")
    monkeypatch.setenv("TERRANB_BASE_URL", "http://env")
    s = Settings.load(base_url="http://kw")
    assert s.app_key == "ak-env" and s.sources["app_key"] == "env"
    assert s.secret_key == "sk-file" and s.sources["secret_key"] == "profile"
    assert s.base_url == "http://kw" and s.sources["base_url"] == "kwarg"
    assert s.region == "cn" and s.fh2_project_uuid == "p-file"
    assert s.fh2_api_version == "v0.1" and s.sources["fh2_api_version"] == "default"
    assert s.terra_base_url == "http://kw"
    assert s.flighthub_base_url == "http://kw"  # one override origin (the emulator) for all


def test_named_profile_via_env_and_kwarg(monkeypatch: pytest.MonkeyPatch) -> None:
    write(config_path(), '[profile.default]\napp_key = "a"\n\n[profile."emu lab"]\n'
                         'app_key = "b"\nfh2_region = "eu"\n')
    monkeypatch.setenv("TERRANB_PROFILE", "emu lab")
    s = Settings.load()
    assert (s.profile, s.app_key, s.flighthub_base_url) == (
        "emu lab", "b", "https://es-flight-api-eu.djigate.com")
    assert Settings.load("default").app_key == "a"
    with pytest.raises(ConfigError, match="terranb configure --profile nope"):
        Settings.load("nope")
    monkeypatch.setenv("TERRANB_PROFILE", "emu-lab")  # a typo must not pass silently
    with pytest.raises(ConfigError, match=r"named by TERRANB_PROFILE.*unset TERRANB_PROFILE"):
        Settings.load()


def test_bad_values_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="region"):
        Settings.load(region="mars")
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.load(secret="x")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load(path=write(tmp_path / "bad.toml", "[profile.default\n"))
    with pytest.raises(ConfigError, match="DJI_SECRET_KEY"):
        Settings.load(app_key="a").require_terra()
    with pytest.raises(ConfigError, match="TERRANB_FH2_USER_TOKEN"):
        Settings.load().require_flighthub()


def test_env_dict_and_path_injection(tmp_path: Path) -> None:
    p = write(tmp_path / "c.toml", '[profile.default]\nregion = "cn"\n')
    s = Settings.load(env={"DJI_SECRET_KEY": "sk", "TERRANB_FH2_API_VERSION": "v2.0"}, path=p)
    assert (s.region, s.secret_key, s.fh2_api_version) == ("cn", "sk", "v2.0")


def test_repr_masks_secrets() -> None:
    s = Settings.load(app_key="AKX", secret_key="SKX-123", fh2_user_token="TOK-9",
                      cloudapi_password="PW-1")
    text = repr(s) + str(s)
    assert "SKX-123" not in text and "TOK-9" not in text and "PW-1" not in text
    assert "secret_key='***'" in text
    assert s.to_dict()["secret_key"] == "***"
    assert s.to_dict(reveal=True)["secret_key"] == "SKX-123"


def test_save_profile_roundtrip_mode_and_merge(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "config.toml"
    save_profile({"app_key": "ak", "secret_key": 'sk "quoted" \\ back\nline'}, path=p)
    save_profile({"region": "cn"}, "other", path=p)
    save_profile({"app_key": "ak2", "secret_key": None, "region": ""}, path=p)
    data = read_config_file(p)
    assert data["profile"]["default"] == {"app_key": "ak2",
                                          "secret_key": 'sk "quoted" \\ back\nline'}
    assert data["profile"]["other"] == {"region": "cn"}
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert not (tmp_path / "sub" / "config.toml.part").exists()
    s = Settings.load(path=p)
    assert s.secret_key == 'sk "quoted" \\ back\nline'


def test_save_profile_rejects_unknown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        save_profile({"nonsense": "x"}, path=tmp_path / "c.toml")
