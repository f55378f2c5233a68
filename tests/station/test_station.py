"""The station flashes every plugged board with its own node's firmware and NVS."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fleet.context import FleetContext
from fleet.flashing.station import Station, StationEvent
from fleet.flashing.station_job import JobOptions, Outcome
from fleet.sim.esp32 import DeviceServer, Faults, VirtualEsp32, serve_devices
from tests.station.conftest import NODES


def _station(home: Path, urls: list[str], **kw: object) -> Station:
    return Station(
        JobOptions(home=str(home)),
        urls,
        scan_usb=False,
        parallel=8,
        once=True,
        poll_interval=0.2,
        **kw,  # type: ignore[arg-type]
    )


def test_eight_mixed_boards_each_boot_as_their_node(
    home: Path, fctx: FleetContext, boards: DeviceServer
) -> None:
    """8 boards (ESP32, C3, S3) are flashed in parallel; each then boots with its own NodeConfig."""
    events: list[StationEvent] = []
    report = _station(home, boards.urls, on_event=events.append).run()
    assert report.ok, report.final()
    by_port = {r.port: r for r in report.final()}
    for url, (uid, _kind, _chip, _mac) in zip(boards.urls, NODES, strict=True):
        assert (Outcome.FLASHED, uid) == (by_port[url].outcome, by_port[url].node_uid)
    assert all(port.wait_idle(10) for port in boards.ports)
    booted = [(d.last_boot.node_uid if d.last_boot else None) for d in boards.devices]
    assert [uid for uid, *_ in NODES] == booted
    assert all(d.last_boot and d.last_boot.ok for d in boards.devices)
    assert {url for url in boards.urls} == {e.port for e in events if e.kind == "progress"}
    jobs = fctx.registry.audit_log(action="station.job")
    assert {uid for uid, *_ in NODES} <= {j["node_uid"] for j in jobs if j["outcome"] == "ok"}


def test_unknown_board_is_reported_not_flashed(home: Path) -> None:
    """A board whose MAC no node has is reported with its hardware_id and left untouched."""
    device = VirtualEsp32("esp32", "24:0a:c4:ff:ff:01")
    with serve_devices([device]) as server:
        report = _station(home, server.urls).run()
    (result,) = report.final()
    assert (Outcome.UNKNOWN_MAC, "esp32-240ac4ffff01") == (result.outcome, result.hardware_id)
    assert 0 == device.bytes_written
    assert result.log is not None and "Stub flasher running" in Path(result.log).read_text()


def test_unplug_mid_write_needs_reflash_and_is_redone_on_return(
    home: Path, fctx: FleetContext
) -> None:
    """A cable pulled mid-write is reported as unplugged; when the board returns it is redone."""
    uid, _kind, chip, mac = NODES[0]
    device = VirtualEsp32(chip, mac, faults=Faults(drop_after_bytes=60_000, replug_after=3.0))
    with serve_devices([device]) as server:
        report = _station(home, server.urls, return_timeout=20).run()
        assert server.ports[0].wait_idle(10)
    outcomes = [(r.outcome, r.attempt) for r in report.results]
    assert [(Outcome.UNPLUGGED, 1), (Outcome.FLASHED, 2)] == outcomes
    assert True is report.results[0].needs_reflash
    assert device.last_boot is not None and uid == device.last_boot.node_uid
    errors = [j for j in fctx.registry.audit_log(action="station.job") if j["outcome"] == "error"]
    assert any((j["detail"] or {}).get("outcome") == "unplugged" for j in errors)


def test_watch_flashes_a_board_plugged_in_later(home: Path) -> None:
    """In watch mode a port that appears after the start is noticed and its board flashed."""
    _uid, _kind, chip, mac = NODES[5]
    device = VirtualEsp32(chip, mac)
    with serve_devices([device]) as server:
        port = server.ports[0]
        port.unplug()
        stop = threading.Event()
        done: list[StationEvent] = []

        def on_event(event: StationEvent) -> None:
            if event.kind == "done":
                done.append(event)
                stop.set()

        station = Station(
            JobOptions(home=str(home)),
            server.urls,
            scan_usb=False,
            parallel=2,
            once=False,
            poll_interval=0.2,
            on_event=on_event,
        )
        runner = threading.Thread(target=station.run, args=(stop,))
        runner.start()
        time.sleep(0.5)  # the station is watching an empty port
        port.plug()
        runner.join(timeout=60)
    assert [Outcome.FLASHED] == [e.result.outcome for e in done if e.result]


def test_register_unknown_board_as_unbound_node(home: Path, fctx: FleetContext) -> None:
    """With register_unknown, a stranger board becomes node esp32-<mac> in gh-temp/zn-temp."""
    device = VirtualEsp32("esp32c3", "34:85:18:ee:00:01")
    with serve_devices([device]) as server:
        station = Station(
            JobOptions(home=str(home), register_unknown=True),
            server.urls,
            scan_usb=False,
            once=True,
            poll_interval=0.2,
        )
        (result,) = station.run().final()
    node = fctx.registry.get_node("esp32-348518ee0001")
    assert Outcome.REGISTERED == result.outcome
    assert ("gh-temp", "zn-temp", "esp32c3") == (node.gh_uid, node.zone_uid, node.chip)


def test_stopping_mid_write_reports_interrupted(home: Path) -> None:
    """Stopping the station while a board is being written ends that job as interrupted."""
    _uid, _kind, chip, mac = NODES[1]
    device = VirtualEsp32(chip, mac, baud_pace=100_000)  # slow enough to stop mid-write
    stop = threading.Event()

    def on_event(event: StationEvent) -> None:
        if event.kind == "progress" and event.stage == "write" and event.done > 0:
            stop.set()

    with serve_devices([device]) as server:
        station = _station(home, server.urls, on_event=on_event)
        (result,) = station.run(stop).final()
    assert (Outcome.INTERRUPTED, True) == (result.outcome, result.needs_reflash)
