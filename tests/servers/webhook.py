"""A local webhook receiver on a real HTTP server (127.0.0.1, free port), for notification tests.

It behaves like a careful user's endpoint: it records every request (arrival time, headers, raw
body), verifies the Standard Webhooks signature with the `standardwebhooks` library and the
shared `whsec_` secret (401 when it does not verify, if `reject_bad_signatures`), and
de-duplicates on `webhook-id`. It can be
told how to answer the next requests — a status (e.g. 503 while "down"), a redirect, a stall
longer than the client's timeout — and answers 200 otherwise:

    with WebhookReceiver(secret="whsec_...") as hook:
        hook.fail_next(2, status=503)
        ...  # send three times with the same delivery id
        assert [r.answered for r in hook.requests] == [503, 503, 200]
        assert hook.unique_deliveries == 1

`refused_url()` gives a URL on which nothing listens (connection refused).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from werkzeug import Request, Response
from werkzeug.datastructures import Headers

from tests.servers.threaded import ThreadedServer

__all__ = ["ReceivedWebhook", "WebhookReceiver", "refused_url", "verifies", "webhook_receiver"]


@dataclass
class ReceivedWebhook:
    """One request as the receiver saw it. `answered` is the status it was given."""

    at: float
    method: str
    path: str
    headers: Headers
    body: bytes
    signature_valid: bool | None
    answered: int = 0

    @property
    def delivery_id(self) -> str | None:
        return self.headers.get("webhook-id")

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class _Answer:
    status: int | None  # None: after `delay`, answer normally
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


class WebhookReceiver(ThreadedServer):
    """A threaded webhook endpoint (see the module docstring)."""

    def __init__(self, *, secret: str | None = None, path: str = "/hook", reject_bad_signatures: bool = True) -> None:
        self.secret = secret
        self.path = path
        self.reject_bad_signatures = reject_bad_signatures
        self._requests: list[ReceivedWebhook] = []
        self._accepted: dict[str, ReceivedWebhook] = {}
        self._script: deque[_Answer] = deque()
        self._lock = threading.Lock()
        super().__init__()

    thread_name = "webhook-receiver"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    # --- scripting --------------------------------------------------------------------------
    def fail_next(
        self, times: int = 1, *, status: int = 503, headers: dict[str, str] | None = None, body: str = ""
    ) -> None:
        """Answer the next `times` requests with `status` (e.g. 503: "down") instead of 200."""
        with self._lock:
            self._script.extend([_Answer(status=status, headers=dict(headers or {}), body=body)] * times)

    def stall_next(self, times: int, seconds: float) -> None:
        """Wait `seconds` before answering (normally) the next `times` requests."""
        with self._lock:
            self._script.extend([_Answer(status=None, delay=seconds)] * times)

    # --- what tests read --------------------------------------------------------------------
    @property
    def requests(self) -> list[ReceivedWebhook]:
        with self._lock:
            return list(self._requests)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def delivery_ids(self) -> list[str | None]:
        """`webhook-id` of every request, in arrival order (retries repeat)."""
        with self._lock:
            return [r.delivery_id for r in self._requests]

    @property
    def unique_deliveries(self) -> int:
        """Deliveries accepted (answered 2xx), counted once per delivery id."""
        with self._lock:
            return len(self._accepted)

    @property
    def accepted(self) -> list[ReceivedWebhook]:
        """The first accepted request of each delivery id, in order of acceptance."""
        with self._lock:
            return list(self._accepted.values())

    # --- protocol ---------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self._handle(Request(environ))(environ, start_response)

    def _handle(self, request: Request) -> Response:
        body = request.get_data(cache=False)
        valid = None
        if self.secret is not None:
            valid = verifies(self.secret, body, dict(request.headers))
        record = ReceivedWebhook(
            at=time.monotonic(),
            method=request.method,
            path=request.path,
            headers=Headers(request.headers),
            body=body,
            signature_valid=valid,
        )
        with self._lock:
            self._requests.append(record)
            action = self._script.popleft() if self._script else None
        if action is not None and action.delay:
            self._stopping.wait(action.delay)
        response = self._answer(request, record, action)
        record.answered = response.status_code
        if 200 <= response.status_code < 300 and record.delivery_id:
            with self._lock:
                self._accepted.setdefault(record.delivery_id, record)
        return response

    def _answer(self, request: Request, record: ReceivedWebhook, action: _Answer | None) -> Response:
        if action is not None and action.status is not None:
            return Response(action.body, status=action.status, headers=action.headers, content_type="text/plain")
        if request.method != "POST" or request.path != self.path:
            return Response("not found", status=404, content_type="text/plain")
        if record.signature_valid is False and self.reject_bad_signatures:
            return Response("bad signature", status=401, content_type="text/plain")
        return Response('{"ok":true}', status=200, content_type="application/json")


def verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """What a receiver using the `standardwebhooks` library decides about this request."""
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except (WebhookVerificationError, ValueError):
        return False
    return True


def refused_url(path: str = "/hook") -> str:
    """An http URL on 127.0.0.1 whose port was free a moment ago: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def webhook_receiver(secret: str | None = None, **options: Any) -> Iterator[WebhookReceiver]:
    """A running receiver for the duration of a fixture: `yield from webhook_receiver(SECRET)`."""
    with WebhookReceiver(secret=secret, **options) as receiver:
        yield receiver
