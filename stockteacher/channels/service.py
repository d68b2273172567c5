"""Notification policies and channels: a user's own, checked here once.

A channel is `pending` until verified: a webhook by answering a signed verification ping with
2xx at once, an e-mail address by the link sent to it, an Apprise URL (Telegram, Slack, …) by
the six-digit code sent through it and typed back (a code, not a link: chat services open links
to preview them, which would verify a channel nobody read). Verifying the first channel makes
the user's waiting subscriptions Active; removing the last one makes them wait again
(`subscriptions.service`).

What delivery needs in full — a webhook's URL and `whsec_` secret, an Apprise URL — is sealed
with SECRET_KEY (`core.crypto`) before it is stored; the API shows only masked forms.
"""

from __future__ import annotations

import hashlib
import html
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stockteacher.accounts.models import Principal
from stockteacher.accounts.service import ensure_user_row, user_locale
from stockteacher.channels.models import (
    NotificationChannel,
    NotificationPolicy,
    NotificationPolicyIn,
    NotificationPolicyOut,
)
from stockteacher.core.crypto import mask_url, seal
from stockteacher.core.errors import Conflict, InvalidRequest, NotFound
from stockteacher.settings import Settings
from stockteacher.store.models import utcnow
from stockteacher.subscriptions import service as subscriptions

__all__ = [
    "CodeRejected",
    "delete_channel",
    "list_channels",
    "ping_failure",
    "policy_for",
    "private_target",
    "reseal_all",
    "rotate_webhook_secret",
    "save_policy",
    "set_apprise",
    "set_email",
    "set_webhook",
    "verify_apprise",
    "verify_email",
]

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=30)
CODE_ATTEMPTS = 5


class CodeRejected(InvalidRequest):
    """A verification code refused: `reason` (wrong_code, code_expired, too_many_attempts) and
    the tries left go into the 422 body, so the web page can say it in the reader's language."""

    def __init__(self, message: str, *, reason: str, tries_left: int = 0) -> None:
        super().__init__(message)
        self.reason, self.tries_left = reason, tries_left

    def body(self) -> dict[str, Any]:
        return {"reason": self.reason, "tries_left": self.tries_left}


def policy_for(user_id: str, default_locale: str, *, db_session: Session) -> NotificationPolicyOut:
    """The stored policy, or the default (Asia/Seoul, daily_close, daily, every verified channel,
    no quiet hours); `locale` (our addition: the language of e-mails and alerts) is the user's."""
    row = db_session.get(NotificationPolicy, user_id)
    locale = user_locale(user_id, default_locale, db_session=db_session)
    if row is None:
        defaults = NotificationPolicyIn().model_dump(exclude={"locale"})
        return NotificationPolicyOut(user_id=user_id, locale=locale, **defaults)
    return NotificationPolicyOut.model_validate(row, from_attributes=True).model_copy(update={"locale": locale})


def save_policy(
    caller: Principal, body: NotificationPolicyIn, default_locale: str, *, db_session: Session
) -> NotificationPolicyOut:
    if body.locale is not None:
        user = ensure_user_row(caller.user_id, "admin" if caller.is_admin else "user", db_session=db_session)
        user.locale = body.locale
    row = db_session.get(NotificationPolicy, caller.user_id)
    if row is None:
        row = NotificationPolicy(user_id=caller.user_id)
        db_session.add(row)
    for key, value in body.model_dump(exclude={"locale"}).items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    db_session.flush()
    return policy_for(caller.user_id, default_locale, db_session=db_session)


def list_channels(caller: Principal, *, db_session: Session) -> list[NotificationChannel]:
    stmt = select(NotificationChannel).where(NotificationChannel.user_id == caller.user_id)
    return list(db_session.execute(stmt).scalars())


def _upsert(
    user_id: str,
    channel: str,
    address: str,
    *,
    target: str | None = None,
    secret: str | None = None,
    db_session: Session,
) -> NotificationChannel:
    """The channel set anew (pending, no rotation in progress); `target` and `secret` sealed."""
    row = db_session.get(NotificationChannel, (user_id, channel))
    now = utcnow()
    if row is None:
        row = NotificationChannel(user_id=user_id, channel=channel, created_at=now)
        db_session.add(row)
    row.address, row.target, row.secret, row.status, row.verified_at, row.updated_at = (
        address, target, secret, "pending", None, now)  # fmt: skip
    row.previous_secret = row.previous_secret_until = row.verification_expires_at = None
    row.verification_hash, row.verification_attempts, row.last_error, row.last_error_code = None, 0, None, None
    return row


def _verified(row: NotificationChannel, *, db_session: Session) -> None:
    now = utcnow()
    row.status, row.verified_at, row.last_error, row.last_error_code, row.verification_hash, row.updated_at = (
        "verified", now, None, None, None, now)  # fmt: skip
    subscriptions.activate_pending(row.user_id, db_session=db_session)


def set_webhook(
    caller: Principal, url: str, secret: str | None, settings: Settings, *, db_session: Session
) -> tuple[NotificationChannel, str | None]:
    """Set the webhook and verify it at once: it must answer a signed verification ping with
    2xx. The `whsec_` secret is made unless given; returns the row and the secret when it was
    made. URL and secret are stored sealed."""
    from stockteacher.notify.channels import new_secret, secret_problem, verification_ping

    if secret is not None and (problem := secret_problem(secret)):
        raise InvalidRequest(f"secret: {problem}")
    if not settings.webhooks_may_reach_private_hosts:
        problem = private_target(url)
        if problem:
            raise InvalidRequest(f"url: {problem}")
    key = secret or new_secret()
    keys = settings.secret_keys
    row = _upsert(
        caller.user_id,
        "webhook",
        mask_url(url),
        target=seal(keys, url),
        secret=seal(keys, key),
        db_session=db_session,
    )
    result = verification_ping(
        url,
        key,
        secrets.token_urlsafe(16),
        timeout=settings.webhook_timeout_seconds,
        allow_private=settings.webhooks_may_reach_private_hosts,
    )
    if result.ok:
        _verified(row, db_session=db_session)
    else:
        row.last_error_code, row.last_error = ping_failure(result.status, result.error)
        subscriptions.await_channel(caller.user_id, db_session=db_session)
    db_session.flush()
    return row, None if secret else key


def set_email(caller: Principal, address: str, settings: Settings, *, db_session: Session) -> NotificationChannel:
    """Set the e-mail address; a message with a verification link is sent to it."""
    from stockteacher.notify.channels import EMAIL_NOT_CONFIGURED, send_email
    from stockteacher.notify.render import Rendered

    token = secrets.token_urlsafe(24)
    row = _upsert(caller.user_id, "email", address, db_session=db_session)
    subscriptions.await_channel(caller.user_id, db_session=db_session)
    row.verification_hash = hashlib.sha256(token.encode()).hexdigest()
    link = f"{settings.public_base_url.rstrip('/')}/api/notifications/channels/email/verify?token={token}"
    korean = settings.default_locale == "ko_KR"
    subject = "[StockTeacher] 이메일 주소를 확인해 주세요" if korean else "[StockTeacher] Confirm your e-mail address"
    text = ("아래 링크를 열면 알림을 받을 수 있습니다:\n" if korean else "Open this link to receive alerts:\n") + link
    html_body = f'<p>{text.splitlines()[0]}</p><p><a href="{html.escape(link)}">{html.escape(link)}</a></p>'
    result = send_email(settings, address, Rendered(subject=subject, text=text, html=html_body, payload={}))
    row.last_error = None if result.ok else f"verification e-mail not sent: {result.error}"
    row.last_error_code = None if result.ok else "email_not_configured" if result.error == EMAIL_NOT_CONFIGURED else (
        "email_not_sent")  # fmt: skip
    db_session.flush()
    return row


def verify_email(token: str, *, db_session: Session) -> None:
    """The link in the verification e-mail (the token is the proof: no key needed)."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = db_session.execute(
        select(NotificationChannel).where(
            NotificationChannel.channel == "email", NotificationChannel.verification_hash == digest
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("this verification link is unknown or was used already")
    _verified(row, db_session=db_session)


def rotate_webhook_secret(caller: Principal, settings: Settings, *, db_session: Session) -> tuple[str, datetime | None]:
    """A new `whsec_` secret for the webhook; the current one keeps signing (a second signature)
    for `WEBHOOK_SECRET_OVERLAP_HOURS`. Returns the new secret (shown once) and when the old
    one stops signing (None without an overlap). A rotation during an overlap drops the oldest."""
    from stockteacher.notify.channels import new_secret

    row = db_session.get(NotificationChannel, (caller.user_id, "webhook"))
    if row is None or row.secret is None:
        raise NotFound("no webhook channel: set one with PUT /api/notifications/channels/webhook")
    now = utcnow()
    overlap = timedelta(hours=settings.webhook_secret_overlap_hours)
    key = new_secret()
    row.previous_secret, row.previous_secret_until = (row.secret, now + overlap) if overlap else (None, None)
    row.secret, row.updated_at = seal(settings.secret_keys, key), now
    db_session.flush()
    return key, row.previous_secret_until


def reseal_all(settings: Settings, *, db_session: Session) -> int:
    """Seal every stored channel secret again under the first key of SECRET_KEY, so the keys
    after it can be dropped; returns how many values were resealed."""
    from stockteacher.core.crypto import reseal

    keys, count = settings.secret_keys, 0
    for row in db_session.execute(select(NotificationChannel)).scalars():
        for name in ("target", "secret", "previous_secret"):
            value = getattr(row, name)
            if value:
                setattr(row, name, reseal(keys, value))
                count += 1
    db_session.flush()
    return count


def _code_hash(user_id: str, code: str) -> str:
    return hashlib.sha256(f"{user_id}\x1f{code}".encode()).hexdigest()


def set_apprise(caller: Principal, url: str, settings: Settings, *, db_session: Session) -> NotificationChannel:
    """Set the Apprise URL(s) and send a six-digit code through them, to be typed back within
    30 minutes (`verify_apprise`). The URL is checked by Apprise first and stored sealed."""
    from stockteacher.notify.apprise_channel import check_url, send_apprise
    from stockteacher.notify.render import verification_message

    target = check_url(url, settings)
    row = _upsert(
        caller.user_id, "apprise", target.masked, target=seal(settings.secret_keys, target.url), db_session=db_session
    )
    subscriptions.await_channel(caller.user_id, db_session=db_session)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row.verification_hash, row.verification_expires_at = _code_hash(caller.user_id, code), utcnow() + CODE_LIFETIME
    locale = user_locale(caller.user_id, settings.default_locale, db_session=db_session)
    title, body = verification_message(code, locale, minutes=int(CODE_LIFETIME.total_seconds() // 60))
    result = send_apprise(target.url, title, body, settings)
    if not result.ok:
        row.last_error_code, row.last_error = "apprise_not_sent", f"the code could not be sent: {result.error}"
    db_session.flush()
    return row


def verify_apprise(caller: Principal, code: str, *, db_session: Session) -> NotificationChannel:
    """The code from the Apprise test message: right → verified; wrong → one of five tries used
    (the count is committed even though the request fails); expired or used up → set it again."""
    row = db_session.get(NotificationChannel, (caller.user_id, "apprise"))
    if row is None:
        raise NotFound("no Apprise channel: set one with PUT /api/notifications/channels/apprise")
    if row.status == "verified":
        raise Conflict("this Apprise channel is verified already")
    again = "set the channel again (PUT /api/notifications/channels/apprise) for a new code"
    if row.verification_hash is None or row.verification_attempts >= CODE_ATTEMPTS:
        raise CodeRejected(f"code: too many wrong codes; {again}", reason="too_many_attempts")
    if row.verification_expires_at is None or row.verification_expires_at < utcnow():
        raise CodeRejected(f"code: the code expired; {again}", reason="code_expired")
    if not secrets.compare_digest(_code_hash(caller.user_id, code.strip()), row.verification_hash):
        mine = (NotificationChannel.user_id == caller.user_id) & (NotificationChannel.channel == "apprise")
        used = db_session.execute(
            update(NotificationChannel)
            .where(mine)
            .values(verification_attempts=NotificationChannel.verification_attempts + 1)
            .returning(NotificationChannel.verification_attempts)
        ).scalar_one()
        db_session.commit()  # a wrong guess counts even though this request answers 422
        left = max(CODE_ATTEMPTS - used, 0)
        message = f"code: wrong code ({left} tries left)" if left else f"code: wrong code; {again}"
        raise CodeRejected(message, reason="wrong_code", tries_left=left)
    _verified(row, db_session=db_session)
    db_session.flush()
    return row


def delete_channel(caller: Principal, channel: str, *, db_session: Session) -> None:
    row = db_session.get(NotificationChannel, (caller.user_id, channel))
    if row is None:
        raise NotFound(f"no {channel} channel")
    db_session.delete(row)
    subscriptions.await_channel(caller.user_id, db_session=db_session)


def ping_failure(status: int | None, error: str | None) -> tuple[str, str]:
    """`(code, message)`: what the user learns of a failed verification ping: what to do, never
    the receiver's own answer (its status line or body could be another service's; the server
    log has it). The web page shows the code in the reader's language."""
    if error and "private or local address" in error:
        return "ping_private_address", f"verification ping failed: {error}"
    if status in (401, 403):
        return "ping_signature_rejected", (
            "verification ping failed: the receiver rejected the signature; check that it uses this secret"
        )
    if status is not None and 300 <= status < 500:
        return "ping_refused", (
            "verification ping failed: the receiver refused the ping; register the URL that answers it with 2xx"
        )
    return (
        "ping_no_answer",
        "verification ping failed: the receiver did not answer with 2xx (down, too slow, or failing)",
    )


def private_target(url: str) -> str | None:
    """Why `url` may not be a webhook (it resolves to loopback, private, link-local or reserved
    addresses), or None. A first answer at registration; every request checks again when it
    connects (`notify.channels.public_only_client`)."""
    from stockteacher.notify.channels import host_problem

    host = urlsplit(url).hostname
    if not host:
        return "has no host"
    return host_problem(host, must="webhooks must be public")
