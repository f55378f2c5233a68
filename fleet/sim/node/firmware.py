"""One simulated hydro 2.0 node: what the firmware publishes and how it judges commands.

Pure state, no I/O: `fleet.sim.node.simulator` carries the bytes over MQTT. The command checks
follow the firmware's `node_command_handler_process` (hydro2.0,
firmware/nodes/common/components/node_framework/node_command_handler.c) step by step:

1. empty or > 4096 bytes: dropped without an answer;
2. not JSON: `INVALID` / `invalid_json` (cmd_id null), as DESIGN.md section 2 states;
   JSON that is not an object: dropped;
3. `cmd`/`cmd_id` missing, empty or not strings: `invalid_command_format` (answered only
   when a string cmd_id is there); `cmd` >= 32 chars or `cmd_id` >= 64 chars: same code;
4. only one of `ts`/`sig`: `invalid_hmac_format`; neither: `hmac_required` (unless the
   config allows legacy commands);
5. `ts` not a number or `sig` not a string: `invalid_hmac_format`;
6. no node_secret: `missing_node_secret`;
7. `sig` not 64 characters: `invalid_hmac_format`;
8. time not synced (any command but `set_time`): `time_not_synced`;
9. |node clock - ts| > 10 s: `timestamp_expired`;
10. HMAC mismatch (hex compared case-insensitively): `invalid_signature`;
11. a (cmd_id, channel) already answered DONE/ERROR: the same status again (ERROR as
    `command_already_failed`); 128 entries, 5 minutes;
12. safe mode: `safe_mode_active` (except `exit_safe_mode`);
13. unknown command: `unknown_command`; `params` not an object: `invalid_params_format`.

Errors of steps 3-10 are not remembered for dedup (the firmware returns before caching).
"""

from __future__ import annotations

import hmac
import json
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fleet.protocol import sign_command
from fleet.protocol.topics import TEMP_GH, TEMP_ZONE

MAX_PAYLOAD = 4096
MAX_CMD_NAME = 32  # NODE_COMMAND_NAME_MAX_LEN: a name must be shorter
MAX_CMD_ID = 64  # cache entry size: a cmd_id must be shorter
SKEW_TOLERANCE_S = 10
DEDUP_ENTRIES = 128
DEDUP_TTL_S = 300.0
REBOOT_COMMANDS = frozenset({"reboot", "restart"})
REPORT_COMMANDS = frozenset({"report_config", "config_report", "get_config", "sync_config"})
KNOWN_COMMANDS = REBOOT_COMMANDS | REPORT_COMMANDS | {"set_time", "exit_safe_mode"}


@dataclass(frozen=True)
class NodeFaults:
    """Misbehaviour of one simulated node, for tests and drills."""

    drop_commands: bool = False  # receives commands, never answers
    no_return_after_reboot: bool = False  # answers DONE to reboot, then stays away
    slow_response_s: float = 0.0  # answers each command this much later
    clock_skew_s: float = 0.0  # its clock is off by this much once synced
    ota_bad_checksum: bool = False  # OTA: its image digest never matches
    ota_no_return: bool = False  # OTA: answers OK, restarts, never comes back
    ota_rollback: bool = False  # OTA: answers OK, comes back with the old version

    @property
    def any(self) -> bool:
        """True when the node misbehaves in some way."""
        return bool(
            self.drop_commands
            or self.no_return_after_reboot
            or self.slow_response_s
            or self.clock_skew_s
            or self.ota_bad_checksum
            or self.ota_no_return
            or self.ota_rollback
        )


@dataclass(frozen=True)
class CommandOutcome:
    """What the node answers to one command, and whether it then restarts."""

    response: dict[str, Any]
    reboot: bool = False
    report_config: bool = False


@dataclass
class SimNode:
    """One node's identity, secret and firmware state.

    `node_uid` None means unbound: the node lives in `gh-temp/zn-temp/{hardware_id}` and
    sends node_hello on connect. `secret` is the 64-hex node_secret string (never logged).
    """

    hardware_id: str
    node_uid: str | None = None
    gh_uid: str = TEMP_GH
    zone_uid: str = TEMP_ZONE
    node_type: str = "ph"
    fw_version: str = "2.0.0-sim"
    channels: tuple[str, ...] = ("system",)
    secret: str | None = field(default=None, repr=False)
    allow_legacy_hmac: bool = False
    faults: NodeFaults = field(default_factory=NodeFaults)
    safe_mode: bool = False
    clock: Callable[[], float] = field(default=time.time, repr=False)
    boot_at: float = field(default_factory=time.monotonic)
    time_offset: float | None = None  # node clock - host clock, once synced
    _done: OrderedDict[tuple[str, str], tuple[str, float]] = field(
        default_factory=OrderedDict, repr=False
    )

    # -- identity and topics ----------------------------------------------------------
    @property
    def bound(self) -> bool:
        """True when the node has a uid and a real greenhouse/zone."""
        return self.node_uid is not None and self.gh_uid != TEMP_GH

    @property
    def key(self) -> str:
        """The uid when bound, else the hardware_id: how tests and the CLI name a node."""
        return self.node_uid if self.bound and self.node_uid else self.hardware_id

    @property
    def base_topic(self) -> str:
        """`hydro/{gh}/{zone}/{node}`, in the temp namespace while unbound."""
        if self.bound:
            return f"hydro/{self.gh_uid}/{self.zone_uid}/{self.node_uid}"
        return f"hydro/{TEMP_GH}/{TEMP_ZONE}/{self.hardware_id}"

    def topic(self, kind: str) -> str:
        """A node-level topic: heartbeat, status, lwt, config, config_report."""
        return f"{self.base_topic}/{kind}"

    # -- clock ------------------------------------------------------------------------
    @property
    def time_synced(self) -> bool:
        return self.time_offset is not None

    def uptime(self) -> int:
        """Seconds since the last (simulated) boot."""
        return int(time.monotonic() - self.boot_at)

    def now(self) -> float:
        """The node's clock: host time + offset once synced, else seconds since boot."""
        if self.time_offset is None:
            return float(self.uptime())
        return self.clock() + self.time_offset

    def sync_time(self, unix_ts: float) -> None:
        """Take the server's time (plus this node's clock-skew fault)."""
        self.time_offset = unix_ts - self.clock() + self.faults.clock_skew_s

    def on_time_response(self, payload: bytes) -> bool:
        """Apply a `hydro/time/response` message; False (and no change) when malformed."""
        try:
            data = json.loads(payload)
        except ValueError:
            return False
        ts = data.get("unix_ts") if isinstance(data, dict) else None
        if not isinstance(ts, int | float) or isinstance(ts, bool) or ts <= 0:
            return False
        self.sync_time(float(ts))
        return True

    def reboot(self) -> None:
        """A restart: uptime from zero, clock unsynced, dedup cache (RAM) lost."""
        self.boot_at = time.monotonic()
        self.time_offset = None
        self._done.clear()

    # -- what the node publishes ------------------------------------------------------
    def heartbeat(self) -> bytes:
        """The heartbeat payload (no `ts`, as in the firmware)."""
        return b'{"uptime":%d,"free_heap":%d,"rssi":%d,"fw_version":"%s"}' % (
            self.uptime(),
            180000 - (zlib.crc32(self.hardware_id.encode()) & 0x3FFF),
            -55,
            self.fw_version.encode(),
        )

    def status(self, online: bool = True) -> bytes:
        """The retained status payload (extended form)."""
        body = {
            "status": "SAFE_MODE" if self.safe_mode else ("ONLINE" if online else "OFFLINE"),
            "ts": int(self.now()),
            "online": online,
            "ip": "10.0.0.2",
            "rssi": -55,
            "fw": self.fw_version,
        }
        return json.dumps(body, separators=(",", ":")).encode()

    def config(self) -> dict[str, Any]:
        """The NodeConfig the node holds, without its secret and passwords."""
        return {
            "node_id": self.node_uid or self.hardware_id,
            "version": 3,
            "type": self.node_type,
            "gh_uid": self.gh_uid,
            "zone_uid": self.zone_uid,
            "channels": [{"name": c} for c in self.channels],
            "allow_legacy_hmac": self.allow_legacy_hmac,
            "mqtt": {"host": "127.0.0.1", "port": 1883, "keepalive": 30},
        }

    def config_report(self) -> bytes:
        """The config_report payload: the held NodeConfig plus `fw_version`."""
        return json.dumps({**self.config(), "fw_version": self.fw_version}).encode()

    def hello(self) -> bytes:
        """The node_hello payload (sent on connect while unbound)."""
        body = {
            "message_type": "node_hello",
            "hardware_id": self.hardware_id,
            "node_type": self.node_type,
            "fw_version": self.fw_version,
            "capabilities": list(self.channels),
        }
        return json.dumps(body).encode()

    def time_request(self) -> bytes:
        """The `hydro/time/request` payload."""
        return b'{"message_type":"time_request","uptime":%d}' % self.uptime()

    def apply_config(self, payload: bytes) -> bool:
        """Take a pushed NodeConfig; True when the node's namespace (topics) changed.

        A config without the fields a save needs (node_id, gh_uid, zone_uid) is ignored.
        """
        try:
            data = json.loads(payload)
        except ValueError:
            return False
        if not isinstance(data, dict):
            return False
        uid, gh, zone = data.get("node_id"), data.get("gh_uid"), data.get("zone_uid")
        if not all(isinstance(v, str) and v for v in (uid, gh, zone)):
            return False
        before = self.base_topic
        secret = data.get("node_secret")
        if isinstance(secret, str) and secret:
            self.secret = secret
        self.allow_legacy_hmac = bool(data.get("allow_legacy_hmac", self.allow_legacy_hmac))
        self.node_uid, self.gh_uid, self.zone_uid = str(uid), str(gh), str(zone)
        return self.base_topic != before

    # -- commands ---------------------------------------------------------------------
    def _response(
        self, cmd_id: str | None, status: str, code: str | None = None, message: str | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"cmd_id": cmd_id, "status": status, "ts": int(self.now()) * 1000}
        if code is not None and status in ("ERROR", "INVALID"):
            out["error_code"] = code
            out["error_message"] = message or code
        return out

    def _error(self, cmd_id: str, code: str, message: str) -> CommandOutcome:
        return CommandOutcome(self._response(cmd_id, "ERROR", code, message))

    def _cached(self, cmd_id: str, channel: str) -> str | None:
        now = time.monotonic()
        while self._done:
            oldest_key, (_, at) = next(iter(self._done.items()))
            if now - at <= DEDUP_TTL_S:
                break
            del self._done[oldest_key]
        hit = self._done.get((cmd_id, channel))
        return hit[0] if hit else None

    def _remember(self, cmd_id: str, channel: str, status: str) -> None:
        self._done[(cmd_id, channel)] = (status, time.monotonic())
        self._done.move_to_end((cmd_id, channel))
        while len(self._done) > DEDUP_ENTRIES:
            self._done.popitem(last=False)

    def handle_command(self, channel: str, payload: bytes) -> CommandOutcome | None:
        """Judge one command as the firmware does; None when the firmware stays silent."""
        if not payload or len(payload) > MAX_PAYLOAD:
            return None
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return CommandOutcome(self._response(None, "INVALID", "invalid_json", "invalid JSON"))
        if not isinstance(data, dict):
            return None
        cmd, cmd_id = data.get("cmd"), data.get("cmd_id")
        if not isinstance(cmd_id, str) or not cmd_id:
            return None  # nothing to answer to
        if not isinstance(cmd, str) or not cmd:
            return self._error(cmd_id, "invalid_command_format", "cmd and cmd_id are required")
        if len(cmd) >= MAX_CMD_NAME:
            return self._error(cmd_id, "invalid_command_format", "Command name is too long")
        if len(cmd_id) >= MAX_CMD_ID:
            return self._error(cmd_id, "invalid_command_format", "cmd_id is too long")
        refused = self._check_signature(data, cmd, cmd_id)
        if refused is not None:
            return refused
        return self._execute(data, cmd, cmd_id, channel)

    def _check_signature(
        self, data: dict[str, Any], cmd: str, cmd_id: str
    ) -> CommandOutcome | None:
        has_ts, has_sig = "ts" in data, "sig" in data
        if has_ts != has_sig:
            return self._error(
                cmd_id, "invalid_hmac_format", "ts and sig must be provided together"
            )
        if not has_ts:
            if self.allow_legacy_hmac:
                return None
            return self._error(cmd_id, "hmac_required", "Command must include ts and sig")
        ts, sig = data["ts"], data["sig"]
        if not isinstance(ts, int | float) or isinstance(ts, bool) or not isinstance(sig, str):
            return self._error(cmd_id, "invalid_hmac_format", "Invalid HMAC fields format")
        if not self.secret:
            return self._error(cmd_id, "missing_node_secret", "node_secret is not configured")
        if len(sig) != 64:
            return self._error(cmd_id, "invalid_hmac_format", "Invalid HMAC signature length")
        if not self.time_synced and cmd != "set_time":
            return self._error(cmd_id, "time_not_synced", "Time is not synchronized yet")
        if self.time_synced and abs(int(self.now()) - int(ts)) > SKEW_TOLERANCE_S:
            return self._error(
                cmd_id, "timestamp_expired", "Command timestamp is outside acceptable range"
            )
        if not self._signature_ok(data, cmd, int(ts), sig):
            return self._error(
                cmd_id, "invalid_signature", "Command HMAC signature verification failed"
            )
        return None

    def _signature_ok(self, data: dict[str, Any], cmd: str, ts: int, sig: str) -> bool:
        assert self.secret is not None
        expected = sign_command(self.secret, data)
        if hmac.compare_digest(expected, sig.lower()):
            return True
        if self.allow_legacy_hmac:  # the firmware's legacy form: HMAC("cmd|ts")
            legacy = hmac.new(self.secret.encode(), f"{cmd}|{ts}".encode(), "sha256").hexdigest()
            return hmac.compare_digest(legacy, sig.lower())
        return False

    def _execute(self, data: dict[str, Any], cmd: str, cmd_id: str, channel: str) -> CommandOutcome:
        cached = self._cached(cmd_id, channel)
        if cached is not None:
            if cached == "ERROR":
                return self._error(
                    cmd_id, "command_already_failed", "Command was already processed and failed"
                )
            return CommandOutcome(self._response(cmd_id, cached))
        if self.safe_mode and cmd != "exit_safe_mode":
            outcome = self._error(cmd_id, "safe_mode_active", "Node is in safe mode")
        elif cmd not in KNOWN_COMMANDS:
            outcome = self._error(cmd_id, "unknown_command", "Command not found")
        elif "params" in data and not isinstance(data["params"], dict):
            outcome = self._error(cmd_id, "invalid_params_format", "params must be a JSON object")
        else:
            outcome = self._run(data, cmd, cmd_id)
        self._remember(cmd_id, channel, str(outcome.response["status"]))
        return outcome

    def _run(self, data: dict[str, Any], cmd: str, cmd_id: str) -> CommandOutcome:
        params = data.get("params")
        params = params if isinstance(params, dict) else data
        if cmd in REBOOT_COMMANDS:
            return CommandOutcome(self._response(cmd_id, "DONE"), reboot=True)
        if cmd in REPORT_COMMANDS:
            done = self._response(cmd_id, "DONE")
            done["details"] = {"note": "config_report_published"}
            return CommandOutcome(done, report_config=True)
        if cmd == "set_time":
            unix_ts = params.get("unix_ts")
            if not isinstance(unix_ts, int | float) or isinstance(unix_ts, bool):
                return self._error(cmd_id, "invalid_params", "Missing or invalid unix_ts")
            self.sync_time(float(unix_ts))
            return CommandOutcome(self._response(cmd_id, "DONE"))
        self.safe_mode = False  # exit_safe_mode
        return CommandOutcome(self._response(cmd_id, "DONE"))
