"""`fleet command`: sign (and, with the service, send) hydro 2.0 commands."""

from __future__ import annotations

import json

import typer

from fleet.cli import command_send
from fleet.cli._common import (
    JSON_OPTION,
    console,
    handle_errors,
    parse_json_object,
    print_json,
    state,
)
from fleet.service.signing import sign_for_node

app = typer.Typer(no_args_is_help=True)


@app.command("sign")
def sign(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="Node uid."),
    cmd: str = typer.Option(..., "--cmd", help="Command name, e.g. reboot."),
    channel: str = typer.Option("system", "--channel", help="Channel (topic level)."),
    params: str = typer.Option(None, "--params", help="Command params as a JSON object."),
    cmd_id: str = typer.Option(None, "--cmd-id", help="Command id (default: a fresh one)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Print the topic and signed payload that would be published (nothing is sent)."""
    with handle_errors(as_json):
        fctx = state(ctx).context
        signed = sign_for_node(fctx, uid, cmd, channel, parse_json_object(params), cmd_id)
        fctx.registry.audit(
            "command.sign", node_uid=uid, detail={"cmd": cmd, "cmd_id": signed.payload["cmd_id"]}
        )
    if as_json:
        print_json({"topic": signed.topic, "payload": signed.payload})
    else:
        console.print(signed.topic, highlight=False)
        console.print(json.dumps(signed.payload, separators=(",", ":")), highlight=False)


# `fleet command send` talks to the running service; it lives with the service's client.
app.command("send")(command_send.send)
