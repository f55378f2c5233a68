"""Signed commands, exactly as the hydro 2.0 firmware checks them.

`sig = hex(HMAC-SHA256(key, canonical_json(command without "sig")))` where the key is the
ASCII bytes of the 64-hex-character node_secret string (not hex-decoded); `ts` is in
seconds and must be within +-10 s of the receiver's clock.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import sys
import time
from typing import Any

from fleet.errors import FleetError
from fleet.protocol.canonical import canonical_json

MAX_SKEW_S = 10
MAX_PAYLOAD = 4096
MAX_CMD_ID = 63  # the firmware's buffer: cmd_id < 64 characters
MAX_CMD_NAME = 31  # cmd < 32 characters


class ProtocolError(FleetError):
    """command refused: {detail}"""

    exit_code = 65

    def __init__(self, error_code: str, detail: str = "", status: str = "ERROR") -> None:
        super().__init__(detail or error_code, error_code=error_code)
        self.error_code = error_code
        self.status = status


def new_cmd_id() -> str:
    """A fresh command id (well under the firmware's 64-character limit)."""
    return "fleet-" + secrets.token_hex(8)


def sign_command(secret: str, command: dict[str, Any]) -> str:
    """The hex HMAC of `command` (its `sig` field, if any, left out)."""
    body = {k: v for k, v in command.items() if k != "sig"}
    key = secret.encode("ascii")
    return hmac.new(key, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()


def _check_json(value: Any, path: str) -> None:
    """Refuse what cJSON on the node cannot read back: NaN, Infinity, huge integers, NUL."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ProtocolError(
                "invalid_command_format", f"{path} holds a NUL character (the node cuts it there)"
            )
        return
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ProtocolError(
            "invalid_command_format",
            f"{path} is {value}: NaN and Infinity are not JSON (the node would answer "
            "INVALID); send a number or null",
        )
    if isinstance(value, int) and abs(value) > sys.float_info.max:
        raise ProtocolError("invalid_command_format", f"{path} is beyond what a double holds")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json(str(key), f"{path} key {key!r}")
            _check_json(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")


def build_command(
    secret: str,
    cmd: str,
    params: dict[str, Any] | None = None,
    cmd_id: str | None = None,
    ts: int | None = None,
) -> dict[str, Any]:
    """A signed command payload `{"cmd","cmd_id","params","ts","sig"}`."""
    cid = cmd_id or new_cmd_id()
    if not cid or len(cid) > MAX_CMD_ID:
        raise ProtocolError("invalid_command_format", f"cmd_id must be 1-{MAX_CMD_ID} characters")
    if not cmd or len(cmd) > MAX_CMD_NAME:
        raise ProtocolError("invalid_command_format", f"cmd must be 1-{MAX_CMD_NAME} characters")
    _check_json(params or {}, "params")
    body: dict[str, Any] = {
        "cmd": cmd,
        "cmd_id": cid,
        "params": dict(params or {}),
        "ts": int(time.time()) if ts is None else int(ts),
    }
    body["sig"] = sign_command(secret, body)
    if len(canonical_json(body).encode()) > MAX_PAYLOAD:
        raise ProtocolError("invalid_command_format", f"payload exceeds {MAX_PAYLOAD} bytes")
    return body


def verify_command(
    secret: str | None, command: Any, now: float | None = None, *, time_synced: bool = True
) -> None:
    """Check `command` as the firmware does, in its order; raise `ProtocolError`.

    Order (hydro 2.0 `node_command_handler.c`): cmd/cmd_id present, non-empty strings,
    cmd < 32 and cmd_id < 64 characters -> `ts` and `sig` both present or both absent
    (`invalid_hmac_format`), neither (`hmac_required`) -> `ts` a number and `sig` a string
    -> secret known (`missing_node_secret`) -> `sig` 64 characters -> clock synced
    (`time_not_synced`) -> |now - ts| <= 10 s (`timestamp_expired`) -> HMAC, hex compared
    case-insensitively (`invalid_signature`). `params` is judged later, by the command.
    """
    if not isinstance(command, dict):
        raise ProtocolError("invalid_command_format", "command is not a JSON object")
    cmd = command.get("cmd")
    cmd_id = command.get("cmd_id")
    if not isinstance(cmd, str) or not cmd or not isinstance(cmd_id, str) or not cmd_id:
        raise ProtocolError("invalid_command_format", "cmd and cmd_id are required")
    if len(cmd) > MAX_CMD_NAME:
        raise ProtocolError("invalid_command_format", "cmd is too long")
    if len(cmd_id) > MAX_CMD_ID:
        raise ProtocolError("invalid_command_format", "cmd_id is too long")
    has_ts, has_sig = "ts" in command, "sig" in command
    if has_ts != has_sig:
        raise ProtocolError("invalid_hmac_format", "ts and sig must be provided together")
    if not has_ts:
        raise ProtocolError("hmac_required", "command carries no ts/sig")
    ts, sig = command["ts"], command["sig"]
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not isinstance(sig, str):
        raise ProtocolError("invalid_hmac_format", "ts is not a number or sig not a string")
    if not secret:
        raise ProtocolError("missing_node_secret", "node has no secret")
    if len(sig) != 64:
        raise ProtocolError("invalid_hmac_format", "sig is not 64 characters")
    if not time_synced:
        raise ProtocolError("time_not_synced", "node time is not synced")
    current = time.time() if now is None else now
    if abs(int(current) - int(ts)) > MAX_SKEW_S:
        raise ProtocolError("timestamp_expired", f"ts is {int(current - ts)} s away from now")
    expected = sign_command(secret, command)
    if not hmac.compare_digest(expected, sig.lower()):
        raise ProtocolError("invalid_signature", "signature does not match")
