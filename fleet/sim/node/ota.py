"""OTA in simulated nodes: what a hydro 2.0 node should do with an `OTA_UPDATE` command.

The firmware does not implement OTA yet (DESIGN.md section 2); this is the behaviour
`fleet ota` expects, and what `docs/ota.md` asks of the firmware. A bound node
subscribed to `hydro/system/ota/{uid}`:

1. checks the command (fields present; `sig` = HMAC of the canonical JSON with its
   node_secret, `ts` within 10 s once its clock is synced);
2. downloads `file_url` (stdlib urllib, in a thread) and checks its SHA-256 against
   `checksum_sha256`;
3. publishes `{"request_id","status","old_version","new_version","ts":ms}` on
   `hydro/system/ota/{uid}/status`: "OK", or "INVALID_REQUEST", "INVALID_SIGNATURE",
   "DOWNLOAD_FAILED", "CHECKSUM_MISMATCH", "INVALID_IMAGE", "BUSY" (with `error`);
4. after OK restarts `restart_after` s later and comes back `boot_time` s after that
   running the version from the image's app description.

Faults (`NodeFaults`): `ota_bad_checksum` (its digest never matches), `ota_no_return`
(OK, then gone), `ota_rollback` (OK, then back with the old version).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from fleet.errors import FleetError
from fleet.firmware.app_desc import parse_app_description
from fleet.firmware.image import parse_image
from fleet.protocol import sign_command
from fleet.protocol.topics import OTA_PREFIX
from fleet.sim.node.firmware import SKEW_TOLERANCE_S, SimNode
from fleet.sim.node.group import Group, Host, NodeRun

DOWNLOAD_TIMEOUT_S = 30.0
_FIELDS = ("firmware_uid", "file_url", "checksum_sha256", "request_id")


@dataclass(frozen=True)
class OtaRequest:
    """A checked OTA_UPDATE command."""

    request_id: str
    firmware_uid: str
    file_url: str
    checksum_sha256: str
    ttl_ms: int


def status_payload(
    node: SimNode, request_id: str | None, status: str, new_version: str | None, error: str = ""
) -> bytes:
    """The body a node publishes on its OTA status topic."""
    body: dict[str, Any] = {
        "request_id": request_id,
        "status": status,
        "old_version": node.fw_version,
        "new_version": new_version,
        "ts": int(time.time() * 1000),
    }
    if error:
        body["error"] = error
    return json.dumps(body, separators=(",", ":")).encode()


def check_request(node: SimNode, payload: bytes) -> OtaRequest | tuple[str | None, str, str]:
    """The request, or (request_id, error status, why) when the node refuses it."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None, "INVALID_REQUEST", "not JSON"
    if not isinstance(data, dict):
        return None, "INVALID_REQUEST", "not a JSON object"
    rid = data.get("request_id") if isinstance(data.get("request_id"), str) else None
    if data.get("cmd") != "OTA_UPDATE" or not all(
        isinstance(data.get(k), str) and data.get(k) for k in _FIELDS
    ):
        return rid, "INVALID_REQUEST", "cmd OTA_UPDATE and " + ", ".join(_FIELDS) + " required"
    if not str(data["file_url"]).startswith(("http://", "https://")):
        return rid, "INVALID_REQUEST", "file_url must be http(s)"
    if node.secret:
        sig, ts = data.get("sig"), data.get("ts")
        if not isinstance(sig, str) or not isinstance(ts, int | float):
            return rid, "INVALID_SIGNATURE", "ts and sig are required"
        unsigned = {k: v for k, v in data.items() if k != "sig"}
        if not hmac.compare_digest(sign_command(node.secret, unsigned), sig.lower()):
            return rid, "INVALID_SIGNATURE", "signature does not match"
        if node.time_synced and abs(node.now() - float(ts)) > SKEW_TOLERANCE_S:
            return rid, "INVALID_SIGNATURE", "timestamp expired"
    ttl = data.get("ttl_ms")
    return OtaRequest(
        request_id=str(rid),
        firmware_uid=str(data["firmware_uid"]),
        file_url=str(data["file_url"]),
        checksum_sha256=str(data["checksum_sha256"]).lower(),
        ttl_ms=int(ttl) if isinstance(ttl, int) else 0,
    )


def check_image(node: SimNode, data: bytes, checksum: str) -> tuple[str, str | None, str]:
    """(status, new version, why) for a downloaded image: its digest, then its app
    description (the version the node will run)."""
    digest = hashlib.sha256(data).hexdigest()
    if node.faults.ota_bad_checksum:
        digest = hashlib.sha256(data + b"\0").hexdigest()
    if digest != checksum:
        return "CHECKSUM_MISMATCH", None, f"image sha256 {digest[:12]}... != {checksum[:12]}..."
    try:
        image = parse_image(data, "ota image")
        version = parse_app_description(image.segments[0].data, "ota image").version
    except (FleetError, IndexError) as exc:
        return "INVALID_IMAGE", None, str(exc)
    return "OK", version, ""


def download(url: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> bytes:
    """GET `url` (blocking); urllib's HTTPError/URLError on failure."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        data: bytes = resp.read()
        return data


async def run_ota(sim: Host, group: Group, run: NodeRun, payload: bytes) -> None:
    """Carry out one OTA command for `run`'s node, as the firmware should."""
    node = run.node
    topic = f"{OTA_PREFIX}{node.node_uid}/status"
    checked = check_request(node, payload)
    if not isinstance(checked, OtaRequest):
        rid, status, why = checked
        group.publish(topic, status_payload(node, rid, status, None, why))
        return
    if run.ota_busy:
        group.publish(topic, status_payload(node, checked.request_id, "BUSY", None, "in progress"))
        return
    run.ota_busy = True
    try:
        try:
            data = await asyncio.to_thread(download, checked.file_url)
        except urllib.error.HTTPError as exc:
            why = f"HTTP {exc.code}"
            group.publish(
                topic, status_payload(node, checked.request_id, "DOWNLOAD_FAILED", None, why)
            )
            return
        except (urllib.error.URLError, OSError) as exc:
            why = str(getattr(exc, "reason", exc))
            group.publish(
                topic, status_payload(node, checked.request_id, "DOWNLOAD_FAILED", None, why)
            )
            return
        status, version, why = check_image(node, data, checked.checksum_sha256)
        group.publish(topic, status_payload(node, checked.request_id, status, version, why))
        if status == "OK" and version is not None:
            await _restart_into(sim, group, run, version)
    finally:
        run.ota_busy = False


async def _restart_into(sim: Host, group: Group, run: NodeRun, version: str) -> None:
    """The restart after a successful OTA: down, then back with `version` (or not)."""
    opts = sim.options
    await asyncio.sleep(opts.restart_after)
    if not run.up or run.gone:
        return
    sim.stats.reboots += 1
    run.up = False
    run.node.reboot()
    if opts.per_node_connections and group.conn is not None:
        group.conn.abort()  # no DISCONNECT: the broker publishes the will
    if run.node.faults.ota_no_return:
        run.gone = True
        return
    await asyncio.sleep(opts.boot_time)
    if not run.node.faults.ota_rollback:
        run.node.fw_version = version
    run.up = True
    if opts.per_node_connections:
        group.wake.set()
    else:
        group.announce(run)
