"""`fleet restore SNAPSHOT --layer L`: one layer into a target, or PostgreSQL to a moment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.errors import UsageError
from fleet.settings import Settings, deep_merge

app = typer.Typer()


def _pitr(
    settings: Settings,
    snapshot: str,
    target: Path | None,
    goal: tuple[str | None, str | None, bool],
    port: int | None,
    identity: Path | None,
) -> dict[str, Any]:
    from fleet.backup.postgres.pitr import parse_target, restore_pitr_from_settings

    if identity is not None:
        extra = {"backup": {"identity": str(identity.absolute())}}
        settings = Settings(settings.home, deep_merge(settings.data, extra), settings.environ)
    result = restore_pitr_from_settings(
        settings,
        parse_target(*goal),
        snapshot=None if snapshot == "latest" else snapshot,
        data_dir=target.absolute() if target else None,
        port=port,
    )
    out = result.to_dict()
    out["pid"] = result.cluster.pid()
    return out


@app.command("restore")
def restore(
    ctx: typer.Context,
    snapshot: str = typer.Argument("latest", help="Snapshot id (default: the newest)."),
    layer: str = typer.Option(..., "--layer", "-l", help="The layer to restore."),
    target: Path = typer.Option(
        None, "--target", help="Empty or missing folder (file layers; PITR: the data folder)."
    ),
    dsn: str = typer.Option(None, "--dsn", help="postgres: the cluster to restore into."),
    move_aside: bool = typer.Option(
        False, "--move-aside", help="Rename what is in the target aside instead of refusing."
    ),
    to_time: str = typer.Option(None, "--to-time", help="postgres PITR: ISO time with zone."),
    to_lsn: str = typer.Option(None, "--to-lsn", help="postgres PITR: an LSN like 0/3000028."),
    to_latest: bool = typer.Option(False, "--to-latest", help="postgres PITR: end of the WAL."),
    port: int = typer.Option(None, "--port", help="PITR: port of the recovered server."),
    identity: Path = typer.Option(None, "--identity", help="age identity file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Restore one layer of a snapshot beside the live site (never over it unless told).

    File layers go into --target; postgres into the cluster at --dsn; with --to-time,
    --to-lsn or --to-latest, a base backup plus archived WAL become a new running
    PostgreSQL server at that moment (left running; the report says its port and PID).
    """
    with handle_errors(as_json):
        settings = state(ctx).settings
        pitr = [x for x in (to_time, to_lsn, to_latest or None) if x]
        if len(pitr) > 1:
            raise UsageError("give one of --to-time, --to-lsn, --to-latest")
        if pitr and layer != "postgres":
            raise UsageError("--to-time/--to-lsn/--to-latest apply to --layer postgres only")
        with console.status(f"restoring {layer} from {snapshot}", spinner="dots"):
            if pitr:
                goal = (to_time, to_lsn, to_latest)
                out = _pitr(settings, snapshot, target, goal, port, identity)
            else:
                out = _layer(settings, snapshot, layer, target, dsn, move_aside, identity)
    if as_json:
        print_json(out)
    elif pitr:
        console.print(
            f"PostgreSQL recovered to {out['target']} (ended at LSN {out['end_lsn']}, timeline "
            f"{out['timeline']}) from base backup of {out['base_snapshot']} in "
            f"{out['seconds']:.1f} s; running on 127.0.0.1:{out['port']} pid {out['pid']}, "
            f"data in {out['data_dir']}",
            highlight=False,
        )
    else:
        aside = f"; existing content moved to {out['moved_aside']}" if out["moved_aside"] else ""
        console.print(
            f"layer {out['layer']}: {out['items']} items restored into {out['target']}{aside}",
            highlight=False,
        )


def _layer(
    settings: Settings,
    snapshot: str,
    layer: str,
    target: Path | None,
    dsn: str | None,
    move_aside: bool,
    identity: Path | None,
) -> dict[str, Any]:
    from fleet.backup.restore import restore_layer

    if layer == "postgres":
        if not dsn:
            raise UsageError(
                "--layer postgres needs --dsn (the cluster to restore into; to restore into the "
                "live one, pass its [layers.postgres] dsn explicitly)"
            )
        place = target or settings.home / "recovery" / "pg-restore"
        result = restore_layer(
            settings, snapshot, layer, place, identity, move_aside, params={"dsn": dsn}
        )
    else:
        if target is None:
            raise UsageError(
                "give --target (an empty or missing folder); `fleet recover site` puts files "
                "back in place"
            )
        result = restore_layer(settings, snapshot, layer, target.absolute(), identity, move_aside)
    return {
        "layer": result.layer,
        "target": result.target,
        "items": result.items,
        "moved_aside": result.moved_aside,
        "detail": result.detail,
    }
