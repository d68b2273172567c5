"""Notification policy (API.md): time zone, window, frequency, channels, quiet hours; and our
additions: the channels themselves (`/api/notifications/channels`), verified before use."""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import zoneinfo
from datetime import datetime
from functools import cache
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, update

from stockteacher.api.deps import AppSettings, Caller, Db, ReadDb
from stockteacher.api.routes.subscriptions import has_verified_channel
from stockteacher.api.schemas import ErrorOut, NotificationPolicyIn, NotificationPolicyOut
from stockteacher.core.vocabulary import Channel, ChannelStatus
from stockteacher.store.models import NotificationChannel, NotificationPolicy, Subscription, User, utcnow

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


@cache
def timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def policy_for(db: Db, user_id: str, default_locale: str) -> NotificationPolicyOut:
    """The stored policy, or the default (Asia/Seoul, daily_close, daily, every verified channel,
    no quiet hours);
    `locale` (our addition: the language of e-mails and alerts) is the user's."""
    row = db.get(NotificationPolicy, user_id)
    user = db.get(User, user_id)
    locale = (user.locale if user else None) or default_locale
    if row is None:
        defaults = NotificationPolicyIn().model_dump(exclude={"locale"})
        return NotificationPolicyOut(user_id=user_id, locale=locale, **defaults)
    return NotificationPolicyOut.model_validate(row, from_attributes=True).model_copy(update={"locale": locale})


@router.get("/policy", response_model=NotificationPolicyOut)
def get_policy(db: Db, caller: Caller, settings: AppSettings) -> NotificationPolicyOut:
    return policy_for(db, caller.user_id, settings.default_locale)


@router.put("/policy", response_model=NotificationPolicyOut, responses={422: {"model": ErrorOut}})
def put_policy(body: NotificationPolicyIn, db: Db, caller: Caller, settings: AppSettings) -> NotificationPolicyOut:
    row = db.get(NotificationPolicy, caller.user_id)
    values = body.model_dump(exclude={"locale"})
    if body.locale is not None:
        user = db.get(User, caller.user_id)
        if user is None:
            user = User(user_id=caller.user_id, role="admin" if caller.is_admin else "user", created_at=utcnow())
            db.add(user)
        user.locale = body.locale
    if row is None:
        row = NotificationPolicy(user_id=caller.user_id, **values)
        db.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    row.updated_at = utcnow()
    db.flush()
    return policy_for(db, caller.user_id, settings.default_locale)


@router.get("/timezones", response_model=list[str])
def list_timezones(caller: Caller) -> list[str]:
    return sorted(timezone_names())


# --- channels ------------------------------------------------------------------------------
class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8, max_length=2000, examples=["https://example.com/hooks/stockteacher"])
    secret: str | None = Field(None, min_length=16, max_length=128, description="HMAC key; made for you if absent")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Field(min_length=3, max_length=254)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip()
        if not _EMAIL.match(value):
            raise ValueError("not an e-mail address")
        return value


class ChannelOut(BaseModel):
    channel: Channel
    address: str
    status: ChannelStatus
    verified_at: datetime | None
    last_error: str | None
    secret: str | None = Field(None, description="the webhook's HMAC key: shown only when it was just made")


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _channel_out(row: NotificationChannel, secret: str | None = None) -> ChannelOut:
    return ChannelOut(
        channel=row.channel,  # type: ignore[arg-type]
        address=row.address,
        status=row.status,  # type: ignore[arg-type]
        verified_at=row.verified_at,
        last_error=row.last_error,
        secret=secret,
    )


def _verified(db: Db, row: NotificationChannel) -> None:
    """Mark verified; the user's subscriptions waiting for a channel become Active."""
    now = utcnow()
    row.status, row.verified_at, row.last_error, row.verification_hash, row.updated_at = (
        "verified", now, None, None, now)  # fmt: skip
    db.execute(
        update(Subscription)
        .where(Subscription.user_id == row.user_id, Subscription.status == "PendingVerification")
        .values(status="Active", updated_at=now)
    )


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(db: ReadDb, caller: Caller) -> list[ChannelOut]:
    rows = db.execute(select(NotificationChannel).where(NotificationChannel.user_id == caller.user_id)).scalars()
    return [_channel_out(row) for row in rows]


@router.put("/channels/webhook", response_model=ChannelOut)
def put_webhook(body: WebhookIn, db: Db, caller: Caller, settings: AppSettings) -> ChannelOut:
    """Set the webhook and verify it at once: it must answer a signed verification ping with 2xx.
    The HMAC secret is made for you unless you send one, and shown only in this answer."""
    from stockteacher.notify.channels import verification_ping

    if not settings.webhooks_may_reach_private_hosts:
        problem = private_target(body.url)
        if problem:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"url: {problem}")
    made = body.secret is None
    secret = body.secret or secrets.token_urlsafe(32)
    row = _upsert(db, caller.user_id, "webhook", body.url, secret)
    result = verification_ping(
        body.url,
        secret,
        secrets.token_urlsafe(16),
        timeout=settings.webhook_timeout_seconds,
        allow_private=settings.webhooks_may_reach_private_hosts,
    )
    if result.ok:
        _verified(db, row)
    else:
        row.status = "pending"
        row.last_error = ping_failure(result.status, result.error)
        sync_subscriptions(db, caller.user_id)
    db.flush()
    return _channel_out(row, secret if made else None)


@router.put("/channels/email", response_model=ChannelOut)
def put_email(body: EmailIn, db: Db, caller: Caller, settings: AppSettings) -> ChannelOut:
    """Set the e-mail address; a message with a verification link is sent to it."""
    from stockteacher.notify.channels import send_email
    from stockteacher.notify.render import Rendered

    token = secrets.token_urlsafe(24)
    row = _upsert(db, caller.user_id, "email", body.address, None)
    sync_subscriptions(db, caller.user_id)
    row.verification_hash = hashlib.sha256(token.encode()).hexdigest()
    link = f"{settings.public_base_url.rstrip('/')}/api/notifications/channels/email/verify?token={token}"
    korean = settings.default_locale == "ko_KR"
    subject = "[StockTeacher] 이메일 주소를 확인해 주세요" if korean else "[StockTeacher] Confirm your e-mail address"
    text = ("아래 링크를 열면 알림을 받을 수 있습니다:\n" if korean else "Open this link to receive alerts:\n") + link
    html_body = f'<p>{text.splitlines()[0]}</p><p><a href="{html.escape(link)}">{html.escape(link)}</a></p>'
    result = send_email(settings, body.address, Rendered(subject=subject, text=text, html=html_body, payload={}))
    row.last_error = None if result.ok else f"verification e-mail not sent: {result.error}"
    db.flush()
    return _channel_out(row)


@router.get(
    "/channels/email/verify",
    response_class=HTMLResponse,
    responses={404: {"model": ErrorOut, "description": "unknown or used link"}},
)
def verify_email(db: Db, token: Annotated[str, Query(min_length=8, max_length=200)]) -> HTMLResponse:
    """The link in the verification e-mail (no key needed: the token is the proof)."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = db.execute(
        select(NotificationChannel).where(
            NotificationChannel.channel == "email", NotificationChannel.verification_hash == digest
        )
    ).scalar_one_or_none()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this verification link is unknown or was used already")
    _verified(db, row)
    return HTMLResponse("<!doctype html><meta charset=utf-8><p>StockTeacher: e-mail verified / 이메일 확인 완료</p>")


@router.delete("/channels/{channel}", status_code=204, responses={404: {"model": ErrorOut}})
def delete_channel(channel: Channel, db: Db, caller: Caller) -> Response:
    row = db.get(NotificationChannel, (caller.user_id, channel))
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {channel} channel")
    db.delete(row)
    db.flush()
    sync_subscriptions(db, caller.user_id)
    return Response(status_code=204)


def sync_subscriptions(db: Db, user_id: str) -> None:
    """Without a verified channel left, the user's active subscriptions wait for one again."""
    db.flush()
    if not has_verified_channel(db, user_id):
        db.execute(
            update(Subscription)
            .where(Subscription.user_id == user_id, Subscription.status == "Active")
            .values(status="PendingVerification", updated_at=utcnow())
        )


def ping_failure(status: int | None, error: str | None) -> str:
    """What the user learns of a failed verification ping: what to do, never the receiver's
    own answer (its status line or body could be another service's); the server log has it."""
    if error and "private or local address" in error:
        return f"verification ping failed: {error}"
    if status in (401, 403):
        return "verification ping failed: the receiver rejected the signature; check that it uses this secret"
    if status is not None and 300 <= status < 500:
        return "verification ping failed: the receiver refused the ping; register the URL that answers it with 2xx"
    return "verification ping failed: the receiver did not answer with 2xx (down, too slow, or failing)"


def private_target(url: str) -> str | None:
    """Why `url` may not be a webhook (it resolves to loopback, private, link-local or reserved
    addresses), or None. A first answer at registration; every request checks again when it
    connects (`notify.channels.public_only_client`)."""
    import socket
    from urllib.parse import urlsplit

    from stockteacher.notify.channels import forbidden_address

    host = urlsplit(url).hostname
    if not host:
        return "has no host"
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return f"host {host!r} does not resolve"
    for info in infos:
        if forbidden_address(str(info[4][0])):
            return f"{host} resolves to a private or local address ({info[4][0]}); webhooks must be public"
    return None


def _upsert(db: Db, user_id: str, channel: str, address: str, secret: str | None) -> NotificationChannel:
    row = db.get(NotificationChannel, (user_id, channel))
    now = utcnow()
    if row is None:
        row = NotificationChannel(user_id=user_id, channel=channel, created_at=now)
        db.add(row)
    row.address, row.secret, row.status, row.verified_at, row.updated_at = address, secret, "pending", None, now
    return row
