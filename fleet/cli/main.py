"""The `fleet` command: a thin typer layer over the library.

Each command group lives in its own module under `fleet/cli/` and exposes `app`
(a `typer.Typer`); `_GROUPS` lists them. Adding a group is one line here. A module
listed with group "" holds one top-level command named like the module. Modules are
imported only when their command runs (see `LazyGroup`).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import typer
import typer._click as click  # typer vendors click; its Group API is what we extend
import typer.main
from typer.core import TyperGroup

from fleet.cli._common import CliState

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
    (
        "recover",
        "recover",
        "After a loss: whole-site recovery (site), fleet re-registration (nodes).",
    ),
    ("drill", "", ""),
    ("status", "", ""),
    ("restore", "", ""),
    ("station", "", ""),
    ("ota", "", ""),
]


def _group_callback() -> None:
    """(a command group)"""


def _lookup(name: str) -> tuple[str, str, str] | None:
    """(module, group, help) of the command or group `name`, from `_GROUPS`."""
    for module_name, group, help_text in _GROUPS:
        if (group or module_name) == name:
            return module_name, group, help_text
    return None


def load_command(name: str) -> click.Command | None:
    """Import the module behind `name` and build its click command (or group)."""
    found = _lookup(name)
    if found is None:
        return None
    module_name, group, help_text = found
    sub: typer.Typer = importlib.import_module(f"fleet.cli.{module_name}").app
    sub._add_completion = False  # completion is offered once, on the root command
    if group and sub.registered_callback is None and len(sub.registered_commands) == 1:
        # typer turns a one-command app into that command; a group must stay a group.
        sub.callback()(_group_callback)
    cmd = typer.main.get_command(sub)
    cmd.name = name
    if help_text:
        cmd.help = help_text
    return cmd


class LazyGroup(TyperGroup):
    """The root group: a command's module is imported only when that command runs.

    Importing every group costs about a second (esptool, SQLAlchemy, aiomqtt, ...); a
    script that calls `fleet wal push` thousands of times should not pay for the rest.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [group or module for module, group, _ in _GROUPS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name)


app = typer.Typer(
    name="fleet",
    help=(
        "Recovery agent of a hydro 2.0 site: node registry and secret escrow, NVS rebuild, "
        "USB/OTA reflash, MQTT liveness and reboot campaigns, site backup and restore."
    ),
    no_args_is_help=True,
    cls=LazyGroup,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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


def main() -> None:
    """Console-script entry point."""
    app()
