"""Firmware store: imported bundles and their assignments to node types and nodes."""

import sqlalchemy as sa
from alembic import op

revision = "firmware_0001"
down_revision = "0001_foundation"
branch_labels = ("firmware",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "firmware",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("chip", sa.String(16), nullable=False, index=True),
        sa.Column("project", sa.String(32), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("idf_version", sa.String(32), nullable=False),
        sa.Column("app_sha256", sa.String(64), nullable=False),
        sa.Column("app_size", sa.Integer, nullable=False),
        sa.Column("flash_mode", sa.String(8), nullable=False),
        sa.Column("flash_size", sa.String(8), nullable=False),
        sa.Column("flash_freq", sa.String(8), nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("imported_at", TS, nullable=False),
    )
    op.create_table(
        "firmware_assignments",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("target", sa.String(64), primary_key=True),
        sa.Column("chip", sa.String(16), primary_key=True),
        sa.Column("firmware_id", sa.String(32), sa.ForeignKey("firmware.id"), nullable=False),
        sa.Column("assigned_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("firmware_assignments")
    op.drop_table("firmware")
