"""Typed hydro 2.0 payloads, parsed defensively: bad input raises `MessageError`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from fleet.errors import ValidationError

COMMAND_STATUSES = frozenset({"ACK", "DONE", "ERROR", "INVALID", "BUSY", "NO_EFFECT"})
NODE_STATUSES = frozenset({"ONLINE", "OFFLINE", "SAFE_MODE"})


class MessageError(ValidationError):
    """malformed {kind} payload: {detail}"""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail, kind=kind)
        self.kind = kind


def _obj(kind: str, payload: bytes | str) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MessageError(kind, f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(value, dict):
        raise MessageError(kind, "not a JSON object")
    return value


def _num(kind: str, d: dict[str, Any], key: str, required: bool = False) -> int | None:
    v = d.get(key)
    if v is None:
        if required:
            raise MessageError(kind, f"missing '{key}'")
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise MessageError(kind, f"'{key}' is not a number")
    if isinstance(v, float) and not math.isfinite(v):
        raise MessageError(kind, f"'{key}' is not a finite number")
    return int(v)


def _str(kind: str, d: dict[str, Any], key: str, required: bool = False) -> str | None:
    v = d.get(key)
    if v is None:
        if required:
            raise MessageError(kind, f"missing '{key}'")
        return None
    if not isinstance(v, str):
        raise MessageError(kind, f"'{key}' is not a string")
    return v


@dataclass(frozen=True)
class Heartbeat:
    uptime: int | None
    free_heap: int | None
    rssi: int | None
    fw_version: str | None

    @classmethod
    def parse(cls, payload: bytes | str) -> Heartbeat:
        d = _obj("heartbeat", payload)
        return cls(
            _num("heartbeat", d, "uptime"),
            _num("heartbeat", d, "free_heap"),
            _num("heartbeat", d, "rssi"),
            _str("heartbeat", d, "fw_version"),
        )


@dataclass(frozen=True)
class Status:
    status: str
    ts: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, payload: bytes | str) -> Status:
        d = _obj("status", payload)
        s = _str("status", d, "status", required=True)
        assert s is not None
        if s not in NODE_STATUSES:
            raise MessageError("status", f"unknown status {s[:32]!r}")
        extra = {k: v for k, v in d.items() if k not in ("status", "ts")}
        return cls(s, _num("status", d, "ts"), extra)


def parse_lwt(payload: bytes | str) -> bool:
    """True when the payload is the firmware's last will, the plain string `offline`."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    return text.strip().lower() == "offline"


@dataclass(frozen=True)
class NodeHello:
    hardware_id: str
    node_type: str | None
    fw_version: str | None
    capabilities: tuple[str, ...]

    @classmethod
    def parse(cls, payload: bytes | str) -> NodeHello:
        d = _obj("node_hello", payload)
        if d.get("message_type") != "node_hello":
            raise MessageError("node_hello", "message_type is not 'node_hello'")
        hw = _str("node_hello", d, "hardware_id", required=True)
        assert hw is not None
        caps = d.get("capabilities") or []
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise MessageError("node_hello", "'capabilities' is not a list of strings")
        return cls(
            hw, _str("node_hello", d, "node_type"), _str("node_hello", d, "fw_version"), tuple(caps)
        )


@dataclass(frozen=True)
class ConfigReport:
    config: dict[str, Any]
    fw_version: str | None

    @classmethod
    def parse(cls, payload: bytes | str) -> ConfigReport:
        d = _obj("config_report", payload)
        return cls(d, _str("config_report", d, "fw_version"))


@dataclass(frozen=True)
class CommandResponse:
    cmd_id: str
    status: str
    ts: int | None
    details: Any = None
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def parse(cls, payload: bytes | str) -> CommandResponse:
        d = _obj("command_response", payload)
        cid = _str("command_response", d, "cmd_id", required=True)
        st = _str("command_response", d, "status", required=True)
        assert cid is not None and st is not None
        if st not in COMMAND_STATUSES:
            raise MessageError("command_response", f"unknown status {st[:32]!r}")
        return cls(
            cid,
            st,
            _num("command_response", d, "ts"),
            d.get("details"),
            _str("command_response", d, "error_code"),
            _str("command_response", d, "error_message"),
        )

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cmd_id": self.cmd_id, "status": self.status}
        if self.ts is not None:
            out["ts"] = self.ts
        if self.details is not None:
            out["details"] = self.details
        if self.error_code is not None:
            out["error_code"] = self.error_code
        if self.error_message is not None:
            out["error_message"] = self.error_message
        return out


@dataclass(frozen=True)
class TimeRequest:
    uptime: int | None

    @classmethod
    def parse(cls, payload: bytes | str) -> TimeRequest:
        d = _obj("time_request", payload)
        if d.get("message_type") != "time_request":
            raise MessageError("time_request", "message_type is not 'time_request'")
        return cls(_num("time_request", d, "uptime"))


def time_response(now: float) -> dict[str, Any]:
    """The server's answer on `hydro/time/response`."""
    return {"message_type": "time_response", "unix_ts": int(now), "server_time": int(now)}
