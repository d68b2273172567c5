"""`/api/notifications/…` (API.md's policy; our channels): parse, call `channels.service`, answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, get_args

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse

from stockteacher.api.deps import AppSettings, Caller, Db, ReadDb
from stockteacher.api.errors import documented
from stockteacher.channels import service
from stockteacher.channels.models import (
    AppriseIn,
    ChannelOut,
    CodeIn,
    EmailIn,
    NotificationPolicyIn,
    NotificationPolicyOut,
    RotatedSecretOut,
    WebhookIn,
    timezone_names,
)
from stockteacher.core.vocabulary import Channel

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
VERIFIED_PAGE = "<!doctype html><meta charset=utf-8><p>StockTeacher: e-mail verified / 이메일 확인 완료</p>"


@router.get("/policy", response_model=NotificationPolicyOut)
def get_policy(db: Db, caller: Caller, settings: AppSettings) -> NotificationPolicyOut:
    return service.policy_for(caller.user_id, settings.default_locale, db_session=db)


@router.put("/policy", response_model=NotificationPolicyOut)
def put_policy(body: NotificationPolicyIn, db: Db, caller: Caller, settings: AppSettings) -> NotificationPolicyOut:
    return service.save_policy(caller, body, settings.default_locale, db_session=db)


@router.get("/timezones", response_model=list[str])
def list_timezones(caller: Caller) -> list[str]:
    return sorted(timezone_names())


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(db: ReadDb, caller: Caller) -> list[ChannelOut]:
    return [ChannelOut.of(row) for row in service.list_channels(caller, db_session=db)]


@router.put("/channels/webhook", response_model=ChannelOut)
def put_webhook(body: WebhookIn, db: Db, caller: Caller, settings: AppSettings) -> ChannelOut:
    """Set the webhook and verify it at once: it must answer a signed verification ping with 2xx.
    The HMAC secret is made for you unless you send one, and shown only in this answer."""
    row, made = service.set_webhook(caller, body.url, body.secret, settings, db_session=db)
    return ChannelOut.of(row, made)


@router.post(
    "/channels/webhook/rotate-secret",
    response_model=RotatedSecretOut,
    responses=documented(404, "you have no webhook channel"),
)
def rotate_webhook_secret(db: Db, caller: Caller, settings: AppSettings) -> RotatedSecretOut:
    """A new whsec_ secret, shown only here; the old one keeps signing (a second signature in
    `webhook-signature`) until `previous_valid_until`, so receivers can switch without a gap."""
    secret, until = service.rotate_webhook_secret(caller, settings, db_session=db)
    return RotatedSecretOut(secret=secret, previous_valid_until=until)


@router.put("/channels/apprise", response_model=ChannelOut)
def put_apprise(body: AppriseIn, db: Db, caller: Caller, settings: AppSettings) -> ChannelOut:
    """Set a chat or push channel by its Apprise URL (Telegram, Slack, Discord, KakaoTalk, LINE,
    ntfy, …). A six-digit code is sent through it: type it back with `…/apprise/verify`."""
    return ChannelOut.of(service.set_apprise(caller, body.url, settings, db_session=db))


@router.post(
    "/channels/apprise/verify",
    response_model=ChannelOut,
    responses={**documented(404, "you have no Apprise channel"), **documented(409, "verified already")},
)
def verify_apprise(body: CodeIn, db: Db, caller: Caller) -> ChannelOut:
    """The code from the test message: verifies the channel (five tries, 30 minutes)."""
    return ChannelOut.of(service.verify_apprise(caller, body.code, db_session=db))


@router.put("/channels/email", response_model=ChannelOut)
def put_email(body: EmailIn, db: Db, caller: Caller, settings: AppSettings) -> ChannelOut:
    """Set the e-mail address; a message with a verification link is sent to it."""
    return ChannelOut.of(service.set_email(caller, body.address, settings, db_session=db))


@router.get("/channels/email/verify", response_class=HTMLResponse, responses=documented(404, "unknown or used link"))
def verify_email(db: Db, token: Annotated[str, Query(min_length=8, max_length=200)]) -> HTMLResponse:
    """The link in the verification e-mail (no key needed: the token is the proof)."""
    service.verify_email(token, db_session=db)
    return HTMLResponse(VERIFIED_PAGE)


def _deleting(channel: Channel) -> Callable[[Db, Caller], Response]:
    def delete_channel(db: Db, caller: Caller) -> Response:
        service.delete_channel(caller, channel, db_session=db)
        return Response(status_code=204)

    return delete_channel


# One DELETE path per channel, not `/channels/{channel}`: a template would also match
# `/channels/webhook`, so its document would deny the PUT that path answers.
for _channel in get_args(Channel):
    router.add_api_route(
        f"/channels/{_channel}",
        _deleting(_channel),
        methods=["DELETE"],
        status_code=204,
        responses=documented(404, f"you have no {_channel} channel"),
        name=f"delete_{_channel.replace('-', '_')}_channel",
        summary=f"Delete the {_channel} channel",
    )
