"""The conformance suite every file layer passes: back up a fixture, restore it with stock
tools (`age -d -i`, `zstd -dc`, `tar -x`) and with the layer's own restore, compare."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fleet.backup.layer import RestoreOptions
from fleet.backup.repository import Repository
from fleet.backup.runner import build_handler, layer_env, run_backup
from fleet.backup.settings import backup_settings
from fleet.home import init_home


def tree(root: Path) -> dict[str, tuple[str, int, bytes | str]]:
    """Every entry under `root`: (type, permission bits, content or link target, owner)."""
    out: dict[str, tuple[Any, ...]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", 0, os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode), b"")
        else:
            out[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes(), st.st_uid, st.st_gid)
    return out


def source_tree(site: Any, layer: str) -> dict[str, tuple[str, int, bytes | str]]:
    """What a layer should have captured, as `tree` shows it."""
    root = site.root
    if layer == "laravel":
        full = tree(root / "laravel")
        keep = (".env", "composer.lock", "storage/app/ota", "storage/app/public")
        return {k: v for k, v in full.items() if k.startswith(keep)}
    if layer == "python_service":
        return tree(root / "python")
    if layer == "mosquitto":
        etc = tree(root / "etc/mosquitto")
        prefix = (root / "etc/mosquitto").as_posix().lstrip("/")
        return {f"{prefix}/{k}": v for k, v in etc.items()}
    if layer == "docker":
        vols = {
            f"volumes/{k.replace('/_data', '', 1)}": v
            for k, v in tree(root / "docker/volumes").items()
            if "/_data" in k
        }
        return {**vols, "compose/docker-compose.yml": tree(root / "srv")["docker-compose.yml"]}
    raise AssertionError(layer)


def only_files(
    t: dict[str, tuple[str, int, bytes | str]],
) -> dict[str, tuple[str, int, bytes | str]]:
    """Entries that are files or links (intermediate folders are created by restore)."""
    return {k: v for k, v in t.items() if v[0] != "dir"}


FILE_LAYERS = ["laravel", "python_service", "mosquitto", "docker"]


@pytest.mark.parametrize("layer", FILE_LAYERS)
def test_stock_tools_restore_every_file_byte_equal_with_modes(
    site: Any, layer: str, tmp_path: Path, stock_restore
) -> None:
    """A layer's artifact restored with age + zstd + tar equals the source (bytes, modes, links)."""
    result = run_backup(site.settings(), only=[layer])
    assert {layer: "ok"} == result.layers
    snap = site.repo / "snapshots" / result.snapshot
    target = tmp_path / "stock"
    stock_restore(site.identity_file, snap / f"artifacts/{layer}/files.tar.zst.age", target)
    assert only_files(source_tree(site, layer)) == only_files(tree(target))


@pytest.mark.parametrize("layer", FILE_LAYERS)
def test_layer_restore_equals_source_and_matches_manifest(
    site: Any, layer: str, tmp_path: Path
) -> None:
    """The layer's own restore reproduces the source into an empty target."""
    settings = site.settings()
    result = run_backup(settings, only=[layer])
    repo = Repository(site.repo)
    handler = build_handler(settings, layer, layer_env(settings, backup_settings(settings)))
    arts = repo.stored_artifacts(result.snapshot, layer, site.identity())
    target = tmp_path / "restored"
    done = handler.restore(arts, RestoreOptions(target=target))
    assert str(target) == done.target
    assert only_files(source_tree(site, layer)) == only_files(tree(target))


def test_restore_refuses_a_non_empty_target_and_moves_aside_when_allowed(
    site: Any, tmp_path: Path
) -> None:
    """Restore never overwrites data: a non-empty target is refused, or moved aside on request."""
    from fleet.errors import Conflict

    settings = site.settings()
    result = run_backup(settings, only=["python_service"])
    handler = build_handler(
        settings, "python_service", layer_env(settings, backup_settings(settings))
    )
    arts = Repository(site.repo).stored_artifacts(
        result.snapshot, "python_service", site.identity()
    )
    target = tmp_path / "busy"
    (target / "keep.txt").parent.mkdir(parents=True)
    (target / "keep.txt").write_text("mine")
    with pytest.raises(Conflict):
        handler.restore(arts, RestoreOptions(target=target))
    assert (target / "keep.txt").read_text() == "mine"
    done = handler.restore(arts, RestoreOptions(target=target, move_aside=True))
    assert done.moved_aside is not None
    assert (Path(done.moved_aside) / "keep.txt").read_text() == "mine"
    assert only_files(tree(site.root / "python")) == only_files(tree(target))


def test_fleet_layer_captures_registry_with_backup_api_and_the_data_directory(
    site: Any, tmp_path: Path, stock_restore
) -> None:
    """The fleet layer restores a data directory whose registry opens with the same rows."""
    settings = site.settings()
    init_home(settings)
    db = site.home / "registry.sqlite3"
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    result = run_backup(settings, only=["fleet"])
    assert result.layers == {"fleet": "ok"}
    handler = build_handler(settings, "fleet", layer_env(settings, backup_settings(settings)))
    arts = Repository(site.repo).stored_artifacts(result.snapshot, "fleet", site.identity())
    target = tmp_path / "home2"
    handler.restore(arts, RestoreOptions(target=target))
    with sqlite3.connect(target / "registry.sqlite3") as con:
        restored = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert sorted(tables) == sorted(restored)
    assert (site.home / "vault.key").read_bytes() == (target / "vault.key").read_bytes()
    assert (site.home / "fleet.toml").read_bytes() == (target / "fleet.toml").read_bytes()
    fw = "firmware/ph/1.2.0/app.bin"
    assert (site.home / fw).read_bytes() == (target / fw).read_bytes()
    stock = tmp_path / "stock"
    snap = site.repo / "snapshots" / result.snapshot
    stock_restore(site.identity_file, snap / "artifacts/fleet/files.tar.zst.age", stock)
    assert (site.home / fw).read_bytes() == (stock / fw).read_bytes()
    registry = snap / "artifacts/fleet/registry.sqlite3.age"
    cmd = [
        "age",
        "-d",
        "-i",
        str(site.identity_file),
        "-o",
        str(stock / "r.sqlite3"),
        str(registry),
    ]
    subprocess.run(cmd, check=True)
    with sqlite3.connect(stock / "r.sqlite3") as con:
        stock_tables = [
            r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
    assert sorted(tables) == sorted(stock_tables)


def test_restored_root_folder_keeps_its_mode(site: Any, tmp_path: Path) -> None:
    """A private data directory (0700) comes back private."""
    os.chmod(site.home, 0o700)
    settings = site.settings()
    result = run_backup(settings, only=["fleet"])
    handler = build_handler(settings, "fleet", layer_env(settings, backup_settings(settings)))
    arts = Repository(site.repo).stored_artifacts(result.snapshot, "fleet", site.identity())
    target = tmp_path / "home2"
    handler.restore(arts, RestoreOptions(target=target))
    assert 0o700 == stat.S_IMODE(target.stat().st_mode)
