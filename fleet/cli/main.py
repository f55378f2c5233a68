"""The `fleet` command: a thin typer layer over the library.

Each command group lives in its own module under `fleet/cli/` and exposes `app`
(a `typer.Typer`); `_GROUPS` lists them. Adding a group is one line here.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import typer

from fleet.cli._common import CliState

app = typer.Typer(
    name="fleet",
    help=(
        "Recovery agent of a hydro 2.0 site: node registry and secret escrow, NVS rebuild, "
        "USB/OTA reflash, MQTT liveness and reboot campaigns, site backup and restore."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# (module under fleet.cli, group name or "" for top-level commands, help)
_GROUPS: list[tuple[str, str, str]] = [
    ("init", "", ""),
    ("nodes", "nodes", "Register, import, list, show and export nodes."),
    ("command", "command", "Sign and send hydro 2.0 commands."),
    ("vault", "vault", "The encrypted secret vault: status, key rotation."),
    ("audit", "", ""),
    ("demo", "", ""),
    ("firmware", "firmware", "Firmware bundles: import (validated), list, assign."),
    ("flash", "", ""),
    ("serve", "", ""),
    ("reboot", "", ""),
    ("campaigns", "campaigns", "Reboot campaigns: list, show a report."),
    ("wal", "wal", "Archive and restore PostgreSQL WAL (archive_command / restore_command)."),
    ("backup", "backup", "Encrypted site snapshots: run, list, verify, prune, keygen."),
    ("nvs", "nvs", "Build, escrow, show, verify and diff node NVS images."),
    ("site", "site", "Site-wide NodeConfig values (Wi-Fi, MQTT); passwords go to the vault."),
    ("sim", "sim", "Testing aids: virtual ESP32 boards and simulated nodes."),
    ("recover", "recover", "Whole-site disaster recovery from a snapshot, resumable."),
    ("drill", "", ""),
    ("status", "", ""),
    ("restore", "", ""),
    ("station", "", ""),
]


@app.callback()
def _root(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", help="Data directory (default: $FLEET_HOME or ~/.local/share/fleet)."
    ),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output."),
) -> None:
    """Recovery agent of a hydro 2.0 site."""
    ctx.obj = CliState(home)
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register() -> None:
    for module_name, group, help_text in _GROUPS:
        module = importlib.import_module(f"fleet.cli.{module_name}")
        sub: typer.Typer = module.app
        if group:
            app.add_typer(sub, name=group, help=help_text)
        else:
            for command in sub.registered_commands:
                app.registered_commands.append(command)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
