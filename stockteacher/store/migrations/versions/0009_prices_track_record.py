"""Daily price bars, each report's outcome per horizon, and the stored track records.

Revision ID: 0009_prices_track_record
Revises: 0008_article_date_estimated
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stockteacher.store.models import BigId, UTCDateTime

revision = "0009_prices_track_record"
down_revision = "0008_article_date_estimated"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "price_bars",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ticker", sa.String(20), nullable=False),
        sa.Column("trading_date", sa.Date(), nullable=False),
        sa.Column("open", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("adj_close", sa.Float(), nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(8), nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("ticker", "trading_date", name="uq_price_bars_ticker_date"),
    )
    op.create_table(
        "report_outcomes",
        sa.Column(
            "insight_id", sa.String(32), sa.ForeignKey("reports.insight_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("horizon_days", sa.Integer(), primary_key=True),
        sa.Column("ticker", sa.String(20), nullable=False),
        sa.Column("benchmark", sa.String(20), nullable=False),
        sa.Column("base_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("stock_return", sa.Float(), nullable=False),
        sa.Column("benchmark_return", sa.Float(), nullable=False),
        sa.Column("excess_return", sa.Float(), nullable=False),
        sa.Column("sentiment_score", sa.Float(), nullable=False),
        sa.Column("hit", sa.Boolean(), nullable=True),
        sa.Column("evaluated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_report_outcomes_ticker_horizon", "report_outcomes", ["ticker", "horizon_days"])
    op.create_table(
        "track_records",
        sa.Column("scope", sa.String(20), primary_key=True),
        sa.Column("horizon_days", sa.Integer(), primary_key=True),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("hit_rate", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("mean_excess_return", sa.Float(), nullable=True),
        sa.Column("buckets", sa.JSON(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("track_records")
    op.drop_index("ix_report_outcomes_ticker_horizon", table_name="report_outcomes")
    op.drop_table("report_outcomes")
    op.drop_table("price_bars")
