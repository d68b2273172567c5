"""Settings: seed names and defaults, the DATABASE_URL alias, and every start-up error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockteacher.cli import main
from stockteacher.settings import DEFAULT_DSN, Settings, SettingsError, load_settings, masked_settings


def _load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings(_env_file=None)


def test_seed_variables_have_their_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _load(monkeypatch)
    assert s.ingestion_redis_url == "redis://localhost:6379/0"
    assert DEFAULT_DSN == "sqlite:///./var/dev.db"
    assert s.dsn == f"sqlite:///{Path.cwd() / 'var' / 'dev.db'}"  # made absolute for Ray workers
    assert s.local_storage_root == "./var/storage"
    assert s.structlog_level == "INFO" and s.log_json is False
    assert s.dedup_redis_ttl_seconds == 86400
    assert s.news_api_endpoint == "https://newsapi.org/v2/everything"
    assert (s.news_api_timeout_seconds, s.news_api_max_retries, s.news_api_page_size) == (5, 2, 20)
    assert (s.news_api_lang, s.news_api_sort_by) == ("ko", "publishedAt")
    assert s.collection_schedules == []
    assert (s.analysis_model, s.analysis_max_tokens, s.analysis_temperature) == ("gpt-4o-mini", 512, 0.2)
    assert (s.analysis_cost_limit_usd, s.analysis_request_timeout_seconds, s.analysis_retry_max_attempts) == (
        0.02,
        15,
        2,
    )
    assert s.default_locale == "ko_KR"


def test_environment_names_are_the_seed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _load(
        monkeypatch,
        INGESTION_REDIS_URL="redis://cache:6379/2",
        LOG_JSON="1",
        NEWS_API_PAGE_SIZE="50",
        ANALYSIS_COST_LIMIT_USD="0.05",
        DEFAULT_LOCALE="en_US",
        COLLECTION_SCHEDULES='[{"ticker":"aapl","source":"news_api","interval_minutes":5,"enabled":true}]',
        RSS_FEED_TEMPLATES='["https://feeds.example/rss?s={ticker}"]',
    )
    assert s.ingestion_redis_url == "redis://cache:6379/2"
    assert s.log_json is True and s.news_api_page_size == 50 and s.analysis_cost_limit_usd == 0.05
    assert s.default_locale == "en_US"
    assert s.collection_schedules[0].ticker == "AAPL"  # normalised
    assert s.rss_feed_templates == ["https://feeds.example/rss?s={ticker}"]


def test_dart_settings_defaults_names_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _load(monkeypatch)
    assert s.dart_api_key is None and s.dart_endpoint == "https://opendart.fss.or.kr/api"
    assert (s.dart_timeout_seconds, s.dart_max_retries, s.dart_lookback_days) == (10, 2, 7)
    assert (s.dart_page_count, s.dart_max_pages) == (100, 5)
    assert (s.dart_corp_code_path, s.dart_corp_code_max_age_hours) == ("./var/dart_corp_codes.json", 24)
    s = _load(monkeypatch, DART_API_KEY="k" * 40, DART_ENDPOINT="http://127.0.0.1:9999/api/", DART_PAGE_COUNT="10")
    assert s.dart_endpoint == "http://127.0.0.1:9999/api" and s.dart_page_count == 10
    assert "k" * 40 in s.secret_values() and masked_settings(s)["DART_API_KEY"] == "********"
    for name, value in (("DART_PAGE_COUNT", "101"), ("DART_PAGE_COUNT", "0"), ("DART_LOOKBACK_DAYS", "0")):
        monkeypatch.delenv("DART_PAGE_COUNT", raising=False)
        with pytest.raises(SettingsError, match=rf"{name}: "):
            _load(monkeypatch, **{name: value})


def test_database_url_is_an_alias_when_postgres_dsn_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _load(monkeypatch, DATABASE_URL="postgresql+psycopg://u:p@db:5432/st")
    assert s.dsn == "postgresql+psycopg://u:p@db:5432/st"


def test_same_value_in_both_database_variables_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = "postgresql+psycopg://u@db/st"
    assert _load(monkeypatch, DATABASE_URL=dsn, POSTGRES_DSN=dsn).dsn == dsn


def test_two_different_databases_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="POSTGRES_DSN and DATABASE_URL"):
        _load(monkeypatch, POSTGRES_DSN="postgresql://a/x", DATABASE_URL="postgresql://b/y")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NEWS_API_PAGE_SIZE": "abc"}, r"NEWS_API_PAGE_SIZE: .*integer"),
        ({"NEWS_API_PAGE_SIZE": "500"}, r"NEWS_API_PAGE_SIZE: .*less than or equal to 100"),
        ({"DEDUP_REDIS_TTL_SECONDS": "0"}, r"DEDUP_REDIS_TTL_SECONDS: .*greater than 0"),
        ({"STRUCTLOG_LEVEL": "LOUD"}, r"STRUCTLOG_LEVEL: "),
        ({"DEFAULT_LOCALE": "fr_FR"}, r"DEFAULT_LOCALE: "),
        ({"ANALYSIS_TEMPERATURE": "3"}, r"ANALYSIS_TEMPERATURE: "),
        ({"NEWS_API_SORT_BY": "newest"}, r"NEWS_API_SORT_BY: "),
        ({"LOG_JSON": "maybe"}, r"LOG_JSON: "),
        ({"RSS_FEED_TEMPLATES": '["https://feeds.example/rss"]'}, r"RSS_FEED_TEMPLATES: .*\{ticker\}"),
        ({"RSS_FEED_TEMPLATES": '["ftp://x/{ticker}"]'}, r"RSS_FEED_TEMPLATES: .*not an http"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        _load(monkeypatch, **env)


@pytest.mark.parametrize(
    ("schedules", "message"),
    [
        ("not json", r"COLLECTION_SCHEDULES: not valid JSON"),
        ('{"ticker":"AAPL"}', r"COLLECTION_SCHEDULES: must be a JSON list"),
        (
            '[{"ticker":"AAPL","source":"news_api","interval_minutes":5}, 7]',
            r"COLLECTION_SCHEDULES\[1\]: must be an object",
        ),
        ('[{"ticker":"AAPL","source":"bloomberg","interval_minutes":5}]', r"COLLECTION_SCHEDULES\[0\]\.source: "),
        (
            '[{"ticker":"AAPL","source":"rss","interval_minutes":0}]',
            r"COLLECTION_SCHEDULES\[0\]\.interval_minutes: .*greater than 0",
        ),
        (
            '[{"ticker":"AAPL","source":"rss","interval_minutes":"often"}]',
            r"COLLECTION_SCHEDULES\[0\]\.interval_minutes: ",
        ),
        ('[{"source":"rss","interval_minutes":5}]', r"COLLECTION_SCHEDULES\[0\]\.ticker: Field required"),
        (
            '[{"ticker":"AA PL","source":"rss","interval_minutes":5}]',
            r"COLLECTION_SCHEDULES\[0\]\.ticker: .*invalid ticker",
        ),
        (
            '[{"ticker":"AAPL","source":"rss","interval_minutes":5,"every":"day"}]',
            r"COLLECTION_SCHEDULES\[0\]\.every: ",
        ),
        (
            '[{"ticker":"AAPL","source":"rss","interval_minutes":5},{"ticker":"TSLA","source":"rss","interval_minutes":5},'
            '{"ticker":"aapl","source":"rss","interval_minutes":10}]',
            r"COLLECTION_SCHEDULES\[2\]: duplicate of entry 0 \(ticker='AAPL', source='rss'\)",
        ),
    ],
)
def test_schedule_errors_name_entry_and_field(monkeypatch: pytest.MonkeyPatch, schedules: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        _load(monkeypatch, COLLECTION_SCHEDULES=schedules)


def test_same_ticker_on_two_sources_is_not_a_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _load(
        monkeypatch,
        COLLECTION_SCHEDULES=json.dumps(
            [
                {"ticker": "AAPL", "source": "rss", "interval_minutes": 5},
                {"ticker": "AAPL", "source": "news_api", "interval_minutes": 5, "enabled": False},
            ]
        ),
    )
    assert [(x.source, x.enabled) for x in s.collection_schedules] == [("rss", True), ("news_api", False)]


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text("NEWS_API_PAGE_SIZE=33\nNEWS_API_KEY=from-dotenv-123\n")
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.news_api_page_size == 33
    assert s.news_api_key is not None and s.news_api_key.get_secret_value() == "from-dotenv-123"


def test_masked_settings_hide_secrets_and_dsn_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _load(
        monkeypatch,
        NEWS_API_KEY="news-key-value-123",
        OPENAI_API_KEY="sk-abcdefghijklmnop",
        POSTGRES_DSN="postgresql+psycopg://app:hunter2pw@db:5432/st",
    )
    shown = json.dumps(masked_settings(s))
    assert "news-key-value-123" not in shown and "sk-abcdefghijklmnop" not in shown and "hunter2pw" not in shown
    assert masked_settings(s)["NEWS_API_KEY"] == "********"
    assert "app:********@db" in masked_settings(s)["POSTGRES_DSN"]


def test_settings_check_cli_prints_masked_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWS_API_KEY", "very-secret-news-key")
    assert main(["settings", "check", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["NEWS_API_KEY"] == "********" and out["NEWS_API_PAGE_SIZE"] == 20


def test_settings_check_cli_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLLECTION_SCHEDULES", '[{"ticker":"AAPL","source":"rss","interval_minutes":-1}]')
    assert main(["settings", "check"]) == 2
    assert "COLLECTION_SCHEDULES[0].interval_minutes" in capsys.readouterr().err


def test_env_example_lists_every_setting_and_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    import shutil
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / ".env.example"
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example.read_text(), re.MULTILINE))
    assert names == {f.alias for f in Settings.model_fields.values()}
    shutil.copy(example, ".env")  # the autouse fixture put us in a temporary directory
    settings = load_settings()
    assert settings.collection_schedules == []  # the demo's sample tickers, no network
    assert settings.subscription_source == "sample"


def test_the_nodes_env_file_wins_over_dotenv_and_the_environment_over_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("NEWS_API_PAGE_SIZE=11\nNEWS_API_MAX_RESULTS=22\nANALYZER_REPLICAS=3\n")
    node = tmp_path / "node.env"
    node.write_text("NEWS_API_PAGE_SIZE=44\nNEWS_API_MAX_RESULTS=55\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STOCKTEACHER_ENV_FILE", str(node))
    monkeypatch.setenv("NEWS_API_MAX_RESULTS", "66")
    settings = load_settings()
    assert (settings.news_api_page_size, settings.news_api_max_results, settings.analyzer_replicas) == (44, 66, 3)


def test_an_env_file_missing_on_this_node_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STOCKTEACHER_ENV_FILE", str(tmp_path / "nowhere" / ".env"))
    with pytest.raises(SettingsError, match=r"STOCKTEACHER_ENV_FILE=.*nowhere/\.env: no such file on this node"):
        load_settings()
    assert main(["settings", "check"]) == 2


def test_changed_from_names_variables_not_values(monkeypatch: pytest.MonkeyPatch) -> None:
    one = load_settings(_env_file=None, OPENAI_API_KEY="sk-one", ANALYSIS_RPM_LIMIT=100)
    two = load_settings(_env_file=None, OPENAI_API_KEY="sk-two", ANALYSIS_RPM_LIMIT=100, ANALYZER_CONCURRENCY=7)
    assert two.changed_from(one) == ["ANALYZER_CONCURRENCY", "OPENAI_API_KEY"]
    assert one.changed_from(one) == []
