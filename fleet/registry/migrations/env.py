"""Alembic environment: run against the connection the registry hands over."""

from __future__ import annotations

from alembic import context

# Every area that defines tables on Base, so that the metadata is complete here. Areas import
# the registry, never the other way round; only Alembic runs this file.
from fleet.firmware import models as _firmware_models  # noqa: F401
from fleet.registry.models import Base
from fleet.service import models as _service_models  # noqa: F401

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs alembic by hand
    raise RuntimeError("run migrations through fleet.registry.migrate")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
