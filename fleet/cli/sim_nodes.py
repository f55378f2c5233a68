"""`fleet sim nodes`: run simulated hydro 2.0 nodes against a broker until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import Any

import typer
from rich.live import Live

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.errors import UsageError
from fleet.sim.node.roster import FaultPlan, assign_faults, make_nodes, nodes_from_registry
from fleet.sim.node.settings import DEFAULT_BROKER, SECTION, BrokerUrl, SimSettings
from fleet.sim.node.simulator import NodeSimulator, SimOptions

app = typer.Typer()


@app.command("nodes")
def nodes(
    ctx: typer.Context,
    count: int = typer.Option(0, "--count", "-n", min=0, help="Generated nodes (nd-sim-N)."),
    from_registry: bool = typer.Option(
        False, "--from-registry", help="Simulate every registered node, with its vault secret."
    ),
    gh: str | None = typer.Option(None, "--gh", help="With --from-registry: only this gh."),
    zone: str | None = typer.Option(None, "--zone", help="With --from-registry: only this zone."),
    unbound: int = typer.Option(0, "--unbound", min=0, help="Extra unbound nodes (send hello)."),
    broker: str | None = typer.Option(None, "--broker", help="mqtt://host:port"),
    heartbeat_interval: float | None = typer.Option(
        None, "--heartbeat-interval", min=0.01, help="Seconds between heartbeats (15)."
    ),
    per_node: bool = typer.Option(
        False, "--per-node-connections", help="One connection and last will per node."
    ),
    per_connection: int | None = typer.Option(
        None, "--nodes-per-connection", min=1, help="Nodes multiplexed on one connection."
    ),
    spread: float = typer.Option(0.0, "--startup-spread", min=0, help="Spread connects (s)."),
    drop: int = typer.Option(0, "--drop", min=0, help="Nodes that never answer commands."),
    no_return: int = typer.Option(0, "--no-return", min=0, help="Nodes gone after a reboot."),
    slow: int = typer.Option(0, "--slow", min=0, help="Nodes that answer late."),
    slow_delay: float = typer.Option(5.0, "--slow-delay", min=0, help="Their delay (s)."),
    skew: int = typer.Option(0, "--skew", min=0, help="Nodes with a skewed clock."),
    skew_seconds: float = typer.Option(30.0, "--skew-seconds", help="Their clock offset (s)."),
    seed: int = typer.Option(1, "--seed", help="Which nodes get the faults."),
    duration: float = typer.Option(0.0, "--duration", min=0, help="Stop after S s (0: Ctrl-C)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run simulated hydro 2.0 nodes (heartbeats, status, LWT, signed-command checks)."""
    with handle_errors(as_json):
        st = state(ctx)
        cfg = st.settings.section(SECTION, SimSettings)
        service = st.settings.raw_section("service") or {}
        url = broker or cfg.broker or str(service.get("broker") or DEFAULT_BROKER)
        address = BrokerUrl.parse(url)
        if from_registry:
            sim_nodes = nodes_from_registry(st.context, gh=gh, zone=zone)
            if count:
                sim_nodes = sim_nodes[:count]
        else:
            sim_nodes = make_nodes(count, unbound=unbound)
        if not sim_nodes:
            raise UsageError("no nodes to simulate: give --count N or --from-registry")
        faults = assign_faults(
            sim_nodes,
            FaultPlan(drop, no_return, slow, slow_delay, skew, skew_seconds, seed=seed),
        )
        options = SimOptions(
            heartbeat_interval=heartbeat_interval or cfg.heartbeat_interval,
            per_node_connections=per_node,
            nodes_per_connection=per_connection or cfg.nodes_per_connection,
            reconnect_delay=cfg.reconnect_delay,
            time_retry=cfg.time_retry,
            qos=cfg.qos,
            startup_spread=spread,
        )
        sim = NodeSimulator(address.host, address.port, sim_nodes, options)
        summary = asyncio.run(_run(sim, duration, quiet=as_json))
        summary.update(broker=url, nodes=len(sim_nodes), faults=faults)
        if as_json:
            print_json(summary)
        else:
            console.print(_line(summary))


def _line(s: dict[str, Any]) -> str:
    return (
        f"nodes {s.get('nodes', '?')}  connections {s['connected']}/{s['connections']}  "
        f"heartbeats {s['heartbeats']}  commands {s['commands']}  reboots {s['reboots']}  "
        f"msgs/s {s['rate']:.0f}"
    )


def _summary(sim: NodeSimulator, started: float) -> dict[str, Any]:
    elapsed = max(1e-9, time.monotonic() - started)
    st = sim.stats
    return {
        "connections": len(sim.groups),
        "connected": sim.connected(),
        "heartbeats": st.heartbeats,
        "published": st.published,
        "commands": st.commands,
        "dropped_commands": st.dropped_commands,
        "reboots": st.reboots,
        "responses": dict(st.responses),
        "seconds": round(elapsed, 1),
        "rate": st.published / elapsed,
    }


async def _run(sim: NodeSimulator, duration: float, quiet: bool) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    live = contextlib.nullcontext() if quiet else Live(console=console, transient=True)
    with live as view:
        await sim.start()
        deadline = started + duration if duration else None
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if isinstance(view, Live):
                view.update(_line(_summary(sim, started)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        summary = _summary(sim, started)
        await sim.stop()
    return summary
