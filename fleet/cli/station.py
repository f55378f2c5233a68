"""`fleet station`: flash every board plugged into the recovery PC with its own node's image."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.errors import DeviceError

app = typer.Typer()

_STYLE = {
    "flashed": "green",
    "registered": "cyan",
    "unknown_mac": "yellow",
    "unplugged": "red",
    "interrupted": "red",
    "not_online": "yellow",
    "failed": "red",
}


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@app.command("station")
def station(
    ctx: typer.Context,
    ports: list[str] = typer.Option(
        [], "--ports", help="Port or URL to use (repeat, or comma-separate); e.g. socket://h:p."
    ),
    watch: bool = typer.Option(False, "--watch", help="Keep watching for boards until Ctrl-C."),
    once: bool = typer.Option(False, "--once", help="Handle the boards present now, then exit."),
    parallel: int = typer.Option(4, "--parallel", min=1, max=64, help="Boards at once."),
    usb: bool = typer.Option(True, "--usb/--no-usb", help="Also scan USB-UART bridges."),
    register_unknown: bool = typer.Option(
        False, "--register-unknown", help="Register a board no node owns as a new node."
    ),
    firmware: str | None = typer.Option(None, "--firmware", help="Firmware id for every board."),
    baud: int | None = typer.Option(None, "--baud", help="Baud rate after the stub is up."),
    wait_online: float = typer.Option(
        0.0, "--wait-online", help="Seconds to wait for each node ONLINE on MQTT (0: don't)."
    ),
    broker: str | None = typer.Option(
        None, "--broker", help="mqtt://host:port to watch (default: the [service] broker)."
    ),
    return_timeout: float = typer.Option(
        30.0, "--return-timeout", help="--once: seconds to wait for an unplugged board."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Flash each board that is plugged in: find its node by MAC, write firmware and its NVS.

    One worker process per port, a progress bar per port, an audit record per job.

    A board unplugged mid-write still needs a reflash and is redone when it is plugged
    back in. Without --watch the station handles the boards present now and exits.
    """
    from fleet.flashing.station import Station, StationEvent
    from fleet.flashing.station_job import JobOptions

    with handle_errors(as_json):
        st = state(ctx)
        options = JobOptions(
            home=str(st.settings.home),
            baud=baud,
            firmware_id=firmware,
            register_unknown=register_unknown,
            wait_online=wait_online,
            broker=broker,
        )
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        progress = Progress(
            TextColumn("{task.fields[port]:<24}"),
            TextColumn("{task.fields[what]:<28}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TimeElapsedColumn(),
            console=console,
            disable=as_json,
        )
        tasks: dict[str, TaskID] = {}

        def on_event(event: StationEvent) -> None:
            task = tasks.get(event.port)
            if task is None:
                task = progress.add_task("", total=1, port=event.port, what="waiting")
                tasks[event.port] = task
            if event.kind == "start":
                progress.reset(task, total=1, port=event.port, what="connecting")
            elif event.kind == "progress" and event.total:
                progress.update(
                    task, total=event.total, completed=event.done, what=event.stage or ""
                )
            elif event.kind == "gone":
                progress.update(task, what="unplugged")
            elif event.kind == "done" and event.result is not None:
                r = event.result
                text = f"{r.outcome.value} {r.node_uid or r.hardware_id or ''}".strip()
                progress.update(task, what=text, completed=progress.tasks[task].total)

        runner = Station(
            options,
            _split(ports),
            scan_usb=usb,
            parallel=parallel,
            once=once or not watch,
            return_timeout=return_timeout,
            on_event=on_event,
        )
        with progress:
            report = runner.run(stop)
        final = report.final()
        if as_json:
            print_json(
                {
                    "ok": report.ok,
                    "final": [r.to_dict() for r in final],
                    "jobs": [r.to_dict() for r in report.results],
                }
            )
        else:
            table = Table("node", "port", "result", "bytes", "seconds", "detail")
            for r in final:
                table.add_row(
                    r.node_uid or r.hardware_id or "-",
                    r.port,
                    f"[{_STYLE.get(r.outcome.value, 'white')}]{r.outcome.value}[/]",
                    str(r.bytes_written),
                    f"{r.seconds:.1f}",
                    r.error or "",
                )
            console.print(table)
            if not final:
                console.print("no boards found", style="yellow")
        if not report.ok:
            raise typer.Exit(DeviceError.exit_code)
