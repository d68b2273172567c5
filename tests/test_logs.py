"""Logging: JSON/text output, pipeline context on every event, secrets and personal data masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

import structlog

from stockteacher.logs import configure_logging, get_logger, pipeline_context
from stockteacher.settings import Settings

SECRETS = {
    "news": "newsapi-key-0123456789abcdef",
    "naver_secret": "naverSecretXYZ987",
    "openai": "sk-proj-AbCdEf0123456789xyz",
    "dsn_password": "pg-Pass-w0rd",
}


def _configured(make_settings: Callable[..., Settings], **overrides: object) -> tuple[io.StringIO, Settings]:
    options: dict[str, object] = {"log_json": True, **overrides}
    settings = make_settings(
        news_api_key=SECRETS["news"],
        naver_client_id="naver-client-id-1",
        naver_client_secret=SECRETS["naver_secret"],
        openai_api_key=SECRETS["openai"],
        postgres_dsn=f"postgresql+psycopg://stock:{SECRETS['dsn_password']}@db:5432/st",
        **options,
    )
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    return stream, settings


def _events(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_pipeline_context_on_every_event(make_settings: Callable[..., Settings]) -> None:
    stream, _ = _configured(make_settings)
    log = get_logger("test")
    with pipeline_context(trace_id="t-123", ticker="AAPL", source="news_api", stage="collect"):
        log.info("collect.start")
        logging.getLogger("some.library").warning("library says hi")
        log.info("collect.saved", fetched=3, unique=2, saved=2)
    log.info("outside")
    events = _events(stream)
    inside = [e for e in events if e["event"] != "outside"]
    assert len(inside) == 3
    for event in inside:
        assert (event["trace_id"], event["ticker"], event["source"], event["stage"]) == (
            "t-123",
            "AAPL",
            "news_api",
            "collect",
        )
    assert inside[2]["fetched"] == 3 and inside[2]["saved"] == 2
    assert "trace_id" not in [e for e in events if e["event"] == "outside"][0]


def test_text_mode_is_not_json(make_settings: Callable[..., Settings]) -> None:
    stream, _ = _configured(make_settings, log_json=False)
    get_logger("t").info("hello.text", count=2)
    line = stream.getvalue().strip()
    assert "hello.text" in line and "count=2" in line
    assert not line.startswith("{")


def test_level_filters_events(make_settings: Callable[..., Settings]) -> None:
    stream, _ = _configured(make_settings, structlog_level="WARNING")
    log = get_logger("t")
    log.info("quiet")
    log.warning("loud")
    assert [e["event"] for e in _events(stream)] == ["loud"]


def test_secrets_are_masked_whatever_key_they_hide_under(make_settings: Callable[..., Settings]) -> None:
    stream, settings = _configured(make_settings)
    log = get_logger("t")
    log.info("innocent.key", note=f"used {SECRETS['news']} today")
    log.info("nested", payload={"headers": {"X-Api-Key": SECRETS["news"]}, "list": [SECRETS["naver_secret"]]})
    log.info("bearer", header="Authorization: Bearer abcdefghijklmnop1234")
    log.info("dsn", url=settings.dsn)
    log.info("openai", msg=SECRETS["openai"])
    log.info("unknown.sk", msg="key sk-live-ZZZZZZZZZZZZZZZZ leaked")
    log.info("query", url="https://newsapi.example/v2/everything?q=x&apiKey=qwertyuiop123")
    logging.getLogger("httpx").error("request to %s failed", f"https://api/{SECRETS['naver_secret']}")
    try:
        raise RuntimeError(f"boom with {SECRETS['openai']}")
    except RuntimeError:
        log.exception("crash")
    out = stream.getvalue()
    for secret in [*SECRETS.values(), "abcdefghijklmnop1234", "sk-live-ZZZZZZZZZZZZZZZZ", "qwertyuiop123"]:
        assert secret not in out, secret
    assert "stock:***@db" in out  # the user stays readable, the password does not
    assert "crash" in out and "RuntimeError" in out


def test_personal_data_is_masked(make_settings: Callable[..., Settings]) -> None:
    stream, _ = _configured(make_settings)
    log = get_logger("t")
    log.info("user.created", contact="jane.doe+news@example.co.kr", phone="010-1234-5678", intl="+1 (415) 555-0134")
    log.info("counts", fetched=20100101, published_at="2026-11-26T10:00:00Z", ticker_code="005930.KS")
    out = stream.getvalue()
    assert "jane.doe" not in out and "010-1234-5678" not in out and "555-0134" not in out
    assert "<email>" in out and "<phone>" in out
    # numbers that are not phone numbers survive
    event = _events(stream)[-1]
    assert (
        event["fetched"] == 20100101
        and event["published_at"] == "2026-11-26T10:00:00Z"
        and event["ticker_code"] == "005930.KS"
    )


def test_secret_named_fields_are_masked(make_settings: Callable[..., Settings]) -> None:
    stream, _ = _configured(make_settings)
    get_logger("t").info("cfg", password="x-short", api_key="whatever", client_secret="s3", prompt_tokens=120)
    event = _events(stream)[-1]
    assert event["password"] == event["api_key"] == event["client_secret"] == "***"
    assert event["prompt_tokens"] == 120


def teardown_module() -> None:
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "stockteacher":
            root.removeHandler(handler)


def test_api_keys_are_masked_in_paths_and_text(make_settings: Callable[..., Settings]) -> None:
    stream, _ = _configured(make_settings)
    key = "stk_0123456789ab_" + "Q" * 43
    logging.getLogger("tests.access_log").warning('"GET /api/chat/ws/chat_1?access_token=%s HTTP/1.1" 101', key)
    get_logger("t").info("auth.failed", note=f"the key {key} was revoked")
    out = stream.getvalue()
    assert key not in out and "Q" * 20 not in out
    assert "access_token=***" in out
