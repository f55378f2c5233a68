"""Which serial ports hold a board right now: USB-UART bridges by VID:PID, plus explicit URLs.

A station PC sees boards through USB-to-UART bridges (CP210x, CH340/CH9102, FTDI) or the
ESP32-S3/C3 native USB Serial/JTAG. `scan()` lists the ports whose VID:PID is one of
those (pyserial's port listing), plus any explicit port the user named: a device path is
present while it exists, a `socket://host:port` URL (virtual boards) while it accepts a
TCP connection (the probe sends nothing).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

# (VID, PID) -> what it is
KNOWN_USB_UARTS: dict[tuple[int, int], str] = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x10C4, 0xEA70): "Silicon Labs CP2105",
    (0x10C4, 0xEA71): "Silicon Labs CP2108",
    (0x1A86, 0x7523): "WCH CH340",
    (0x1A86, 0x5523): "WCH CH341",
    (0x1A86, 0x55D3): "WCH CH343",
    (0x1A86, 0x55D4): "WCH CH9102",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6010): "FTDI FT2232",
    (0x0403, 0x6011): "FTDI FT4232",
    (0x0403, 0x6014): "FTDI FT232H",
    (0x0403, 0x6015): "FTDI FT230X",
    (0x303A, 0x1001): "Espressif USB Serial/JTAG (ESP32-C3/S3)",
    (0x303A, 0x0009): "Espressif USB-OTG (ESP32-S3 download mode)",
}


@dataclass(frozen=True)
class PortInfo:
    """One port that holds (or may hold) a board."""

    url: str
    description: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None


def list_usb_ports() -> list[PortInfo]:
    """Serial ports whose USB VID:PID is a known ESP32 USB-UART bridge or native USB."""
    from serial.tools import list_ports

    out = []
    for p in list_ports.comports():
        key = (p.vid, p.pid)
        if p.vid is None or key not in KNOWN_USB_UARTS:
            continue
        out.append(PortInfo(p.device, KNOWN_USB_UARTS[key], p.vid, p.pid, p.serial_number))
    return sorted(out, key=lambda i: i.url)


def url_present(url: str, timeout: float = 0.5) -> bool:
    """True when `url` currently reaches something: a TCP listener for `socket://`/`rfc2217://`
    URLs (connect and close, nothing sent), an existing device path otherwise."""
    if "://" not in url:
        return os.path.exists(url)
    parts = urlsplit(url)
    if parts.scheme not in ("socket", "rfc2217") or not parts.hostname or not parts.port:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            return True
    except OSError:
        return False


def scan(explicit: Iterable[str] = (), usb: bool = True) -> dict[str, PortInfo]:
    """Ports present now, by URL: known USB bridges (when `usb`) and the explicit ones."""
    found = {p.url: p for p in list_usb_ports()} if usb else {}
    for url in explicit:
        if url_present(url):
            found.setdefault(url, PortInfo(url, "explicit"))
    return found
