"""NodeConfig templates: JSON data files, one per node type, in `nvs_templates/` folders.

A template file holds `node_type`, `template_version`, optional `aliases` (other names the
registry or the firmware use for that type) and `nodeconfig`, the NodeConfig with
`${name}` placeholders (see `fleet.nvs.render`). Folders are searched in order; the first
file naming a type wins, so a user's `$FLEET_HOME/nvs_templates/` can add or replace
types without touching code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.errors import NotFound
from fleet.nvs.errors import TemplateError

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "nvs_templates"
USER_DIR_NAME = "nvs_templates"


@dataclass(frozen=True)
class Template:
    """One node type's NodeConfig template."""

    node_type: str
    version: int
    aliases: tuple[str, ...]
    description: str
    nodeconfig: dict[str, Any]
    path: Path

    @property
    def names(self) -> tuple[str, ...]:
        """The type name and its aliases."""
        return (self.node_type, *self.aliases)


def template_dirs(home: Path | None, extra: Sequence[Path] = ()) -> list[Path]:
    """Folders searched, first wins: `extra`, then `home/nvs_templates`, then the bundled ones."""
    dirs = [*extra]
    if home is not None:
        dirs.append(home / USER_DIR_NAME)
    dirs.append(BUNDLED_DIR)
    return dirs


def load_template(path: Path) -> Template:
    """Read and check one template file; raises TemplateError naming the file and the fault."""
    name = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TemplateError(name, f"cannot read: {exc}") from exc
    if not isinstance(doc, dict):
        raise TemplateError(name, "must be a JSON object")
    node_type, version = doc.get("node_type"), doc.get("template_version")
    if not isinstance(node_type, str) or not node_type:
        raise TemplateError(name, "node_type must be a non-empty string")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TemplateError(name, "template_version must be an integer >= 1")
    aliases = doc.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise TemplateError(name, "aliases must be a list of non-empty strings")
    config = doc.get("nodeconfig")
    if not isinstance(config, dict):
        raise TemplateError(name, "nodeconfig must be a JSON object")
    return Template(
        node_type, version, tuple(aliases), str(doc.get("description", "")), config, path
    )


def load_templates(dirs: Sequence[Path]) -> dict[str, Template]:
    """Every template found in `dirs`, keyed by type name and alias (first folder wins).

    Two files in the same folder claiming one name is an error.
    """
    found: dict[str, Template] = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        here: dict[str, Template] = {}
        for path in sorted(folder.glob("*.json")):
            tpl = load_template(path)
            for name in tpl.names:
                if name in here and here[name].path != path:
                    raise TemplateError(str(path), f"type {name!r} is also in {here[name].path}")
                here[name] = tpl
        for name, tpl in here.items():
            found.setdefault(name, tpl)
    return found


def template_for(node_type: str, dirs: Sequence[Path]) -> Template:
    """The template of `node_type` (or an alias); NotFound lists the types there are."""
    templates = load_templates(dirs)
    tpl = templates.get(node_type)
    if tpl is None:
        known = ", ".join(sorted({t.node_type for t in templates.values()})) or "none"
        raise NotFound(f"no NodeConfig template for node type {node_type!r} (known: {known})")
    return tpl
