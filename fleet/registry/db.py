"""Engine creation and migrations for the registry database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect

from fleet.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL mode, a busy timeout and foreign keys."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            return engine
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # bad URL or missing driver
        raise ConfigError(f"registry URL cannot be used: {exc.__class__.__name__}") from exc


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to our migrations folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema up to every head (each area adds its own branch)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def is_initialized(engine: Engine) -> bool:
    """True when the registry has been migrated at least once."""
    return inspect(engine).has_table("alembic_version")
