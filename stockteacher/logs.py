"""Structured logging: text or JSON lines, pipeline context on every event, secrets masked.

`configure_logging(settings)` is called once per process (CLI, Ray job, actor constructor).
Pipeline context (`trace_id`, `ticker`, `source`, `stage`) is bound once with
`bind_pipeline_context` and rides on every event through structlog's contextvars.

Masking happens in one processor that every event passes through, including records from the
standard `logging` module (httpx, alembic, ...): values under secret-looking keys are replaced,
and every string is scanned for the configured secret values, bearer tokens, API-key shapes,
DSN passwords, e-mail addresses and phone numbers, whatever key they hide under.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import structlog
from structlog.types import EventDict, Processor

if TYPE_CHECKING:  # settings are read, never imported at run time: settings' own errors are logged
    from stockteacher.settings import Settings

__all__ = [
    "bind_pipeline_context",
    "configure_logging",
    "get_logger",
    "mask_text",
    "new_trace_id",
    "pipeline_context",
]

MASK = "***"
_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|apikey|authorization|auth|credential|private[_-]?key|cookie)",
    re.IGNORECASE,
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> keep the user, hide the password
    (re.compile(r"(?P<pre>[a-z][a-z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+(?=@)", re.IGNORECASE), r"\g<pre>" + MASK),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{8,}"), "Bearer " + MASK),
    (re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{12,}"), MASK),
    (re.compile(r"\bstk_[0-9a-f]{12}_[A-Za-z0-9_\-]{16,}"), MASK),  # StockTeacher API keys
    (
        re.compile(r"(?i)(?P<pre>[?&](api[_-]?key|apikey|key|token|access_token|client_secret|crtfc_key)=)[^&\s]+"),
        r"\g<pre>" + MASK,
    ),
    (re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"), "<email>"),
    (re.compile(r"(?<![\w.])\+?\d{1,3}?[\s.\-]?\(?\d{2,4}\)?[\s.\-]\d{3,4}[\s.\-]\d{4}(?![\w.])"), "<phone>"),
)

_known_secrets: list[str] = []


def mask_text(text: str) -> str:
    """Return `text` with secrets and personal data replaced."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _mask_value(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: (MASK if _secret_key(k) and v else _mask_value(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return type(value)(_mask_value(v, depth + 1) for v in value) if not isinstance(value, set) else value
    if isinstance(value, BaseException):
        return mask_text(repr(value))
    return value


def _secret_key(key: Any) -> bool:
    return isinstance(key, str) and key not in _SAFE_KEYS and bool(_SECRET_KEY.search(key))


# Keys that look secret by name but carry counts or public facts.
_SAFE_KEYS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens", "tokens", "auth_mode"})


def _mask_processor(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    for key, value in list(event_dict.items()):
        if _secret_key(key) and value:
            event_dict[key] = MASK
        else:
            event_dict[key] = _mask_value(value)
    return event_dict


def _render_exception(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    # Render tracebacks to text before masking, so nothing in them escapes the mask.
    return structlog.processors.format_exc_info(_logger, _name, event_dict)


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        _render_exception,
        _mask_processor,
    ]


def _configure_structlog(shared: list[Processor], level: int) -> None:
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )


class _CurrentStderr:
    """`sys.stderr` as it is at each write, not as it was when logging was configured: a
    progress display that takes over stderr on a terminal (rich's `Live`) then prints log
    lines above its own instead of through them."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(settings: Settings, *, stream: Any = None) -> None:
    """Configure structlog and the standard library's logging from `settings`."""
    _known_secrets[:] = sorted({s for s in settings.secret_values() if len(s) >= 4}, key=len, reverse=True)
    level = logging.getLevelName(settings.structlog_level)
    shared = _shared_processors()
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False, sort_keys=False, pad_event_to=0)
    )
    _configure_structlog(shared, level)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or _CurrentStderr())
    handler.setFormatter(formatter)
    handler.set_name("stockteacher")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "stockteacher":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; keep it at WARNING unless debugging.
    quiet = logging.DEBUG if level == logging.DEBUG else logging.WARNING
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(quiet)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]


def new_trace_id() -> str:
    return uuid.uuid4().hex[:16]


def bind_pipeline_context(**context: Any) -> None:
    """Bind `trace_id`, `ticker`, `source`, `stage` (any subset) for every following event."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in context.items() if v is not None})


@contextlib.contextmanager
def pipeline_context(**context: Any) -> Iterator[None]:
    """Bind pipeline context for the duration of a block, restoring the previous values after."""
    tokens = structlog.contextvars.bind_contextvars(**{k: v for k, v in context.items() if v is not None})
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


# Until an entry point calls `configure_logging`, events still pass the masking processor and
# go to the standard library's logging (its last-resort handler prints warnings to stderr),
# never straight to stdout as structlog's unconfigured default would.
_configure_structlog(_shared_processors(), logging.INFO)
