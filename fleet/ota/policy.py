"""OTA updates, the pure part: settings, which nodes may be updated, and per-node outcomes.

No I/O here. `check_target` decides whether a firmware can go to a node over the air
(same chip; a partition table with `otadata` and `ota_0`/`ota_1`, the app fitting a
slot). `NodeOta` follows one node from the command to its outcome: an update is DONE
only when the node has come back (a fresh ONLINE status or a heartbeat from a new boot)
reporting the new version. Anything else ends as its own outcome (see `Outcome`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import pydantic

from fleet.firmware.partition_table import PartitionTable

SECTION = "ota"

# Statuses a node may publish while it works, before "OK" or an error.
PROGRESS = frozenset({"ACK", "ACCEPTED", "DOWNLOADING", "IN_PROGRESS", "WRITING", "REBOOTING"})


class OtaSettings(pydantic.BaseModel):
    """fleet.toml `[ota]` / `FLEET_OTA__<KEY>`: the firmware server and the pacing of a run."""

    model_config = pydantic.ConfigDict(extra="forbid")

    listen_host: str = "0.0.0.0"  # nodes on the site network must reach it
    listen_port: int = pydantic.Field(8070, ge=0, le=65535)  # 0 = any free port
    public_url: str | None = None  # what nodes use; default http://<listen_host>:<port>
    ttl: float = pydantic.Field(900.0, gt=0)  # seconds a signed URL stays valid
    rate: float = pydantic.Field(1.0, gt=0)  # nodes per second that get the command
    jitter: float = pydantic.Field(1.0, ge=0, le=1)  # fraction of a pacing slot
    answer_timeout: float = pydantic.Field(120.0, gt=0)  # command -> OK/error
    back_timeout: float = pydantic.Field(180.0, gt=0)  # OK -> back ONLINE
    poll_interval: float = pydantic.Field(0.2, gt=0)


class Outcome(enum.StrEnum):
    """How one node's update ended."""

    DONE = "done"  # back ONLINE reporting the new version
    UP_TO_DATE = "up_to_date"  # already runs that version; nothing sent
    REFUSED = "refused"  # not sent: wrong chip, no OTA slots, no secret, ...
    NO_ANSWER = "no_answer"  # neither OK nor an error before answer_timeout
    REJECTED = "rejected"  # the node answered an error about the request
    DOWNLOAD_FAILED = "download_failed"  # the node could not fetch the image (e.g. 403)
    CHECKSUM_ERROR = "checksum_error"  # the image did not match checksum_sha256
    SILENT_AFTER_OK = "silent_after_ok"  # OK, then never back before back_timeout
    ROLLED_BACK = "rolled_back"  # OK, then back with the old version
    NOT_SENT = "not_sent"  # the run ended (broker lost, interrupted) before sending

    @property
    def ok(self) -> bool:
        """True for outcomes that leave the node on the wanted version."""
        return self in (Outcome.DONE, Outcome.UP_TO_DATE)


def check_target(
    node_uid: str, node_chip: str, fw_chip: str, table: PartitionTable, app_size: int
) -> str | None:
    """Why firmware cannot go to this node over the air, or None when it can.

    Refused: a chip other than the node's; a table without `otadata` or without both
    `ota_0` and `ota_1` (the hydro 2.0 factory-only layout); an app larger than a slot.
    """
    if node_chip != fw_chip:
        return f"node {node_uid} is {node_chip}, the firmware is for {fw_chip}"
    labels = {p.subtype_name for p in table.ota_slots}
    missing = [name for name in ("ota_0", "ota_1") if name not in labels]
    if table.otadata is None or missing:
        what = ", ".join((["otadata"] if table.otadata is None else []) + missing)
        return (
            f"node {node_uid}: the firmware's partition table has no {what} "
            "(factory-only layout): OTA needs otadata + ota_0/ota_1; reflash over USB "
            "with an OTA-layout bundle first"
        )
    small = min(p.size for p in table.ota_slots)
    if app_size > small:
        return f"node {node_uid}: app of {app_size} bytes does not fit an OTA slot of {small}"
    return None


def classify_error(status: str) -> Outcome:
    """The outcome a node's error status stands for."""
    up = status.upper()
    if "CHECKSUM" in up or "SHA" in up:
        return Outcome.CHECKSUM_ERROR
    if "DOWNLOAD" in up or "HTTP" in up or "URL" in up or "EXPIRED" in up:
        return Outcome.DOWNLOAD_FAILED
    return Outcome.REJECTED


@dataclass
class NodeOta:
    """One node's update, from the command to its outcome (times in monotonic seconds).

    Phases: "planned" -> "sent" (command published) -> "accepted" (OK) or "working"
    (a progress status) -> finished (`outcome` set). Feed it what arrives; call `tick`
    for timeouts.
    """

    node_uid: str
    firmware_id: str
    target_version: str
    old_version: str | None
    request_id: str
    phase: str = "planned"
    outcome: Outcome | None = None
    detail: str = ""
    sent_at: float | None = None
    ok_at: float | None = None
    deadline: float | None = None
    new_version: str | None = None  # what the node said in its OK
    back_version: str | None = None  # what it reported when it came back
    went_offline: bool = False
    events: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def finish(self, outcome: Outcome, detail: str = "") -> None:
        """End with `outcome` (the first call wins)."""
        if self.outcome is None:
            self.outcome, self.detail, self.phase = outcome, detail, "finished"

    def sent(self, now: float, answer_timeout: float) -> None:
        """The command was published at `now`."""
        self.phase, self.sent_at, self.deadline = "sent", now, now + answer_timeout
        self.events.append("sent")

    def on_ota_status(self, body: dict[str, Any], now: float, back_timeout: float) -> None:
        """A message on `hydro/system/ota/{uid}/status`; others' request_ids are ignored."""
        if self.finished or self.phase == "planned":
            return
        if body.get("request_id") != self.request_id:
            return
        status = str(body.get("status", ""))
        self.events.append(f"status:{status}")
        if status == "OK":
            reported = body.get("new_version")
            if isinstance(reported, str) and reported:
                self.new_version = reported
            self.phase, self.ok_at, self.deadline = "accepted", now, now + back_timeout
        elif status.upper() in PROGRESS:
            if self.phase == "sent":
                self.phase, self.deadline = "working", now + back_timeout
        else:
            why = body.get("error") or body.get("message") or body.get("detail")
            self.finish(classify_error(status), f"{status}: {why}" if why else status)

    def on_offline(self) -> None:
        """The node's will (`lwt` offline) or an OFFLINE status arrived after the command."""
        if self.phase in ("sent", "accepted", "working"):
            self.went_offline = True
            self.events.append("offline")

    def on_back(self, version: str | None, now: float) -> None:
        """The node showed up from a new boot (live ONLINE, or a young heartbeat).

        With the target version: DONE. With another version after OK: ROLLED_BACK. A
        report without a version (basic status) waits for the next heartbeat.
        """
        if self.finished or self.phase == "planned" or version is None:
            return
        self.events.append(f"back:{version}")
        self.back_version = version
        if version == self.target_version:
            self.finish(Outcome.DONE)
        elif self.phase == "accepted":
            self.finish(
                Outcome.ROLLED_BACK,
                f"node {self.node_uid} answered OK, then came back with {version}, "
                f"not {self.target_version}",
            )

    def booted_since_sent(self, uptime: float, now: float) -> bool:
        """True when a heartbeat's `uptime` proves a boot after the command (after the OK
        once there is one). Uptime is whole seconds, so a boot less than a second before
        that moment could look like one after it: a second of margin rules that out."""
        ref = self.ok_at if self.ok_at is not None else self.sent_at
        return ref is not None and uptime <= now - ref - 1

    def tick(self, now: float) -> None:
        """Apply timeouts."""
        if self.finished or self.deadline is None or now < self.deadline:
            return
        if self.phase == "sent":
            self.finish(Outcome.NO_ANSWER, f"node {self.node_uid} did not answer the command")
        elif self.phase == "accepted":
            self.finish(
                Outcome.SILENT_AFTER_OK,
                f"node {self.node_uid} answered OK but did not come back "
                f"with {self.target_version}",
            )
        elif self.phase == "working":
            self.finish(Outcome.NO_ANSWER, f"node {self.node_uid} never finished the update")
