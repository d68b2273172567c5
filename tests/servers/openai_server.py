"""A local fake of the OpenAI Chat Completions API on a real HTTP server (127.0.0.1, free port).

Tests of the LLM client point the official `openai` client at `FakeOpenAI.base_url` and tell
the server how to answer each next request:

    with FakeOpenAI(api_key="test-key") as server:
        server.script(Reply.rate_limited(retry_after=0.1), Reply.ok('{"headline": "x"}'))
        client = openai.OpenAI(api_key="test-key", base_url=server.base_url, max_retries=0)
        ...

Wire behaviour (what the real service does, as far as clients can tell):

- `POST /v1/chat/completions` (and `/chat/completions`); anything else → 404 in OpenAI's error shape;
- `Authorization: Bearer <key>` is checked when the server has an `api_key` → 401 `invalid_api_key`;
- answers are `chat.completion` objects with `usage`; `"stream": true` answers `text/event-stream`
  with `chat.completion.chunk` events (flushed one by one), a usage chunk when
  `stream_options.include_usage` is set, then `data: [DONE]`;
- every response carries `x-ratelimit-*` headers (remaining counts decrease with use) and
  `x-request-id`;
- errors are `{"error": {"message", "type", "param", "code"}}` with the real status codes.

Order in which a request is answered: it is recorded; a wrong key → 401; the server's own
requests-per-second limiter (if set) → 429; `reject_json_schema` with a `json_schema`
response format → 400; otherwise the next scripted `Reply` (FIFO) or, when the script is
empty, the default answer. Only requests that get past the key, the limiter and
`reject_json_schema` consume a scripted reply.

Stalls (`Reply.delay`, stream delays) end early when the server stops, so no handler thread
outlives its test.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from tests.servers.threaded import ThreadedServer

__all__ = [
    "DEFAULT_CONTENT",
    "FakeOpenAI",
    "RecordedRequest",
    "Reply",
    "TEST_API_KEY",
    "error_body",
    "openai_server",
]

DEFAULT_CONTENT = '{"ok": true}'
DEFAULT_MODEL = "gpt-4o-mini"
TEST_API_KEY = "test-key"
CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})

RATE_LIMIT_MESSAGE = (
    "Rate limit reached for gpt-4o-mini in organization org-test on requests per min (RPM): "
    "Limit 500, Used 500, Requested 1. Please try again in 120ms. "
    "Visit https://platform.openai.com/account/rate-limits to learn more."
)
QUOTA_MESSAGE = "You exceeded your current quota, please check your plan and billing details."
SERVER_ERROR_MESSAGE = "The server had an error while processing your request."
JSON_SCHEMA_UNSUPPORTED_MESSAGE = (
    "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model."
)


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _mask_key(key: str) -> str:
    if len(key) <= 8:
        return key[:2] + "*" * max(len(key) - 2, 0)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def _invalid_key_body(key: str = "sk-test") -> dict[str, Any]:
    return error_body(
        f"Incorrect API key provided: {_mask_key(key)}. "
        "You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        None,
        "invalid_api_key",
    )


@dataclass
class Reply:
    """One scripted answer.

    `status == 200` with `json_body is None` is a normal completion of `content` (the server's
    default content when `content is None`), streamed if the request asks for it. Otherwise
    `json_body` is sent as is with `status` (an error status without a body gets a generic
    OpenAI error body). `headers` are added to (and override) the rate-limit headers. `delay`
    seconds pass before anything is sent.
    """

    status: int = 200
    content: str | None = None
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @classmethod
    def ok(cls, content: str, prompt_tokens: int | None = None, completion_tokens: int | None = None) -> Reply:
        """A normal answer whose message content is exactly `content` (valid JSON or not)."""
        return cls(content=content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1, retry_after_ms: int | None = None) -> Reply:
        """429 `rate_limit_exceeded`, with `retry-after` (seconds) and/or `retry-after-ms` headers."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = _format_seconds(retry_after)
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(int(retry_after_ms))
        return cls(
            status=429,
            json_body=error_body(RATE_LIMIT_MESSAGE, "requests", None, "rate_limit_exceeded"),
            headers=headers,
        )

    @classmethod
    def insufficient_quota(cls) -> Reply:
        """429 `insufficient_quota` (no point retrying)."""
        return cls(status=429, json_body=error_body(QUOTA_MESSAGE, "insufficient_quota", None, "insufficient_quota"))

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        """A 5xx `server_error`."""
        return cls(status=status, json_body=error_body(SERVER_ERROR_MESSAGE, "server_error", None, None))

    @classmethod
    def unauthorized(cls) -> Reply:
        """401 `invalid_api_key`."""
        return cls(status=401, json_body=_invalid_key_body())

    @classmethod
    def bad_request(cls, message: str = "Invalid request.", param: str | None = None, code: str | None = None) -> Reply:
        """400 `invalid_request_error`."""
        return cls(status=400, json_body=error_body(message, "invalid_request_error", param, code))

    @classmethod
    def slow(cls, seconds: float, content: str | None = None) -> Reply:
        """A normal answer sent only after `seconds` (to exceed a client timeout)."""
        return cls(content=content, delay=seconds)

    @classmethod
    def unsupported_response_format(cls) -> Reply:
        """400: `json_schema` response format not supported (the client should fall back to JSON mode)."""
        return cls(
            status=400,
            json_body=error_body(JSON_SCHEMA_UNSUPPORTED_MESSAGE, "invalid_request_error", "response_format", None),
        )


@dataclass(frozen=True)
class RecordedRequest:
    """What the server saw of one request: `at` is `time.monotonic()` at arrival; `body` is the
    parsed JSON body (None when absent or not JSON); header names are lower-case."""

    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    client_port: int | None = None  # the caller's TCP port (which process sent it, with psutil)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or []) if isinstance(self.body, dict) else []

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream")) if isinstance(self.body, dict) else False

    @property
    def response_format(self) -> dict[str, Any] | None:
        return self.body.get("response_format") if isinstance(self.body, dict) else None


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


def _text_of(content: Any) -> str:
    """The text of a message's `content` (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return ""


def estimate_prompt_tokens(body: Any) -> int:
    """Total characters of all message contents // 4."""
    if not isinstance(body, dict):
        return 0
    messages = body.get("messages") or []
    return sum(len(_text_of(m.get("content"))) for m in messages if isinstance(m, dict)) // 4


class FakeOpenAI(ThreadedServer):
    """A threaded OpenAI Chat Completions server on 127.0.0.1 (see the module docstring).

    Counters of streamed answers: `streams_started`, `streams_completed`, `streams_aborted`
    (the client dropped the connection part-way, e.g. a cancelled call) and `stream_chunks_sent`.

    Settable attributes: `default_content`, `api_key`, `stream_chunk_size`, `stream_chunk_delay`,
    `stream_first_chunk_delay`, `reject_json_schema`, `requests_per_second_limit`, and the
    rate-limit header values `limit_requests`, `limit_tokens`, `reset_requests`, `reset_tokens`.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        default_content: str = DEFAULT_CONTENT,
        stream_chunk_size: int = 8,
        stream_chunk_delay: float = 0.0,
        stream_first_chunk_delay: float = 0.0,
        reject_json_schema: bool = False,
        requests_per_second_limit: int | None = None,
        limit_requests: int = 500,
        limit_tokens: int = 200_000,
        reset_requests: str = "120ms",
        reset_tokens: str = "6s",
    ) -> None:
        self.api_key = api_key
        self.default_content = default_content
        # Unscripted answers: `responder(request_body)` makes the content when set (e.g. a
        # valid report citing the story ids found in the prompt); `default_delay` seconds
        # pass before each unscripted answer (a model's latency).
        self.responder: Callable[[dict[str, Any]], str] | None = None
        self.default_delay = 0.0
        self.stream_chunk_size = stream_chunk_size
        self.stream_chunk_delay = stream_chunk_delay
        self.stream_first_chunk_delay = stream_first_chunk_delay
        self.reject_json_schema = reject_json_schema
        self.requests_per_second_limit = requests_per_second_limit
        self.limit_requests = limit_requests
        self.limit_tokens = limit_tokens
        self.reset_requests = reset_requests
        self.reset_tokens = reset_tokens

        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._open: dict[object, RecordedRequest] = {}  # being answered, by handler
        self._opening: dict[int, object] = {}  # handler thread → its key
        self._answered: dict[int, float] = {}  # id(record) → when its answer was done
        self._accepted: deque[float] = deque()  # arrival times of requests let through by the limiter
        self._requests_used = 0
        self._tokens_used = 0
        self.count_429 = 0  # 429s from the server's own limiter (not scripted ones)
        # Streamed answers: started, sent to the end, and abandoned by the client part-way
        # (the connection dropped, so the server stopped writing: a cancelled call).
        self.streams_started = 0
        self.streams_completed = 0
        self.streams_aborted = 0
        self.stream_chunks_sent = 0  # content chunks written, over all streams

        super().__init__()

    thread_name = "fake-openai"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # --- what tests use -------------------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests, one per request, in order."""
        with self._lock:
            self._script.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not yet consumed."""
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far (in arrival order)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._requests if r.path in CHAT_PATHS]

    @property
    def calls(self) -> int:
        """Number of chat completion requests received (whatever they were answered)."""
        with self._lock:
            return sum(1 for r in self._requests if r.path in CHAT_PATHS)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    def gaps(self) -> list[float]:
        """Seconds between consecutive chat completion requests, as the server saw them arrive."""
        times = [r.at for r in self.chat_requests]
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    def wait_for_calls(self, n: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.calls >= n:
                return True
            time.sleep(0.01)
        return self.calls >= n

    def reset(self) -> None:
        """Forget the script, the records, the limiter window and the usage counters."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self._answered.clear()
            self._accepted.clear()
            self._requests_used = 0
            self._tokens_used = 0
            self.count_429 = 0
            self.streams_started = self.streams_completed = self.streams_aborted = 0
            self.stream_chunks_sent = 0

    # --- protocol -------------------------------------------------------------------------------
    @property
    def in_flight(self) -> list[RecordedRequest]:
        """Requests received and not answered yet (e.g. stalled by `default_delay`)."""
        with self._lock:
            return list(self._open.values())

    def answered_at(self, record: RecordedRequest) -> float | None:
        """When the server finished answering `record` (`time.monotonic()`), None if it has not."""
        with self._lock:
            return self._answered.get(id(record))

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        key = object()
        self._opening[threading.get_ident()] = key
        try:
            response = self._handle(request)
        finally:
            with self._lock:
                done = self._open.pop(key, None)
                if done is not None:
                    self._answered[id(done)] = time.monotonic()
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        now = time.monotonic()
        raw = request.get_data()
        body: Any
        try:
            body = json.loads(raw) if raw else None
            parse_error = False
        except ValueError:
            body, parse_error = None, True
        record = RecordedRequest(
            at=now,
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            client_port=int(request.environ["REMOTE_PORT"]) if request.environ.get("REMOTE_PORT") else None,
        )
        with self._lock:
            self._requests.append(record)
            self._open[self._opening.pop(threading.get_ident(), object())] = record

        if request.path not in CHAT_PATHS:
            return self._json(
                404, error_body(f"Invalid URL ({request.method} {request.path})", "invalid_request_error"), count=False
            )
        if request.method != "POST":
            return self._json(
                405,
                error_body(f"Invalid method for URL ({request.method} {request.path})", "invalid_request_error"),
                count=False,
            )
        with self._lock:
            self._requests_used += 1

        if self.api_key is not None:
            auth = request.headers.get("Authorization", "")
            if auth != f"Bearer {self.api_key}":
                given = auth.removeprefix("Bearer ").strip()
                if not given:
                    return self._json(
                        401,
                        error_body(
                            "You didn't provide an API key. You need to provide your API key in an Authorization "
                            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                            "invalid_request_error",
                            None,
                            None,
                        ),
                    )
                return self._json(401, _invalid_key_body(given))

        limited = self._limit(now)
        if limited is not None:
            return limited

        if parse_error or not isinstance(body, dict):
            return self._json(
                400,
                error_body(
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
                    "valid JSON.)",
                    "invalid_request_error",
                ),
            )
        if not body.get("messages"):
            return self._json(
                400,
                error_body(
                    "Missing required parameter: 'messages'.",
                    "invalid_request_error",
                    "messages",
                    "missing_required_parameter",
                ),
            )

        response_format = body.get("response_format")
        if (
            self.reject_json_schema
            and isinstance(response_format, dict)
            and response_format.get("type") == "json_schema"
        ):
            return self._json(400, Reply.unsupported_response_format().json_body)

        with self._lock:
            reply = self._script.popleft() if self._script else Reply(delay=self.default_delay)
        if reply.delay and self._stopping.wait(reply.delay):
            return self._json(503, error_body("The fake server is shutting down.", "server_error"), count=False)

        if reply.status == 200 and reply.json_body is None:
            return self._complete(body, reply)
        payload = reply.json_body
        if payload is None:
            payload = error_body(
                f"Scripted error {reply.status}.", "server_error" if reply.status >= 500 else "invalid_request_error"
            )
        return self._json(reply.status, payload, extra=reply.headers)

    def _limit(self, now: float) -> Response | None:
        """The server's own sliding-window limiter: at most N accepted requests in any 1.0 s."""
        limit = self.requests_per_second_limit
        if limit is None:
            return None
        with self._lock:
            while self._accepted and now - self._accepted[0] >= 1.0:
                self._accepted.popleft()
            if len(self._accepted) < limit:
                self._accepted.append(now)
                return None
            self.count_429 += 1
            wait = max(1.0 - (now - self._accepted[0]), 0.001)
        return self._json(
            429,
            error_body(RATE_LIMIT_MESSAGE, "requests", None, "rate_limit_exceeded"),
            extra={"retry-after": _format_seconds(round(wait, 3)), "retry-after-ms": str(max(int(wait * 1000), 1))},
        )

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        with self._lock:
            used_requests, used_tokens = self._requests_used, self._tokens_used
        headers = {
            "x-ratelimit-limit-requests": str(self.limit_requests),
            "x-ratelimit-limit-tokens": str(self.limit_tokens),
            "x-ratelimit-remaining-requests": str(max(self.limit_requests - used_requests, 0)),
            "x-ratelimit-remaining-tokens": str(max(self.limit_tokens - used_tokens, 0)),
            "x-ratelimit-reset-requests": self.reset_requests,
            "x-ratelimit-reset-tokens": self.reset_tokens,
            "x-request-id": f"req_{uuid.uuid4().hex}",
            "openai-processing-ms": "1",
        }
        headers.update(extra or {})
        return headers

    def _json(self, status: int, payload: Any, *, extra: dict[str, str] | None = None, count: bool = True) -> Response:
        headers = self._headers(extra) if count else {"x-request-id": f"req_{uuid.uuid4().hex}"}
        return Response(json.dumps(payload), status=status, headers=headers, content_type="application/json")

    def _complete(self, body: dict[str, Any], reply: Reply) -> Response:
        if reply.content is not None:
            content = reply.content
        elif self.responder is not None:
            content = self.responder(body)
        else:
            content = self.default_content
        prompt_tokens = reply.prompt_tokens if reply.prompt_tokens is not None else estimate_prompt_tokens(body)
        completion_tokens = (
            reply.completion_tokens if reply.completion_tokens is not None else max(len(content) // 4, 1)
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        with self._lock:
            self._tokens_used += prompt_tokens + completion_tokens
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        model = body.get("model") or DEFAULT_MODEL
        headers = self._headers(reply.headers)

        if not body.get("stream"):
            payload = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": usage,
                "system_fingerprint": "fp_test",
            }
            return Response(json.dumps(payload), status=200, headers=headers, content_type="application/json")

        stream_options = body.get("stream_options") or {}
        include_usage = bool(isinstance(stream_options, dict) and stream_options.get("include_usage"))
        return Response(
            self._stream(completion_id, created, model, content, usage if include_usage else None),
            status=200,
            headers={**headers, "Cache-Control": "no-cache"},
            content_type="text/event-stream; charset=utf-8",
            direct_passthrough=True,
        )

    def _stream(
        self, completion_id: str, created: int, model: str, content: str, usage: dict[str, int] | None
    ) -> Iterator[bytes]:
        def event(choices: list[dict[str, Any]], **more: Any) -> bytes:
            chunk: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_test",
                "choices": choices,
            }
            if usage is not None:
                chunk["usage"] = None
            chunk.update(more)
            return f"data: {json.dumps(chunk)}\n\n".encode()

        def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

        with self._lock:
            self.streams_started += 1
        try:
            yield b""  # headers go out now; the first chunk may follow later (time to first token)
            if self.stream_first_chunk_delay and self._stopping.wait(self.stream_first_chunk_delay):
                return
            yield event([choice({"role": "assistant", "content": "", "refusal": None})])
            size = max(int(self.stream_chunk_size), 1)
            pieces = [content[i : i + size] for i in range(0, len(content), size)]
            for i, piece in enumerate(pieces):
                if i and self.stream_chunk_delay and self._stopping.wait(self.stream_chunk_delay):
                    return
                yield event([choice({"content": piece})])
                with self._lock:
                    self.stream_chunks_sent += 1
            if self.stream_chunk_delay and pieces and self._stopping.wait(self.stream_chunk_delay):
                return
            yield event([choice({}, "stop")])
            if usage is not None:
                yield event([], usage=usage)
            yield b"data: [DONE]\n\n"
            with self._lock:
                self.streams_completed += 1
        except GeneratorExit:
            # the server closed the stream before its end: the client went away
            with self._lock:
                self.streams_aborted += 1
            raise


def openai_server(api_key: str | None = TEST_API_KEY, **options: Any) -> Iterator[FakeOpenAI]:
    """A running `FakeOpenAI` for the duration of a fixture: `yield from openai_server()`."""
    with FakeOpenAI(api_key=api_key, **options) as server:
        yield server
