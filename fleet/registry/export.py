"""Exporting the node list (never secrets)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from fleet.registry.importing import FIELDS
from fleet.registry.node import Node


def export_nodes(nodes: list[Node], path: Path) -> int:
    """Write `nodes` to `path` (CSV, or JSON when the name ends in .json); returns the count."""
    rows = [{f: getattr(n, f) for f in FIELDS} for n in nodes]
    if path.suffix.lower() == ".json":
        text = json.dumps({"nodes": rows}, indent=2)
    else:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(FIELDS))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if v is None else v for k, v in r.items()})
        text = buf.getvalue()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return len(rows)
