"""`fleet serve`: the long-running MQTT service (liveness, commands, reboot campaigns)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import typer

from fleet.cli._common import err_console, handle_errors, state
from fleet.service.config import BrokerAddress
from fleet.service.server import Service, load_settings

app = typer.Typer()


async def _run_until_signal(svc: Service) -> None:
    task = asyncio.create_task(svc.run(), name="fleet-serve")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


@app.command("serve")
def serve(
    ctx: typer.Context,
    broker: str = typer.Option(None, "--broker", help="mqtt://host:port or mqtts://host:port."),
    stale_after: float = typer.Option(None, "--stale-after", help="Seconds of silence: STALE."),
    offline_after: float = typer.Option(
        None, "--offline-after", help="Seconds of silence: OFFLINE."
    ),
    restore_grace: float = typer.Option(
        None, "--restore-grace", help="Grace after a reconnect/restore (default: offline-after)."
    ),
    reboot_rate: float = typer.Option(None, "--reboot-rate", help="Reboots per second."),
    command_timeout: float = typer.Option(
        None, "--command-timeout", help="Seconds to wait for a command's answer."
    ),
    metrics_port: int = typer.Option(
        None, "--metrics-port", help="Prometheus port on loopback (0: any free port)."
    ),
) -> None:
    """Run the service: liveness, signed commands, reboot campaigns after a broker restore.

    Logs state changes and campaign progress; control it with `fleet command send`,
    `fleet reboot`, `fleet campaigns`; Prometheus metrics on loopback (see docs/service.md).
    """
    with handle_errors(False):
        st = state(ctx)
        fctx = st.context
        cfg = load_settings(
            fctx,
            {
                "broker": broker,
                "stale_after": stale_after,
                "offline_after": offline_after,
                "restore_grace": restore_grace,
                "reboot_rate": reboot_rate,
                "command_timeout": command_timeout,
                "metrics_port": metrics_port,
            },
        )
        BrokerAddress.parse(cfg.broker)
        logger = logging.getLogger("fleet")
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        err_console.print(
            f"fleet serve: broker {cfg.broker}, stale {cfg.stale_after:g}s, offline "
            f"{cfg.offline_after:g}s, grace {cfg.grace:g}s, reboot rate {cfg.reboot_rate:g}/s",
            highlight=False,
        )
        asyncio.run(_run_until_signal(Service(fctx, cfg)))
