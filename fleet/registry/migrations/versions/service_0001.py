"""Service: reboot campaigns and their targets."""

import sqlalchemy as sa
from alembic import op

revision = "service_0001"
down_revision = "0001_foundation"
branch_labels = ("service",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_campaigns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("not_before", TS),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("rate", sa.Float, nullable=False),
        sa.Column("jitter", sa.Float, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("back_timeout", sa.Float, nullable=False),
        sa.Column("command_timeout", sa.Float, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("selector", sa.JSON),
        sa.Column("report", sa.JSON),
    )
    op.create_table(
        "service_campaign_targets",
        sa.Column(
            "campaign_id",
            sa.Integer,
            sa.ForeignKey("service_campaigns.id"),
            primary_key=True,
        ),
        sa.Column("node_uid", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("cmd_id", sa.String(64)),
        sa.Column("status", sa.String(16)),
        sa.Column("error_code", sa.String(64)),
        sa.Column("sent_at", TS),
        sa.Column("done_at", TS),
        sa.Column("back_at", TS),
        sa.Column("prior_boot", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("service_campaign_targets")
    op.drop_table("service_campaigns")
