"""Schemathesis hooks for fuzzing our API (`SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks`).

The one thing they do: forgive `positive_data_acceptance` for a request that breaks a rule
relating two fields, which API.md states and the server enforces (422) but JSON Schema cannot
say, so a generator that reads only the document sends it as valid:

- `PUT /api/notifications/policy`: quiet hours start before they end (API.md, Notifications);
- `GET /api/reports` and `GET /api/usage`: `date_from` is not after `date_to` (for `/api/usage`,
  a missing `date_to` is today);
- `GET /api/search`: the words come as `query` or as `q`, one of the two.

And one wire fact the generator misses: a query parameter that is a list of unconstrained
strings (`keywords` of `GET /api/reports`) cannot be sent wrong. Every value on the wire is text,
and one text is a valid one-item list, so a "schema-violating" scalar it sends there (an integer,
a boolean, a bare string) is rightly accepted: `negative_data_rejection` is forgiven for that
parameter alone, when the case's value there is such a scalar.

Every other failure, and every other check on these requests, stands.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData

__all__ = ["breaks_a_cross_field_rule", "holds_a_text_list_scalar"]

# Query parameters that are lists of strings with no constraint: any text is a valid item.
TEXT_LISTS: dict[tuple[str, str], frozenset[str]] = {("GET", "/api/reports"): frozenset({"keywords"})}
_SCALARS = (str, int, float, bool)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def breaks_a_cross_field_rule(method: str, path: str, query: Any, body: Any) -> bool:
    """Whether a request breaks one of the rules above (the server's 422 is then right)."""
    query = query if isinstance(query, dict) else {}
    if (method.upper(), path) == ("PUT", "/api/notifications/policy") and isinstance(body, dict):
        start, end = _text(body.get("quiet_hours_start")), _text(body.get("quiet_hours_end"))
        return start is not None and end is not None and start >= end
    if (method.upper(), path) in {("GET", "/api/reports"), ("GET", "/api/usage")}:
        date_from, date_to = _text(query.get("date_from")), _text(query.get("date_to"))
        if date_to is None and path == "/api/usage":
            date_to = datetime.now(UTC).date().isoformat()
        return date_from is not None and date_to is not None and date_from > date_to
    if (method.upper(), path) == ("GET", "/api/search"):
        return query.get("query") is None and query.get("q") is None
    return False


def holds_a_text_list_scalar(method: str, path: str, query: Any) -> bool:
    """Whether a case puts a scalar (not a list) in a text-list parameter (`TEXT_LISTS`): the
    hook forgives its acceptance, and the in-process fuzzing skips `negative_data_rejection`."""
    query = query if isinstance(query, dict) else {}
    names = TEXT_LISTS.get((method.upper(), path), frozenset())
    return any(isinstance(query.get(name), _SCALARS) for name in names)


@schemathesis.hook
def filter_failure(ctx: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except a rejected 'valid' request that breaks a cross-field rule, and
    an accepted 'invalid' one whose only fault is a scalar in a text-list query parameter."""
    if isinstance(failure, RejectedPositiveData) and response.status_code == 422:
        return not breaks_a_cross_field_rule(case.method, case.operation.path, case.query, case.body)
    if isinstance(failure, AcceptedNegativeData):
        return not holds_a_text_list_scalar(case.method, case.operation.path, case.query)
    return True
