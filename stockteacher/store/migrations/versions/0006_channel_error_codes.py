"""A channel's last error as a code, so the web page can say it in the reader's language.

Revision ID: 0006_channel_error_codes
Revises: 0005_notifications
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_channel_error_codes"
down_revision = "0005_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification_channels") as batch:
        batch.add_column(sa.Column("last_error_code", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification_channels") as batch:
        batch.drop_column("last_error_code")
