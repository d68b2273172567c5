"""Analysis and publishing: analyses, analysis_stories, reports.

Revision ID: 0002_analysis_reports
Revises: 0001_ingestion
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stockteacher.store.models import UTCDateTime

revision = "0002_analysis_reports"
down_revision = "0001_ingestion"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "analyses",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ticker", sa.String(20), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prompt_version", sa.String(40), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("locale", sa.String(10), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("story_ids", sa.JSON(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_analyses_ticker_created", "analyses", ["ticker", "created_at"])

    op.create_table(
        "analysis_stories",
        sa.Column("analysis_id", sa.BigInteger(), sa.ForeignKey("analyses.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("story_id", sa.BigInteger(), sa.ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_analysis_stories_story", "analysis_stories", ["story_id"])

    op.create_table(
        "reports",
        sa.Column("insight_id", sa.String(32), primary_key=True),
        sa.Column(
            "analysis_id",
            sa.BigInteger(),
            sa.ForeignKey("analyses.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("ticker", sa.String(20), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("summary_text", sa.Text(), nullable=False),
        sa.Column("sentiment_score", sa.Float(), nullable=False),
        sa.Column("anomaly_score", sa.Float(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("glossary", sa.JSON(), nullable=False),
        sa.Column("anomalies", sa.JSON(), nullable=False),
        sa.Column("source_refs", sa.JSON(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("quality_notes", sa.JSON(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("locale", sa.String(10), nullable=False),
        sa.Column("story_count", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_reports_ticker_published", "reports", ["ticker", "published_at"])
    op.create_index("ix_reports_status_published", "reports", ["status", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_reports_status_published", table_name="reports")
    op.drop_index("ix_reports_ticker_published", table_name="reports")
    op.drop_table("reports")
    op.drop_index("ix_analysis_stories_story", table_name="analysis_stories")
    op.drop_table("analysis_stories")
    op.drop_index("ix_analyses_ticker_created", table_name="analyses")
    op.drop_table("analyses")
