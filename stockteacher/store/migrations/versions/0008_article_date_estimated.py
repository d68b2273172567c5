"""Articles whose source gave no usable date keep the time they were collected, flagged.

Revision ID: 0008_article_date_estimated
Revises: 0007_tickers
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_article_date_estimated"
down_revision = "0007_tickers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(
            sa.Column("published_at_estimated", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Articles stored without a date before this revision get their collection time, flagged.
    op.execute(
        "UPDATE articles SET published_at = collected_at, published_at_estimated = TRUE WHERE published_at IS NULL"
    )


def downgrade() -> None:
    op.execute("UPDATE articles SET published_at = NULL WHERE published_at_estimated")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("published_at_estimated")
