"""Chat and push services through Apprise: Telegram, Slack, Discord, KakaoTalk, LINE, ntfy, ...

A user registers one Apprise URL, or up to `MAX_URLS` of them separated by commas, spaces or
line breaks (`tgram://<bot token>/<chat id>`, `slack://T…/B…/X…`, a Discord or Slack webhook
address as the service shows it, …). Two functions::

    check_url(urls, settings) -> AppriseTarget   at registration: every URL is a supported
                                                 service and parses in Apprise; a self-hosted
                                                 service's host is public (unless allowed);
                                                 `InvalidRequest` otherwise
    send_apprise(urls, title, body, settings)    one notification to every URL -> SendResult

`SERVICES` is the table of what is supported. `AppriseTarget.url` is what to seal (Apprise's
own normalized form), `.masked` what to show (Apprise's `url(privacy=True)`, no query).

Sending: every URL becomes one plugin instance, sent to in this thread. The instance, not the
class, gets `settings.apprise_host_overrides` applied (`{"api.telegram.org":
"http://127.0.0.1:8081"}` sends that plugin's requests to the other origin) and
`settings.apprise_timeout_seconds` as its connect and read timeouts. Apprise reports problems
only in its log, so each send captures the log records of its own thread and reads the HTTP
status from them (`error=401.`): other 4xx are permanent (a revoked token, a deleted webhook);
408/425/429, 5xx, connection errors and timeouts, and failures without a status are worth a
retry (with the service's `retry_after` when its answer carried one). Apprise's records never
reach a log handler (its DEBUG lines carry tokens): a filter on the `apprise` logger hands each
to the capture of its thread and drops it; urllib3's request lines are dropped during a send.
Every error text has the URL's secret parts (user, password, tokens,
path segments, query values, the URL itself) replaced by `****`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise

from stockteacher.core.errors import InvalidRequest
from stockteacher.core.vocabulary import is_transient_status
from stockteacher.logs import get_logger
from stockteacher.notify.channels import SendResult, host_problem
from stockteacher.settings import Settings

__all__ = [
    "MAX_URLS",
    "SERVICES",
    "AppriseTarget",
    "Service",
    "check_url",
    "send_apprise",
    "split_urls",
    "supported_schemes",
]

log = get_logger(__name__)

MAX_URLS = 5
MASK = "****"
ERROR_CHARS = 300


@dataclass(frozen=True)
class Service:
    """One supported service. `self_hosted`: the user picks the host (the private-address rule
    applies to it); otherwise the service's own host is fixed. `example` parses in Apprise;
    `form` is its shape with placeholders; `token_hint` says where the user gets the secret."""

    label: str
    schemes: tuple[str, ...]
    example: str
    form: str
    self_hosted: bool
    docs: str
    token_hint: str

    @property
    def id(self) -> str:
        """`telegram`, `google-chat`, …: what the web page keys its translated hints on."""
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "schemes": list(self.schemes), "example": self.example,
                "form": self.form, "docs": self.docs, "token_hint": self.token_hint}  # fmt: skip


SERVICES: tuple[Service, ...] = (
    Service(
        "Telegram",
        ("tgram",),
        "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654321",
        "tgram://<bot token>/<chat id>",
        False,
        "https://appriseit.com/services/telegram/",
        "Create a bot with @BotFather (it gives the token); the chat id is yours or a group's.",
    ),
    Service(
        "Slack",
        ("slack",),
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#stocks",
        "slack://<T…>/<B…>/<token>[/#channel]",
        False,
        "https://appriseit.com/services/slack/",
        "Add an Incoming Webhook to your Slack app; its URL holds the three tokens.",
    ),
    Service(
        "Discord",
        ("discord",),
        "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
        "discord://<webhook id>/<webhook token>",
        False,
        "https://appriseit.com/services/discord/",
        "Channel settings → Integrations → Webhooks → New Webhook → Copy Webhook URL.",
    ),
    Service(
        "KakaoTalk",
        ("kakaotalk", "kakao"),
        "kakaotalk://0a1b2c3d4e5f60718293a4b5c6d7e8f9/s3cRetRefreshT0ken",
        "kakaotalk://<REST API key>/<refresh token>",
        False,
        "https://appriseit.com/services/kakaotalk/",
        "Kakao Developers: an app with 'talk_message' consent; its REST API key and a refresh token.",
    ),
    Service(
        "LINE",
        ("line",),
        "line://abcdefghijklmnopqrstuvwxyz0123456789/U0123456789abcdef0123456789abcdef",
        "line://<channel access token>/<user id>",
        False,
        "https://appriseit.com/services/line/",
        "LINE Developers console → Messaging API channel: the channel access token and your user id.",
    ),
    Service(
        "ntfy",
        ("ntfy", "ntfys"),
        "ntfys://ntfy.example.org/stocks",
        "ntfy://<topic> (ntfy.sh) · ntfys://<host>/<topic>",
        True,
        "https://appriseit.com/services/ntfy/",
        "No token for a public topic; pick an unguessable topic name (or user:password@ for your server).",
    ),
    Service(
        "Google Chat",
        ("gchat",),
        "gchat://AAAAxyz123/AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI/abc123DEF456ghi789",
        "gchat://<workspace>/<webhook key>/<webhook token>",
        False,
        "https://appriseit.com/services/googlechat/",
        "Space → Apps & integrations → Webhooks; the URL holds the space, key and token.",
    ),
    Service(
        "Microsoft Teams",
        ("workflow", "workflows"),
        "workflows://prod-01.westus.logic.azure.com:443/abcd1234abcd1234/s1gnatureS1gnature",
        "workflows://<host>:<port>/<workflow id>/<signature>",
        True,
        "https://appriseit.com/services/workflows/",
        "Teams channel → Workflows → 'Post to a channel when a webhook request is received'.",
    ),
    Service(
        "Pushover",
        ("pover",),
        "pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi",
        "pover://<user key>@<app token>",
        False,
        "https://appriseit.com/services/pushover/",
        "pushover.net: your user key on the dashboard, an app token from 'Create an Application'.",
    ),
    Service(
        "Matrix",
        ("matrix", "matrixs"),
        "matrixs://stockbot:s3cret@matrix.example.org/#stocks:matrix.example.org",
        "matrixs://<user>:<password>@<homeserver>/#<room>",
        True,
        "https://appriseit.com/services/matrix/",
        "A (bot) account on your homeserver and a room it has joined.",
    ),
    Service(
        "Mattermost",
        ("mmost", "mmosts"),
        "mmosts://mattermost.example.org/7k3fzqb4h3d8mprj1wnyb9xk6e",
        "mmosts://<host>/<webhook token>",
        True,
        "https://appriseit.com/services/mattermost/",
        "Integrations → Incoming Webhooks → Add; the token is the end of the hook URL.",
    ),
    Service(
        "Gotify",
        ("gotify", "gotifys"),
        "gotifys://gotify.example.org/AbCdEfGhIjKlMnO",
        "gotifys://<host>/<app token>",
        True,
        "https://appriseit.com/services/gotify/",
        "Gotify web UI → Apps → Create Application; copy its token.",
    ),
    Service(
        "Bark",
        ("bark", "barks"),
        "barks://api.day.app/Xyz1234567890AbCdEfGh",
        "barks://api.day.app/<device key>",
        True,
        "https://appriseit.com/services/bark/",
        "The Bark iOS app shows your device key (api.day.app or your own server).",
    ),
)

_BY_SCHEME: dict[str, Service] = {scheme: service for service in SERVICES for scheme in service.schemes}
# Apprise recognises some services' own web addresses (a Discord or Slack webhook URL as copied).
_NATIVE_SCHEMES = ("http", "https")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_SPLIT = re.compile(r"[\s,]+(?=[A-Za-z][A-Za-z0-9+.\-]*://)|\s+")


def supported_schemes() -> list[str]:
    return [f"{scheme}://" for service in SERVICES for scheme in service.schemes]


def split_urls(urls: str) -> list[str]:
    """The URLs in `urls`, separated by commas, spaces or line breaks (a comma inside a query,
    `?tags=a,b`, stays: only a comma before the next `scheme://` separates)."""
    return [part.strip().strip(",") for part in _SPLIT.split(urls or "") if part.strip().strip(",")]


@dataclass(frozen=True)
class AppriseTarget:
    """A checked registration: `url` to seal (Apprise's normalized URLs, space-separated),
    `services` their labels, `masked` for display (secrets shortened by Apprise itself)."""

    url: str
    services: tuple[str, ...]
    masked: str


# --- Apprise's log: captured per send, never propagated ---------------------------------------

_APPRISE_LOGGER = logging.getLogger("apprise")
# urllib3 logs each request line ("POST /bot<token>/sendMessage") at DEBUG: dropped while an
# Apprise send runs in that thread.
_TRANSPORT_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests")
_local = threading.local()


class _ThreadCapture:
    """The Apprise records of one send, in memory (level, message)."""

    def __init__(self) -> None:
        self.records: list[tuple[int, str]] = []

    def add(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        self.records.append((record.levelno, message))

    def text(self, level: int = logging.DEBUG) -> str:
        return "\n".join(message for levelno, message in self.records if levelno >= level)


class _AppriseSink(logging.Filter):
    """On the `apprise` logger: every record goes to the capture of its thread (if any) and to
    no handler at all — not ours, not the root's, not a test's `caplog` (which also attaches to
    non-propagating loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        capture = getattr(_local, "capture", None)
        if capture is not None:
            capture.add(record)
        return False


class _DuringSend(logging.Filter):
    """On the HTTP libraries' loggers: drop what they log while this thread sends through Apprise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(_local, "capture", None) is None


def _silence_apprise_logger() -> None:
    _APPRISE_LOGGER.propagate = False
    _APPRISE_LOGGER.setLevel(logging.DEBUG)  # records are made for the capture, then dropped
    if not any(isinstance(f, _AppriseSink) for f in _APPRISE_LOGGER.filters):
        _APPRISE_LOGGER.addFilter(_AppriseSink())
    if not any(isinstance(h, logging.NullHandler) for h in _APPRISE_LOGGER.handlers):
        _APPRISE_LOGGER.addHandler(logging.NullHandler())
    for name in _TRANSPORT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DuringSend) for f in logger.filters):
            logger.addFilter(_DuringSend())


_silence_apprise_logger()


@contextmanager
def _captured() -> Iterator[_ThreadCapture]:
    _silence_apprise_logger()  # cheap; survives someone resetting the logger
    previous = getattr(_local, "capture", None)
    capture = _ThreadCapture()
    _local.capture = capture
    try:
        yield capture
    finally:
        _local.capture = previous


# --- parsing -----------------------------------------------------------------------------------


def _asset() -> apprise.AppriseAsset:
    # Memory only: no token store on disk (KakaoTalk's access token lives for the one send).
    return apprise.AppriseAsset(storage_mode="memory")


def _instantiate(url: str) -> Any:
    with _captured():
        return apprise.Apprise.instantiate(url, asset=_asset(), suppress_exceptions=True)


def _plugin_schemes(plugin: Any) -> list[str]:
    schemes: list[str] = []
    for attribute in ("secure_protocol", "protocol"):
        value = getattr(plugin, attribute, None)
        if isinstance(value, str):
            schemes.append(value)
        elif isinstance(value, (tuple, list)):
            schemes += [v for v in value if isinstance(v, str)]
    return schemes


def _service_of(plugin: Any) -> Service | None:
    return next((_BY_SCHEME[s] for s in _plugin_schemes(plugin) if s in _BY_SCHEME), None)


def _user_host(plugin: Any, service: Service) -> str | None:
    """The host the user chose for a self-hosted service (None: the service's own host)."""
    if not service.self_hosted:
        return None
    if str(getattr(plugin, "mode", "")).lower() in ("cloud", "t2bot"):  # ntfy.sh, t2bot.io
        return None
    host = getattr(plugin, "host", None)
    return host if isinstance(host, str) and host else None


def _private_host(host: str) -> str | None:
    """Why `host` may not be reached (private/local, or it does not resolve), or None."""
    return host_problem(host, must="the host must be public")


def _hide(segment: str) -> str:
    return f"{segment[:2]}…" if len(segment) > 4 else "…"


def _masked(plugin: Any) -> str:
    """Apprise's own privacy form, without the query. An ntfy topic is its only secret (anyone
    who knows a public topic reads it), but Apprise shows it: ours keeps two characters of it."""
    shown = plugin.url(privacy=True).split("?", 1)[0]
    service = _service_of(plugin)
    if service is None or service.label != "ntfy":
        return shown
    scheme, _, rest = shown.partition("://")
    parts = rest.split("/")
    if len(parts) == 1:  # ntfy://<topic> on ntfy.sh
        return f"{scheme}://{_hide(parts[0])}"
    return f"{scheme}://" + "/".join([parts[0], *(_hide(topic) for topic in parts[1:] if topic)])


def _ordinal(index: int, total: int) -> str:
    return f" (URL {index + 1} of {total})" if total > 1 else ""


def check_url(urls: str, settings: Settings) -> AppriseTarget:
    """Check a registration (see the module docstring); `InvalidRequest` says what is wrong
    without repeating a secret."""
    parts = split_urls(urls)
    if not parts:
        raise InvalidRequest(f"give an Apprise URL such as {SERVICES[0].form}")
    if len(parts) > MAX_URLS:
        raise InvalidRequest(f"at most {MAX_URLS} Apprise URLs, not {len(parts)}")
    normalized: list[str] = []
    labels: list[str] = []
    masked: list[str] = []
    for index, url in enumerate(parts):
        where = _ordinal(index, len(parts))
        match = _SCHEME.match(url)
        scheme = match.group(1).lower() if match else ""
        service = _BY_SCHEME.get(scheme)
        if service is None and scheme not in _NATIVE_SCHEMES:
            shown = f"{scheme}://" if scheme and len(scheme) <= 20 else "this address"
            raise InvalidRequest(
                f"{shown} is not a supported service{where}; supported: {', '.join(supported_schemes())}"
            )
        plugin = _instantiate(url)
        found = _service_of(plugin) if plugin is not None else None
        if service is None:  # http(s): only a supported service's own webhook address
            if found is None:
                raise InvalidRequest(
                    f"a plain {scheme}:// address is not supported{where} (only a Discord or Slack webhook "
                    f"address as copied); supported: {', '.join(supported_schemes())}"
                )
            service = found
        if plugin is None or found is not service:
            raise InvalidRequest(
                f"the {service.label} URL{where} is not valid: Apprise expects {service.form}; see {service.docs}"
            )
        host = _user_host(plugin, service)
        if host is not None and not settings.webhooks_may_reach_private_hosts:
            problem = _private_host(host)
            if problem:
                raise InvalidRequest(f"the {service.label} URL{where} cannot be used: {problem}")
        normalized.append(plugin.url())
        labels.append(service.label)
        masked.append(_masked(plugin))
    return AppriseTarget(url=" ".join(normalized), services=tuple(labels), masked=", ".join(masked))


# --- sending -----------------------------------------------------------------------------------


def _origin_replaced(value: str, overrides: dict[str, str]) -> str | None:
    for host, origin in overrides.items():
        for prefix in (f"https://{host}", f"http://{host}"):
            if value.lower().startswith(prefix) and value[len(prefix) : len(prefix) + 1] in ("", "/", ":", "?"):
                rest = value[len(prefix) :]
                if rest.startswith(":"):  # an explicit port belongs to the replaced origin
                    rest = rest[len(rest.split("/", 1)[0]) :]
                return origin + rest
    return None


def _apply_overrides(plugin: Any, overrides: dict[str, str]) -> list[str]:
    """Point this instance's service URLs (string class attributes) at the overriding origins;
    the names of the attributes changed."""
    changed: list[str] = []
    if not overrides:
        return changed
    seen: set[str] = set()
    for cls in type(plugin).__mro__:
        for name, value in vars(cls).items():
            if name in seen or name.startswith("__") or not isinstance(value, str):
                continue
            seen.add(name)
            replaced = _origin_replaced(value, overrides)
            if replaced is not None and getattr(plugin, name, None) == value:
                setattr(plugin, name, replaced)
                changed.append(name)
    return changed


def _secrets(url: str, plugin: Any, service: Service | None) -> list[str]:
    """Every part of `url` that may be a secret, longest first (so a token is masked whole)."""
    found: set[str] = {url}
    try:
        parts = urlsplit(url)
        host_is_secret = service is None or not service.self_hosted
        candidates = [parts.username, parts.password, parts.query, parts.fragment, parts.path]
        if host_is_secret:
            candidates.append(parts.netloc.rsplit("@", 1)[-1])
            candidates.append(parts.hostname)
        candidates += [segment for segment in parts.path.split("/")]
        candidates += [value for _, value in parse_qsl(parts.query, keep_blank_values=False)]
    except ValueError:
        candidates = []
    if plugin is not None:
        full = plugin.url()
        candidates.append(full)
        for key, spec in getattr(plugin, "template_tokens", {}).items():
            if isinstance(spec, dict) and spec.get("private"):
                value = getattr(plugin, key, None)
                candidates += value if isinstance(value, (list, tuple)) else [value]
    for candidate in candidates:
        if isinstance(candidate, str) and len(candidate.strip("/#@")) >= 4:
            value = candidate.strip("/")
            found |= {value, unquote(value)}
    return sorted(found, key=len, reverse=True)


_URL_IN_TEXT = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)([^/\s'\"]*)(/[^\s'\"]*)?")


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    # Whatever URL is left (a service endpoint): keep the origin, hide the path.
    return _URL_IN_TEXT.sub(lambda m: m.group(1) + m.group(2) + ("/" + MASK if m.group(3) else ""), text)


_STATUS = re.compile(r"error=(\d{3,5})\b")
_RETRY_AFTER = (
    re.compile(r"""["']?retry_after["']?\s*[:=]\s*([0-9]+(?:\.[0-9]+)?)"""),
    re.compile(r"retry after ([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE),
)
_CONNECTION_WORDS = ("connection error", "socket exception", "timed out", "timeout", "i/o error")


def _status(text: str) -> int | None:
    codes = _STATUS.findall(text)
    if not codes:
        return None
    code = codes[-1]
    return int(code[:3])  # ntfy answers five-digit codes: 40101 is HTTP 401


def _retry_after(text: str) -> float | None:
    for pattern in _RETRY_AFTER:
        match = pattern.search(text)
        if match:
            return min(float(match.group(1)), 24 * 3600.0)
    return None


def _detail(capture: _ThreadCapture, secrets: list[str]) -> str:
    lines = [" ".join(line.split()) for line in capture.text(logging.WARNING).splitlines() if line.strip()]
    text = "; ".join(dict.fromkeys(lines))
    text = _scrub(text, secrets)
    return text[:ERROR_CHARS] + ("…" if len(text) > ERROR_CHARS else "")


def _failure(label: str, capture: _ThreadCapture, secrets: list[str], timeout: float) -> SendResult:
    warnings = capture.text(logging.WARNING)
    everything = capture.text()
    detail = _detail(capture, secrets)
    status = _status(warnings) or _status(everything)
    if status is not None:
        error = f"{label} answered HTTP {status}" + (f": {detail}" if detail else "")
        if is_transient_status(status):
            return SendResult.retry(error, status, retry_after=_retry_after(everything))
        return SendResult.failed_permanently(error, status)
    lowered = everything.lower()
    if any(word in lowered for word in _CONNECTION_WORDS):
        return SendResult.retry(
            f"could not reach {label} (connection error or timeout, {timeout:g}s)" + (f": {detail}" if detail else "")
        )
    return SendResult.retry(f"{label} did not take the notification" + (f": {detail}" if detail else ""))


def _send_one(url: str, title: str, body: str, settings: Settings, link: str | None) -> tuple[str, SendResult]:
    timeout = settings.apprise_timeout_seconds
    with _captured() as capture:
        plugin = apprise.Apprise.instantiate(url, asset=_asset(), suppress_exceptions=True)
        service = _service_of(plugin) if plugin is not None else None
        label = service.label if service else "the notification service"
        secrets = _secrets(url, plugin, service)
        if plugin is None or service is None:
            return label, SendResult.failed_permanently(
                f"the stored Apprise URL of {label} is not a supported, valid service URL (register it again)"
            )
        host = _user_host(plugin, service)
        if host is not None and not settings.webhooks_may_reach_private_hosts:
            problem = _private_host(host)
            if problem and "does not resolve" not in problem:
                return label, SendResult.failed_permanently(f"{label}: {problem}")
        _apply_overrides(plugin, settings.apprise_host_overrides)
        plugin.socket_connect_timeout = timeout
        plugin.socket_read_timeout = timeout
        if link and hasattr(plugin, "link"):  # KakaoTalk's message button
            plugin.link = link
        try:
            ok = plugin.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not take the outbox down
            return label, SendResult.retry(f"{label} failed ({type(exc).__name__}): {_scrub(str(exc), secrets)}")
        if ok:
            return label, SendResult.delivered()
        return label, _failure(label, capture, secrets, timeout)


def send_apprise(urls: str, title: str, body: str, settings: Settings, *, link: str | None = None) -> SendResult:
    """Send `title` and `body` (plain text) once to every URL in `urls` (see the module docstring).

    Several URLs: delivered when every one took it; otherwise a retry when any failure is
    transient (the ones that took it then receive it again), permanent when all failures are.
    `link` is the button target of services that have one (KakaoTalk)."""
    parts = split_urls(urls)
    if not parts:
        return SendResult.failed_permanently("no Apprise URL is configured")
    outcomes = [_send_one(url, title, body, settings, link) for url in parts]
    failed = [(label, result) for label, result in outcomes if not result.ok]
    if not failed:
        result = SendResult.delivered()
    else:
        errors = "; ".join(result.error or "failed" for _, result in failed)
        if len(outcomes) > 1:
            took = [label for label, result in outcomes if result.ok]
            errors += f" ({', '.join(took)} took it)" if took else ""
        transient = [result for _, result in failed if not result.permanent]
        if transient:
            hints = [r.retry_after for r in transient if r.retry_after is not None]
            result = SendResult.retry(errors, transient[0].status, retry_after=max(hints) if hints else None)
        else:
            result = SendResult.failed_permanently(errors, failed[0][1].status)
    services = ",".join(label for label, _ in outcomes)
    if result.ok:
        log.info("notify.sent", channel="apprise", services=services)
    elif result.permanent:
        log.warning("notify.permanent_error", channel="apprise", services=services, error=result.error)
    else:
        log.warning(
            "notify.transient_error",
            channel="apprise",
            services=services,
            error=result.error,
            retry_after=result.retry_after,
        )
    return result
