"""Broker credentials: the username from settings, the password from the vault."""

import asyncio
import subprocess
from pathlib import Path

import pytest

from fleet.errors import BrokerError
from fleet.service.client import standalone
from fleet.sim.broker import start_broker
from fleet.sim.node.roster import make_nodes

from .conftest import make_home

pytestmark = pytest.mark.mqtt


def test_password_comes_from_the_vault(tmp_path: Path) -> None:
    """With `username` set the service logs in with the vault's mqtt.password; without the
    right password the broker refuses and the error names the broker."""
    pwfile = tmp_path / "passwd"
    pwfile.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(pwfile), "fleet", "s3cret-pw"], check=True)
    pwfile.chmod(0o644)
    extra = f"allow_anonymous false\npassword_file {pwfile}\n"
    broker = start_broker(tmp_path / "mq", extra_config=extra)
    try:
        home = tmp_path / "h"
        ctx = make_home(home, make_nodes(1, gh_uid="gh-1"))
        (home / "fleet.toml").write_text(
            f'[service]\nbroker = "{broker.url}"\nusername = "fleet"\nmetrics_port = 0\n'
        )
        ctx.settings = type(ctx.settings).load(home, environ={})

        async def connect() -> bool:
            async with standalone(ctx, connect_timeout=3) as svc:
                return svc.connection.connected.is_set()

        with pytest.raises(BrokerError):
            asyncio.run(connect())  # no password in the vault yet
        ctx.vault.put("site_secret", "mqtt.password", b"s3cret-pw")
        assert asyncio.run(connect())
    finally:
        broker.close()
