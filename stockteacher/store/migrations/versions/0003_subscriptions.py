"""Subscriptions: users' tickers, which the scheduler also collects.

Revision ID: 0003_subscriptions
Revises: 0002_analysis_reports
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stockteacher.store.models import UTCDateTime

revision = "0003_subscriptions"
down_revision = "0002_analysis_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("ticker", sa.String(20), nullable=False),
        sa.Column("alert_window", sa.String(20), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "ticker", name="uq_subscriptions_user_ticker"),
    )
    op.create_index("ix_subscriptions_ticker_status", "subscriptions", ["ticker", "status"])


def downgrade() -> None:
    op.drop_index("ix_subscriptions_ticker_status", table_name="subscriptions")
    op.drop_table("subscriptions")
