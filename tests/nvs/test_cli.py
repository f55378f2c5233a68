"""`fleet site` and `fleet nvs` through the real executable; no plaintext secret on disk."""

from __future__ import annotations

import json
import stat

from fleet.context import FleetContext
from fleet.settings import Settings

SITE_SECRETS = ("wifi-pass-7f3a", "mqtt-pass-c41d")


def _all_bytes(folder):
    for path in folder.rglob("*"):
        if path.is_file():
            yield path, path.read_bytes()


def test_build_all_leaves_no_plaintext_secret_in_fleet_home(site_home, run_fleet):
    """After `fleet nvs build --all` no node_secret or password is in any file of FLEET_HOME."""
    r = run_fleet(site_home, "nvs", "build", "--all", "--json")
    assert 0 == r.returncode, r.stderr
    assert {"built": 9, "failed": 0} == {k: json.loads(r.stdout)[k] for k in ("built", "failed")}
    ctx = FleetContext.open(settings=Settings.load(site_home, environ={}))
    needles = [*SITE_SECRETS] + [ctx.vault.node_secret(n.uid) for n in ctx.registry.list_nodes()]
    ctx.registry.engine.dispose()
    for path, data in _all_bytes(site_home):
        for needle in needles:
            for form in (needle.encode(), needle.encode().hex().encode()):
                assert form not in data, f"{path} holds a secret in clear"


def test_site_password_from_stdin_goes_to_vault(home, run_fleet):
    """`fleet site set wifi.pass --stdin` stores the password in the vault, shows it masked."""
    r = run_fleet(home, "site", "set", "wifi.pass", "--stdin", stdin="s3cret-pw\n")
    assert 0 == r.returncode, r.stderr
    shown = json.loads(run_fleet(home, "site", "show", "--json").stdout)
    assert "********" == shown["site"]["wifi.pass"]
    assert "s3cret-pw" not in (home / "fleet.toml").read_text()


def test_build_to_file_is_0600_and_verifies(site_home, tmp_path, run_fleet):
    """`nvs build -o` writes a 0600 file that `nvs verify` accepts; `nvs show` masks secrets."""
    out = tmp_path / "ph.bin"
    r = run_fleet(site_home, "nvs", "build", "nd-ph-1", "-o", str(out))
    assert 0 == r.returncode, r.stderr
    assert "holds the node_secret and passwords in clear" in r.stderr
    assert 0o600 == stat.S_IMODE(out.stat().st_mode)
    assert 0 == run_fleet(site_home, "nvs", "verify", str(out)).returncode
    shown = json.loads(run_fleet(site_home, "nvs", "show", str(out), "--json").stdout)
    config = shown["values"]["node_config"]["config"]["value"]
    assert ("********", "********") == (config["node_secret"], config["wifi"]["pass"])
    assert "wifi-pass-7f3a" not in run_fleet(site_home, "nvs", "show", "--node", "nd-ph-1").stdout


def test_verify_fails_on_damaged_image(site_home, tmp_path, run_fleet):
    """`nvs verify` exits non-zero and names the page and entry of a flipped bit."""
    out = tmp_path / "ph.bin"
    run_fleet(site_home, "nvs", "build", "nd-ph-1", "-o", str(out))
    data = bytearray(out.read_bytes())
    data[64 + 32 + 10] ^= 0x01  # key field of entry 1 (the config string)
    out.write_bytes(bytes(data))
    r = run_fleet(site_home, "nvs", "verify", str(out), "--json")
    assert 65 == r.returncode
    problems = json.loads(r.stdout)["problems"]
    assert problems[0].startswith("NVS page 0 (offset 0x0) entry 1 (offset 0x60): entry header")


def test_diff_two_nodes_field_by_field(site_home, run_fleet):
    """`nvs diff` of two nodes lists the differing fields, secrets masked."""
    run_fleet(site_home, "nvs", "build", "--all")
    r = run_fleet(site_home, "nvs", "diff", "nd-relay-1", "nd-pump-1", "--json")
    assert 1 == r.returncode
    changes = {c["path"]: (c["a"], c["b"]) for c in json.loads(r.stdout)["changes"]}
    assert ("nd-relay-1", "nd-pump-1") == changes["node_id"]
    assert ("********", "********") == changes["node_secret"]
    assert "wifi.ssid" not in changes
