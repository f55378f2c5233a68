"""A small demo site on disk (Laravel, Python service, Mosquitto, Docker volume folders), for
the demo and for drills of the backup layers. Public testing aid, like `fleet.sim`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)


def make_demo_site(root: Path, ota_kib: int = 512) -> dict[str, Any]:
    """Create the demo site's files under `root`; return the `[layers]` settings for them.

    The secrets in it are random demo values. The PostgreSQL part is not made here (see
    `fleet.backup.postgres.cluster.throwaway_cluster`).
    """
    laravel, python, etc = root / "laravel", root / "python", root / "etc/mosquitto"
    key = os.urandom(32).hex()
    _write(laravel / ".env", f"APP_KEY=base64:{key}\nDB_HOST=127.0.0.1\n", 0o600)
    _write(laravel / "composer.lock", '{"packages": [{"name": "laravel/framework"}]}\n')
    for node_type in ("ph", "ec", "pump"):
        _write(laravel / f"storage/app/ota/{node_type}-1.4.2.bin", os.urandom(ota_kib * 1024))
    _write(laravel / "storage/app/public/site-logo.svg", "<svg/>\n")
    _write(python / ".env", f"MQTT_PASSWORD={os.urandom(12).hex()}\n", 0o600)
    _write(
        python / "secrets/nodes.json", '{"nd-ph-1": {"hardware_id": "esp32-aabbccddeeff"}}\n', 0o600
    )
    _write(python / "config/config.yaml", "mqtt:\n  host: 127.0.0.1\n  port: 1883\n")
    _write(etc / "passwd", "backend:$7$101$demo$demo\n", 0o600)
    _write(etc / "acl", "user backend\ntopic readwrite hydro/#\n")
    _write(
        etc / "mosquitto.conf",
        f"listener 1883 127.0.0.1\npersistence false\npassword_file {etc}/passwd\n"
        f"acl_file {etc}/acl\n",
    )
    volumes = root / "docker/volumes"
    _write(volumes / "grafana/_data/grafana.db", os.urandom(64 * 1024), 0o640)
    _write(root / "hydro/docker-compose.yml", "services:\n  grafana:\n    image: grafana\n")
    return {
        "laravel": {"root": str(laravel)},
        "python_service": {"root": str(python)},
        "mosquitto": {"config": str(etc / "mosquitto.conf")},
        "docker": {
            "volumes": ["grafana"],
            "volume_root": str(volumes),
            "compose": str(root / "hydro/docker-compose.yml"),
        },
    }
