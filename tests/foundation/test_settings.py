"""Settings precedence: defaults < fleet.toml < FLEET_* environment < command-line overrides."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from fleet.errors import ConfigError
from fleet.settings import Settings, resolve_home, write_file_setting


class ServiceModel(pydantic.BaseModel):
    stale_after: float = 45
    offline_after: float = 120
    broker: str = "mqtt://127.0.0.1:1883"


def test_defaults_apply_without_file_or_env(tmp_path: Path) -> None:
    """An empty data directory gives the documented defaults."""
    s = Settings.load(tmp_path, environ={})
    assert ServiceModel() == s.section("service", ServiceModel)
    assert f"sqlite:///{tmp_path / 'registry.sqlite3'}" == s.registry_url


def test_file_then_env_then_overrides(tmp_path: Path) -> None:
    """Each layer overrides the one below it, key by key."""
    (tmp_path / "fleet.toml").write_text(
        '[service]\nstale_after = 30\noffline_after = 90\nbroker = "mqtt://file:1"\n'
    )
    env = {"FLEET_SERVICE__OFFLINE_AFTER": "60", "FLEET_SERVICE__BROKER": "mqtt://env:2"}
    s = Settings.load(tmp_path, overrides={"service": {"broker": "mqtt://cli:3"}}, environ=env)
    svc = s.section("service", ServiceModel)
    assert svc.stale_after == 30
    assert svc.offline_after == 60
    assert svc.broker == "mqtt://cli:3"


def test_home_from_env_and_option(tmp_path: Path) -> None:
    """--home beats FLEET_HOME, which beats the default."""
    assert tmp_path / "a" == resolve_home(None, {"FLEET_HOME": str(tmp_path / "a")})
    assert tmp_path / "b" == resolve_home(tmp_path / "b", {"FLEET_HOME": str(tmp_path / "a")})


def test_bad_value_names_section_and_key(tmp_path: Path) -> None:
    """A wrong type is a ConfigError naming the setting."""
    s = Settings.load(tmp_path, environ={"FLEET_SERVICE__STALE_AFTER": "soon"})
    with pytest.raises(ConfigError, match=r"service\.stale_after"):
        s.section("service", ServiceModel)


def test_broken_toml_is_named(tmp_path: Path) -> None:
    """A syntax error in fleet.toml names the file."""
    (tmp_path / "fleet.toml").write_text("[service\n")
    with pytest.raises(ConfigError, match=r"fleet\.toml"):
        Settings.load(tmp_path, environ={})


def test_write_setting_keeps_other_values(tmp_path: Path) -> None:
    """Setting one dotted key leaves the rest of fleet.toml as it was."""
    (tmp_path / "fleet.toml").write_text("[service]\nstale_after = 30\n")
    write_file_setting(tmp_path, "site.wifi.ssid", "hydro-net")
    s = Settings.load(tmp_path, environ={})
    assert s.section("service", ServiceModel).stale_after == 30
    assert s.raw_section("site.wifi") == {"ssid": "hydro-net"}
