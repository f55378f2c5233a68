"""Reading nodes straight from the hydro 2.0 PostgreSQL database (read only).

Tables: `greenhouses(id, uid, ...)`, `zones(id, greenhouse_id, uid, ...)`,
`nodes(id, zone_id, uid, name, type, fw_version, hardware_id, config, ...)`; the
node_secret lives in `nodes.config` (JSON). Columns missing in older schemas are
tolerated; a zone or greenhouse without a uid gets `zn-<id>` / `gh-<id>`.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from fleet.errors import ConfigError, NotFound, ValidationError
from fleet.protocol.ids import NODE_TYPES
from fleet.registry.importing import ImportRow, _check_unique, _row_to_import

TYPE_MAP = {"irrigation": "irrig", "water": "water_sensor", "recirc": "recirculation"}


def _engine_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def _cols(insp: Any, table: str) -> set[str]:
    return {c["name"] for c in insp.get_columns(table)}


def read_hydro_nodes(url: str) -> list[ImportRow]:
    """Every node of the hydro 2.0 database at `url`, validated like a file import."""
    try:
        engine = create_engine(_engine_url(url))
        with engine.connect() as conn:
            insp = inspect(conn)
            for t in ("nodes", "zones", "greenhouses"):
                if not insp.has_table(t):
                    raise NotFound(f"{t} table not found in the hydro database", table=t)
            n, z, g = _cols(insp, "nodes"), _cols(insp, "zones"), _cols(insp, "greenhouses")
            sel = [
                "n.uid AS uid",
                "n.name AS name" if "name" in n else "NULL AS name",
                "n.type AS type" if "type" in n else "NULL AS type",
                "n.fw_version AS fw_version" if "fw_version" in n else "NULL AS fw_version",
                "n.hardware_id AS hardware_id" if "hardware_id" in n else "NULL AS hardware_id",
                "n.config AS config" if "config" in n else "NULL AS config",
                "z.uid AS zone_uid" if "uid" in z else "'zn-' || z.id AS zone_uid",
                "g.uid AS gh_uid" if "uid" in g else "'gh-' || g.id AS gh_uid",
            ]
            q = (
                f"SELECT {', '.join(sel)} FROM nodes n "
                "JOIN zones z ON z.id = n.zone_id JOIN greenhouses g ON g.id = z.greenhouse_id "
                "ORDER BY n.uid"
            )
            records = [dict(r._mapping) for r in conn.execute(text(q))]
        engine.dispose()
    except SQLAlchemyError as exc:
        # The driver's message can carry the DSN; keep only the error kind and first line.
        first = str(getattr(exc, "orig", exc)).splitlines()[0] if str(exc) else ""
        raise ConfigError(f"cannot read the hydro database: {first}") from None
    rows: list[ImportRow] = []
    for rec in records:
        cfg = rec.pop("config")
        if isinstance(cfg, str):
            try:
                cfg = json.loads(cfg)
            except ValueError:
                raise ValidationError(f"node {rec['uid']}: nodes.config is not JSON") from None
        ntype = (rec.pop("type") or "unknown").lower()
        ntype = TYPE_MAP.get(ntype, ntype)
        rec["node_type"] = ntype if ntype in NODE_TYPES else "unknown"
        if isinstance(cfg, dict) and cfg.get("node_secret"):
            rec["node_secret"] = cfg["node_secret"]
        rows.append(_row_to_import(rec, f"hydro database node {rec['uid']}"))
    _check_unique(rows)
    return rows
