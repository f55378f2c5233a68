"""Signed commands, exactly as the hydro 2.0 firmware checks them.

`sig = hex(HMAC-SHA256(key, canonical_json(command without "sig")))` where the key is the
ASCII bytes of the 64-hex-character node_secret string (not hex-decoded); `ts` is in
seconds and must be within +-10 s of the receiver's clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import Any

from fleet.errors import FleetError
from fleet.protocol.canonical import canonical_json

MAX_SKEW_S = 10
MAX_PAYLOAD = 4096
MAX_CMD_ID = 63
_SIG = re.compile(r"^[0-9a-f]{64}$")


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
    if not cmd:
        raise ProtocolError("invalid_command_format", "cmd must not be empty")
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


def verify_command(secret: str | None, command: Any, now: float | None = None) -> None:
    """Check `command` the way the firmware does, in its order; raise `ProtocolError`.

    Order: format (cmd, cmd_id, params, ts) -> sig present and 64 hex -> secret known ->
    clock synced (caller's concern: pass `now=None` only when synced) -> |now - ts| <= 10 ->
    signature.
    """
    if not isinstance(command, dict):
        raise ProtocolError("invalid_command_format", "command is not a JSON object")
    cmd = command.get("cmd")
    cmd_id = command.get("cmd_id")
    if not isinstance(cmd, str) or not cmd:
        raise ProtocolError("invalid_command_format", "missing or empty 'cmd'")
    if not isinstance(cmd_id, str) or not cmd_id or len(cmd_id) > MAX_CMD_ID:
        raise ProtocolError("invalid_command_format", "missing or bad 'cmd_id'")
    if "params" in command and not isinstance(command["params"], dict):
        raise ProtocolError("invalid_command_format", "'params' is not an object")
    if "sig" not in command or "ts" not in command:
        raise ProtocolError("hmac_required", "command carries no 'sig'/'ts'")
    sig = command["sig"]
    ts = command["ts"]
    if not isinstance(sig, str) or not _SIG.fullmatch(sig.lower()):
        raise ProtocolError("invalid_hmac_format", "'sig' is not 64 hex characters")
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise ProtocolError("invalid_hmac_format", "'ts' is not an integer")
    if not secret:
        raise ProtocolError("missing_node_secret", "node has no secret")
    current = time.time() if now is None else now
    if abs(current - ts) > MAX_SKEW_S:
        raise ProtocolError("timestamp_expired", f"ts is {int(current - ts)} s away from now")
    expected = sign_command(secret, command)
    if not hmac.compare_digest(expected, sig.lower()):
        raise ProtocolError("invalid_signature", "signature does not match")
