"""Notification channels and the delivery outbox.

Revision ID: 0005_notifications
Revises: 0004_accounts_chat
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stockteacher.store.models import UTCDateTime

revision = "0005_notifications"
down_revision = "0004_accounts_chat"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("notify_planned_at", UTCDateTime(), nullable=True))
    # Reports published before notifications existed are not announced now, all at once.
    op.execute("UPDATE reports SET notify_planned_at = created_at")
    op.create_table(
        "notification_channels",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("verification_hash", sa.String(64), nullable=True),
        sa.Column("verified_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("insight_id", sa.String(32), sa.ForeignKey("reports.insight_id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("subscription_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("digest_key", sa.String(80), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("insight_id", "user_id", "channel", name="uq_deliveries_report_user_channel"),
    )
    op.create_index("ix_deliveries_status_next", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_user", "deliveries", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_user", table_name="deliveries")
    op.drop_index("ix_deliveries_status_next", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("notification_channels")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("notify_planned_at")
