"""Validated configuration for every StockTeacher process.

Every environment variable of the original operations guide keeps its exact name and default;
the variables that the new sources and stages need sit beside them. Build one `Settings` at an
entry point (CLI, Ray job, Serve app builder) and pass it on explicitly: actors on other nodes do
not share the driver's environment, and nothing here reads `os.environ` at import time.

A bad value raises `SettingsError`, whose message names the variable (and, for
`COLLECTION_SCHEDULES`, the entry index and field).
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from stockteacher.core.errors import SetupError
from stockteacher.core.vocabulary import SOURCES, Locale, Source

__all__ = [
    "ENV_FILE_VARIABLE",
    "SOURCE_NAMES",
    "CollectionSchedule",
    "Settings",
    "SettingsError",
    "env_files",
    "load_settings",
    "masked_settings",
]

SOURCE_NAMES = SOURCES
DEFAULT_DSN = "sqlite:///./var/dev.db"


class SettingsError(SetupError, ValueError):
    """A setting is missing or malformed; the message names the variable."""

    code = "configuration"


class CollectionSchedule(BaseModel):
    """One entry of `COLLECTION_SCHEDULES`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ticker: str = Field(min_length=1, max_length=20)
    source: Source
    interval_minutes: int = Field(gt=0, le=7 * 24 * 60)
    enabled: bool = True

    @field_validator("ticker")
    @classmethod
    def _normalise_ticker(cls, value: str) -> str:
        from stockteacher.tickers.registry import normalise_symbol

        return normalise_symbol(value)


def _parse_schedules(raw: Any) -> list[CollectionSchedule]:
    """Parse `COLLECTION_SCHEDULES`, naming the bad entry and field on error."""
    if isinstance(raw, str):
        text = raw.strip() or "[]"
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"COLLECTION_SCHEDULES: not valid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(raw, list):
        raise SettingsError("COLLECTION_SCHEDULES: must be a JSON list of {ticker, source, interval_minutes, enabled}")
    schedules: list[CollectionSchedule] = []
    seen: dict[tuple[str, str], int] = {}
    for index, item in enumerate(raw):
        if isinstance(item, CollectionSchedule):
            schedule = item
        elif not isinstance(item, dict):
            raise SettingsError(f"COLLECTION_SCHEDULES[{index}]: must be an object, got {type(item).__name__}")
        else:
            try:
                schedule = CollectionSchedule.model_validate(item)
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"]) or "entry"
                raise SettingsError(f"COLLECTION_SCHEDULES[{index}].{field}: {first['msg']}") from None
        key = (schedule.ticker, schedule.source)
        if key in seen:
            raise SettingsError(
                f"COLLECTION_SCHEDULES[{index}]: duplicate of entry {seen[key]} "
                f"(ticker={schedule.ticker!r}, source={schedule.source!r})"
            )
        seen[key] = index
        schedules.append(schedule)
    return schedules


Schedules = Annotated[list[CollectionSchedule], NoDecode]
PriceOverrides = dict[str, tuple[float, float]]
StrList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """All configuration, from the environment or a git-ignored `.env`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    # --- infrastructure (seed guide) -------------------------------------------------------
    ingestion_redis_url: str = Field("redis://localhost:6379/0", alias="INGESTION_REDIS_URL")
    postgres_dsn: str | None = Field(None, alias="POSTGRES_DSN")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    local_storage_root: str = Field("./var/storage", alias="LOCAL_STORAGE_ROOT")
    structlog_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field("INFO", alias="STRUCTLOG_LEVEL")
    log_json: bool = Field(False, alias="LOG_JSON")
    dedup_redis_ttl_seconds: int = Field(86400, gt=0, alias="DEDUP_REDIS_TTL_SECONDS")
    dedup_claim_lease_seconds: int = Field(600, gt=0, alias="DEDUP_CLAIM_LEASE_SECONDS")
    redis_socket_timeout_seconds: float = Field(1.0, gt=0, alias="REDIS_SOCKET_TIMEOUT_SECONDS")

    # --- collection: NewsAPI (seed guide) --------------------------------------------------
    news_api_key: SecretStr | None = Field(None, alias="NEWS_API_KEY")
    news_api_endpoint: str = Field("https://newsapi.org/v2/everything", alias="NEWS_API_ENDPOINT")
    news_api_timeout_seconds: float = Field(5, gt=0, alias="NEWS_API_TIMEOUT_SECONDS")
    news_api_max_retries: int = Field(2, ge=0, le=10, alias="NEWS_API_MAX_RETRIES")
    news_api_page_size: int = Field(20, ge=1, le=100, alias="NEWS_API_PAGE_SIZE")
    news_api_lang: str = Field("ko", min_length=2, max_length=2, alias="NEWS_API_LANG")
    news_api_sort_by: Literal["publishedAt", "relevancy", "popularity"] = Field("publishedAt", alias="NEWS_API_SORT_BY")
    news_api_max_results: int = Field(100, ge=1, alias="NEWS_API_MAX_RESULTS")

    # --- collection: Naver, RSS, file ------------------------------------------------------
    naver_client_id: SecretStr | None = Field(None, alias="NAVER_CLIENT_ID")
    naver_client_secret: SecretStr | None = Field(None, alias="NAVER_CLIENT_SECRET")
    naver_endpoint: str = Field("https://openapi.naver.com/v1/search/news.json", alias="NAVER_ENDPOINT")
    naver_display: int = Field(50, ge=1, le=100, alias="NAVER_DISPLAY")
    naver_sort: Literal["date", "sim"] = Field("date", alias="NAVER_SORT")
    naver_max_results: int = Field(100, ge=1, le=1000, alias="NAVER_MAX_RESULTS")
    naver_timeout_seconds: float = Field(5, gt=0, alias="NAVER_TIMEOUT_SECONDS")
    naver_max_retries: int = Field(2, ge=0, le=10, alias="NAVER_MAX_RETRIES")
    # OpenDART (opendart.fss.or.kr): Korean regulatory filings, by the company's DART code.
    dart_api_key: SecretStr | None = Field(None, alias="DART_API_KEY")
    dart_endpoint: str = Field("https://opendart.fss.or.kr/api", alias="DART_ENDPOINT")
    dart_timeout_seconds: float = Field(10, gt=0, alias="DART_TIMEOUT_SECONDS")
    dart_max_retries: int = Field(2, ge=0, le=10, alias="DART_MAX_RETRIES")
    dart_lookback_days: int = Field(7, ge=1, le=365, alias="DART_LOOKBACK_DAYS")
    dart_page_count: int = Field(100, ge=1, le=100, alias="DART_PAGE_COUNT")
    dart_max_pages: int = Field(5, ge=1, le=100, alias="DART_MAX_PAGES")
    dart_corp_code_path: str = Field("./var/dart_corp_codes.json", min_length=1, alias="DART_CORP_CODE_PATH")
    dart_corp_code_max_age_hours: float = Field(24, gt=0, alias="DART_CORP_CODE_MAX_AGE_HOURS")
    rss_feed_templates: StrList = Field(default_factory=list, alias="RSS_FEED_TEMPLATES")
    rss_timeout_seconds: float = Field(5, gt=0, alias="RSS_TIMEOUT_SECONDS")
    rss_max_retries: int = Field(2, ge=0, le=10, alias="RSS_MAX_RETRIES")
    file_source_path: str | None = Field(None, alias="FILE_SOURCE_PATH")
    source_backoff_seconds: float = Field(0.5, ge=0, alias="SOURCE_BACKOFF_SECONDS")
    source_max_retry_wait_seconds: float = Field(30, ge=0, alias="SOURCE_MAX_RETRY_WAIT_SECONDS")
    collection_schedules: Schedules = Field(default_factory=list, alias="COLLECTION_SCHEDULES")

    # --- prices and the track record ---------------------------------------------------------
    # auto: the sample series for tickers collected from `sample`, Yahoo Finance for tickers
    # collected from a news service, none for file imports (jobs/prices.py fetches history);
    # off: no prices are fetched by sweeps (reports get no outcome).
    price_source: Literal["auto", "yahoo", "file", "sample", "off"] = Field("auto", alias="PRICE_SOURCE")
    price_file_path: str | None = Field(None, alias="PRICE_FILE_PATH")
    yahoo_chart_endpoint: str = Field("https://query1.finance.yahoo.com/v8/finance/chart", alias="YAHOO_CHART_ENDPOINT")
    yahoo_timeout_seconds: float = Field(10, gt=0, alias="YAHOO_TIMEOUT_SECONDS")
    yahoo_max_retries: int = Field(3, ge=0, le=10, alias="YAHOO_MAX_RETRIES")
    # How far back a sweep's first price fetch for a ticker reaches (later ones fetch what is new).
    price_history_days: int = Field(120, ge=30, le=3650, alias="PRICE_HISTORY_DAYS")

    # --- clustering ------------------------------------------------------------------------
    story_similarity_threshold: float = Field(0.5, gt=0, le=1, alias="STORY_SIMILARITY_THRESHOLD")
    story_window_hours: int = Field(72, gt=0, alias="STORY_WINDOW_HOURS")

    # --- analysis (seed guide + new) -------------------------------------------------------
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    analysis_provider: Literal["auto", "openai", "offline"] = Field("auto", alias="ANALYSIS_PROVIDER")
    analysis_model: str = Field("gpt-4o-mini", min_length=1, alias="ANALYSIS_MODEL")
    analysis_max_tokens: int = Field(512, gt=0, alias="ANALYSIS_MAX_TOKENS")
    analysis_temperature: float = Field(0.2, ge=0, le=2, alias="ANALYSIS_TEMPERATURE")
    analysis_cost_limit_usd: float = Field(0.02, gt=0, alias="ANALYSIS_COST_LIMIT_USD")
    analysis_daily_budget_usd: float = Field(5.0, gt=0, alias="ANALYSIS_DAILY_BUDGET_USD")
    analysis_request_timeout_seconds: float = Field(15, gt=0, alias="ANALYSIS_REQUEST_TIMEOUT_SECONDS")
    analysis_retry_max_attempts: int = Field(2, ge=1, le=10, alias="ANALYSIS_RETRY_MAX_ATTEMPTS")
    analysis_retry_backoff_seconds: float = Field(1.0, ge=0, alias="ANALYSIS_RETRY_BACKOFF_SECONDS")
    analysis_max_retry_wait_seconds: float = Field(60, ge=0, alias="ANALYSIS_MAX_RETRY_WAIT_SECONDS")
    analysis_prompt_char_budget: int = Field(6000, ge=500, alias="ANALYSIS_PROMPT_CHAR_BUDGET")
    analysis_price_overrides: PriceOverrides = Field(default_factory=dict, alias="ANALYSIS_PRICE_OVERRIDES")
    analysis_rpm_limit: int = Field(500, gt=0, alias="ANALYSIS_RPM_LIMIT")
    analysis_tpm_limit: int = Field(200_000, gt=0, alias="ANALYSIS_TPM_LIMIT")
    analysis_rate_jitter_seconds: float = Field(0.02, ge=0, le=1, alias="ANALYSIS_RATE_JITTER_SECONDS")
    analyzer_replicas: int = Field(2, ge=1, le=64, alias="ANALYZER_REPLICAS")
    analyzer_concurrency: int = Field(4, ge=1, le=64, alias="ANALYZER_CONCURRENCY")
    analyzer_num_cpus: float = Field(0.25, gt=0, le=16, alias="ANALYZER_NUM_CPUS")

    # --- Ray runtime -----------------------------------------------------------------------
    scheduler_tick_seconds: float = Field(30, gt=0, alias="SCHEDULER_TICK_SECONDS")
    scheduler_max_in_flight: int = Field(8, ge=1, le=256, alias="SCHEDULER_MAX_IN_FLIGHT")
    collector_max_retries: int = Field(2, ge=0, le=10, alias="COLLECTOR_MAX_RETRIES")
    subscription_source: Source = Field("sample", alias="SUBSCRIPTION_SOURCE")
    subscription_interval_minutes: int = Field(60, gt=0, alias="SUBSCRIPTION_INTERVAL_MINUTES")
    node_type_resources: Literal["auto", "on", "off"] = Field("auto", alias="NODE_TYPE_RESOURCES")
    scheduler_resource: str = Field("node:__internal_head__", alias="SCHEDULER_RESOURCE")
    default_locale: Locale = Field("ko_KR", alias="DEFAULT_LOCALE")

    # --- API -------------------------------------------------------------------------------
    api_cors_origins: StrList = Field(default_factory=list, alias="API_CORS_ORIGINS")
    auth_mode: Literal["single_user", "api_key"] = Field("single_user", alias="AUTH_MODE")
    api_host: str = Field("127.0.0.1", min_length=1, alias="API_HOST")
    api_port: int = Field(8000, ge=1, le=65535, alias="API_PORT")
    api_max_page_size: int = Field(100, ge=1, le=1000, alias="API_MAX_PAGE_SIZE")
    api_cache_seconds: float = Field(30.0, ge=0, le=3600, alias="API_CACHE_SECONDS")
    # Favourites are a reader's own clicks: another process (Serve replica, uvicorn worker) may
    # show the old set for this long, so it is kept short (one query per reader per 2 s).
    api_favorites_cache_seconds: float = Field(2.0, ge=0, le=3600, alias="API_FAVORITES_CACHE_SECONDS")
    api_max_body_bytes: int = Field(256 * 1024, ge=1024, le=64 * 1024 * 1024, alias="API_MAX_BODY_BYTES")
    api_auth_cache_seconds: float = Field(10.0, ge=0, le=3600, alias="API_AUTH_CACHE_SECONDS")
    # The newest published reports a feed (/feeds/...) lists.
    feed_max_items: int = Field(50, ge=1, le=500, alias="FEED_MAX_ITEMS")
    serve_api_num_cpus: float = Field(0.25, gt=0, le=16, alias="SERVE_API_NUM_CPUS")
    serve_chat_num_cpus: float = Field(0.25, gt=0, le=16, alias="SERVE_CHAT_NUM_CPUS")

    # --- notifications -----------------------------------------------------------------------
    smtp_host: str | None = Field(None, alias="SMTP_HOST")
    smtp_port: int = Field(587, ge=1, le=65535, alias="SMTP_PORT")
    smtp_username: str | None = Field(None, alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, alias="SMTP_PASSWORD")
    smtp_from: str = Field("StockTeacher <noreply@localhost>", min_length=3, alias="SMTP_FROM")
    smtp_starttls: bool = Field(True, alias="SMTP_STARTTLS")
    smtp_timeout_seconds: float = Field(10, gt=0, alias="SMTP_TIMEOUT_SECONDS")
    webhook_timeout_seconds: float = Field(5, gt=0, alias="WEBHOOK_TIMEOUT_SECONDS")
    webhook_allow_private_hosts: bool | None = Field(None, alias="WEBHOOK_ALLOW_PRIVATE_HOSTS")
    # Old webhook secrets keep signing (a second `v1,` signature) this long after a rotation.
    webhook_secret_overlap_hours: float = Field(24, ge=0, le=24 * 30, alias="WEBHOOK_SECRET_OVERLAP_HOURS")
    # Fernet key(s) that encrypt channel secrets at rest; several comma-separated: the first
    # encrypts, every one decrypts (rotation). Make one with `stockteacher secret-key`.
    secret_key: SecretStr | None = Field(None, alias="SECRET_KEY")
    apprise_timeout_seconds: float = Field(10, gt=0, le=120, alias="APPRISE_TIMEOUT_SECONDS")
    # {"api.telegram.org": "http://127.0.0.1:8081"}: send a service's requests to another origin
    # (a self-hosted Telegram Bot API server, a corporate relay, a test server).
    apprise_host_overrides: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, alias="APPRISE_HOST_OVERRIDES"
    )
    notify_max_attempts: int = Field(6, ge=1, le=50, alias="NOTIFY_MAX_ATTEMPTS")
    notify_backoff_seconds: float = Field(30, ge=0, alias="NOTIFY_BACKOFF_SECONDS")
    notify_max_backoff_seconds: float = Field(3600, ge=0, alias="NOTIFY_MAX_BACKOFF_SECONDS")
    notify_lease_seconds: float = Field(120, gt=0, le=3600, alias="NOTIFY_LEASE_SECONDS")
    notify_suspend_after_dead: int = Field(3, ge=1, le=100, alias="NOTIFY_SUSPEND_AFTER_DEAD")
    public_base_url: str = Field("http://127.0.0.1:8000", alias="PUBLIC_BASE_URL")

    # --- chat ------------------------------------------------------------------------------
    chat_model: str | None = Field(None, alias="CHAT_MODEL")
    chat_max_turns: int = Field(20, ge=1, le=200, alias="CHAT_MAX_TURNS")
    chat_max_tokens: int = Field(400, gt=0, le=8192, alias="CHAT_MAX_TOKENS")
    chat_temperature: float = Field(0.3, ge=0, le=2, alias="CHAT_TEMPERATURE")
    chat_cost_limit_usd: float = Field(0.01, gt=0, alias="CHAT_COST_LIMIT_USD")
    chat_daily_budget_usd: float = Field(0.50, gt=0, alias="CHAT_DAILY_BUDGET_USD")
    chat_retrieval_top_k: int = Field(4, ge=1, le=20, alias="CHAT_RETRIEVAL_TOP_K")
    chat_request_timeout_seconds: float = Field(30, gt=0, alias="CHAT_REQUEST_TIMEOUT_SECONDS")
    chat_max_message_chars: int = Field(2000, ge=10, le=20000, alias="CHAT_MAX_MESSAGE_CHARS")

    @field_validator("collection_schedules", mode="before")
    @classmethod
    def _schedules(cls, value: Any) -> list[CollectionSchedule]:
        return _parse_schedules(value)

    @field_validator("scheduler_resource", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("dart_endpoint")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @field_validator("secret_key", mode="before")
    @classmethod
    def _fernet_keys(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        from stockteacher.core.crypto import check_keys

        check_keys(str(raw))  # a ValueError names the bad part by position, never its value
        return raw

    @field_validator("apprise_host_overrides", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            try:
                value = json.loads(text) if text else {}
            except json.JSONDecodeError as exc:
                example = '{"api.telegram.org": "http://127.0.0.1:8081"}'
                raise ValueError(f"must be a JSON object such as {example} ({exc.msg})") from None
        return value

    @field_validator("apprise_host_overrides")
    @classmethod
    def _origins(cls, value: dict[str, str]) -> dict[str, str]:
        for host, origin in value.items():
            if not host or "/" in host or ":" in host:
                raise ValueError(f"key {host!r} must be a host name such as api.telegram.org")
            if not origin.startswith(("http://", "https://")):
                raise ValueError(f"{host}: {origin!r} must be an http(s) origin such as http://127.0.0.1:8081")
        return {host.lower(): origin.rstrip("/") for host, origin in value.items()}

    @field_validator("webhook_allow_private_hosts", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rss_feed_templates", "api_cors_origins", mode="before")
    @classmethod
    def _string_list(cls, value: Any) -> list[str]:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return []
            if text.startswith("["):
                value = json.loads(text)
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a JSON list of strings or a comma-separated list")
        return value

    @field_validator("rss_feed_templates")
    @classmethod
    def _templates_have_placeholder(cls, value: list[str]) -> list[str]:
        for index, template in enumerate(value):
            if "{ticker}" not in template and "{query}" not in template:
                raise ValueError(f"entry {index} has neither {{ticker}} nor {{query}}: {template!r}")
            if not template.startswith(("http://", "https://", "file://")):
                raise ValueError(f"entry {index} is not an http(s) URL: {template!r}")
        return value

    @property
    def webhooks_may_reach_private_hosts(self) -> bool:
        """Loopback/private/link-local webhook targets: allowed on a single-user machine, refused
        for API-key users (they must not make the server call its own network) unless set."""
        if self.webhook_allow_private_hosts is not None:
            return self.webhook_allow_private_hosts
        return self.auth_mode == "single_user"

    @property
    def secret_keys(self) -> str | None:
        """`SECRET_KEY` as `core.crypto` takes it (None when unset)."""
        return self.secret_key.get_secret_value() if self.secret_key else None

    @property
    def chat_model_name(self) -> str:
        return self.chat_model or self.analysis_model

    @property
    def chat_uses_openai(self) -> bool:
        """Whether chat calls the LLM (else it answers offline, from retrieval alone)."""
        return bool(self.openai_api_key and self.openai_api_key.get_secret_value()) and (
            self.analysis_provider != "offline"
        )

    @property
    def uses_openai(self) -> bool:
        """Whether analysis calls the LLM (else the offline analyzer)."""
        if self.analysis_provider == "offline":
            return False
        has_key = bool(self.openai_api_key and self.openai_api_key.get_secret_value())
        if self.analysis_provider == "openai" and not has_key:
            return True  # fails loudly later with "OPENAI_API_KEY is not set"
        return has_key

    @model_validator(mode="after")
    def _one_database(self) -> Settings:
        if self.postgres_dsn and self.database_url and self.postgres_dsn != self.database_url:
            raise ValueError(
                "POSTGRES_DSN and DATABASE_URL name different databases; StockTeacher uses one "
                "database for everything: set POSTGRES_DSN only (DATABASE_URL is an alias)"
            )
        return self

    @cached_property
    def dsn(self) -> str:
        """The one database URL: `POSTGRES_DSN`, else `DATABASE_URL`, else local SQLite.

        A relative SQLite path is made absolute here, where the settings are built, so that
        Ray workers (whose working directory differs) open the same file.
        """
        return absolute_sqlite(self.postgres_dsn or self.database_url or DEFAULT_DSN)

    def for_workers(self) -> Settings:
        """A copy to ship to Ray actors and tasks: paths made absolute where the settings were
        built, because workers run in other directories (and, on a cluster, other machines)."""
        from pathlib import Path

        return self.model_copy(
            update={
                "postgres_dsn": self.dsn,
                "database_url": None,
                "local_storage_root": str(Path(self.local_storage_root).resolve()),
                "dart_corp_code_path": str(Path(self.dart_corp_code_path).resolve()),
            }
        )

    def changed_from(self, other: Settings) -> list[str]:
        """The variables whose values differ between `other` and these settings (names only:
        secrets stay out of messages)."""
        return sorted(
            field.alias or name
            for name, field in Settings.model_fields.items()
            if getattr(self, name) != getattr(other, name)
        )

    def secret_values(self) -> list[str]:
        """Every secret currently configured, so that logs can mask it wherever it appears."""
        values = [
            s.get_secret_value()
            for s in (
                self.news_api_key,
                self.naver_client_id,
                self.naver_client_secret,
                self.dart_api_key,
                self.openai_api_key,
                self.smtp_password,
                self.secret_key,
            )
            if s is not None and s.get_secret_value()
        ]
        for url in (self.dsn, self.ingestion_redis_url):
            password = _url_password(url)
            if password:
                values.append(password)
        return values


def absolute_sqlite(dsn: str) -> str:
    """`sqlite:///./var/dev.db` → `sqlite:////abs/path/var/dev.db`; other URLs unchanged."""
    prefix = "sqlite:///"
    if not dsn.startswith(prefix) or dsn.startswith(prefix + "/") or dsn[len(prefix) :].startswith(":memory:"):
        return dsn
    from pathlib import Path

    path, _, query = dsn[len(prefix) :].partition("?")
    return prefix + str(Path(path).resolve()) + (f"?{query}" if query else "")


def _url_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password  # type: ignore[return-value]
    except ArgumentError:
        return None


def _format_error(exc: ValidationError) -> str:
    lines = []
    fields = Settings.model_fields
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        name = loc[0] if loc else "settings"
        field = fields.get(name)
        variable = field.alias if field is not None and field.alias else name.upper()
        message = error["msg"].removeprefix("Value error, ")
        if isinstance(error.get("ctx", {}).get("error"), SettingsError):
            lines.append(message)
            continue
        detail = f" (got {error['input']!r})" if "input" in error and not isinstance(error["input"], dict) else ""
        if "secret" in variable.lower() or "key" in variable.lower():
            detail = ""
        lines.append(f"{variable}: {message}{detail}" if loc else message)
    return "; ".join(lines)


ENV_FILE_VARIABLE = "STOCKTEACHER_ENV_FILE"


def env_files() -> tuple[str, ...]:
    """The dotenv files settings are read from: `./.env`, then the file named by
    `STOCKTEACHER_ENV_FILE` (which wins where both set a variable; the environment wins over
    both). `cluster.yaml` starts Ray with `STOCKTEACHER_ENV_FILE=$HOME/stockteacher/.env`, so
    jobs, the scheduler and Serve on every node read that node's file: a job's uploaded working
    directory never carries one (Ray skips git-ignored files), and secrets stay out of
    `runtime_env` JSON, which the dashboard shows."""
    import os
    from pathlib import Path

    named = os.environ.get(ENV_FILE_VARIABLE, "").strip()
    if not named:
        return (".env",)
    path = Path(named).expanduser()
    if not path.is_file():
        import socket

        raise SettingsError(
            f"{ENV_FILE_VARIABLE}={named}: no such file on this node ({socket.gethostname()}); "
            "copy the .env there (cluster.yaml's file_mounts do) or unset the variable"
        )
    return (".env", str(path))


def load_settings(**overrides: Any) -> Settings:
    """Build and validate settings from the environment and the dotenv files (`env_files`),
    plus explicit overrides.

    Raises `SettingsError` naming the offending variable.
    """
    try:
        if "_env_file" not in overrides:
            overrides["_env_file"] = env_files()
        return Settings(**overrides)
    except SettingsError:
        raise
    except ValidationError as exc:
        raise SettingsError(_format_error(exc)) from None
    except json.JSONDecodeError as exc:  # a list-valued variable that is not JSON
        raise SettingsError(f"invalid JSON in settings: {exc.msg}") from None


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The settings by variable name, secrets and DSN passwords masked, for `settings check`."""
    out: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = "********" if value.get_secret_value() else None
        elif isinstance(value, str) and _url_password(value):
            value = value.replace(f":{_url_password(value)}@", ":********@")
        elif isinstance(value, list):
            value = [v.model_dump() if isinstance(v, BaseModel) else v for v in value]
        out[field.alias or name] = value
    out["database (effective)"] = out.get("POSTGRES_DSN") or out.get("DATABASE_URL") or DEFAULT_DSN
    return out
