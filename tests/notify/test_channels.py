"""Delivery channels against local servers: a webhook receiver and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import smtplib
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from stockteacher.notify import channels
from stockteacher.notify.channels import (
    EMAIL_NOT_CONFIGURED,
    SendResult,
    encode_payload,
    new_secret,
    secret_problem,
    send_email,
    send_webhook,
    sign,
    signed_headers,
    verification_ping,
)
from stockteacher.notify.render import Rendered, render_notification
from stockteacher.settings import Settings
from tests.factories.notify import WEBHOOK_SECRET
from tests.factories.reports import make_report
from tests.servers.smtp import SMTPSink
from tests.servers.webhook import WebhookReceiver, refused_url

SECRET = WEBHOOK_SECRET
BASE = "https://stocks.example.org"


@pytest.fixture
def mail_settings(make_settings: Callable[..., Settings], sink: SMTPSink) -> Settings:
    return make_settings(
        smtp_host=sink.host,
        smtp_port=sink.port,
        smtp_starttls=False,
        smtp_from="StockTeacher <alerts@stocks.example.org>",
    )


def payload(**overrides: Any) -> dict[str, Any]:
    rendered = render_notification([make_report(**overrides)], "ko_KR", reason="urgent", base_url=BASE)
    return rendered.payload


def webhook(
    url: str, *, secret: str = SECRET, delivery_id: str = "dlv-1", timeout: float = 2.0, **kw: Any
) -> SendResult:
    """To the local receiver on 127.0.0.1: private addresses allowed, as WEBHOOK_ALLOW_PRIVATE_HOSTS=1."""
    kw.setdefault("allow_private", True)
    return send_webhook(url, [secret], payload(), delivery_id=delivery_id, timeout=timeout, **kw)


# --- signatures (Standard Webhooks, checked by the `standardwebhooks` library) ------------------


def _headers(signature: str, message_id: str = "msg_1", timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"webhook-id": message_id, "webhook-timestamp": stamp, "webhook-signature": signature}


def test_signature_is_hmac_sha256_of_id_dot_timestamp_dot_body_under_the_decoded_whsec_key() -> None:
    body = encode_payload({"type": "reports", "headline": "삼성전자"})
    signature = sign([SECRET], "msg_1", 1_700_000_000, body)

    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()).decode()
    assert signature == f"v1,{expected}"


def test_a_receiver_using_the_standardwebhooks_library_accepts_our_requests_and_rejects_changes() -> None:
    body = encode_payload({"type": "reports", "headline": "삼성전자"})
    headers = signed_headers([SECRET], "dlv_abc", body)

    assert Webhook(SECRET).verify(body, headers) == {"type": "reports", "headline": "삼성전자"}
    assert headers["webhook-id"] == "dlv_abc" and headers["webhook-signature"].startswith("v1,")
    for tampered_body, tampered in (
        (body + b" ", headers),  # body changed
        (body, {**headers, "webhook-id": "dlv_other"}),  # replayed under another id
        (body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}),
        (body, signed_headers([SECRET], "dlv_abc", body, now=time.time() - 301)),  # too old (replay)
        (body, signed_headers([SECRET], "dlv_abc", body, now=time.time() + 301)),  # from the future
    ):
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(tampered_body, tampered)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)  # another secret


def test_during_a_rotation_the_header_carries_both_signatures_and_either_secret_verifies() -> None:
    body, old, new = b"{}", new_secret(), new_secret()
    headers = signed_headers([new, old], "msg_2", body)

    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        Webhook(secret).verify(body, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_made_secrets_are_standard_and_bad_ones_are_explained() -> None:
    made = new_secret()
    assert made.startswith("whsec_") and len(base64.b64decode(made[6:])) == 32 and secret_problem(made) is None
    assert new_secret() != made
    assert "whsec_" in (secret_problem("s3cret-that-is-long-enough") or "")
    assert "base64" in (secret_problem("whsec_not*base64!") or "")
    assert "24 to 64 bytes" in (secret_problem("whsec_" + base64.b64encode(b"short").decode()) or "")


def test_the_verification_recipe_in_the_module_docstring_works() -> None:
    recipe = inspect.getdoc(channels) or ""
    code = recipe[recipe.index("from standardwebhooks import Webhook") : recipe.index("which also rejects")]
    body = encode_payload({"type": "verification", "token": "t"})
    namespace: dict[str, Any] = {"raw_body": body, "request_headers": signed_headers([SECRET], "m", body)}
    exec(inspect.cleandoc(code).replace("whsec_...", SECRET), namespace)  # noqa: S102 - our documented snippet

    assert namespace["payload"] == {"type": "verification", "token": "t"}


# --- webhooks ----------------------------------------------------------------------------------


def test_webhook_delivered_with_signed_compact_utf8_json_and_headers(hook: WebhookReceiver) -> None:
    body = payload()
    result = send_webhook(hook.url, [SECRET], body, delivery_id="dlv-42", timeout=2, allow_private=True)

    assert result == SendResult(ok=True, permanent=False, status=200, error=None)
    [request] = hook.requests
    assert request.method == "POST" and request.signature_valid is True
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "StockTeacher-Webhook/1"
    assert request.headers["webhook-id"] == "dlv-42"
    assert request.headers["webhook-timestamp"].isdigit()
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.json() == body
    assert request.body == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert "삼성전자".encode() in request.body  # not \uXXXX escapes
    assert request.json()["reports"][0]["url"] == f"{BASE}/#report=a1b2c3d4e5f60718"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_webhook_client_errors_are_permanent(hook: WebhookReceiver, status: int) -> None:
    hook.fail_next(1, status=status, body="no thanks")
    result = webhook(hook.url)

    assert not result.ok and result.permanent and result.status == status
    assert f"HTTP {status}" in (result.error or "") and "no thanks" in (result.error or "")


def test_a_receiver_that_rejects_the_signature_makes_the_delivery_fail_permanently(hook: WebhookReceiver) -> None:
    result = webhook(hook.url, secret=new_secret())

    assert result.permanent and result.status == 401
    assert hook.requests[0].signature_valid is False and hook.unique_deliveries == 0


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_webhook_rate_limits_and_server_errors_are_retried(hook: WebhookReceiver, status: int) -> None:
    hook.fail_next(1, status=status, headers={"Retry-After": "7"})
    result = webhook(hook.url)

    assert not result.ok and not result.permanent and result.status == status
    assert result.retry_after == 7


def test_a_receiver_down_for_two_attempts_gets_the_delivery_once_on_the_third(hook: WebhookReceiver) -> None:
    hook.fail_next(2, status=503)
    results = [webhook(hook.url, delivery_id="dlv-7") for _ in range(3)]

    assert [(r.ok, r.permanent, r.status) for r in results] == [
        (False, False, 503),
        (False, False, 503),
        (True, False, 200),
    ]
    assert hook.delivery_ids == ["dlv-7", "dlv-7", "dlv-7"]
    assert [r.answered for r in hook.requests] == [503, 503, 200]
    assert hook.unique_deliveries == 1
    webhook(hook.url, delivery_id="dlv-7")  # a duplicate after success: the receiver de-duplicates
    assert hook.unique_deliveries == 1 and hook.count == 4


def test_webhook_timeout_is_retried(hook: WebhookReceiver) -> None:
    hook.stall_next(1, 3.0)
    started = time.monotonic()
    result = webhook(hook.url, timeout=0.3)

    assert not result.ok and not result.permanent and result.status is None
    assert "timed out" in (result.error or "")
    assert time.monotonic() - started < 2


def test_connection_refused_is_retried() -> None:
    result = webhook(refused_url())

    assert not result.ok and not result.permanent
    assert "could not connect" in (result.error or "")


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/hook", "file:///etc/passwd", "javascript:alert(1)", "not a url", "http://", ""]
)
def test_non_http_urls_fail_permanently_without_a_request(url: str) -> None:
    result = webhook(url)

    assert not result.ok and result.permanent and result.status is None
    assert "webhook URL" in (result.error or "")


@pytest.mark.parametrize("follow", [False, True])
def test_redirects_are_never_followed_even_with_a_client_that_would(hook: WebhookReceiver, follow: bool) -> None:
    hook.fail_next(1, status=307, headers={"Location": hook.url + "/elsewhere"})
    with httpx.Client(trust_env=False, follow_redirects=follow) as client:
        result = webhook(hook.url, client=client)

    assert result.permanent and result.status == 307 and "redirect" in (result.error or "")
    assert hook.count == 1


def test_proxy_variables_are_ignored(hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("HTTP_PROXY", refused_url(""))
    monkeypatch.setenv("ALL_PROXY", refused_url(""))

    assert webhook(hook.url).ok


def test_errors_name_the_host_but_not_the_url_path_that_may_carry_a_token() -> None:
    with WebhookReceiver(secret=SECRET, path="/hooks/T0KEN-abc123") as hook:
        hook.fail_next(1, status=500)
        result = webhook(hook.url)
    assert "127.0.0.1" in (result.error or "") and "T0KEN" not in (result.error or "")


def test_verification_ping_is_signed_and_a_2xx_verifies(hook: WebhookReceiver) -> None:
    result = verification_ping(hook.url, SECRET, "tok-123", timeout=2, allow_private=True)

    assert result.ok
    [request] = hook.requests
    assert request.json() == {"type": "verification", "token": "tok-123"}
    assert request.signature_valid is True
    assert request.headers["webhook-id"].startswith("verify-")

    hook.fail_next(1, status=404)
    assert verification_ping(hook.url, SECRET, "tok-123", timeout=2, allow_private=True).permanent


def test_every_httpx_exception_maps_to_a_result() -> None:
    def subclasses(cls: type[Exception]) -> set[type[Exception]]:
        found: set[type[Exception]] = {cls}
        for sub in cls.__subclasses__():
            found |= subclasses(sub)
        return found

    request = httpx.Request("POST", "http://127.0.0.1/hook")
    for cls in subclasses(httpx.HTTPError) | {httpx.InvalidURL}:
        exc: Any
        if cls is httpx.HTTPStatusError:
            exc = httpx.HTTPStatusError("x", request=request, response=httpx.Response(500, request=request))
        elif cls in (httpx.InvalidURL, httpx.HTTPError):
            exc = cls("x")
        else:
            exc = cls("x", request=request)  # type: ignore[call-arg]
        result = channels._http_error_result(exc, host="h", timeout=1)
        assert isinstance(result, SendResult) and not result.ok, cls
        transient = issubclass(cls, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError))
        if transient:
            assert not result.permanent, cls
        if issubclass(cls, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)):
            assert result.permanent, cls


# --- e-mail ------------------------------------------------------------------------------------


def rendered_for(locale: str, **overrides: Any) -> Rendered:
    return render_notification([make_report(**overrides)], locale, reason="urgent", base_url=BASE)


def test_korean_email_arrives_with_text_and_html_parts(sink: SMTPSink, mail_settings: Settings) -> None:
    rendered = rendered_for("ko_KR", headline="<script>alert(1)</script> 삼성전자 급락")
    result = send_email(mail_settings, "reader@example.com", rendered, delivery_id="dlv-9")

    assert result.ok and not result.permanent
    [mail] = sink.mails
    assert mail.rcpt_tos == ["reader@example.com"] and mail.mail_from == "alerts@stocks.example.org"
    message = mail.message
    assert message["Subject"] == rendered.subject
    assert message["Subject"].startswith("[StockTeacher] 삼성전자 긴급 알림:")
    assert message["To"] == "reader@example.com"
    assert message["Message-ID"] == "<stockteacher.dlv-9@stocks.example.org>"
    assert message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "삼성전자 급락" in text and "투자 권유가 아닙니다" in text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; 삼성전자 급락" in html
    assert b"\xec\x82\xbc" not in mail.raw.split(b"\r\n\r\n", 1)[0]  # headers are RFC 2047-encoded, not raw UTF-8


def test_english_email_for_en_us(sink: SMTPSink, mail_settings: Settings) -> None:
    rendered = rendered_for("en_US", ticker="AAPL", headline="Apple beats estimates", anomalies=[])
    assert send_email(mail_settings, "reader@example.com", rendered).ok

    message = sink.messages[0]
    assert message["Subject"] == "[StockTeacher] Urgent alert for Apple: Apple beats estimates"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "not investment advice" in text and "Read the report" in text
    assert message["Message-ID"].endswith("@stocks.example.org>")


def test_email_not_configured(make_settings: Callable[..., Settings]) -> None:
    result = send_email(make_settings(), "reader@example.com", rendered_for("ko_KR"))

    assert result == SendResult.failed_permanently("email is not configured (set SMTP_HOST)")
    assert result.error == EMAIL_NOT_CONFIGURED


def test_starttls_is_attempted_when_asked_and_a_server_without_it_is_a_clear_permanent_error(
    sink: SMTPSink, mail_settings: Settings
) -> None:
    settings = mail_settings.model_copy(update={"smtp_starttls": True})
    result = send_email(settings, "reader@example.com", rendered_for("ko_KR"))

    assert not result.ok and result.permanent
    assert "STARTTLS" in (result.error or "")
    assert sink.mails == []  # nothing went out in clear text


def test_login_when_a_username_is_set(make_settings: Callable[..., Settings]) -> None:
    with SMTPSink(auth=("mailer", "pa55word-xyz")) as sink:
        base = {"smtp_host": sink.host, "smtp_port": sink.port, "smtp_starttls": False, "smtp_username": "mailer"}
        good = send_email(make_settings(**base, smtp_password="pa55word-xyz"), "r@example.com", rendered_for("ko_KR"))
        bad = send_email(make_settings(**base, smtp_password="wrong-pass-xyz"), "r@example.com", rendered_for("ko_KR"))
        assert sink.logins == ["mailer"] and len(sink.mails) == 1

    assert good.ok
    assert bad.permanent and bad.status == 535 and "SMTP_PASSWORD" in (bad.error or "")
    assert "wrong-pass-xyz" not in (bad.error or "")


@pytest.mark.parametrize(
    ("reply", "permanent"), [("550 5.1.1 User unknown", True), ("450 4.2.1 Mailbox busy, try later", False)]
)
def test_refused_recipients_by_reply_code(sink: SMTPSink, mail_settings: Settings, reply: str, permanent: bool) -> None:
    sink.reject_recipient("gone@example.com", reply)
    result = send_email(mail_settings, "gone@example.com", rendered_for("ko_KR"))

    assert not result.ok and result.permanent is permanent
    assert result.status == int(reply[:3]) and reply in (result.error or "")


def test_a_temporary_data_error_is_retried(sink: SMTPSink, mail_settings: Settings) -> None:
    sink.fail_data_next(1, "451 4.3.0 Try again later")
    first = send_email(mail_settings, "reader@example.com", rendered_for("ko_KR"))
    second = send_email(mail_settings, "reader@example.com", rendered_for("ko_KR"))

    assert not first.ok and not first.permanent and first.status == 451
    assert second.ok and len(sink.mails) == 1


def test_smtp_connection_refused_and_timeout_are_retried(make_settings: Callable[..., Settings]) -> None:
    port = int(refused_url().rsplit(":", 1)[1].split("/")[0])
    refused = send_email(
        make_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False),
        "r@example.com",
        rendered_for("ko_KR"),
    )
    assert not refused.ok and not refused.permanent and "could not talk" in (refused.error or "")

    with socket.socket() as silent:  # accepts the connection (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        settings = make_settings(
            smtp_host="127.0.0.1", smtp_port=silent.getsockname()[1], smtp_starttls=False, smtp_timeout_seconds=0.3
        )
        started = time.monotonic()
        stalled = send_email(settings, "r@example.com", rendered_for("ko_KR"))
    assert not stalled.ok and not stalled.permanent and "timed out" in (stalled.error or "")
    assert time.monotonic() - started < 2


def test_an_address_with_a_line_break_is_refused_before_sending(sink: SMTPSink, mail_settings: Settings) -> None:
    result = send_email(mail_settings, "a@example.com\r\nBcc: b@example.com", rendered_for("ko_KR"))

    assert result.permanent and sink.mails == []


def test_every_smtp_exception_maps_to_a_result() -> None:
    samples: list[BaseException] = [
        smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no")}),
        smtplib.SMTPRecipientsRefused({"a@example.com": (451, b"later")}),
        smtplib.SMTPSenderRefused(553, b"bad sender", "x@example.com"),
        smtplib.SMTPDataError(554, b"rejected"),
        smtplib.SMTPConnectError(421, b"busy"),
        smtplib.SMTPHeloError(501, b"bad helo"),
        smtplib.SMTPAuthenticationError(454, b"temporary"),
        smtplib.SMTPAuthenticationError(535, b"bad credentials"),
        smtplib.SMTPResponseException(452, b"full"),
        smtplib.SMTPNotSupportedError("SMTPUTF8 not supported"),
        smtplib.SMTPServerDisconnected("gone"),
        smtplib.SMTPException("odd"),
        ConnectionRefusedError(111, "refused"),
        TimeoutError("timed out"),
        socket.gaierror(-2, "Name or service not known"),
    ]
    expected_permanent = [
        True,
        False,
        True,
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    results = [channels._smtp_error_result(exc, server="s", timeout=1) for exc in samples]

    assert all(isinstance(r, SendResult) and not r.ok for r in results)
    assert [r.permanent for r in results] == expected_permanent
    covered = {type(e) for e in samples}
    smtp_errors = {c for c in vars(smtplib).values() if isinstance(c, type) and issubclass(c, smtplib.SMTPException)}
    assert smtp_errors <= covered


# --- private addresses, checked when each connection is made --------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_by_default_no_webhook_request_reaches_a_local_address(hook: WebhookReceiver, host: str) -> None:
    url = hook.url.replace("127.0.0.1", host)
    for result in (
        send_webhook(url, [SECRET], payload(), delivery_id="dlv-1", timeout=2),
        verification_ping(url, SECRET, "tok", timeout=2),
    ):
        assert not result.ok and result.permanent and "private or local address" in (result.error or "")
    assert hook.requests == []  # nothing left this machine's guard


def test_a_rebinding_dns_answer_after_the_check_is_caught_at_connect_time(
    hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registration check saw a public address; by the time of the request, the attacker's
    DNS answers 127.0.0.1. The request resolves again when it connects and refuses."""
    import socket

    from stockteacher.channels.service import private_target

    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])  # the first lookup, then the rebinding

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.rebind.test":
            return real(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://hooks.rebind.test:{hook.port}/hook"
    assert private_target(url) is None  # looked public when it was registered
    result = send_webhook(url, [SECRET], payload(), delivery_id="dlv-1", timeout=2)
    assert result.permanent and "127.0.0.1" in (result.error or "") and hook.requests == []


def test_ipv4_mapped_ipv6_addresses_are_private_too() -> None:
    from stockteacher.notify.channels import forbidden_address

    assert forbidden_address("::ffff:127.0.0.1") and forbidden_address("::ffff:10.1.2.3")
    assert forbidden_address("169.254.169.254") and forbidden_address("0.0.0.0")
    assert not forbidden_address("93.184.216.34") and not forbidden_address("2606:4700::1111")
