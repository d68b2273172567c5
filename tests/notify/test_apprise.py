"""Chat and push services through Apprise, each against a local stand-in of the real API: what
is delivered, how failures are classified, and that no token reaches an error, a log or stdout."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import apprise
import pytest

from stockteacher.core.errors import InvalidRequest
from stockteacher.notify.apprise_channel import SERVICES, check_url, send_apprise, split_urls
from stockteacher.notify.render import report_url, short_message
from stockteacher.settings import Settings
from tests.factories.reports import make_report
from tests.servers.chat import ChatServer
from tests.servers.discord import DiscordServer
from tests.servers.kakao import KakaoServer
from tests.servers.line import LineServer
from tests.servers.ntfy import NtfyServer
from tests.servers.slack import SlackServer
from tests.servers.telegram import TelegramServer

BASE = "https://stocks.example.org/"
REPORT = make_report()
LINK = report_url(BASE, REPORT["insight_id"])
WRONG = "WrongT0kenWrongT0kenWrongT0ken"


def _free_origin() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


class _Case:
    """One service: its stand-in, its good and wrong-token Apprise URLs, the secrets in them."""

    def __init__(
        self, name: str, server: Any, wrong: Callable[[Any], str], secrets: list[str], good: Callable[[Any], str]
    ) -> None:
        self.name = name
        self.server: ChatServer = server
        self._good = good
        self._wrong = wrong
        self.secrets = secrets

    @property
    def url(self) -> str:
        return self._good(self.server)

    @property
    def wrong_url(self) -> str:
        return self._wrong(self.server)

    def overrides(self, origin: str | None = None) -> dict[str, str]:
        target = origin or self.server.origin
        if isinstance(self.server, KakaoServer):
            return dict.fromkeys(self.server.hosts, target)
        host = getattr(self.server, "host", None)
        return {host: target} if host else {}


def _default(server: Any) -> str:
    return server.url()


_CASES: dict[str, Callable[[], _Case]] = {
    "Telegram": lambda: _Case(
        "Telegram",
        TelegramServer(),
        lambda s: s.url(token=f"123456789:{WRONG}"),
        ["AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", WRONG],
        _default,
    ),
    "Slack": lambda: _Case(
        "Slack",
        SlackServer(),
        lambda s: s.url(hook=(s.hook[0], s.hook[1], WRONG)),
        ["TIiajkdnlazkcOXrIdevi7FQ", WRONG],
        _default,
    ),
    "Discord": lambda: _Case(
        "Discord", DiscordServer(), lambda s: s.url(token=WRONG), ["JHMHI8qBe7bk2ZwO5U711o3dV_js", WRONG], _default
    ),
    "LINE": lambda: _Case(
        "LINE", LineServer(), lambda s: s.url(token=WRONG), ["abcdefghijklmnopqrstuvwxyz0123456789", WRONG], _default
    ),
    "KakaoTalk": lambda: _Case(
        "KakaoTalk",
        KakaoServer(),
        lambda s: s.url(refresh_token=WRONG),
        ["s3cRetRefreshT0kenForKakaoTests", WRONG],
        _default,
    ),
    "ntfy": lambda: _Case(
        "ntfy",
        NtfyServer(users={"alice": "Pa55wordPa55word"}),
        lambda s: s.url(user="alice", password=WRONG),
        ["Pa55wordPa55word", WRONG],
        lambda s: s.url(user="alice", password="Pa55wordPa55word"),
    ),
}


@pytest.fixture(params=list(_CASES))
def case(request: pytest.FixtureRequest) -> Iterator[_Case]:
    made = _CASES[request.param]()
    with made.server:
        yield made


def _settings(make_settings: Callable[..., Settings], case: _Case, origin: str | None = None) -> Settings:
    return make_settings(
        apprise_host_overrides=case.overrides(origin), webhook_allow_private_hosts=True, apprise_timeout_seconds=2
    )


def _no_secret(text: str | None, case: _Case) -> None:
    for secret in case.secrets:
        assert secret not in (text or "")


def test_each_service_delivers_one_chat_message_with_the_report(
    case: _Case, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    title, body = short_message([REPORT], "ko_KR", reason="urgent", base_url=BASE)

    result = send_apprise(case.url, title, body, _settings(make_settings, case), link=LINK)

    assert result.ok, result.error
    assert len(case.server.messages) == 1
    message = case.server.messages[0]
    seen = f"{message.title}\n{message.text}"
    assert "반도체 수출 둔화 우려에 급락" in seen
    assert "매우 부정적" in seen
    assert LINK in seen
    if isinstance(case.server, KakaoServer):
        assert message.raw["link"]["web_url"] == LINK  # the message's button opens the report
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err):
        _no_secret(text, case)


def test_a_wrong_token_is_permanent_and_names_the_service_without_the_token(
    case: _Case, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = send_apprise(case.wrong_url, "title", "body", _settings(make_settings, case))

    assert not result.ok and result.permanent
    assert result.status in (400, 401, 403, 404)
    assert result.error and result.error.startswith(f"{case.name} answered HTTP {result.status}")
    assert case.server.messages == []
    out, err = capfd.readouterr()
    for text in (result.error, caplog.text, out, err):
        _no_secret(text, case)


@pytest.mark.parametrize("status", [503, 500, 429])
def test_server_errors_and_rate_limits_are_retried(
    case: _Case, status: int, make_settings: Callable[..., Settings]
) -> None:
    case.server.fail_next(3, status=status, body={"error": "busy"})  # Discord tries a 429 once more itself

    result = send_apprise(case.url, "title", "body", _settings(make_settings, case))

    assert not result.ok and not result.permanent
    assert result.status == status
    assert result.error and case.name in result.error
    _no_secret(result.error, case)


def test_a_refused_connection_is_retried(case: _Case, make_settings: Callable[..., Settings]) -> None:
    origin = _free_origin()
    url = case.url
    if isinstance(case.server, NtfyServer):
        url = url.replace(f":{case.server.port}/", f":{origin.rsplit(':', 1)[1]}/")

    result = send_apprise(url, "title", "body", _settings(make_settings, case, origin))

    assert not result.ok and not result.permanent
    assert result.error and case.name in result.error
    _no_secret(result.error, case)


def test_telegram_s_retry_after_is_kept(make_settings: Callable[..., Settings]) -> None:
    with TelegramServer() as telegram:
        telegram.rate_limit_next(retry_after=3)
        settings = make_settings(apprise_host_overrides={telegram.host: telegram.origin})
        result = send_apprise(telegram.url(), "title", "body", settings)
    assert (result.ok, result.permanent, result.status, result.retry_after) == (False, False, 429, 3.0)
    assert "Too Many Requests" in (result.error or "")


def test_several_urls_get_the_message_and_one_failure_is_reported(make_settings: Callable[..., Settings]) -> None:
    with TelegramServer() as telegram, SlackServer() as slack:
        settings = make_settings(apprise_host_overrides={telegram.host: telegram.origin, slack.host: slack.origin})
        assert send_apprise(f"{telegram.url()}, {slack.url()}", "title", "body", settings).ok
        assert (len(telegram.messages), len(slack.messages)) == (1, 1)

        slack.fail_next(1, status=503)
        result = send_apprise(f"{telegram.url()}\n{slack.url()}", "title", "body", settings)
    assert not result.ok and not result.permanent
    assert "Slack answered HTTP 503" in (result.error or "") and "Telegram took it" in (result.error or "")


def test_overrides_change_the_instance_not_the_class(make_settings: Callable[..., Settings]) -> None:
    telegram_class = type(apprise.Apprise.instantiate(SERVICES[0].example))
    with TelegramServer() as telegram:
        settings = make_settings(apprise_host_overrides={telegram.host: telegram.origin})
        assert send_apprise(telegram.url(), "title", "body", settings).ok
    assert telegram_class.notify_url == "https://api.telegram.org/bot"


# --- check_url ------------------------------------------------------------------------------


def test_every_example_is_accepted_and_masked(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(webhook_allow_private_hosts=True)  # example hosts do not resolve offline
    for service in SERVICES:
        target = check_url(service.example, settings)
        assert target.services == (service.label,)
        assert target.masked.split("://")[0] in service.schemes
        assert "?" not in target.masked
        check_url(target.url, settings)  # the normalized form parses again
    telegram = check_url(SERVICES[0].example, settings)
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" in telegram.url
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in telegram.masked


def test_several_urls_and_service_web_addresses(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    target = check_url(
        "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654321,"
        " https://discord.com/api/webhooks/4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js\nkakao://clientid0/refresh0",
        settings,
    )
    assert target.services == ("Telegram", "Discord", "KakaoTalk")
    assert [u.split("://")[0] for u in split_urls(target.url)] == ["tgram", "discord", "kakaotalk"]
    with pytest.raises(InvalidRequest, match="at most 5"):
        check_url(" ".join([SERVICES[0].example] * 6), settings)


@pytest.mark.parametrize("url", ["json://example.org/hook", "mailto://user:pw@example.org", "windows://"])
def test_unsupported_schemes_are_refused_with_the_list(url: str, make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_url(url, make_settings())
    message = str(refused.value)
    assert url.split("://")[0] + ":// is not a supported service" in message
    assert "tgram://" in message and "ntfy://" in message and "pw" not in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "give an Apprise URL"),
        ("not a url", "not a supported service"),
        ("https://example.org/hook", "plain https:// address is not supported"),
        ("tgram://", "the Telegram URL is not valid: Apprise expects tgram://<bot token>/<chat id>"),
        ("discord://onlyone", "https://appriseit.com/services/discord/"),
        ("slack://T1JJ3T3L2/SecretWithNoRestSecret", "the Slack URL is not valid"),
    ],
)
def test_garbage_is_refused_clearly_without_echoing_it(
    url: str, expected: str, make_settings: Callable[..., Settings]
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_url(url, make_settings())
    assert expected in str(refused.value)
    assert "SecretWithNoRestSecret" not in str(refused.value) and "onlyone" not in str(refused.value)


def test_the_second_bad_url_is_named_by_position(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(InvalidRequest, match=r"the Discord URL \(URL 2 of 2\) is not valid"):
        check_url(f"{SERVICES[0].example} discord://x", make_settings())


def test_a_private_self_hosted_host_is_refused_unless_allowed(make_settings: Callable[..., Settings]) -> None:
    with NtfyServer() as ntfy:
        with pytest.raises(InvalidRequest, match="private or local address"):
            check_url(ntfy.url(), make_settings(webhook_allow_private_hosts=False))
        refused = send_apprise(ntfy.url(), "t", "b", make_settings(webhook_allow_private_hosts=False))
        assert refused.permanent and "private or local" in (refused.error or "")
        assert ntfy.requests == []

        target = check_url(ntfy.url(), make_settings(webhook_allow_private_hosts=True))
        assert target.services == ("ntfy",) and f"127.0.0.1:{ntfy.port}" in target.masked
    # A fixed-host service is not looked up: its host is the service's own.
    assert check_url(SERVICES[0].example, make_settings(webhook_allow_private_hosts=False)).services == ("Telegram",)


def test_an_ntfy_topic_is_masked_too_as_it_is_all_a_public_topic_keeps_secret(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(webhook_allow_private_hosts=True)
    cloud = check_url("ntfys://stock-alerts-7f3k", settings)
    own = check_url("ntfys://alice:Pa55wordPa55word@127.0.0.1:8443/stock-alerts-7f3k", settings)

    assert cloud.masked == "ntfys://st…" and "stock-alerts-7f3k" in cloud.url
    assert own.masked.startswith("ntfys://alice:") and own.masked.endswith("/st…")
    assert "7f3k" not in own.masked and "Pa55word" not in own.masked
