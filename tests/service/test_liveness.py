"""Liveness state machine: transitions, paused clocks, grace after reconnect."""

from fleet.service.liveness import Liveness, State


def make(now: float = 0.0) -> Liveness:
    return Liveness(stale_after=45, offline_after=120, grace=120, now=now)


def test_heartbeat_makes_online_and_keeps_fields() -> None:
    """A heartbeat makes a node ONLINE and keeps uptime, heap, rssi and firmware version."""
    lv = make()
    tr = lv.heartbeat("nd-1", 1.0, uptime=10, free_heap=2000, rssi=-60, fw_version="1.2")
    node = lv.get("nd-1")
    assert node is not None
    assert tr is not None
    assert (State.UNKNOWN, State.ONLINE) == (tr.old, tr.new)
    assert (10, 2000, -60, "1.2") == (node.uptime, node.free_heap, node.rssi, node.fw_version)


def test_silence_goes_stale_then_offline() -> None:
    """45 s of silence make a node STALE, 120 s OFFLINE (after the start-up grace)."""
    lv = make()
    lv.heartbeat("nd-1", 130.0)
    assert [] == lv.sweep(170.0)
    assert [State.STALE] == [t.new for t in lv.sweep(176.0)]
    assert [State.OFFLINE] == [t.new for t in lv.sweep(251.0)]
    assert State.OFFLINE == lv.nodes["nd-1"].state


def test_lwt_and_status_offline_are_immediate() -> None:
    """A last will or a status OFFLINE makes the node OFFLINE at once, even in the grace."""
    lv = make()
    lv.heartbeat("nd-1", 1.0)
    lv.heartbeat("nd-2", 1.0)
    lv.lwt("nd-1", 2.0, "offline")
    lv.status("nd-2", 2.0, "OFFLINE")
    assert [State.OFFLINE, State.OFFLINE] == [lv.nodes[u].state for u in ("nd-1", "nd-2")]


def test_safe_mode_survives_heartbeats() -> None:
    """A node in SAFE_MODE stays there on heartbeats until it reports ONLINE."""
    lv = make()
    lv.status("nd-1", 1.0, "SAFE_MODE")
    lv.heartbeat("nd-1", 2.0)
    assert State.SAFE_MODE == lv.nodes["nd-1"].state
    lv.status("nd-1", 3.0, "ONLINE")
    assert State.ONLINE == lv.nodes["nd-1"].state


def test_no_judgement_while_paused_and_grace_after_resume() -> None:
    """A service outage pauses clocks; after reconnect nobody goes OFFLINE during the grace."""
    lv = make()
    lv.heartbeat("nd-1", 200.0)
    lv.pause(210.0)
    assert [] == lv.sweep(1000.0)
    lv.resume(1000.0)  # clock shifted: silence so far is 10 s
    assert [] == lv.sweep(1030.0)
    assert [State.STALE] == [t.new for t in lv.sweep(1040.0)]
    assert [] == lv.sweep(1119.0)  # silence 129 s but still in grace
    assert [State.OFFLINE] == [t.new for t in lv.sweep(1120.0)]


def test_heard_during_grace_stays_online() -> None:
    """Nodes heard again after the reconnect never leave ONLINE."""
    lv = make()
    for i in range(100):
        lv.heartbeat(f"nd-{i}", 200.0)
    lv.pause(205.0)
    lv.resume(400.0)
    for i in range(100):
        lv.heartbeat(f"nd-{i}", 410.0)
    assert [] == lv.sweep(440.0)
    assert {State.ONLINE: 100} == {k: v for k, v in lv.counts().items() if v}


def test_registered_but_unheard_goes_offline_after_grace() -> None:
    """A registered node never heard since start-up goes OFFLINE only when the grace ends."""
    lv = make(now=0.0)
    lv.track("nd-x", 0.0)
    assert [] == lv.sweep(119.0)
    assert [State.OFFLINE] == [t.new for t in lv.sweep(120.0)]


def test_dirty_set_reports_changed_nodes_once() -> None:
    """take_dirty hands each changed node to the writer once."""
    lv = make()
    lv.heartbeat("nd-1", 1.0)
    lv.heartbeat("nd-1", 2.0)
    assert ["nd-1"] == [n.uid for n in lv.take_dirty()]
    assert [] == lv.take_dirty()
