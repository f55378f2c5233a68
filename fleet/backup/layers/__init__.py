"""The registry of backup layer handlers: one entry per layer, one file per handler.

Handlers are imported lazily (a layer whose tools are absent costs nothing until used). A
name listed twice is an error at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any, cast

from fleet.backup.layer import LayerHandler
from fleet.errors import UsageError

# (layer name, "module:Class"); the order is the backup order and the order of a site restore.
_ENTRIES: tuple[tuple[str, str], ...] = (
    ("fleet", "fleet.backup.layers.fleet:FleetLayer"),
    ("docker", "fleet.backup.layers.docker:DockerLayer"),
    ("postgres", "fleet.backup.layers.postgres:PostgresLayer"),
    ("laravel", "fleet.backup.layers.laravel:LaravelLayer"),
    ("python_service", "fleet.backup.layers.python_service:PythonServiceLayer"),
    ("mosquitto", "fleet.backup.layers.mosquitto:MosquittoLayer"),
)


def build_registry(entries: Iterable[tuple[str, str]]) -> dict[str, str]:
    """`{name: "module:Class"}` from `entries`; raises `ValueError` on a duplicate name."""
    registry: dict[str, str] = {}
    for name, target in entries:
        if name in registry:
            raise ValueError(f"backup layer {name!r} is registered twice")
        registry[name] = target
    return registry


LAYERS: dict[str, str] = build_registry(_ENTRIES)


def layer_names() -> list[str]:
    """Every registered layer name, in backup order."""
    return list(LAYERS)


def handler_class(name: str) -> type[LayerHandler]:
    """The handler class of layer `name`; raises `UsageError` for an unknown name."""
    try:
        target = LAYERS[name]
    except KeyError:
        known = ", ".join(LAYERS)
        raise UsageError(f"unknown backup layer {name!r} (known: {known})", layer=name) from None
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return cast(type[LayerHandler], cast(Any, getattr(module, attr)))
