"""The notification gateway: sealed channel secrets, Standard Webhooks keys with rotation, codes
for Apprise channels, private feed tokens; web push (never deliverable) removed.

Existing webhooks keep working: their URL moves to the sealed `target` (the shown `address` is
masked), and their secret becomes the `whsec_` form of the same key bytes, so a receiver's HMAC
key is unchanged (only the header format is Standard Webhooks now). Sealing needs SECRET_KEY;
with webhooks stored and no key the upgrade stops before it changes anything and says so.

Revision ID: 0010_notification_gateway
Revises: 0009_prices_track_record
Create Date: 2026-12-03
"""

from __future__ import annotations

import base64

import sqlalchemy as sa
from alembic import op

from stockteacher.core.crypto import mask_url, seal
from stockteacher.core.errors import SetupError
from stockteacher.store.models import UTCDateTime

revision = "0010_notification_gateway"
down_revision = "0009_prices_track_record"
branch_labels = None
depends_on = None

WEB_PUSH_GONE = "web push was removed: this build cannot deliver it (choose e-mail, a webhook or Apprise)"


def _keys() -> str | None:
    from stockteacher.settings import load_settings

    return load_settings().secret_keys


def upgrade() -> None:
    bind = op.get_bind()
    webhooks = bind.execute(
        sa.text("SELECT user_id, address, secret FROM notification_channels WHERE channel = 'webhook'")
    ).all()
    keys = _keys() if webhooks else None
    if webhooks and not keys:
        raise SetupError(
            f"{len(webhooks)} stored webhook(s) must be encrypted: set SECRET_KEY "
            "(make one with `stockteacher secret-key`) and run `stockteacher db upgrade` again"
        )
    with op.batch_alter_table("notification_channels") as batch:
        batch.alter_column("secret", type_=sa.Text(), existing_type=sa.String(128), existing_nullable=True)
        batch.add_column(sa.Column("target", sa.Text(), nullable=True))
        batch.add_column(sa.Column("previous_secret", sa.Text(), nullable=True))
        batch.add_column(sa.Column("previous_secret_until", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("verification_expires_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("verification_attempts", sa.Integer(), nullable=False, server_default="0"))
    for user_id, address, secret in webhooks:
        key = "whsec_" + base64.b64encode((secret or "").encode("utf-8")).decode("ascii")
        bind.execute(
            sa.text(
                "UPDATE notification_channels SET target = :target, address = :address, secret = :secret "
                "WHERE user_id = :user_id AND channel = 'webhook'"
            ),
            {
                "target": seal(keys, address),
                "address": mask_url(address),
                "secret": seal(keys, key),
                "user_id": user_id,
            },
        )
    bind.execute(sa.text("DELETE FROM notification_channels WHERE channel = 'web-push'"))
    bind.execute(
        sa.text(
            "UPDATE deliveries SET status = 'dead', last_error = :why, claimed_until = NULL "
            "WHERE channel = 'web-push' AND status IN ('pending', 'failed')"
        ),
        {"why": WEB_PUSH_GONE},
    )
    policies = sa.table("notification_policies", sa.column("user_id", sa.String), sa.column("channels", sa.JSON))
    for user_id, channels in bind.execute(sa.select(policies.c.user_id, policies.c.channels)).all():
        if "web-push" in (channels or []):
            kept = [value for value in channels if value != "web-push"]
            bind.execute(policies.update().where(policies.c.user_id == user_id).values(channels=kept))
    op.create_table(
        "feed_tokens",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_used_at", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("feed_tokens")
    with op.batch_alter_table("notification_channels") as batch:
        batch.drop_column("verification_attempts")
        batch.drop_column("verification_expires_at")
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret")
        batch.drop_column("target")
