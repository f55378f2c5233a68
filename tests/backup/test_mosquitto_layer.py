"""The mosquitto layer against a real broker: it asks the broker to save (SIGUSR1), captures
the database after the save, and the restored database brings the retained messages back."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from fleet.backup.layer import RestoreOptions
from fleet.backup.repository import Repository
from fleet.backup.runner import build_handler, layer_env, run_backup
from fleet.backup.settings import backup_settings
from fleet.sim.broker import start_broker

pytestmark = pytest.mark.mqtt

TOPIC = "hydro/gh-1/zn-1/nd-ph-1/status"
PAYLOAD = b'{"status":"ONLINE","ts":1764201600}'


async def _publish(host: str, port: int) -> None:
    async with aiomqtt.Client(host, port, identifier="bk-pub") as client:
        await client.publish(TOPIC, PAYLOAD, qos=1, retain=True)


async def _read(host: str, port: int) -> bytes | None:
    async with aiomqtt.Client(host, port, identifier="bk-sub") as client:
        await client.subscribe(TOPIC, qos=1)
        try:
            async with asyncio.timeout(2.0):
                async for message in client.messages:
                    return bytes(message.payload)  # type: ignore[arg-type]
        except TimeoutError:
            return None
    return None


def test_broker_is_asked_to_save_and_restored_db_keeps_retained_messages(
    site: Any, tmp_path: Path
) -> None:
    """Backup signals the live broker, captures mosquitto.db; a broker on the restored db
    serves the retained status published before the backup."""
    acl = tmp_path / "mosq/acl"
    acl.parent.mkdir(parents=True)
    acl.write_text("topic readwrite hydro/#\n")
    broker = start_broker(tmp_path / "mosq", persistence=True, extra_config=f"acl_file {acl}\n")
    try:
        asyncio.run(_publish(broker.host, broker.port))
        pid_file = tmp_path / "mosquitto.pid"
        pid = broker.pid
        pid_file.write_text(f"{pid}\n")
        site.config["layers"]["mosquitto"] = {
            "config": str(broker.config_file),
            "pid_file": str(pid_file),
        }
        settings = site.settings()
        result = run_backup(settings, only=["mosquitto"])
    finally:
        broker.close()
    repo = Repository(site.repo)
    man = repo.manifest(result.snapshot)
    meta = man.artifacts[0].meta
    assert (True, pid) == (meta["db_saved"], meta["pid"])
    db_arc = (broker.persistence_dir / "mosquitto.db").as_posix().lstrip("/")
    assert {broker.config_file.as_posix().lstrip("/"), acl.as_posix().lstrip("/"), db_arc} <= {
        f["path"] for f in meta["files"]
    }
    handler = build_handler(settings, "mosquitto", layer_env(settings, backup_settings(settings)))
    target = tmp_path / "restored"
    handler.restore(
        repo.stored_artifacts(result.snapshot, "mosquitto", site.identity()),
        RestoreOptions(target=target),
    )
    fresh = start_broker(tmp_path / "fresh", persistence=True)
    try:
        fresh.stop()
        shutil.copyfile(target / db_arc, fresh.persistence_dir / "mosquitto.db")
        fresh.start()
        assert PAYLOAD == asyncio.run(_read(fresh.host, fresh.port))
    finally:
        fresh.close()


def test_missing_password_file_is_named_before_anything_is_written(site: Any) -> None:
    """A config naming an absent password file fails the prerequisites, naming the file."""
    from fleet.errors import MissingPrerequisite

    conf = Path(site.config["layers"]["mosquitto"]["config"])
    conf.write_text(conf.read_text() + f"password_file {conf.parent}/gone\n")
    with pytest.raises(MissingPrerequisite, match=f"{conf.parent}/gone"):
        run_backup(site.settings(), only=["mosquitto"])
    assert [] == Repository(site.repo).snapshot_ids()


def test_broker_that_does_not_save_fails_only_its_layer(site: Any, tmp_path: Path) -> None:
    """A PID that never rewrites mosquitto.db fails the mosquitto layer, named; the other
    layers are still captured and the snapshot is marked incomplete."""
    import subprocess

    data = tmp_path / "mosqdata"
    data.mkdir()
    (data / "mosquitto.db").write_bytes(b"old")
    conf = tmp_path / "persist.conf"
    conf.write_text(f"persistence true\npersistence_location {data}/\n")
    not_a_broker = subprocess.Popen(["sleep", "60"])
    try:
        pid_file = tmp_path / "pid"
        pid_file.write_text(str(not_a_broker.pid))
        site.config["layers"]["mosquitto"] = {
            "config": str(conf),
            "pid_file": str(pid_file),
            "save_timeout": 0.3,
        }
        result = run_backup(site.settings(), only=["mosquitto", "python_service"])
    finally:
        not_a_broker.kill()
        not_a_broker.wait()
    assert {"mosquitto": "failed", "python_service": "ok"} == result.layers
    assert f"did not rewrite {data}/mosquitto.db" in result.errors["mosquitto"]
    man = Repository(site.repo).manifest(result.snapshot)
    assert (False, ["python_service"]) == (man.complete, sorted({a.layer for a in man.artifacts}))
