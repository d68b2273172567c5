"""The pipeline's last stage: `notify_core` plans the new reports' deliveries and sends what is
due, writing a `job_runs` row (`stage=notify`) under the sweep's `trace_id`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stockteacher.core.crypto import open_sealed
from stockteacher.core.errors import SetupError
from stockteacher.logs import get_logger, new_trace_id, pipeline_context
from stockteacher.notify import channels
from stockteacher.notify.outbox import OutboxCounts, plan_deliveries, send_due
from stockteacher.notify.render import render_notification
from stockteacher.settings import Settings, load_settings
from stockteacher.store.jobs import job_run
from stockteacher.store.models import NotificationChannel, utcnow
from stockteacher.tickers import service as tickers

__all__ = ["deliver", "notify_core", "signing_secrets"]

log = get_logger(__name__)


def signing_secrets(target: NotificationChannel, keys: str | None, now: datetime) -> list[str]:
    """The webhook's secret, and during a rotation's overlap the previous one too (newest first)."""
    found = [open_sealed(keys, target.secret or "")]
    if target.previous_secret and target.previous_secret_until and target.previous_secret_until > now:
        found.append(open_sealed(keys, target.previous_secret))
    return found


def deliver(settings: Settings) -> Any:
    """The real senders, by channel, as `outbox.send_due` calls them."""

    def send(
        channel: str,
        target: NotificationChannel | None,
        reports: list[dict[str, Any]],
        locale: str,
        reason: str,
        delivery_id: str,
    ) -> channels.SendResult:
        if not reports:
            return channels.SendResult.failed_permanently("the report no longer exists")
        if target is None or target.status != "verified":
            return channels.SendResult.failed_permanently(f"{channel} channel is not set up and verified")
        try:
            return _send(channel, target, reports, locale, reason, delivery_id)
        except SetupError as exc:  # SECRET_KEY missing or changed: the operator's to fix, so retried
            return channels.SendResult.retry(str(exc))

    def _send(
        channel: str,
        target: NotificationChannel,
        reports: list[dict[str, Any]],
        locale: str,
        reason: str,
        delivery_id: str,
    ) -> channels.SendResult:
        keys, base_url = settings.secret_keys, settings.public_base_url
        if channel in ("webhook", "email"):
            rendered = render_notification(reports, locale, reason=reason, base_url=base_url)
        if channel == "webhook":
            return channels.send_webhook(
                open_sealed(keys, target.target or ""),
                signing_secrets(target, keys, utcnow()),
                rendered.payload,
                delivery_id=delivery_id,
                timeout=settings.webhook_timeout_seconds,
                allow_private=settings.webhooks_may_reach_private_hosts,  # checked on every delivery
            )
        if channel == "email":
            return channels.send_email(settings, target.address, rendered, delivery_id=delivery_id)
        if channel == "apprise":  # Apprise loads its ~200 service plugins on import: only when used
            from stockteacher.notify.apprise_channel import send_apprise
            from stockteacher.notify.render import report_url, short_message

            title, body = short_message(reports, locale, reason=reason, base_url=base_url)
            link = report_url(base_url, str(reports[0].get("insight_id", "")))  # KakaoTalk's button
            return send_apprise(open_sealed(keys, target.target or ""), title, body, settings, link=link)
        return channels.SendResult.failed_permanently(f"unknown channel {channel!r}")

    return send


def notify_core(
    settings: Settings | None = None,
    *,
    trace_id: str | None = None,
    now: datetime | None = None,
    sender: Any = None,
    record_idle: bool = True,
) -> dict[str, Any]:
    """Plan deliveries for newly published reports, then send every due one (digests grouped).

    Returns `{status, planned, sent, retried, dead}`; the same figures go to `job_runs.details`.
    With `record_idle=False` (the scheduler's idle ticks) a run that found nothing to do writes
    no `job_runs` row.
    """
    settings = settings or load_settings()
    trace_id = trace_id or new_trace_id()
    tickers.refresh_from(settings.dsn)  # company names in messages, operators' tickers included

    def failed(exc: BaseException) -> dict[str, Any]:
        log.error("notify.failed", error=type(exc).__name__)
        return {"error_code": type(exc).__name__, "error_message": str(exc)[:500]}

    with (
        pipeline_context(trace_id=trace_id, stage="notify"),
        job_run(
            settings.dsn,
            stage="notify",
            trace_id=trace_id,
            source="outbox",
            open_at_start=record_idle,
            on_error=failed,
        ) as run,
    ):
        planned = plan_deliveries(settings, now=now, trace_id=trace_id)
        sent = send_due(settings, sender or deliver(settings), now=now)
        counts = OutboxCounts(planned=planned.planned, sent=sent.sent, retried=sent.retried, dead=sent.dead)
        if not record_idle and not any(counts.as_dict().values()):
            run.discard()
            return {"status": "ok", "trace_id": trace_id, **counts.as_dict()}
        run.record(saved=counts.sent, details={**counts.as_dict(), "reports": planned.reports[:50]})
        log.info("notify.done", **counts.as_dict())
        return {"status": "ok", "trace_id": trace_id, **counts.as_dict()}
