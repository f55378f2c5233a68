"""The pure parts of OTA: which firmware may go over the air, and each node's outcome."""

from __future__ import annotations

from fleet.firmware.partition_table import HYDRO_FACTORY, HYDRO_OTA
from fleet.ota.policy import NodeOta, Outcome, check_target

RID = "ota-1"


def tracker() -> NodeOta:
    t = NodeOta("nd-ph-1", "abc123", "2.1.0", "2.0.0", RID)
    t.sent(100.0, answer_timeout=30)
    return t


def test_factory_only_table_is_refused_naming_node_and_missing_partitions() -> None:
    """The hydro 2.0 production table (factory app only) cannot take an OTA update."""
    why = check_target("nd-ph-1", "esp32", "esp32", HYDRO_FACTORY, 100_000)
    assert why is not None
    assert "nd-ph-1" in why
    assert "no otadata, ota_0, ota_1" in why


def test_ota_table_same_chip_is_accepted() -> None:
    """otadata + ota_0/ota_1 and the node's chip: nothing to refuse."""
    assert None is check_target("nd-ph-1", "esp32", "esp32", HYDRO_OTA, 100_000)


def test_wrong_chip_and_oversized_app_are_refused() -> None:
    """A firmware for another chip, or an app larger than a slot, is refused by name."""
    chip = check_target("nd-ph-1", "esp32", "esp32c3", HYDRO_OTA, 100_000)
    big = check_target("nd-ph-1", "esp32", "esp32", HYDRO_OTA, 1792 * 1024 + 1)
    assert "node nd-ph-1 is esp32, the firmware is for esp32c3" == chip
    assert big is not None and "does not fit an OTA slot" in big


def test_ok_then_back_with_new_version_is_done() -> None:
    """OK, then a new boot reporting the target version: DONE."""
    t = tracker()
    t.on_ota_status({"request_id": RID, "status": "OK", "new_version": "2.1.0"}, 101, 60)
    assert not t.finished
    t.on_back("2.1.0", 103)
    assert Outcome.DONE == t.outcome


def test_ok_then_back_with_old_version_is_rolled_back() -> None:
    """OK, then a new boot still on the old version: ROLLED_BACK, not done."""
    t = tracker()
    t.on_ota_status({"request_id": RID, "status": "OK"}, 101, 60)
    t.on_back("2.0.0", 103)
    assert Outcome.ROLLED_BACK == t.outcome


def test_ok_then_silence_is_reported_as_such() -> None:
    """OK, then nothing until back_timeout: SILENT_AFTER_OK."""
    t = tracker()
    t.on_ota_status({"request_id": RID, "status": "OK"}, 101, 60)
    t.tick(160)
    assert not t.finished
    t.tick(161)
    assert Outcome.SILENT_AFTER_OK == t.outcome


def test_no_answer_times_out() -> None:
    """Neither OK nor an error within answer_timeout: NO_ANSWER."""
    t = tracker()
    t.tick(130)
    assert Outcome.NO_ANSWER == t.outcome


def test_error_statuses_map_to_their_outcomes() -> None:
    """A checksum error, a failed download and other errors are told apart."""
    got = {}
    for status in ("CHECKSUM_MISMATCH", "DOWNLOAD_FAILED", "INVALID_SIGNATURE"):
        t = tracker()
        t.on_ota_status({"request_id": RID, "status": status, "error": "x"}, 101, 60)
        got[status] = t.outcome
    expected = {
        "CHECKSUM_MISMATCH": Outcome.CHECKSUM_ERROR,
        "DOWNLOAD_FAILED": Outcome.DOWNLOAD_FAILED,
        "INVALID_SIGNATURE": Outcome.REJECTED,
    }
    assert expected == got


def test_other_request_and_old_boot_do_not_count() -> None:
    """A status of another request is ignored; a heartbeat from before the command is not
    a new boot, so the old version it reports is no rollback."""
    t = tracker()
    t.on_ota_status({"request_id": "ota-other", "status": "CHECKSUM_MISMATCH"}, 101, 60)
    t.on_ota_status({"request_id": RID, "status": "OK"}, 101, 60)
    assert not t.booted_since_sent(uptime=3600, now=103)
    assert not t.booted_since_sent(uptime=2, now=103)  # may have booted before the OK
    assert t.booted_since_sent(uptime=1, now=103)
    assert not t.finished


def test_new_version_without_ok_is_still_done() -> None:
    """A lost OK does not hide success: back from a new boot on the target version."""
    t = tracker()
    t.on_back("2.1.0", 140)
    assert Outcome.DONE == t.outcome
