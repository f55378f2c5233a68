"""Import, list, show, export and sign through the real `fleet` CLI; no secret on disk."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from fleet.context import FleetContext
from fleet.settings import Settings


def _site_csv(path: Path, n: int, bad_row: int | None = None) -> dict[str, str]:
    secrets = {}
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["uid", "hardware_id", "type", "gh_uid", "zone_uid", "node_secret"])
        for i in range(n):
            uid = f"nd-ph-{i}"
            secret = hashlib.sha256(f"s{i}".encode()).hexdigest()
            secrets[uid] = secret
            hw = f"esp32-{i:012x}" if i != bad_row else "esp32-XYZ"
            w.writerow([uid, hw, "ph", "gh-1", f"zn-{i % 3}", secret])
    return secrets


def scan_for_secrets(root: Path, secrets: list[str]) -> list[str]:
    """Files under `root` holding any secret as hex text or as the raw bytes it encodes."""
    needles = [s.encode() for s in secrets] + [bytes.fromhex(s) for s in secrets]
    hits = []
    for p in root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            if any(n in data for n in needles):
                hits.append(str(p))
    return hits


def test_import_then_no_secret_on_disk(home: Path, tmp_path: Path, run_fleet: Any) -> None:
    """After importing nodes with secrets, no file in FLEET_HOME holds any of them."""
    secrets = _site_csv(tmp_path / "site.csv", 30)
    r = run_fleet(home, "nodes", "import", str(tmp_path / "site.csv"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["imported"] == 30
    listed = json.loads(run_fleet(home, "nodes", "list", "--json").stdout)
    assert len(listed) == 30
    assert scan_for_secrets(home, list(secrets.values())) == []
    ctx = FleetContext.open(settings=Settings.load(home, environ={}))
    assert secrets["nd-ph-7"] == ctx.vault.node_secret("nd-ph-7")


def test_bad_row_imports_nothing_and_is_named(home: Path, tmp_path: Path, run_fleet: Any) -> None:
    """One malformed row: exit 65, the line is named, and no node was added."""
    _site_csv(tmp_path / "site.csv", 10, bad_row=6)
    r = run_fleet(home, "nodes", "import", str(tmp_path / "site.csv"))
    assert r.returncode == 65
    assert "line 8" in r.stderr and "hardware_id" in r.stderr
    assert json.loads(run_fleet(home, "nodes", "list", "--json").stdout) == []


def test_json_import_and_duplicate_against_registry(
    home: Path, tmp_path: Path, run_fleet: Any
) -> None:
    """A JSON import that collides with a registered node imports none of its nodes."""
    f = tmp_path / "a.json"
    f.write_text(json.dumps([{"uid": "nd-1", "gh_uid": "gh-1", "zone_uid": "zn-1"}]))
    assert run_fleet(home, "nodes", "import", str(f)).returncode == 0
    f.write_text(
        json.dumps(
            {
                "nodes": [
                    {"uid": "nd-2", "gh_uid": "gh-1", "zone_uid": "zn-1"},
                    {"uid": "nd-1", "gh_uid": "gh-1", "zone_uid": "zn-1"},
                ]
            }
        )
    )
    r = run_fleet(home, "nodes", "import", str(f), "--json")
    assert r.returncode == 73
    assert "nd-1" in json.loads(r.stdout)["message"]
    uids = [n["uid"] for n in json.loads(run_fleet(home, "nodes", "list", "--json").stdout)]
    assert uids == ["nd-1"]


def test_sign_output_verifies_independently(home: Path, tmp_path: Path, run_fleet: Any) -> None:
    """`fleet command sign --json` is what the firmware accepts, re-derived by hand here."""
    secrets = _site_csv(tmp_path / "site.csv", 3)
    run_fleet(home, "nodes", "import", str(tmp_path / "site.csv"))
    r = run_fleet(home, "command", "sign", "nd-ph-1", "--cmd", "reboot", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["topic"] == "hydro/gh-1/zn-1/nd-ph-1/system/command"
    p = out["payload"]
    # Independent canonical form: the four fields in sorted order, empty params.
    canonical = (
        '{"cmd":"'
        + p["cmd"]
        + '","cmd_id":"'
        + p["cmd_id"]
        + '","params":{},"ts":'
        + str(p["ts"])
        + "}"
    )
    key = secrets["nd-ph-1"].encode("ascii")
    expected = hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()
    assert expected == p["sig"]


def test_show_reveal_is_audited_and_export_has_no_secret(
    home: Path, tmp_path: Path, run_fleet: Any
) -> None:
    """Revealing a secret leaves an audit record; an export never contains secrets."""
    secrets = _site_csv(tmp_path / "site.csv", 3)
    run_fleet(home, "nodes", "import", str(tmp_path / "site.csv"))
    shown = json.loads(run_fleet(home, "nodes", "show", "nd-ph-2", "--json").stdout)
    assert "node_secret" not in shown and shown["secret_in_vault"]
    revealed = json.loads(
        run_fleet(home, "nodes", "show", "nd-ph-2", "--reveal-secret", "--json").stdout
    )
    assert secrets["nd-ph-2"] == revealed["node_secret"]
    audit = json.loads(run_fleet(home, "audit", "--node", "nd-ph-2", "--json").stdout)
    assert audit[0]["action"] == "node.reveal_secret"
    out = tmp_path / "export.csv"
    assert run_fleet(home, "nodes", "export", str(out)).returncode == 0
    assert not any(s in out.read_text() for s in secrets.values())


def test_unknown_node_and_missing_file_exit_codes(
    home: Path, tmp_path: Path, run_fleet: Any
) -> None:
    """Scripts can tell a missing node (66) from a missing file (66) from bad usage (2)."""
    r = run_fleet(home, "nodes", "show", "nd-nope")
    assert r.returncode == 66 and "nd-nope" in r.stderr
    r = run_fleet(home, "nodes", "import", str(tmp_path / "missing.csv"))
    assert r.returncode == 66 and "missing.csv" in r.stderr
    r = run_fleet(home, "nodes", "import")
    assert r.returncode == 2


def test_init_twice_keeps_the_key(home: Path, run_fleet: Any) -> None:
    """Running init again does not overwrite the vault key."""
    before = (home / "vault.key").read_bytes()
    r = run_fleet(home, "init", "--json")
    assert r.returncode == 0
    assert not json.loads(r.stdout)["key_created"]
    assert before == (home / "vault.key").read_bytes()
