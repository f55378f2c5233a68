"""A connected device through esptool's library API, in this process (not a subprocess).

`open_device` connects (reset into the ROM loader, chip detection), uploads esptool's
flasher stub, attaches the SPI flash, raises the baud rate, and yields a `Device`. Every
esptool or serial failure comes out as a `DeviceError` naming the port. esptool's logger
is global to the process, which is why the station runs one worker process per port;
`esptool_output` routes that logger to Python logging and to a progress callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from esp_pylib.logger import EspLog, EspLogBase
from esptool import cmds
from esptool.util import FatalError
from serial import SerialException

from fleet.errors import DeviceError
from fleet.firmware.chips import normalize_chip_name

log = logging.getLogger("fleet.flashing.esptool")

ProgressFn = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is connect, compare, write, verify, read or reset."""

ROM_BAUD = 115200


def no_progress(stage: str, done: int, total: int) -> None:
    return None


def _render_message(args: tuple[Any, ...]) -> str:
    return " ".join(str(a) for a in args)


class _Logger(EspLogBase):
    """esptool output into Python logging; its progress bars into a callback."""

    def __init__(self, on_bar: Callable[[int, int], None]) -> None:
        self.on_bar = on_bar

    def print(self, *args: Any, **kwargs: Any) -> None:
        text = _render_message(args).strip()
        if text:
            log.debug("%s", text)

    def err(self, *args: Any, suggestion: str | None = None) -> None:
        log.warning("%s", _render_message(args))

    def warn(self, *args: Any, suggestion: str | None = None) -> None:
        log.info("%s", _render_message(args))

    def note(self, *args: Any) -> None:
        log.debug("%s", _render_message(args))

    def hint(self, *args: Any) -> None:
        log.debug("%s", _render_message(args))

    def debug(self, *args: Any) -> None:
        log.debug("%s", _render_message(args))

    def set_verbosity(self, mode: int | str) -> None:
        return None

    def progress_bar(
        self,
        cur_iter: int,
        total_iters: int,
        prefix: str = "",
        suffix: str = "",
        bar_length: int = 30,
    ) -> None:
        self.on_bar(cur_iter, total_iters)


@contextmanager
def esptool_output(on_bar: Callable[[int, int], None] | None = None) -> Iterator[None]:
    """While active, esptool's messages go to logging and its progress bars to `on_bar`."""
    previous = EspLog.instance
    EspLog.instance = _Logger(on_bar or (lambda cur, total: None))
    try:
        yield
    finally:
        EspLog.instance = previous


@contextmanager
def device_errors(port: str, doing: str) -> Iterator[None]:
    """Turn esptool, serial and socket failures while `doing` into DeviceError on `port`."""
    try:
        yield
    except DeviceError:
        raise
    except (FatalError, SerialException, OSError, TimeoutError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeviceError(f"{doing} failed: {text}", port=port) from exc


@dataclass(frozen=True)
class DeviceInfo:
    """Who is on the port."""

    port: str
    chip: str  # esptool chip argument, e.g. esp32c3
    mac: str  # aa:bb:cc:dd:ee:ff
    flash_size: str | None

    @property
    def hardware_id(self) -> str:
        """`esp32-` + the 12 hex digits of the MAC (hydro 2.0)."""
        return "esp32-" + self.mac.replace(":", "")


class Device:
    """An esptool connection (stub running) and what was read from the chip."""

    def __init__(self, esp: Any, info: DeviceInfo) -> None:
        self.esp = esp
        self.info = info

    @property
    def port(self) -> str:
        return self.info.port

    def md5(self, offset: int, size: int) -> str:
        """MD5 (hex) of `size` bytes of flash at `offset`, computed on the chip."""
        with esptool_output(), device_errors(self.port, f"MD5 of 0x{offset:x}+{size}"):
            return str(self.esp.flash_md5sum(offset, size))

    def read(self, offset: int, size: int, progress: ProgressFn = no_progress) -> bytes:
        """`size` bytes of flash at `offset`."""

        def step(done: int, total: int, *_: object) -> None:
            progress("read", done, total)

        with esptool_output(), device_errors(self.port, f"reading 0x{offset:x}+{size}"):
            return bytes(self.esp.read_flash(offset, size, progress_fn=step))

    def write(self, chunks: list[tuple[int, bytes]], on_bar: Callable[[int, int], None]) -> None:
        """Write (offset, bytes) chunks compressed, each verified by MD5 (esptool's own check).

        The image headers are kept as they are ("keep" flash mode, size and frequency).
        """
        if not chunks:
            return
        with esptool_output(on_bar), device_errors(self.port, "writing flash"):
            cmds.write_flash(
                self.esp,
                chunks,
                flash_freq="keep",
                flash_mode="keep",
                flash_size="keep",
                compress=True,
            )

    def reset(self) -> None:
        """Hard reset into the written firmware."""
        with esptool_output(), device_errors(self.port, "reset"):
            cmds.reset_chip(self.esp, "hard-reset")


@contextmanager
def open_device(
    port: str,
    baud: int = 460800,
    connect_attempts: int = 3,
    progress: ProgressFn = no_progress,
) -> Iterator[Device]:
    """Connect to the chip on `port`; yields a `Device` with the stub running.

    The port is closed when the block ends. DeviceError (naming the port) when nothing
    answers, the chip is not one fleet supports, or the connection breaks.
    """
    progress("connect", 0, 1)
    with esptool_output(), device_errors(port, "connecting"):
        esp = cmds.detect_chip(port, ROM_BAUD, "default-reset", False, connect_attempts)
    try:
        with esptool_output(), device_errors(port, "starting the flasher stub"):
            esp = cmds.run_stub(esp)
            # One attempt per write: a broken link fails the job at once (the caller
            # retries the whole job; already written regions are then skipped by MD5).
            esp.WRITE_FLASH_ATTEMPTS = 1
            cmds.attach_flash(esp)
            mac = ":".join(f"{b:02x}" for b in esp.read_mac())
            size = cmds.detect_flash_size(esp)
            if baud and baud != ROM_BAUD:
                esp.change_baud(baud)
        info = DeviceInfo(port, normalize_chip_name(esp.CHIP_NAME), mac, size)
        progress("connect", 1, 1)
        yield Device(esp, info)
    finally:
        try:
            esp._port.close()
        except Exception:  # closing a broken port must not hide the real error
            log.debug("closing %s failed", port, exc_info=True)
