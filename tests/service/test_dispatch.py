"""The hot path on its own: any payload on any topic is handled or counted, never raised."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.service.dispatch import Dispatcher
from fleet.service.liveness import Liveness, State

TOPICS = [
    "hydro/gh-1/zn-1/nd-1/heartbeat",
    "hydro/gh-1/zn-1/nd-1/status",
    "hydro/gh-1/zn-1/nd-1/lwt",
    "hydro/gh-1/zn-1/nd-1/config_report",
    "hydro/gh-1/zn-1/nd-1/system/command_response",
    "hydro/gh-temp/zn-temp/esp32-aabbccddeeff/node_hello",
    "hydro/node_hello",
    "hydro/time/request",
    "$SYS/broker/uptime",
    "hydro/gh-1/zn-1/nd-1/weird",
    "elsewhere/entirely",
]
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(TOPICS), st.binary(max_size=300) | JSONISH.map(lambda v: json.dumps(v).encode())
)
def test_any_payload_is_handled_or_counted(topic: str, payload: bytes) -> None:
    """No input escapes the dispatcher as an exception or as an internal error."""
    d = Dispatcher(Liveness(45, 120, 120, 0.0))
    d.handle(topic, payload, False, 1.0)
    assert 0 == d.malformed["internal"]
    assert 1 == d.total


def test_valid_heartbeat_in_temp_namespace_maps_to_the_registered_uid() -> None:
    """An unbound-topic heartbeat of a known hardware_id updates that node's uid."""
    lv = Liveness(45, 120, 120, 0.0)
    d = Dispatcher(lv, hw_to_uid={"esp32-aabbccddeeff": "nd-7"})
    d.handle("hydro/gh-temp/zn-temp/esp32-aabbccddeeff/heartbeat", b'{"uptime":3}', False, 1.0)
    assert (State.ONLINE, 3) == (lv.nodes["nd-7"].state, lv.nodes["nd-7"].uptime)


def test_retained_status_and_lwt_never_decide_liveness() -> None:
    """A retained `offline` will or status (possibly old after a restore) changes nothing."""
    lv = Liveness(45, 120, 120, 0.0)
    d = Dispatcher(lv)
    d.handle("hydro/gh-1/zn-1/nd-1/heartbeat", b'{"uptime":3}', False, 1.0)
    d.handle("hydro/gh-1/zn-1/nd-1/lwt", b"offline", True, 2.0)
    d.handle("hydro/gh-1/zn-1/nd-1/status", b'{"status":"OFFLINE"}', True, 2.0)
    assert (State.ONLINE, 2) == (lv.nodes["nd-1"].state, d.counts["retained_ignored"])
