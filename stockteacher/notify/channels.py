"""Delivery channels: webhooks signed per Standard Webhooks, e-mail over SMTP (Apprise chat
services are in `notify.apprise_channel`).

Every sender returns a `SendResult` instead of raising for a delivery problem, so the outbox can
decide what happens next::

    SendResult
    ├── delivered()                       the receiver took it (HTTP 2xx, SMTP accepted)
    ├── retry(error, status)              worth another attempt later: timeouts, connection errors,
    │                                     HTTP 408, 425, 429 (with `retry_after` when the server says) and 5xx,
    │                                     SMTP 4xx replies and dropped connections
    └── failed_permanently(error, status) retrying cannot help: other HTTP 4xx, redirects, a URL that
                                          is not http(s), SMTP 5xx (unknown recipient, bad login),
                                          a channel that is not configured

Vendor exceptions (httpx, smtplib, ssl, socket) are translated here, at the boundary. Error
texts name the host, never the full webhook URL (its path often carries a token) or a secret.

Webhook signatures (Standard Webhooks, https://www.standardwebhooks.com)
------------------------------------------------------------------------
Each webhook is a `POST` of compact UTF-8 JSON with these headers::

    Content-Type: application/json
    User-Agent: StockTeacher-Webhook/1
    webhook-id: <delivery id>            the same on every retry of one delivery; de-duplicate on it
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64>       several, space-separated, while a secret is being rotated

The signature is HMAC-SHA256, keyed with the base64-decoded part of your `whsec_…` secret, over
`<webhook-id>.<webhook-timestamp>.<raw body>`. Verify with any Standard Webhooks library::

    from standardwebhooks import Webhook
    payload = Webhook("whsec_...").verify(raw_body, request_headers)  # raises if it does not verify

which also rejects timestamps more than five minutes from your clock. Answer any 2xx quickly to
acknowledge. Redirects are not followed. The first request to a new webhook is
`{"type": "verification", "token": "..."}`, signed the same way; answering it with 2xx verifies
the webhook. Report deliveries are `{"type": "reports", ...}` (see `render`). After a rotation
(`POST /api/notifications/channels/webhook/rotate-secret`) requests carry a signature with the
new secret and one with the old, until `WEBHOOK_SECRET_OVERLAP_HOURS` have passed.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import secrets
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

import httpcore
import httpx
from standardwebhooks import Webhook

from stockteacher.core.tls import tls_context
from stockteacher.core.vocabulary import is_transient_status
from stockteacher.logs import get_logger
from stockteacher.notify.render import Rendered
from stockteacher.settings import Settings
from stockteacher.sources.base import parse_retry_after

__all__ = [
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "USER_AGENT",
    "PrivateAddressRefused",
    "SendResult",
    "build_email",
    "encode_payload",
    "forbidden_address",
    "host_problem",
    "new_secret",
    "public_only_client",
    "secret_problem",
    "send_email",
    "send_webhook",
    "sign",
    "signed_headers",
    "verification_ping",
]

log = get_logger(__name__)

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
USER_AGENT = "StockTeacher-Webhook/1"
ERROR_SNIPPET_CHARS = 200
EMAIL_NOT_CONFIGURED = "email is not configured (set SMTP_HOST)"


@dataclass(frozen=True)
class SendResult:
    """The outcome of one attempt. `permanent` only matters when not `ok`; `status` is the HTTP
    status or SMTP reply code when there was one; `retry_after` is the receiver's own hint."""

    ok: bool
    permanent: bool
    status: int | None
    error: str | None
    retry_after: float | None = None

    @classmethod
    def delivered(cls, status: int | None = None) -> SendResult:
        return cls(ok=True, permanent=False, status=status, error=None)

    @classmethod
    def retry(cls, error: str, status: int | None = None, *, retry_after: float | None = None) -> SendResult:
        return cls(ok=False, permanent=False, status=status, error=error, retry_after=retry_after)

    @classmethod
    def failed_permanently(cls, error: str, status: int | None = None) -> SendResult:
        return cls(ok=False, permanent=True, status=status, error=error)


# --- signatures ------------------------------------------------------------------------------

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_problem(secret: str) -> str | None:
    """Why `secret` is not a usable Standard Webhooks secret (`whsec_` + base64 of 24–64 bytes)."""
    if not secret.startswith(SECRET_PREFIX):
        return "must start with whsec_ (a Standard Webhooks secret: whsec_ and base64 of 24-64 random bytes)"
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return "the part after whsec_ is not valid base64"
    if not 24 <= len(key) <= 64:
        return f"the key is {len(key)} bytes; Standard Webhooks keys are 24 to 64 bytes"
    return None


def sign(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one `v1,<base64>` per secret (newest first), space-separated."""
    moment = datetime.fromtimestamp(int(timestamp), UTC)
    text = body.decode("utf-8")
    return " ".join(Webhook(secret).sign(message_id, moment, text) for secret in secrets_)


def signed_headers(
    secrets_: Sequence[str], message_id: str, body: bytes, *, now: float | None = None
) -> dict[str, str]:
    """Every header of a signed webhook request."""
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secrets_, message_id, timestamp, body),
    }


# --- webhooks --------------------------------------------------------------------------------


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent: compact JSON, UTF-8, non-ASCII kept as is."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _host(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "?"
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def _url_problem(url: str) -> str | None:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        return f"invalid webhook URL ({exc})"
    if parsed.scheme not in ("http", "https"):
        return f"webhook URL must be http(s), not {parsed.scheme or 'scheme-less'}"
    if not parsed.host:
        return "webhook URL has no host"
    return None


def _http_error_result(exc: httpx.HTTPError | httpx.InvalidURL, *, host: str, timeout: float) -> SendResult:
    """Translate an httpx exception into a result (every httpx exception lands somewhere)."""
    if isinstance(exc, httpx.TimeoutException):
        return SendResult.retry(f"webhook at {host} timed out after {timeout:g}s ({type(exc).__name__})")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)):
        return SendResult.failed_permanently(f"webhook request to {host} cannot be made: {exc}")
    if isinstance(exc, httpx.ConnectError):
        return SendResult.retry(f"could not connect to webhook at {host}: {exc}")
    if isinstance(exc, httpx.TransportError):  # read/write/close errors, remote protocol errors, proxies
        return SendResult.retry(f"webhook at {host} failed mid-request ({type(exc).__name__}): {exc}")
    return SendResult.retry(f"webhook at {host} failed ({type(exc).__name__}): {exc}")


def _snippet(response: httpx.Response) -> str:
    """The start of an error body, read without loading a hostile receiver's whole answer."""
    chunk = b""
    try:
        for part in response.iter_bytes():
            chunk += part
            if len(chunk) >= ERROR_SNIPPET_CHARS:
                break
    except httpx.HTTPError as exc:
        # The status already decides the outcome; a body that stalls or cannot be decoded
        # only costs us the detail, which the error then says.
        return f"(body unreadable: {type(exc).__name__})"
    return " ".join(chunk[:ERROR_SNIPPET_CHARS].decode("utf-8", "replace").split())


def _response_result(response: httpx.Response, host: str) -> SendResult:
    status = response.status_code
    if 200 <= status < 300:
        return SendResult.delivered(status)
    snippet = _snippet(response)
    error = f"webhook at {host} answered HTTP {status}" + (f": {snippet}" if snippet else "")
    if is_transient_status(status):
        return SendResult.retry(error, status, retry_after=parse_retry_after(response.headers.get("retry-after")))
    if 300 <= status < 400:
        return SendResult.failed_permanently(
            f"webhook at {host} answered HTTP {status} (a redirect, not followed; register the final URL)", status
        )
    return SendResult.failed_permanently(error, status)


def forbidden_address(address: str) -> bool:
    """Loopback, private, link-local, reserved, multicast or unspecified: not a webhook's place."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified
    )


def host_problem(host: str, *, must: str) -> str | None:
    """Why `host` may not be reached — it does not resolve, or resolves to a loopback, private,
    link-local or reserved address — or None. `must` ends the second message
    ("webhooks must be public")."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return f"host {host!r} does not resolve"
    for info in infos:
        if forbidden_address(str(info[4][0])):
            return f"{host} resolves to a private or local address ({info[4][0]}); {must}"
    return None


class PrivateAddressRefused(httpcore.ConnectError):
    """The webhook's host resolved to an address webhooks may not reach."""


class _PublicOnlyBackend(httpcore.SyncBackend):
    """Resolves the host itself, refuses it if any address is private or local, and connects to
    the address it checked: no second lookup a DNS-rebinding server could answer differently.
    TLS still verifies the name (httpcore sends the URL's host as SNI)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve ({exc})") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refused = [a for a in addresses if forbidden_address(a)]
        if refused or not addresses:
            shown = ", ".join(refused) or "none"
            raise PrivateAddressRefused(
                f"{host} resolves to a private or local address ({shown}); webhooks must be public"
            )
        return super().connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )


def public_only_client(timeout: float) -> httpx.Client:
    """An httpx client whose every connection goes to a public address checked at connect time."""
    transport = httpx.HTTPTransport(trust_env=False)
    transport._pool = httpcore.ConnectionPool(  # the same pool httpx builds, with our network backend
        ssl_context=tls_context(trust_env=False), network_backend=_PublicOnlyBackend()
    )
    return httpx.Client(transport=transport, trust_env=False, follow_redirects=False, timeout=timeout)


def _post_signed(
    url: str,
    secrets_: Sequence[str],
    body: bytes,
    *,
    delivery_id: str,
    timeout: float,
    client: httpx.Client | None,
    allow_private: bool = False,
) -> SendResult:
    problem = _url_problem(url)
    if problem:
        return SendResult.failed_permanently(problem)
    host = _host(url)
    headers = signed_headers(secrets_, delivery_id, body)
    own = client is None
    if client is not None:
        http = client
    elif allow_private:
        http = httpx.Client(
            trust_env=False, verify=tls_context(trust_env=False), follow_redirects=False, timeout=timeout
        )
    else:
        http = public_only_client(timeout)
    try:
        request = http.build_request("POST", url, content=body, headers=headers, timeout=timeout)
        response = http.send(request, stream=True, follow_redirects=False)
        try:
            result = _response_result(response, host)
        finally:
            response.close()
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        if isinstance(exc.__context__, PrivateAddressRefused) or isinstance(exc.__cause__, PrivateAddressRefused):
            result = SendResult.failed_permanently(str(exc))
        else:
            result = _http_error_result(exc, host=host, timeout=timeout)
    finally:
        if own:
            http.close()
    _log_result("webhook", result, host=host, delivery_id=delivery_id)
    return result


def send_webhook(
    url: str,
    secrets_: Sequence[str],
    payload: dict[str, Any],
    *,
    delivery_id: str,
    timeout: float,
    allow_private: bool = False,
    client: httpx.Client | None = None,
) -> SendResult:
    """POST `payload` to `url`, signed with each of `secrets_` (see the module docstring).

    `delivery_id` must stay the same across retries of one delivery, so receivers can
    de-duplicate. Unless `allow_private`, the connection goes only to a public address, checked
    when it is made (a permanent failure otherwise). A passed `client` is used as is (but never
    follows redirects); otherwise a client that ignores proxy variables is made for this request.
    """
    return _post_signed(
        url,
        secrets_,
        encode_payload(payload),
        delivery_id=delivery_id,
        timeout=timeout,
        client=client,
        allow_private=allow_private,
    )


def verification_ping(
    url: str,
    secret: str,
    token: str,
    *,
    timeout: float,
    allow_private: bool = False,
    client: httpx.Client | None = None,
) -> SendResult:
    """POST `{"type": "verification", "token": token}`, signed; a 2xx answer verifies the webhook."""
    body = encode_payload({"type": "verification", "token": token})
    return _post_signed(
        url,
        [secret],
        body,
        delivery_id=f"verify-{uuid.uuid4().hex}",
        timeout=timeout,
        client=client,
        allow_private=allow_private,
    )


# --- e-mail ----------------------------------------------------------------------------------


def _sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2] if "@" in address else ""
    return domain or "stockteacher.local"


def build_email(settings: Settings, to: str, rendered: Rendered, *, delivery_id: str | None = None) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) with UTF-8 headers.

    With a `delivery_id` the Message-ID is derived from it, so a retried delivery that did reach
    the mailbox the first time is recognisable as the same message.
    """
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    local = f"stockteacher.{delivery_id}" if delivery_id else f"stockteacher.{uuid.uuid4().hex}"
    message["Message-ID"] = f"<{local}@{_sender_domain(settings.smtp_from)}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def _reply_text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:ERROR_SNIPPET_CHARS]


def _by_code(code: int, error: str) -> SendResult:
    if 500 <= code < 600:
        return SendResult.failed_permanently(error, code)
    return SendResult.retry(error, code)


def _smtp_error_result(exc: BaseException, *, server: str, timeout: float) -> SendResult:
    """Translate an smtplib / socket / ssl exception into a result."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()), (550, b"refused"))
        return _by_code(code, f"recipient refused by {server}: {code} {_reply_text(reply)}")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _by_code(
            exc.smtp_code,
            f"SMTP login to {server} failed (check SMTP_USERNAME and SMTP_PASSWORD): "
            f"{exc.smtp_code} {_reply_text(exc.smtp_error)}",
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        answer = f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"
        return _by_code(exc.smtp_code, f"sender refused by {server} (check SMTP_FROM): {answer}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, f"{server} answered {exc.smtp_code} {_reply_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendResult.failed_permanently(f"{server} does not support what this message needs: {exc}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if isinstance(exc.__context__, TimeoutError):  # smtplib reports a read timeout as a disconnect
            return SendResult.retry(f"{server} timed out after {timeout:g}s")
        return SendResult.retry(f"{server} closed the connection: {exc}")
    if isinstance(exc, smtplib.SMTPException):
        return SendResult.retry(f"SMTP error from {server} ({type(exc).__name__}): {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SendResult.failed_permanently(f"TLS certificate of {server} could not be verified: {exc.verify_message}")
    if isinstance(exc, TimeoutError):
        return SendResult.retry(f"{server} timed out after {timeout:g}s")
    if isinstance(exc, OSError):  # refused, unreachable, DNS, TLS handshake
        return SendResult.retry(f"could not talk to {server} ({type(exc).__name__}): {exc}")
    raise TypeError(f"not an SMTP delivery error: {type(exc).__name__}")


def _converse(smtp: smtplib.SMTP, settings: Settings, message: EmailMessage, server: str) -> SendResult:
    smtp.ehlo()
    if settings.smtp_starttls:
        if not smtp.has_extn("starttls"):
            return SendResult.failed_permanently(
                f"{server} does not offer STARTTLS (SMTP_STARTTLS=true); "
                "set SMTP_STARTTLS=false only for a server on a trusted network"
            )
        smtp.starttls(context=ssl.create_default_context())
        smtp.ehlo()
    if settings.smtp_username:
        if not smtp.has_extn("auth"):
            return SendResult.failed_permanently(
                f"{server} does not offer AUTH but SMTP_USERNAME is set (is STARTTLS needed first?)"
            )
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
        smtp.login(settings.smtp_username, password)
    smtp.send_message(message)
    return SendResult.delivered(250)


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye; a failure here comes after the outcome is known and must not change it."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError) as exc:
        log.debug("notify.smtp_quit_failed", error=f"{type(exc).__name__}: {exc}")
        smtp.close()


def _transmit(settings: Settings, message: EmailMessage, server: str) -> SendResult:
    assert settings.smtp_host is not None
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds)
    try:
        return _converse(smtp, settings, message, server)
    finally:
        _quit(smtp)


def send_email(settings: Settings, to: str, rendered: Rendered, *, delivery_id: str | None = None) -> SendResult:
    """Send `rendered` to `to` through the configured SMTP server (STARTTLS and login as set)."""
    if not settings.smtp_host:
        return SendResult.failed_permanently(EMAIL_NOT_CONFIGURED)
    if "@" not in to or any(c in to for c in "\r\n"):
        return SendResult.failed_permanently("invalid e-mail address")
    server = f"SMTP server {settings.smtp_host}:{settings.smtp_port}"
    try:
        message = build_email(settings, to, rendered, delivery_id=delivery_id)
    except (ValueError, TypeError) as exc:
        return SendResult.failed_permanently(f"cannot build the e-mail: {exc}")
    try:
        result = _transmit(settings, message, server)
    except (smtplib.SMTPException, OSError) as exc:
        result = _smtp_error_result(exc, server=server, timeout=settings.smtp_timeout_seconds)
    _log_result("email", result, host=f"{settings.smtp_host}:{settings.smtp_port}", delivery_id=delivery_id)
    return result


def _log_result(channel: str, result: SendResult, *, host: str, delivery_id: str | None) -> None:
    fields = {"channel": channel, "host": host, "delivery_id": delivery_id, "code": result.status}
    if result.ok:
        log.info("notify.sent", **fields)
    elif result.permanent:
        log.warning("notify.permanent_error", error=result.error, **fields)
    else:
        log.warning("notify.transient_error", error=result.error, retry_after=result.retry_after, **fields)
