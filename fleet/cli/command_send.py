"""`fleet command send` (mounted by fleet/cli/command.py): a signed command, answer tracked."""

from __future__ import annotations

import typer

from fleet.cli._common import (
    JSON_OPTION,
    console,
    handle_errors,
    parse_json_object,
    print_json,
    state,
)
from fleet.service.client import send_command


def send(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="Node uid."),
    cmd: str = typer.Option(..., "--cmd", help="Command name, e.g. reboot."),
    channel: str = typer.Option("system", "--channel", help="Channel (topic level)."),
    params: str = typer.Option(None, "--params", help="Command params as a JSON object."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the node's final answer."),
    timeout: float = typer.Option(None, "--timeout", help="Seconds to wait for the answer."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Send a signed command through the running `fleet serve` (or alone when none runs).

    Exit code 0 when sent (or, with --wait, answered DONE); a refusal exits 65 and names
    the node's error_code; no answer in time exits 75.
    """
    with handle_errors(as_json):
        fctx = state(ctx).context
        request = {
            "uid": uid,
            "cmd": cmd,
            "channel": channel,
            "params": parse_json_object(params),
            "wait": wait,
            "timeout": timeout,
        }
        result = send_command(fctx, request)
    result.pop("ok", None)
    if as_json:
        print_json(result)
    else:
        line = f"{uid} {cmd} ({result['cmd_id']}): {result['status']}"
        if result.get("error_code"):
            line += f" error_code={result['error_code']}"
        console.print(line, highlight=False)
    status = result["status"]
    if status in ("ERROR", "INVALID", "BUSY"):
        raise typer.Exit(65)
    if status == "TIMEOUT":
        raise typer.Exit(75)
