"""`fleet vault`: key rotation and a view of what the vault holds."""

from __future__ import annotations

from collections import Counter

import typer

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.registry.models import VaultRecordRow
from fleet.vault import rotate_key

app = typer.Typer(no_args_is_help=True)


@app.command("rotate-key")
def rotate(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Re-encrypt every record under a new key, then replace the key file.

    Interrupted? Run it again: every record stays readable and it resumes.
    """
    with handle_errors(as_json):
        result = rotate_key(state(ctx).context.vault)
    if as_json:
        print_json(result)
        return
    what = "resumed and finished" if result.resumed else "done"
    console.print(
        f"rotation {what}: {result.reencrypted} records re-encrypted "
        f"({result.already_done} were already under the new key); key "
        f"{result.old_key_id} -> {result.new_key_id}"
    )
    console.print("[yellow]Replace your offline copy of the vault key with the new one.[/]")


@app.command("status")
def status(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """How many records of each kind the vault holds, and under which key."""
    from sqlalchemy import select

    with handle_errors(as_json):
        fctx = state(ctx).context
        with fctx.registry.session() as s:
            rows = s.execute(select(VaultRecordRow.kind, VaultRecordRow.key_id)).all()
        kinds = Counter(k for k, _ in rows)
        keys = Counter(kid for _, kid in rows)
        info = {
            "current_key_id": fctx.vault.keyring.current,
            "key_source": "FLEET_VAULT_KEY" if fctx.vault.keyring.from_env else "key file",
            "records_by_kind": dict(kinds),
            "records_by_key": dict(keys),
        }
    if as_json:
        print_json(info)
        return
    for k, v in info.items():
        console.print(f"{k:16} {v}", highlight=False)
