"""Tickers and aliases operators add on top of the bundled registry (`stockteacher tickers add`).

Revision ID: 0007_tickers
Revises: 0006_channel_error_codes
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stockteacher.store.models import UTCDateTime

revision = "0007_tickers"
down_revision = "0006_channel_error_codes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickers",
        sa.Column("symbol", sa.String(20), primary_key=True),
        sa.Column("exchange", sa.String(20), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("name_en", sa.String(200), nullable=True),
        sa.Column("name_ko", sa.String(200), nullable=True),
        sa.Column("aliases_en", sa.JSON(), nullable=False),
        sa.Column("aliases_ko", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tickers")
