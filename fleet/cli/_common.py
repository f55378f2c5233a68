"""What every command group shares: the context object, output, and error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from fleet.errors import FleetError, UsageError
from fleet.settings import Settings

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON (for scripts).")


class CliState:
    """Per-invocation state: the data directory and lazily opened services."""

    def __init__(self, home: Path | None, overrides: dict[str, Any] | None = None) -> None:
        self.home = home
        self.overrides = overrides or {}

    @cached_property
    def settings(self) -> Settings:
        return Settings.load(self.home, self.overrides)

    @cached_property
    def context(self) -> Any:
        from fleet.context import FleetContext

        return FleetContext.open(settings=self.settings)


def state(ctx: typer.Context) -> CliState:
    """The `CliState` of the running command (created by the root callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState(None)
    return root.obj


def to_jsonable(value: Any) -> Any:
    """Dataclasses, pydantic models, paths and datetimes as JSON-ready values."""
    import dataclasses
    import datetime as dt

    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def print_json(value: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@contextmanager
def handle_errors(as_json: bool = False) -> Iterator[None]:
    """Turn a `FleetError` into a one-line message (or JSON) and its exit code."""
    try:
        yield
    except FleetError as exc:
        if as_json:
            print_json(exc.to_dict())
        else:
            err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        raise typer.Exit(exc.exit_code) from None


def parse_json_object(text: str | None, option: str = "--params") -> dict[str, Any]:
    """An option's JSON-object text as a dict ({} when empty), or a UsageError naming it."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{option} must be a JSON object")
    return value


def guarded(as_json: bool, fn: Callable[[], T]) -> T:
    """Run `fn` under `handle_errors`."""
    with handle_errors(as_json):
        return fn()
