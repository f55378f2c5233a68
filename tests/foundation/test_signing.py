"""hydro 2.0 canonical JSON and command signatures.

Known-answer vectors: the canonical strings were written out by hand from the rules in
DESIGN.md section 2 and their HMACs computed with `openssl dgst -sha256 -hmac KEY`,
so they do not depend on fleet's code. Numbers follow cJSON's `compare_double` (within
DBL_EPSILON): 1.0000000000000003e-05 prints `1e-05` on the node, as Debian's libcjson
confirms (test_canonical_cjson.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math

import pytest

from fleet.protocol import (
    ProtocolError,
    build_command,
    canonical_json,
    channel_topic,
    node_topic,
    parse_topic,
    sign_command,
    temp_topic,
    verify_command,
)
from fleet.protocol.messages import CommandResponse, Heartbeat, MessageError, Status, parse_lwt

KEY = "0123456789abcdef" * 4

VECTORS = [
    (
        {"cmd": "reboot", "cmd_id": "c1", "params": {}, "ts": 1700000000},
        '{"cmd":"reboot","cmd_id":"c1","params":{},"ts":1700000000}',
        "56055805e211d03389c0a55412666895fad2e78b2eac2e10c89ef9f80c67bbd6",
    ),
    (
        {
            "ts": 1700000001,
            "params": {"v": 1.0, "temp": 21.5, "path": "a/b", "b": [3, 1, 2], "ü": "ж"},
            "cmd_id": "c-2",
            "cmd": "set_relay",
        },
        '{"cmd":"set_relay","cmd_id":"c-2","params":{"b":[3,1,2],"path":"a/b","temp":21.5,'
        '"v":1,"ü":"ж"},"ts":1700000001}',
        "cffb5bb238760b6acae261c70b151d77f9f4912d0fffb631954304559a6720ba",
    ),
    (
        {
            "cmd": "dose",
            "cmd_id": "c3",
            "params": {
                "big": 1e300,
                "ml": 0.1,
                "nan": math.nan,
                "small": 1.0000000000000003e-05,
                "third": 1 / 3,
                "whole": 2.0,
            },
            "ts": 1700000002,
        },
        '{"cmd":"dose","cmd_id":"c3","params":{"big":1e+300,"ml":0.1,"nan":null,'
        '"small":1e-05,"third":0.33333333333333331,"whole":2},"ts":1700000002}',
        "784fe2e4e7ab1285256c4a39f891e6055039039214962809dd6100daa5e943c3",
    ),
]


@pytest.mark.parametrize(("command", "canonical", "sig"), VECTORS)
def test_known_answer_vectors(command: dict[str, object], canonical: str, sig: str) -> None:
    """Canonical text and signature equal the hand-made vectors."""
    assert canonical == canonical_json(command)
    assert sig == sign_command(KEY, command)


def test_canonical_rules_nested() -> None:
    """Nested objects sorted at every level, arrays kept, no whitespace, Inf as null."""
    value = {"z": {"b": 1, "a": [{"y": 2, "x": 1}]}, "a": math.inf, "m": -0.5, "t": True}
    assert canonical_json(value) == '{"a":null,"m":-0.5,"t":true,"z":{"a":[{"x":1,"y":2}],"b":1}}'


def test_signature_is_over_ascii_hex_not_decoded_key() -> None:
    """The HMAC key is the 64 ASCII characters, not the 32 bytes they encode."""
    cmd = {"cmd": "reboot", "cmd_id": "c1", "params": {}, "ts": 1700000000}
    decoded = hmac.new(bytes.fromhex(KEY), canonical_json(cmd).encode(), hashlib.sha256)
    assert decoded.hexdigest() != sign_command(KEY, cmd)


def test_build_then_verify_round_trip() -> None:
    """A built command verifies within +-10 s and carries the firmware's fields."""
    cmd = build_command(KEY, "reboot", ts=1700000000, cmd_id="abc")
    assert {"cmd", "cmd_id", "params", "ts", "sig"} == set(cmd)
    verify_command(KEY, cmd, now=1700000010)
    verify_command(KEY, cmd, now=1699999990)


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda c: c.pop("cmd"), "invalid_command_format"),
        (lambda c: c.update(cmd_id="x" * 64), "invalid_command_format"),
        (lambda c: (c.pop("sig"), c.pop("ts")), "hmac_required"),
        (lambda c: c.pop("sig"), "invalid_hmac_format"),
        (lambda c: c.update(sig="zz"), "invalid_hmac_format"),
        (lambda c: c.update(ts="now"), "invalid_hmac_format"),
        (lambda c: c.update(sig="g" * 64), "invalid_signature"),
        (lambda c: c.update(ts=1700000011), "timestamp_expired"),
        (lambda c: c.update(params={"x": 1}), "invalid_signature"),
    ],
)
def test_verify_error_codes(mutate: object, code: str) -> None:
    """Each kind of bad command is refused with the firmware's error_code."""
    cmd = build_command(KEY, "reboot", ts=1700000000, cmd_id="abc")
    mutate(cmd)  # type: ignore[operator]
    with pytest.raises(ProtocolError) as info:
        verify_command(KEY, cmd, now=1700000000)
    assert code == info.value.error_code


def test_verify_without_secret() -> None:
    """A node with no secret answers missing_node_secret."""
    cmd = build_command(KEY, "reboot", ts=1700000000, cmd_id="abc")
    with pytest.raises(ProtocolError) as info:
        verify_command(None, cmd, now=1700000000)
    assert info.value.error_code == "missing_node_secret"


def test_topics_round_trip() -> None:
    """Node-level, channel-level and temp topics build and parse back."""
    t = node_topic("gh-1", "zn-3", "nd-ph-1", "heartbeat")
    assert t == "hydro/gh-1/zn-3/nd-ph-1/heartbeat"
    p = parse_topic(t)
    assert p is not None and (p.node, p.kind, p.channel) == ("nd-ph-1", "heartbeat", None)
    c = parse_topic(channel_topic("gh-1", "zn-3", "nd-ph-1", "system", "command_response"))
    assert c is not None and (c.channel, c.kind) == ("system", "command_response")
    tmp = parse_topic(temp_topic("esp32-aabbccddeeff", "config_report"))
    assert tmp is not None and tmp.is_temp
    for bad in (
        "hydro/x",
        "other/gh/zn/nd/heartbeat",
        "hydro/gh//nd/heartbeat",
        "hydro/gh/zn/nd/bogus",
        "hydro/gh/zn/nd/ch/heartbeat/extra",
    ):
        assert parse_topic(bad) is None


def test_message_parsing_refuses_bad_payloads() -> None:
    """Malformed payloads raise MessageError naming the message kind."""
    hb = Heartbeat.parse(
        json.dumps({"uptime": 5, "free_heap": 1000, "rssi": -60, "fw_version": "1.0"})
    )
    assert (hb.uptime, hb.rssi) == (5, -60)
    with pytest.raises(MessageError, match="heartbeat"):
        Heartbeat.parse(b"\xff\xfe")
    with pytest.raises(MessageError, match="heartbeat"):
        Heartbeat.parse('{"rssi": "loud"}')
    with pytest.raises(MessageError, match="status"):
        Status.parse('{"status": "DANCING"}')
    with pytest.raises(MessageError, match="finite"):
        Heartbeat.parse('{"uptime": Infinity}')
    with pytest.raises(MessageError, match="heartbeat"):
        Heartbeat.parse("[" * 100_000 + "]" * 100_000)
    assert parse_lwt(b"offline")
    assert not parse_lwt(b'{"status":"ONLINE"}')
    r = CommandResponse.parse('{"cmd_id":"a","status":"ERROR","error_code":"invalid_signature"}')
    assert r.error_code == "invalid_signature"
