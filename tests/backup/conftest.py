"""Fixtures of the backup tests: a fleet home with a repository, an age identity, and a
small site (Laravel, Python service, Mosquitto config, Docker volume folders)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from fleet.backup.agecrypt import load_identity, write_identity
from fleet.settings import Settings


@dataclass
class Site:
    """A throwaway site and the fleet home that backs it up."""

    home: Path
    repo: Path
    identity_file: Path
    recipient: str
    root: Path
    config: dict[str, Any]

    def settings(self, **env: str) -> Settings:
        """Settings of the home (writes fleet.toml from `config`)."""
        (self.home / "fleet.toml").write_text(tomli_w.dumps(self.config), encoding="utf-8")
        return Settings.load(self.home, environ={"FLEET_HOME": str(self.home), **env})

    def identity(self) -> Any:
        """The age identity that opens this site's snapshots."""
        return load_identity(self.identity_file)


def write(path: Path, data: bytes | str, mode: int = 0o644) -> Path:
    """Create `path` with `data` and `mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)
    return path


def make_laravel(root: Path) -> None:
    """A Laravel-like tree: .env with APP_KEY, OTA files, public storage, composer.lock."""
    write(
        root / ".env",
        "APP_KEY=base64:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\nDB_PASSWORD=pw\n",
        0o600,
    )
    write(root / "composer.lock", '{"packages": []}\n')
    write(root / "storage/app/ota/ph-1.2.0.bin", os.urandom(150_000))
    write(root / "storage/app/ota/run.sh", "#!/bin/sh\necho ok\n", 0o755)
    write(root / "storage/app/public/logo.png", os.urandom(2048), 0o640)
    if os.geteuid() == 0:  # owners are kept: the web server's files stay the web server's
        os.chown(root / "storage/app/public/logo.png", 33, 33)
        os.chown(root / ".env", 33, 33)
    (root / "storage/app/public/empty").mkdir(parents=True)
    os.symlink("logo.png", root / "storage/app/public/current.png")
    write(root / "app/ignored.php", "<?php // in git, not backed up\n")


def make_python(root: Path) -> None:
    """A Python-service-like tree: .env, secrets/nodes.json, config/config.yaml."""
    write(root / ".env", "MQTT_PASSWORD=pw\n", 0o600)
    write(root / "secrets/nodes.json", '{"nd-ph-1": "0" }\n', 0o600)
    write(root / "config/config.yaml", "mqtt:\n  host: 127.0.0.1\n")


def make_mosquitto(root: Path) -> Path:
    """A broker config naming a password file and an ACL file; returns the config path."""
    etc = root / "etc/mosquitto"
    write(etc / "passwd", "node:$7$101$abc$def\n", 0o600)
    write(etc / "acl", "user node\ntopic readwrite hydro/#\n")
    write(etc / "conf.d/listener.conf", "listener 1883 127.0.0.1\n")
    conf = write(
        etc / "mosquitto.conf",
        f"# test broker\npersistence false\npassword_file {etc}/passwd\nacl_file {etc}/acl\n"
        f"include_dir {etc}/conf.d\n",
    )
    return conf


def make_docker(root: Path) -> Path:
    """Host folders of two named volumes and a compose file; returns the volume root."""
    vols = root / "docker/volumes"
    write(vols / "pgdata/_data/PG_VERSION", "15\n", 0o600)
    write(vols / "pgdata/_data/base/1/1259", os.urandom(8192), 0o600)
    write(vols / "uploads/_data/a.txt", "a\n")
    write(root / "srv/docker-compose.yml", "services: {}\n")
    return vols


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """A fleet home with repository, identity and every file layer configured."""
    home = tmp_path / "home"
    home.mkdir()
    root = tmp_path / "site"
    identity_file = tmp_path / "offline" / "backup.key"
    recipient = write_identity(identity_file)
    make_laravel(root / "laravel")
    make_python(root / "python")
    conf = make_mosquitto(root)
    vols = make_docker(root)
    write(home / "firmware/ph/1.2.0/app.bin", os.urandom(4096))
    write(home / "vault.key", os.urandom(32).hex(), 0o600)
    config = {
        "backup": {"repository": str(tmp_path / "repo"), "recipients": [recipient]},
        "layers": {
            "laravel": {"root": str(root / "laravel")},
            "python_service": {"root": str(root / "python")},
            "mosquitto": {"config": str(conf)},
            "docker": {
                "volumes": ["pgdata", "uploads"],
                "volume_root": str(vols),
                "compose": str(root / "srv/docker-compose.yml"),
            },
        },
    }
    return Site(home, tmp_path / "repo", identity_file, recipient, root, config)


@pytest.fixture
def stock_restore() -> Callable[[Path, Path, Path], None]:
    """Restore one tar+zstd artifact with stock tools: `age -d -i ID F | zstd -dc | tar -x`."""

    def run(identity: Path, artifact: Path, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        cmd = f"age -d -i '{identity}' '{artifact}' | zstd -dc | tar -x -p -C '{target}'"
        subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True)

    return run
