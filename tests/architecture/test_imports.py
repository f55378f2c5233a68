"""The package layout stays a picture of the architecture: no import cycles, layers respected.

An AST walk over every module of ``fleet/``; function-level imports count like module-level
ones (deferring an import does not make a cycle go away, it only hides it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "fleet"

PURE = ("fleet.protocol", "fleet.nvs", "fleet.firmware")
"""Domain packages: they never import services, adapters or the CLI."""
SERVICES = (
    "fleet.service",
    "fleet.flashing",
    "fleet.ota",
    "fleet.recovery",
    "fleet.backup",
    "fleet.cli",
    "fleet.sim",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``fleet`` that ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target in known:
                found.add(target)
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            # a package's __init__ importing its own submodules is how packages re-export
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_reports_a_cycle_it_is_given() -> None:
    """The checker itself sees a three-module cycle (so a pass below means something)."""
    cycle = find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert {"a", "b", "c"} == set(cycle)


def test_no_import_cycles_among_fleet_modules() -> None:
    """No module of fleet/ reaches itself through imports, function-level ones included."""
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _under(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("package", PURE)
def test_domain_packages_import_no_services_or_cli(package: str) -> None:
    """protocol, nvs and firmware stay pure: no service, adapter runner or CLI import."""
    bad = [
        f"{src} -> {dst}"
        for src, dsts in graph().items()
        if _under(src, (package,))
        for dst in dsts
        if _under(dst, SERVICES)
    ]
    assert [] == bad


def test_only_the_cli_imports_the_cli() -> None:
    """fleet.cli is the top: nothing outside it imports it (but `python -m fleet`)."""
    bad = [
        f"{src} -> {dst}"
        for src, dsts in graph().items()
        if not _under(src, ("fleet.cli", "fleet.__main__"))
        for dst in dsts
        if _under(dst, ("fleet.cli",))
    ]
    assert [] == bad


def test_no_file_repeats_its_folder_or_forms_a_prefix_family() -> None:
    """A capability is found by its folder: no `ota/ota_x.py`, no three `pg*.py` side by side."""
    problems: list[str] = []
    for folder in sorted({p.parent for p in ROOT.rglob("*.py")}):
        stems = [p.stem for p in folder.glob("*.py") if p.stem != "__init__"]
        for stem in stems:
            if stem.startswith(folder.name + "_") or (
                folder.name.endswith("s") and stem.startswith(folder.name[:-1] + "_")
            ):
                problems.append(f"{folder.relative_to(ROOT.parent)}/{stem}.py")
        prefixes: dict[str, list[str]] = {}
        for stem in stems:
            if "_" in stem:
                prefixes.setdefault(stem.split("_")[0], []).append(stem)
        for prefix in ("pg",):
            family = [s for s in stems if s.startswith(prefix) and s != prefix]
            if len(family) >= 3:
                prefixes[prefix] = family
        for prefix, family in prefixes.items():
            if len(family) >= 3:
                problems.append(f"{folder.relative_to(ROOT.parent)}: {prefix}* {sorted(family)}")
    assert [] == problems
