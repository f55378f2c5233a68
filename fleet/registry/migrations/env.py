"""Alembic environment: run against the connection the registry hands over."""

from __future__ import annotations

from alembic import context

from fleet.registry.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs alembic by hand
    raise RuntimeError("run migrations through fleet.registry.migrate")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
