"""`fleet sim`: testing aids that stand in for hardware (virtual ESP32 boards, simulated nodes)."""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import typer
from rich.table import Table

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json
from fleet.errors import UsageError

app = typer.Typer(no_args_is_help=True)


def _parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--listen wants HOST:PORT, got {listen!r}")
    return host, int(port)


def _online_runner(devices: list[Any], mqtt: str | None) -> Any:
    from fleet.sim.esp32.online import OnlineBoards

    override = None
    if mqtt:
        parts = urlsplit(mqtt)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise UsageError(f"--mqtt wants mqtt://host:port, got {mqtt!r}")
        override = (parts.hostname, parts.port or 1883)
    runner = OnlineBoards(broker_override=override)
    for device in devices:
        runner.attach(device)
    return runner


def _parse_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        raise UsageError(f"not a number: {text!r} (e.g. 0x10000)") from None


def _parse_size(text: str | None) -> int | None:
    if text is None:
        return None
    t = text.strip().upper().removesuffix("B")
    if t.endswith("M") and t[:-1].isdigit():
        return int(t[:-1]) * 1024 * 1024
    raise UsageError(f"--flash-size wants e.g. 4MB or 16MB, got {text!r}")


@app.command("esp32")
def esp32(
    mac: str = typer.Option(..., "--mac", help="Factory MAC of the first board."),
    chip: str = typer.Option("esp32", "--chip", help="esp32, esp32c3 or esp32s3."),
    listen: str = typer.Option(
        "127.0.0.1:0", "--listen", help="HOST:PORT of the first board (port 0: free ports)."
    ),
    count: int = typer.Option(1, "--count", min=1, max=256, help="Boards to serve."),
    baud_pace: int | None = typer.Option(
        None, "--baud-pace", help="Pace the wire at this baud rate (10 bits per byte)."
    ),
    flash_size: str | None = typer.Option(None, "--flash-size", help="e.g. 4MB (chip default)."),
    duration: float = typer.Option(
        0.0, "--duration", help="Stop after this many seconds (0: until Ctrl-C)."
    ),
    drop_after: int | None = typer.Option(
        None, "--drop-after", help="Fault: pull the cable after this many host bytes (once)."
    ),
    replug_after: float = typer.Option(
        5.0, "--replug-after", help="Fault: seconds until a pulled board comes back."
    ),
    corrupt_at: str | None = typer.Option(
        None, "--corrupt-at", help="Fault: flip a bit of the next write covering this address."
    ),
    response_delay: float = typer.Option(
        0.0, "--response-delay", help="Fault: answer every request this many seconds late."
    ),
    online: bool = typer.Option(
        False, "--online", help="After each boot, run the board's node on MQTT (fleet.sim)."
    ),
    mqtt: str | None = typer.Option(
        None, "--mqtt", help="--online: broker mqtt://host:port (default: the NodeConfig's)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Serve virtual ESP32 boards that esptool reaches as socket://HOST:PORT.

    With --count N the boards get consecutive ports (from --listen's port, unless it is
    0) and consecutive MACs. Closing a connection resets a board (it boots from flash).
    """
    from fleet.sim.esp32 import Faults, make_devices, serve_devices

    with handle_errors(as_json):
        host, port = _parse_listen(listen)
        devices = make_devices(
            chip, mac, count, baud_pace=baud_pace, flash_size=_parse_size(flash_size)
        )
        for device in devices:
            device.faults = Faults(
                drop_after_bytes=drop_after,
                replug_after=replug_after,
                corrupt_write_at=_parse_int(corrupt_at),
                response_delay=response_delay,
            )
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        runner = _online_runner(devices, mqtt) if online else None
        with contextlib.ExitStack() as stack:
            if runner is not None:
                stack.callback(runner.close)
            server = stack.enter_context(serve_devices(devices, host=host, first_port=port))
            rows = [
                {
                    "url": url,
                    "chip": dev.chip.name,
                    "mac": dev.mac_str,
                    "hardware_id": dev.hardware_id,
                    "flash_size": dev.flash.size,
                }
                for url, dev in zip(server.urls, server.devices, strict=True)
            ]
            if as_json:
                print_json({"devices": rows})
            else:
                table = Table("url", "chip", "mac", "hardware_id", title="virtual ESP32 boards")
                for r in rows:
                    table.add_row(
                        str(r["url"]), str(r["chip"]), str(r["mac"]), str(r["hardware_id"])
                    )
                console.print(table)
                console.print("serving; Ctrl-C to stop", style="dim")
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait(duration if duration > 0 else None)


app.command("nodes")(__import__("fleet.cli.sim_nodes").cli.sim_nodes.nodes)  # C1: `fleet sim nodes`


@app.command("firmware")
def firmware(
    dest: Path = typer.Argument(..., help="Folder (or .zip with --zip) to write the bundle to."),
    chip: str = typer.Option("esp32", "--chip", help="esp32, esp32c3 or esp32s3."),
    layout: str = typer.Option(
        "factory", "--layout", help="factory (hydro 2.0 production table) or ota (ota_0/ota_1)."
    ),
    version: str = typer.Option("2.0.0", "--version", help="App version in the description."),
    project: str = typer.Option("hydro-node", "--project", help="App project name."),
    as_zip: bool = typer.Option(False, "--zip", help="Write a zip of the build folder."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a valid test firmware bundle, as `idf.py build` leaves it (no toolchain needed).

    Bootloader, partition table, app image with its SHA-256 and app description, and
    flasher_args.json: what `fleet firmware import` validates. For trying the station and
    OTA without hardware; the app does nothing on a real board.
    """
    from fleet.firmware.partition_table import LAYOUTS
    from fleet.sim.firmware_gen import write_bundle

    with handle_errors(as_json):
        if layout not in LAYOUTS:
            raise UsageError(f"--layout must be one of {', '.join(sorted(LAYOUTS))}, not {layout}")
        if dest.exists() and (dest.is_file() or any(dest.iterdir())):
            raise UsageError(f"{dest} exists and is not an empty folder: choose a new path")
        made = write_bundle(
            dest, chip, layout=layout, version=version, project=project, as_zip=as_zip
        )
        row = {
            "path": str(made.path),
            "chip": made.chip,
            "layout": made.layout,
            "project": made.project,
            "version": made.version,
            "app_size": made.app_size,
        }
        if as_json:
            print_json(row)
        else:
            console.print(
                f"wrote an {made.chip} bundle ({made.layout} layout, {made.project} "
                f"{made.version}, app {made.app_size} bytes) to {made.path}",
                highlight=False,
            )
            console.print(f"next: fleet firmware import {made.path}", style="dim", highlight=False)


@app.command("broker")
def broker(
    port: int = typer.Option(1883, "--port", help="Loopback port to listen on."),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Folder for mosquitto.conf and its log (default: a temp folder)."
    ),
    duration: float = typer.Option(
        0.0, "--duration", help="Stop after this many seconds (0: until Ctrl-C)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run a Mosquitto broker on 127.0.0.1 (anonymous, loopback only) until Ctrl-C.

    For trying the station, `fleet serve` and the simulators on one machine; a site's real
    broker has its own configuration, users and TLS.
    """
    from fleet.sim.broker import start_broker

    with handle_errors(as_json):
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        running = start_broker(workdir, port=port)
        try:
            if as_json:
                print_json({"url": running.url, "pid": running.pid, "log": str(running.log_file)})
            else:
                console.print(
                    f"Mosquitto on {running.url} (pid {running.pid}); Ctrl-C to stop",
                    highlight=False,
                )
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait(duration if duration > 0 else None)
        finally:
            running.close()
