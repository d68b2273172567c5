"""Ingestion schema: articles, stories, job_runs, schedule_state.

Revision ID: 0001_ingestion
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

from stockteacher.store.models import UTCDateTime

revision = "0001_ingestion"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    meta = op.create_table(
        "app_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    # Identifies this database: de-duplication keys in Redis are scoped by it, so a new or
    # reset database never inherits "already seen" marks from another one.
    op.bulk_insert(meta, [{"key": "instance_id", "value": uuid.uuid4().hex[:12]}])

    op.create_table(
        "stories",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ticker", sa.String(20), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("representative_article_id", sa.BigInteger(), nullable=True),
        sa.Column("article_count", sa.Integer(), nullable=False),
        sa.Column("corroboration_count", sa.Integer(), nullable=False),
        sa.Column("first_published_at", UTCDateTime(), nullable=True),
        sa.Column("last_published_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_stories_ticker_last_published", "stories", ["ticker", "last_published_at"])

    op.create_table(
        "articles",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("ticker", sa.String(20), nullable=False),
        sa.Column("canonical_url", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("author", sa.String(300), nullable=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("source_type", sa.String(20), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("collected_at", UTCDateTime(), nullable=False),
        sa.Column(
            "story_id",
            sa.BigInteger(),
            sa.ForeignKey("stories.id", ondelete="SET NULL", name="fk_articles_story_id"),
            nullable=True,
        ),
        sa.Column("minhash", sa.LargeBinary(), nullable=True),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.UniqueConstraint("ticker", "fingerprint", name="uq_articles_ticker_fingerprint"),
    )
    op.create_index("ix_articles_ticker_published", "articles", ["ticker", "published_at"])
    op.create_index("ix_articles_story_id", "articles", ["story_id"])

    op.create_table(
        "job_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("ticker", sa.String(20), nullable=True),
        sa.Column("source", sa.String(40), nullable=True),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("fetched", sa.Integer(), nullable=True),
        sa.Column("unique", sa.Integer(), nullable=True),
        sa.Column("saved", sa.Integer(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
    )
    op.create_index("ix_job_runs_trace_id", "job_runs", ["trace_id"])
    op.create_index("ix_job_runs_stage_started", "job_runs", ["stage", "started_at"])
    op.create_index("ix_job_runs_ticker_started", "job_runs", ["ticker", "started_at"])

    op.create_table(
        "schedule_state",
        sa.Column("ticker", sa.String(20), primary_key=True),
        sa.Column("source", sa.String(20), primary_key=True),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("last_slot_at", UTCDateTime(), nullable=True),
        sa.Column("last_started_at", UTCDateTime(), nullable=True),
        sa.Column("last_finished_at", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.String(20), nullable=True),
        sa.Column("last_trace_id", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedule_state")
    op.drop_index("ix_job_runs_ticker_started", table_name="job_runs")
    op.drop_index("ix_job_runs_stage_started", table_name="job_runs")
    op.drop_index("ix_job_runs_trace_id", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_index("ix_articles_story_id", table_name="articles")
    op.drop_index("ix_articles_ticker_published", table_name="articles")
    op.drop_table("articles")
    op.drop_index("ix_stories_ticker_last_published", table_name="stories")
    op.drop_table("stories")
    op.drop_table("app_meta")
