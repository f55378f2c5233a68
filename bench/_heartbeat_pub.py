"""Heartbeat publisher for the liveness benchmark (run as a separate process; paho, QoS 0).

flood: `total` heartbeats round-robin over `nodes` uids, as fast as paho goes.
paced: every node once per `interval` seconds, spread evenly, for `seconds` seconds.
Prints one JSON line with what it sent.
"""

from __future__ import annotations

import json
import sys
import time

import paho.mqtt.client as mqtt


def topic(i: int) -> str:
    return f"hydro/gh-b/zn-b{i // 1000}/nd-b-{i}/heartbeat"


def main() -> None:
    mode, host, port, nodes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}")
    c.max_queued_messages_set(0)
    c.connect(host, port, keepalive=60)
    c.loop_start()
    topics = [topic(i) for i in range(nodes)]
    payload = b'{"uptime":%d,"free_heap":181000,"rssi":-55,"fw_version":"2.0.0"}'
    sent = 0
    t0 = time.monotonic()
    if mode == "flood":
        total = int(sys.argv[5])
        for k in range(total):
            c.publish(topics[k % nodes], payload % k, qos=0)
            sent += 1
    else:
        interval, seconds = float(sys.argv[5]), float(sys.argv[6])
        tick = 0.05
        per_tick = nodes * tick / interval
        due = 0.0
        i = k = 0
        while time.monotonic() - t0 < seconds:
            due += per_tick
            n, due = int(due), due - int(due)
            for _ in range(n):
                c.publish(topics[i], payload % int(time.monotonic() - t0), qos=0)
                i = (i + 1) % nodes
                sent += 1
            k += 1
            time.sleep(max(0.0, t0 + k * tick - time.monotonic()))
    elapsed = time.monotonic() - t0
    time.sleep(0.5)
    c.loop_stop()
    c.disconnect()
    print(json.dumps({"sent": sent, "seconds": round(elapsed, 2)}))


if __name__ == "__main__":
    main()
