"""`fleet station --once --json`: known boards flashed, unknown ones reported, exit code says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fleet.sim.esp32 import VirtualEsp32, serve_devices
from tests.station.conftest import NODES

FLEET = str(Path(sys.executable).parent / "fleet")


def test_station_cli_reports_each_port(home: Path) -> None:
    """A known board is flashed, an unknown one reported; exit code 75 because not all flashed."""
    uid, _kind, chip, mac = NODES[4]
    known = VirtualEsp32(chip, mac)
    stranger = VirtualEsp32("esp32", "24:0a:c4:ee:ee:01")
    with serve_devices([known, stranger]) as server:
        out = subprocess.run(
            [
                FLEET,
                "--home",
                str(home),
                "station",
                "--no-usb",
                "--once",
                "--json",
                "--ports",
                ",".join(server.urls),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.stdout.startswith("{"), out.stderr
    doc = json.loads(out.stdout)
    final = {r["port"]: r for r in doc["final"]}
    assert 75 == out.returncode, out.stderr
    assert ("flashed", uid) == (final[server.urls[0]]["outcome"], final[server.urls[0]]["node_uid"])
    assert ("unknown_mac", "esp32-240ac4eeee01") == (
        final[server.urls[1]]["outcome"],
        final[server.urls[1]]["hardware_id"],
    )
    assert 0 < final[server.urls[0]]["bytes_written"]
