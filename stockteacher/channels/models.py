"""The channel and policy tables, and their API bodies (API.md `NotificationPolicy`, our
`NotificationChannel`)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stockteacher.core.fields import EMAIL_PATTERN, HHMM
from stockteacher.core.vocabulary import Channel, ChannelStatus, Frequency, Locale, PolicyWindow
from stockteacher.store.models import NotificationChannel, NotificationPolicy

__all__ = [
    "AppriseIn",
    "ChannelOut",
    "CodeIn",
    "EmailIn",
    "NotificationChannel",
    "NotificationPolicy",
    "NotificationPolicyIn",
    "NotificationPolicyOut",
    "RotatedSecretOut",
    "WebhookIn",
    "timezone_names",
]

# "Both or neither" in the document's terms: a null or empty pair, or two times of day.
_QUIET_HOURS_SCHEMA = {
    "anyOf": [
        {"properties": {"quiet_hours_start": {"enum": [None, ""]}, "quiet_hours_end": {"enum": [None, ""]}}},
        {
            "required": ["quiet_hours_start", "quiet_hours_end"],
            "properties": {
                "quiet_hours_start": {"type": "string", "minLength": 5},
                "quiet_hours_end": {"type": "string", "minLength": 5},
            },
        },
    ]
}


@cache
def timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone_enum() -> list[str]:
    """The IANA names this server knows (its tzdata), as the document's `enum`."""
    return sorted(timezone_names())


class NotificationPolicyIn(BaseModel):
    """Quiet hours: both or neither (the schema's `anyOf`), and start before end on the same day,
    which JSON Schema cannot say."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_QUIET_HOURS_SCHEMA)

    timezone: str = Field("Asia/Seoul", json_schema_extra=lambda schema: schema.update(enum=_timezone_enum()))
    window: PolicyWindow = "daily_close"
    frequency: Frequency = "daily"
    channels: list[Channel] = Field(
        default_factory=list, description="where to send; empty (the default): every verified channel"
    )
    quiet_hours_start: HHMM | None = None
    quiet_hours_end: HHMM | None = None
    locale: Locale | None = Field(
        None, description="our addition: the language of alerts and e-mails (default: DEFAULT_LOCALE)"
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value not in timezone_names():
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Asia/Seoul")
        return value

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("quiet_hours_start", "quiet_hours_end")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _quiet_hours(self) -> NotificationPolicyIn:
        start, end = self.quiet_hours_start, self.quiet_hours_end
        if (start is None) != (end is None):
            raise ValueError("quiet_hours_start and quiet_hours_end: give both or neither")
        if start is not None and end is not None and not start < end:
            raise ValueError(f"quiet hours must start before they end (got {start}-{end})")
        return self


class NotificationPolicyOut(BaseModel):
    user_id: str
    timezone: str
    window: PolicyWindow
    frequency: Frequency
    channels: list[Channel]
    quiet_hours_start: str | None
    quiet_hours_end: str | None
    locale: Locale = "ko_KR"


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8, max_length=2000, examples=["https://example.com/hooks/stockteacher"])
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=128,
        description="a Standard Webhooks secret (whsec_ and base64 of 24-64 bytes); made for you if absent",
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


class AppriseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        min_length=6,
        max_length=4000,
        description="an Apprise URL, or up to five separated by spaces or commas",
        examples=["tgram://123456789:AAH-bot-token/987654321", "ntfys://my-stock-alerts"],
    )


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=6, max_length=16, pattern=r"^\s*\d{6}\s*$", description="the code in the test message")


class RotatedSecretOut(BaseModel):
    secret: str = Field(description="the new whsec_ secret: shown only in this answer")
    previous_valid_until: datetime | None = Field(
        description="until then every request also carries a signature with the previous secret"
    )


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return value.strip()


class ChannelOut(BaseModel):
    channel: Channel
    address: str
    status: ChannelStatus
    verified_at: datetime | None
    last_error: str | None
    last_error_code: str | None = Field(
        None,
        description="what went wrong, for translation: ping_private_address, ping_signature_rejected, "
        "ping_refused, ping_no_answer, email_not_configured, email_not_sent, apprise_not_sent",
    )
    secret: str | None = Field(None, description="the webhook's whsec_ secret: shown only when it was just made")
    previous_secret_valid_until: datetime | None = Field(
        None, description="a webhook after a rotation: the previous secret also signs until then"
    )
    verification_expires_at: datetime | None = Field(
        None, description="a pending Apprise channel: the code sent to it works until then"
    )

    @classmethod
    def of(cls, row: NotificationChannel, secret: str | None = None) -> ChannelOut:
        """The row as the API shows it: the stored secret never, a just-made one once."""
        return cls(
            channel=row.channel,  # type: ignore[arg-type]
            address=row.address,
            status=row.status,  # type: ignore[arg-type]
            verified_at=row.verified_at,
            last_error=row.last_error,
            last_error_code=row.last_error_code,
            secret=secret,
            previous_secret_valid_until=row.previous_secret_until,
            verification_expires_at=row.verification_expires_at if row.status == "pending" else None,
        )
