"""Foundation: nodes, audit log, vault keys and records, unregistered candidates."""

import sqlalchemy as sa
from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = ("foundation",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("uid", sa.String(64), primary_key=True),
        sa.Column("hardware_id", sa.String(18), unique=True, index=True),
        sa.Column("mac", sa.String(17)),
        sa.Column("chip", sa.String(16), nullable=False),
        sa.Column("node_type", sa.String(32), nullable=False),
        sa.Column("gh_uid", sa.String(64), nullable=False),
        sa.Column("zone_uid", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(128)),
        sa.Column("fw_version", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_since", TS),
        sa.Column("last_seen_at", TS),
        sa.Column("last_heartbeat_at", TS),
        sa.Column("rssi", sa.Integer),
        sa.Column("free_heap", sa.Integer),
        sa.Column("uptime", sa.Integer),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False, index=True),
        sa.Column("node_uid", sa.String(64), index=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON),
    )
    op.create_table(
        "vault_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("retired_at", TS),
    )
    op.create_table(
        "vault_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False, index=True),
        sa.Column("subject", sa.String(128), nullable=False, index=True),
        sa.Column("key_id", sa.String(32), sa.ForeignKey("vault_keys.key_id"), nullable=False),
        sa.Column("nonce", sa.LargeBinary(12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("meta", sa.JSON),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "candidates",
        sa.Column("hardware_id", sa.String(18), primary_key=True),
        sa.Column("node_type", sa.String(32)),
        sa.Column("fw_version", sa.String(64)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("note", sa.Text),
    )


def downgrade() -> None:
    for table in ("candidates", "vault_records", "vault_keys", "audit_log", "nodes"):
        op.drop_table(table)
