"""The simulated firmware judges commands in the hydro 2.0 order, with its error codes.

Signatures here are computed by this file's own HMAC code, not by fleet.protocol, so the
simulator is checked against the contract, not against itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from fleet.protocol import build_command
from fleet.sim.node.firmware import DEDUP_ENTRIES, NodeFaults, SimNode

SECRET = "0123456789abcdef" * 4


def sign(secret: str, body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(secret.encode("ascii"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def signed(cmd: str = "reboot", cmd_id: str = "c1", ts: int | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"cmd": cmd, "cmd_id": cmd_id, "params": {}, **extra}
    body["ts"] = int(time.time()) if ts is None else ts
    body["sig"] = sign(SECRET, body)
    return json.dumps(body).encode()


def node(**kw: Any) -> SimNode:
    n = SimNode("esp32-0200000000aa", "nd-ph-1", "gh-1", "zn-1", secret=SECRET, **kw)
    n.sync_time(time.time())
    return n


def answer(n: SimNode, payload: bytes | dict[str, Any], channel: str = "system") -> Any:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    out = n.handle_command(channel, raw)
    if out is None:
        return None
    return (out.response["status"], out.response.get("error_code"))


def test_valid_signed_reboot_is_done_and_restarts() -> None:
    """A correctly signed reboot answers DONE and asks for a restart."""
    out = node().handle_command("system", signed())
    assert out is not None
    assert ("DONE", True, "c1") == (out.response["status"], out.reboot, out.response["cmd_id"])


def test_command_built_by_fleet_protocol_is_accepted() -> None:
    """What fleet.protocol.build_command produces is what the node accepts."""
    cmd = build_command(SECRET, "restart", cmd_id="p1")
    assert ("DONE", None) == answer(node(), cmd)


def test_each_bad_command_gets_the_firmware_error_code() -> None:
    """Every malformed or unauthentic command gets exactly the firmware's answer."""
    now = int(time.time())
    good = json.loads(signed())
    cases: list[tuple[str, bytes | dict[str, Any], Any]] = [
        ("not json", b"{nope", ("INVALID", "invalid_json")),
        ("not an object", b"[1,2]", None),
        ("no cmd_id", {"cmd": "reboot"}, None),
        ("no cmd", {"cmd_id": "x1"}, ("ERROR", "invalid_command_format")),
        ("cmd too long", {"cmd": "r" * 32, "cmd_id": "x2"}, ("ERROR", "invalid_command_format")),
        (
            "cmd_id too long",
            {"cmd": "reboot", "cmd_id": "i" * 64},
            ("ERROR", "invalid_command_format"),
        ),
        (
            "sig without ts",
            {**{k: good[k] for k in ("cmd", "cmd_id", "sig")}},
            ("ERROR", "invalid_hmac_format"),
        ),
        (
            "ts without sig",
            {**{k: good[k] for k in ("cmd", "cmd_id", "ts")}},
            ("ERROR", "invalid_hmac_format"),
        ),
        ("neither ts nor sig", {"cmd": "reboot", "cmd_id": "x3"}, ("ERROR", "hmac_required")),
        ("ts is a string", {**good, "ts": str(now)}, ("ERROR", "invalid_hmac_format")),
        ("sig is a number", {**good, "sig": 12}, ("ERROR", "invalid_hmac_format")),
        ("sig 63 chars", {**good, "sig": good["sig"][:63]}, ("ERROR", "invalid_hmac_format")),
        ("stale ts", signed(ts=now - 11), ("ERROR", "timestamp_expired")),
        ("future ts", signed(ts=now + 11), ("ERROR", "timestamp_expired")),
        ("bad sig", {**good, "sig": "0" * 64}, ("ERROR", "invalid_signature")),
        ("tampered", {**good, "cmd_id": "other"}, ("ERROR", "invalid_signature")),
        ("unknown", signed(cmd="dance", cmd_id="u1"), ("ERROR", "unknown_command")),
        ("empty", b"", None),
        ("too big", b" " * 4097, None),
    ]
    expected = {name: want for name, _, want in cases}
    actual = {name: answer(node(), payload) for name, payload, _ in cases}
    assert expected == actual


def test_ts_within_ten_seconds_is_accepted() -> None:
    """A command 10 s old is still inside the firmware's window."""
    assert ("DONE", None) == answer(node(), signed(ts=int(time.time()) - 9))


def test_uppercase_hex_signature_is_accepted() -> None:
    """The firmware compares hex case-insensitively."""
    good = json.loads(signed())
    assert ("DONE", None) == answer(node(), {**good, "sig": good["sig"].upper()})


def test_missing_secret_comes_before_signature_length() -> None:
    """A node without node_secret says missing_node_secret even for a short sig."""
    n = SimNode("esp32-0200000000bb")
    n.sync_time(time.time())
    bad = {**json.loads(signed()), "sig": "ab"}
    assert ("ERROR", "missing_node_secret") == answer(n, bad)


def test_unsynced_node_refuses_with_time_not_synced() -> None:
    """Before its time is synced a node refuses every signed command but set_time."""
    n = SimNode("esp32-0200000000cc", "nd-ph-2", "gh-1", "zn-1", secret=SECRET)
    assert ("ERROR", "time_not_synced") == answer(n, signed())
    set_time = signed(cmd="set_time", cmd_id="t1")
    body = json.loads(set_time)
    body["params"] = {"unix_ts": int(time.time())}
    del body["sig"]
    body["sig"] = sign(SECRET, body)
    assert ("DONE", None) == answer(n, body)
    assert ("DONE", None) == answer(n, signed(cmd_id="after-sync"))


def test_clock_skew_fault_makes_fresh_commands_stale() -> None:
    """A node whose clock runs 30 s ahead refuses a fresh command as timestamp_expired."""
    n = node(faults=NodeFaults(clock_skew_s=30))
    n.sync_time(time.time())
    assert ("ERROR", "timestamp_expired") == answer(n, signed())


def test_repeated_cmd_id_returns_the_remembered_status() -> None:
    """A cmd_id already answered returns the same final status; a failed one says so."""
    n = node()
    first = n.handle_command("system", signed(cmd_id="d1"))
    again = n.handle_command("system", signed(cmd_id="d1"))
    assert first is not None and again is not None
    assert (True, "DONE", False) == (first.reboot, again.response["status"], again.reboot)
    answer(n, signed(cmd="dance", cmd_id="d2"))
    assert ("ERROR", "command_already_failed") == answer(n, signed(cmd="dance", cmd_id="d2"))
    # the same cmd_id on another channel is a different command
    assert ("DONE", None) == answer(n, signed(cmd_id="d1"), channel="pump_1")


def test_signature_errors_are_not_remembered() -> None:
    """A refused signature does not poison the cmd_id: the corrected command runs."""
    n = node()
    bad = {**json.loads(signed(cmd_id="r1")), "sig": "0" * 64}
    assert ("ERROR", "invalid_signature") == answer(n, bad)
    out = n.handle_command("system", signed(cmd_id="r1"))
    assert out is not None
    assert (True, "DONE") == (out.reboot, out.response["status"])


def test_dedup_keeps_the_last_128_entries() -> None:
    """After 129 commands the oldest cmd_id is forgotten and runs again."""
    n = node()
    for i in range(DEDUP_ENTRIES + 1):
        answer(n, signed(cmd="report_config", cmd_id=f"k{i}"))
    oldest = n.handle_command("system", signed(cmd="report_config", cmd_id="k0"))
    newest = n.handle_command("system", signed(cmd="report_config", cmd_id=f"k{DEDUP_ENTRIES}"))
    assert oldest is not None and newest is not None
    assert (True, False) == (oldest.report_config, newest.report_config)


def test_reboot_forgets_time_and_dedup() -> None:
    """After a restart the node must re-sync time, and a cmd_id runs again."""
    n = node()
    answer(n, signed(cmd_id="z1"))
    n.reboot()
    assert (False, ("ERROR", "time_not_synced")) == (n.time_synced, answer(n, signed(cmd_id="z1")))


def test_config_push_binds_an_unbound_node() -> None:
    """A NodeConfig pushed to an unbound node moves it into its real namespace."""
    n = SimNode("esp32-0200000000dd")
    assert "hydro/gh-temp/zn-temp/esp32-0200000000dd" == n.base_topic
    cfg = {"node_id": "nd-ec-9", "gh_uid": "gh-2", "zone_uid": "zn-4", "node_secret": SECRET}
    assert True is n.apply_config(json.dumps(cfg).encode())
    assert ("hydro/gh-2/zn-4/nd-ec-9", True) == (n.base_topic, n.bound)


def test_config_report_never_carries_the_secret() -> None:
    """config_report shows the held NodeConfig but not node_secret."""
    assert SECRET not in node().config_report().decode()
