"""Port discovery: explicit URLs count while they answer; USB bridges are known by VID:PID."""

from __future__ import annotations

from pathlib import Path

from fleet.flashing.ports import KNOWN_USB_UARTS, scan, url_present
from fleet.sim.esp32 import VirtualEsp32, serve_devices


def test_socket_url_present_only_while_listening() -> None:
    """A virtual board's URL is present while served and absent once unplugged."""
    device = VirtualEsp32("esp32", "24:0a:c4:00:30:01")
    with serve_devices([device]) as server:
        url = server.urls[0]
        assert {url} == set(scan([url], usb=False))
        server.ports[0].unplug()
        assert {} == scan([url], usb=False)
        server.ports[0].plug()
        assert True is url_present(url)
    assert 0 == device.boots  # probing sends nothing, so it never resets the board


def test_device_path_present_while_it_exists(tmp_path: Path) -> None:
    """An explicit device path is present while the file exists."""
    tty = tmp_path / "ttyUSB9"
    assert False is url_present(str(tty))
    tty.touch()
    assert True is url_present(str(tty))


def test_common_bridges_are_known() -> None:
    """CP2102, CH340, CH9102, FT232R and Espressif USB Serial/JTAG are recognised."""
    for vid_pid in [
        (0x10C4, 0xEA60),
        (0x1A86, 0x7523),
        (0x1A86, 0x55D4),
        (0x0403, 0x6001),
        (0x303A, 0x1001),
    ]:
        assert vid_pid in KNOWN_USB_UARTS
