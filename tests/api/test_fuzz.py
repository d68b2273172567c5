"""Fuzzing the HTTP API from its own OpenAPI document (`/openapi.json`) with schemathesis.

Every non-chat operation gets its own pytest test: schemathesis generates valid (and, where the
operation takes input, invalid) requests, sends them to the app in-process with a real key, and
runs every check schemathesis has (`CHECKS`, what `--checks all` runs): nothing answers 5xx,
status codes, content types, headers and bodies are as documented, invalid requests are refused
and valid ones accepted, and a request without the key or with a wrong one is refused
(`ignored_auth`). Reports and subscriptions are seeded, and generated path ids are sometimes
swapped for real ones, so the found-paths are exercised and not only the 404s.

Some checks have nothing to look at here and pass by design: `missing_required_header` and
`unsupported_method` judge only the coverage phase's cases (a header left out, a method the
document does not list), `use_after_free`, `ensure_resource_availability` and
`object_level_authorization` only the stateful phase's sequences of calls. Both phases run in
`test_fuzz_cli.py`, which drives the schemathesis CLI against the app on uvicorn.
`positive_data_acceptance` forgives a 422 for a request that breaks a rule relating two fields,
which JSON Schema cannot state (`tests/api/schemathesis_hooks.py` says which).

Left out: `/api/chat/...` and the chat WebSocket (written and tested separately in
`tests/chat/test_views.py`; each message runs the chat engine and its cost budget, which makes fuzzing slow
and its outcome depend on spend), and `/` and `/static` (the web page, not in the schema).

Failures this found, now fixed and kept as regression tests at the end of the file: a deadlock
in PATCH /api/reports/{id}/status, 500s for dates at the ends of the calendar in /api/usage, 422
bodies documented as FastAPI's `HTTPValidationError` although they are `{"detail": str}`, and an
undocumented 400 for a JSON body that is not UTF-8. With every check: patterns the server
enforced but the document did not state (tickers, e-mail addresses, quiet hours, days in
1970-2999 and only as `YYYY-MM-DD`, time zone names, the page size), error bodies documented as
`text/html` next to an HTML page, `Allow` naming one route's method only, and a security
requirement declared in single-user mode.

Generation is derandomized: each run sends the same requests, so a case marked `xfail(strict=True)`
stays failing until the bug is fixed, and a new failure is a regression rather than luck.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from stockteacher.api.app import create_app
from stockteacher.settings import Settings
from tests.api.schemathesis_hooks import breaks_a_cross_field_rule, holds_a_text_list_scalar
from tests.factories.api import ApiUsers

pytestmark = pytest.mark.usefixtures("report_cache_guard")

MAX_EXAMPLES = 75
CHECKS = REGISTERED_CHECKS.get_all()
EXCLUDED_PREFIXES = ("/api/chat/",)
# Setting a webhook pings the URL it is given, and an Apprise channel sends its code through the
# service: fuzzing them would send requests to made-up hosts. Their behaviour is covered against
# local servers in tests/notify (test_notifier, test_webhook_gateway, test_apprise_channel).
EXCLUDED_OPERATIONS = {("PUT", "/api/notifications/channels/webhook"), ("PUT", "/api/notifications/channels/apprise")}

# Every non-chat operation is fuzzed as a plain user; those whose answer depends on the role
# (403 for users, more rows or a status change for admins) once more as an admin.
OPERATIONS: list[tuple[str, str]] = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/config"),
    ("GET", "/api/subscriptions"),
    ("POST", "/api/subscriptions"),
    ("PATCH", "/api/subscriptions/{subscription_id}"),
    ("DELETE", "/api/subscriptions/{subscription_id}"),
    ("GET", "/api/reports"),
    ("GET", "/api/reports/{insight_id}"),
    ("GET", "/api/reports/{insight_id}/related"),
    ("PATCH", "/api/reports/{insight_id}/status"),
    ("PUT", "/api/reports/{insight_id}/favorite"),
    ("DELETE", "/api/reports/{insight_id}/favorite"),
    ("GET", "/api/search"),
    ("GET", "/api/tickers"),
    ("GET", "/api/tickers/{ticker}/sentiment"),
    ("GET", "/api/tickers/{ticker}/prices"),
    ("GET", "/api/tickers/{ticker}/track-record"),
    ("GET", "/api/track-record"),
    ("GET", "/api/notifications/policy"),
    ("PUT", "/api/notifications/policy"),
    ("GET", "/api/notifications/timezones"),
    ("GET", "/api/notifications/channels"),
    ("PUT", "/api/notifications/channels/email"),
    ("GET", "/api/notifications/channels/email/verify"),
    ("DELETE", "/api/notifications/channels/webhook"),
    ("DELETE", "/api/notifications/channels/email"),
    ("DELETE", "/api/notifications/channels/apprise"),
    ("POST", "/api/notifications/channels/webhook/rotate-secret"),
    ("POST", "/api/notifications/channels/apprise/verify"),
    ("GET", "/feeds/{ticker}.rss"),
    ("GET", "/feeds/{ticker}.atom"),
    ("GET", "/feeds/{ticker}.json"),
    ("GET", "/feeds/user/{token}.rss"),
    ("GET", "/feeds/user/{token}.atom"),
    ("GET", "/feeds/user/{token}.json"),
    ("POST", "/api/feeds/token"),
    ("GET", "/api/feeds/token"),
    ("DELETE", "/api/feeds/token"),
    ("GET", "/api/usage"),
    ("GET", "/api/jobs"),
]
ROLE_DEPENDENT = {("PATCH", "/api/reports/{insight_id}/status"), ("GET", "/api/usage"), ("GET", "/api/jobs")}

# Fuzz cases that fail on a known bug, marked xfail(strict=True): (method, path, caller) -> reason.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


def _cases() -> list[Any]:
    cases = []
    for method, path in OPERATIONS:
        for caller in ("user", "admin") if (method, path) in ROLE_DEPENDENT else ("user",):
            marks = []
            reason = KNOWN_BUGS.get((method, path, caller))
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            cases.append(pytest.param(method, path, caller, marks=marks, id=f"{method} {path} as {caller}"))
    return cases


@dataclass
class Fuzz:
    schema: Any
    openapi: dict[str, Any]
    headers: dict[str, dict[str, str]]
    path_ids: dict[str, list[str]]

    def documented(self, method: str, path: str) -> dict[str, Any]:
        """The operation's documented responses, by status code."""
        return self.openapi["paths"][path][method.lower()]["responses"]


def _promises_fastapi_validation_error(responses: dict[str, Any]) -> bool:
    schema = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref", "").endswith("/HTTPValidationError")


@pytest.fixture
def fuzz(api_settings: Settings, users: ApiUsers, make_reports: Callable[[list[dict[str, Any]]], list[str]]) -> Fuzz:
    """The app on the test database, seeded, and its OpenAPI schema loaded by schemathesis."""
    day = datetime(2025, 3, 3, 9, tzinfo=UTC)
    report_ids = make_reports(
        [
            {"ticker": "AAPL", "published_at": day, "keywords": ["earnings", "아이폰"], "sentiment_score": 0.5},
            {"ticker": "TSLA", "published_at": day, "keywords": ["recall", "리콜"], "anomaly_score": 0.6},
            {"ticker": "005930.KS", "published_at": day, "keywords": ["반도체"], "status": "hidden"},
        ]
    )
    app = create_app(api_settings)
    headers = {"user": users.alice, "admin": users.admin}
    subscription_ids = []
    with TestClient(app) as client:
        for caller_headers in headers.values():
            for ticker in ("AAPL", "TSLA"):
                response = client.post("/api/subscriptions", headers=caller_headers, json={"ticker": ticker})
                assert response.status_code == 201, response.text
                subscription_ids.append(response.json()["subscription_id"])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return Fuzz(schema, app.openapi(), headers, {"insight_id": report_ids, "subscription_id": subscription_ids})


def test_every_non_chat_operation_is_fuzzed(fuzz: Fuzz) -> None:
    documented = {
        (op.method.upper(), op.path)
        for op in (result.ok() for result in fuzz.schema.get_all_operations())
        if not op.path.startswith(EXCLUDED_PREFIXES)
    }
    assert documented - EXCLUDED_OPERATIONS == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path", "caller"), _cases())
def test_operation_conforms_to_its_schema(fuzz: Fuzz, method: str, path: str, caller: str) -> None:
    operation = fuzz.schema[path][method]
    takes_input = bool(operation.path_parameters or operation.query or operation.body)
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if takes_input else [GenerationMode.POSITIVE]
    headers = fuzz.headers[caller]
    # The key is fixed, as `-H` fixes it for the CLI: a case never drops or mangles it.
    cases = st.one_of(*(operation.as_strategy(generation_mode=mode, headers=headers) for mode in modes))
    known = {name: ids for name, ids in fuzz.path_ids.items() if name in path}
    real_ids = (
        st.one_of(st.none(), st.sampled_from(sorted({i for ids in known.values() for i in ids})))
        if known
        else st.none()
    )

    # A known bug (a deadlock, say, that answers only when the test lock gives up) is found and
    # reported, not shrunk: shrinking would replay it dozens of times.
    known_bug = (method, path, caller) in KNOWN_BUGS

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate] if known_bug else list(Phase),
        report_multiple_bugs=not known_bug,
    )
    @given(case=cases, real_id=real_ids)
    def check(case: Any, real_id: str | None) -> None:
        if real_id is not None and not case.meta.is_negative_at(ParameterLocation.PATH):
            for name in known:
                case.path_parameters[name] = real_id
        excluded = [positive_data_acceptance] if breaks_a_cross_field_rule(method, path, case.query, case.body) else []
        if holds_a_text_list_scalar(method, path, case.query):
            excluded.append(negative_data_rejection)  # a scalar there is a valid one-item list on the wire
        case.call_and_validate(headers=headers, checks=CHECKS, excluded_checks=excluded)

    check()


# --- regressions: contract mismatches the fuzzing found ------------------------------------
BODY_OPERATIONS = [
    ("POST", "/api/subscriptions", "user"),
    ("PATCH", "/api/subscriptions/{subscription_id}", "user"),
    ("PATCH", "/api/reports/{insight_id}/status", "admin"),
    ("PUT", "/api/notifications/policy", "user"),
]


def test_validation_errors_are_documented_as_they_are_sent(fuzz: Fuzz) -> None:
    """422s are `{"detail": str}` (API.md); the document once promised FastAPI's list of errors."""
    promising_a_list = [
        f"{method} {path}"
        for method, path in OPERATIONS
        if _promises_fastapi_validation_error(fuzz.documented(method, path))
    ]
    assert promising_a_list == []


@pytest.mark.parametrize(("method", "path", "caller"), BODY_OPERATIONS)
def test_an_undecodable_body_answers_a_documented_status(fuzz: Fuzz, method: str, path: str, caller: str) -> None:
    """A JSON body that is not UTF-8 was FastAPI's undocumented 400 "There was an error parsing the body"."""
    url = path.format(insight_id=fuzz.path_ids["insight_id"][0], subscription_id=fuzz.path_ids["subscription_id"][0])
    headers = {**fuzz.headers[caller], "Content-Type": "application/json"}
    with TestClient(fuzz.schema.app) as client:
        response = client.request(method, url, headers=headers, content=b'{"status": "\xff"}')
    assert str(response.status_code) in fuzz.documented(method, path), (response.status_code, response.text)
    assert isinstance(response.json()["detail"], str)


def test_error_bodies_are_documented_as_json(fuzz: Fuzz) -> None:
    """The e-mail link answers an HTML page, and its 404 (JSON) was documented as `text/html`."""
    not_json = [
        f"{method.upper()} {path} {status}"
        for path, item in fuzz.openapi["paths"].items()
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        if status[0] in "45" and set(response.get("content", {})) - {"application/json"}
    ]
    assert not_json == []


def test_a_405_allows_every_method_of_its_path(client: TestClient, users: ApiUsers) -> None:
    """Starlette's 405 named only the first route's method (`Allow: GET` for GET and POST)."""
    response = client.options("/api/subscriptions", headers=users.alice)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize(
    "query", ["date_to=0", "date_to=2025-03-03T00:00", "date_from=1969-12-31", "date_to=3000-01-01"]
)
@pytest.mark.parametrize("path", ["/api/reports", "/api/usage"])
def test_days_are_written_out_and_in_range(client: TestClient, users: ApiUsers, path: str, query: str) -> None:
    """`date` read `0` as a Unix timestamp (1970-01-01); the document says `YYYY-MM-DD`, 1970-2999."""
    response = client.get(f"{path}?{query}", headers=users.alice)
    assert response.status_code == 422, response.text


def test_single_user_mode_documents_no_security(make_settings: Callable[..., Settings], pg_dsn: str) -> None:
    """No key is needed in single-user mode, so its document declares no Bearer requirement."""
    document = create_app(make_settings(postgres_dsn=pg_dsn, auth_mode="single_user")).openapi()
    assert "securitySchemes" not in document.get("components", {})
    assert [path for path, item in document["paths"].items() for op in item.values() if "security" in op] == []


def test_the_middlewares_refusals_are_documented(make_settings: Callable[..., Settings], pg_dsn: str) -> None:
    """413 (a body over API_MAX_BODY_BYTES), and in single-user mode 421 (a Host that is not a
    loopback name) and 403 (a change from another site's page) come from SecurityMiddleware,
    before any route: the document lists them too."""
    app = create_app(make_settings(postgres_dsn=pg_dsn, auth_mode="single_user", api_max_body_bytes=1024))
    responses = app.openapi()["paths"]["/api/subscriptions"]["post"]["responses"]
    with TestClient(app, base_url="http://127.0.0.1") as client:
        refusals = [
            client.post("/api/subscriptions", content=b"{}" * 1024, headers={"Content-Type": "application/json"}),
            client.post("/api/subscriptions", json={"ticker": "AAPL"}, headers={"Host": "evil.example"}),
            client.post("/api/subscriptions", json={"ticker": "AAPL"}, headers={"Origin": "https://evil.example"}),
        ]
    assert [r.status_code for r in refusals] == [413, 421, 403]
    assert all(str(r.status_code) in responses and isinstance(r.json()["detail"], str) for r in refusals)


@pytest.mark.parametrize("url", ["/api/jobs?stage=%00", "/api/jobs?trace_id=a%00", "/api/reports?search=a%00"])
def test_a_nul_character_is_refused_not_a_server_error(client: TestClient, users: ApiUsers, url: str) -> None:
    """PostgreSQL cannot compare text with a NUL in it: these were 500s (`DataError`)."""
    response = client.get(url, headers=users.admin)
    assert response.status_code == 422, response.text


def test_an_email_address_with_a_nul_is_refused(client: TestClient, users: ApiUsers) -> None:
    """Found by `schemathesis run` with its default 100 examples: a 500 when it was stored."""
    response = client.put("/api/notifications/channels/email", json={"address": "a\x00b@c.de"}, headers=users.alice)
    assert response.status_code == 422, response.text
