"""The fake OpenAI server, proven with the real `openai` client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.servers.openai_server import DEFAULT_CONTENT, FakeOpenAI, Reply, openai_server

MESSAGES = [
    {"role": "system", "content": "You explain stock news to beginners."},
    {"role": "user", "content": "Summarise: Apple beats earnings expectations."},
]
PROMPT_CHARS = sum(len(m["content"]) for m in MESSAGES)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    yield from openai_server()


@pytest.fixture
def client(server: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="test-key", base_url=server.base_url, max_retries=0, timeout=5) as c:
        yield c


def create(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **kwargs)


def test_base_url_is_local_v1(server: FakeOpenAI) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"


def test_normal_completion_content_usage_and_headers(server: FakeOpenAI, client: openai.OpenAI) -> None:
    content = '{"headline": "Apple beats", "summary": "Earnings were higher than expected."}'
    server.script(Reply.ok(content))

    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    completion = raw.parse()

    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o-mini"
    assert completion.system_fingerprint == "fp_test"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == content
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == PROMPT_CHARS // 4
    assert completion.usage.completion_tokens == len(content) // 4
    assert completion.usage.total_tokens == PROMPT_CHARS // 4 + len(content) // 4

    assert raw.headers["x-ratelimit-limit-requests"] == "500"
    assert raw.headers["x-ratelimit-limit-tokens"] == "200000"
    assert raw.headers["x-ratelimit-remaining-requests"] == "499"
    assert raw.headers["x-ratelimit-reset-requests"] == "120ms"
    assert raw.headers["x-ratelimit-reset-tokens"] == "6s"
    assert raw.headers["x-request-id"].startswith("req_")
    first_tokens = int(raw.headers["x-ratelimit-remaining-tokens"])
    assert first_tokens == 200_000 - completion.usage.total_tokens

    # The remaining counts go down with use; token counts can be scripted.
    server.script(Reply.ok("x", prompt_tokens=100, completion_tokens=7))
    raw2 = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    usage2 = raw2.parse().usage
    assert usage2 is not None and (usage2.prompt_tokens, usage2.completion_tokens, usage2.total_tokens) == (100, 7, 107)
    assert raw2.headers["x-ratelimit-remaining-requests"] == "498"
    assert int(raw2.headers["x-ratelimit-remaining-tokens"]) == first_tokens - 107

    # The request was recorded with its headers and parsed body.
    assert server.calls == 2
    first = server.requests[0]
    assert first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == "Bearer test-key"
    assert first.body["messages"] == MESSAGES
    assert first.model == "gpt-4o-mini"
    assert server.requests[0].at <= server.requests[1].at


def test_default_content_and_response_format_are_passed_through(server: FakeOpenAI, client: openai.OpenAI) -> None:
    completion = create(client, response_format={"type": "json_object"}, temperature=0.2)
    assert completion.choices[0].message.content == DEFAULT_CONTENT
    assert json.loads(DEFAULT_CONTENT)  # the default is a JSON object
    assert server.last_request is not None
    assert server.last_request.response_format == {"type": "json_object"}
    assert server.last_request.body["temperature"] == 0.2


def test_streaming_chunks_arrive_before_the_answer_is_complete(server: FakeOpenAI, client: openai.OpenAI) -> None:
    content = "Apple beat expectations on strong iPhone sales."  # 48 chars → 6 pieces of 8
    server.stream_chunk_delay = 0.1
    server.script(Reply.ok(content))

    start = time.monotonic()
    stream = create(client, stream=True, stream_options={"include_usage": True})
    pieces: list[tuple[float, str]] = []
    roles: list[str] = []
    finish: list[str] = []
    usage = None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
            continue
        delta = chunk.choices[0].delta
        if delta.role:
            roles.append(delta.role)
        if delta.content:
            pieces.append((time.monotonic() - start, delta.content))
        if chunk.choices[0].finish_reason:
            finish.append(chunk.choices[0].finish_reason)
    total = time.monotonic() - start

    assert "".join(p for _, p in pieces) == content
    assert len(pieces) == 6 and all(len(p) <= 8 for _, p in pieces)
    assert roles == ["assistant"]
    assert finish == ["stop"]
    assert usage is not None and usage.completion_tokens == len(content) // 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    # 6 pieces + the final chunk, 0.1 s apart: about 0.6 s in all; the first piece came early.
    assert total >= 0.55
    assert pieces[0][0] < total - 0.4
    arrival = [t for t, _ in pieces]
    assert all(b - a >= 0.05 for a, b in zip(arrival, arrival[1:], strict=False))


def test_streaming_without_usage_and_first_chunk_delay(server: FakeOpenAI, client: openai.OpenAI) -> None:
    server.stream_first_chunk_delay = 0.3
    server.stream_chunk_size = 4
    start = time.monotonic()
    with create(client, stream=True) as stream:
        opened = time.monotonic() - start
        chunks = list(stream)
    first_token = time.monotonic() - start
    assert opened < 0.25  # the headers came before the first chunk
    assert first_token >= 0.3
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == DEFAULT_CONTENT
    assert len(chunks) == 1 + -(-len(DEFAULT_CONTENT) // 4) + 1


def test_rate_limited(server: FakeOpenAI, client: openai.OpenAI) -> None:
    server.script(Reply.rate_limited(retry_after=2), Reply.rate_limited(retry_after=None, retry_after_ms=250))
    with pytest.raises(openai.RateLimitError) as info:
        create(client)
    exc = info.value
    assert exc.status_code == 429
    assert exc.code == "rate_limit_exceeded"
    assert isinstance(exc.body, dict) and exc.body["code"] == "rate_limit_exceeded"
    assert exc.response.headers["retry-after"] == "2"
    assert "x-ratelimit-remaining-requests" in exc.response.headers

    with pytest.raises(openai.RateLimitError) as info:
        create(client)
    assert info.value.response.headers["retry-after-ms"] == "250"
    assert "retry-after" not in info.value.response.headers


def test_insufficient_quota(server: FakeOpenAI, client: openai.OpenAI) -> None:
    server.script(Reply.insufficient_quota())
    with pytest.raises(openai.RateLimitError) as info:
        create(client)
    assert info.value.code == "insufficient_quota"
    assert info.value.type == "insufficient_quota"


@pytest.mark.parametrize("status", [500, 503])
def test_server_error(server: FakeOpenAI, client: openai.OpenAI, status: int) -> None:
    server.script(Reply.server_error(status))
    with pytest.raises(openai.InternalServerError) as info:
        create(client)
    assert info.value.status_code == status
    assert info.value.type == "server_error"


def test_unauthorized_scripted_and_wrong_key(server: FakeOpenAI, client: openai.OpenAI) -> None:
    server.script(Reply.unauthorized())
    with pytest.raises(openai.AuthenticationError) as info:
        create(client)
    assert info.value.code == "invalid_api_key"

    with openai.OpenAI(api_key="sk-wrong-key-1234", base_url=server.base_url, max_retries=0, timeout=5) as wrong:
        with pytest.raises(openai.AuthenticationError) as info:
            create(wrong)
    assert info.value.code == "invalid_api_key"
    assert info.value.type == "invalid_request_error"
    assert "Incorrect API key provided" in info.value.message
    assert server.pending == 0


def test_slow_reply_times_out(server: FakeOpenAI) -> None:
    server.script(Reply.slow(2.0))
    with openai.OpenAI(api_key="test-key", base_url=server.base_url, max_retries=0, timeout=0.3) as impatient:
        start = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            create(impatient)
        assert time.monotonic() - start < 1.5
        # The next request is answered normally and at once.
        assert create(impatient).choices[0].message.content == DEFAULT_CONTENT


def test_bad_request_and_unsupported_response_format(server: FakeOpenAI, client: openai.OpenAI) -> None:
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "story", "schema": {"type": "object", "properties": {}}, "strict": True},
    }
    server.script(Reply.unsupported_response_format(), Reply.bad_request("Bad thing.", param="messages", code="x"))
    with pytest.raises(openai.BadRequestError) as info:
        create(client, response_format=schema)
    assert info.value.param == "response_format"
    assert "'json_schema' is not supported" in info.value.message

    with pytest.raises(openai.BadRequestError) as info:
        create(client)
    assert (info.value.param, info.value.code, info.value.type) == ("messages", "x", "invalid_request_error")


def test_reject_json_schema_mode(server: FakeOpenAI, client: openai.OpenAI) -> None:
    server.reject_json_schema = True
    server.script(Reply.ok('{"a": 1}'))
    schema = {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}}
    for _ in range(2):
        with pytest.raises(openai.BadRequestError) as info:
            create(client, response_format=schema)
        assert info.value.param == "response_format"
    assert server.pending == 1  # rejected requests do not consume the script
    assert create(client, response_format={"type": "json_object"}).choices[0].message.content == '{"a": 1}'


def test_script_is_fifo_then_default(server: FakeOpenAI, client: openai.OpenAI) -> None:
    server.script(Reply.ok("one"), Reply.server_error(), Reply.ok('{"headline": "x"'))
    assert create(client).choices[0].message.content == "one"
    with pytest.raises(openai.InternalServerError):
        create(client)
    assert create(client).choices[0].message.content == '{"headline": "x"'
    assert create(client).choices[0].message.content == DEFAULT_CONTENT
    server.default_content = '{"headline": "default"}'
    assert create(client).choices[0].message.content == '{"headline": "default"}'
    assert server.calls == 5

    server.script(Reply.ok("queued"))
    server.reset()
    assert server.calls == 0 and server.requests == [] and server.pending == 0
    assert create(client).choices[0].message.content == '{"headline": "default"}'
    assert server.calls == 1


def test_requests_per_second_limiter(server: FakeOpenAI, client: openai.OpenAI) -> None:
    server.requests_per_second_limit = 3
    outcomes = []
    for _ in range(5):
        try:
            create(client)
            outcomes.append("ok")
        except openai.RateLimitError as exc:
            assert exc.code == "rate_limit_exceeded"
            assert float(exc.response.headers["retry-after"]) <= 1.0
            outcomes.append("429")
    assert outcomes == ["ok", "ok", "ok", "429", "429"]
    assert server.count_429 == 2
    assert server.calls == 5

    time.sleep(1.05)  # the window has passed
    create(client)
    assert server.count_429 == 2


def test_unknown_path_is_404(server: FakeOpenAI, client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert server.calls == 0
    assert server.requests[0].path == "/v1/embeddings"


def test_also_accepts_chat_completions_without_v1(server: FakeOpenAI) -> None:
    base = server.base_url.removesuffix("/v1")
    with openai.OpenAI(api_key="test-key", base_url=base, max_retries=0, timeout=5) as c:
        assert create(c).choices[0].message.content == DEFAULT_CONTENT
    assert server.requests[0].path == "/chat/completions"


def test_stop_cuts_stalls_short() -> None:
    server = FakeOpenAI().start()
    server.script(Reply.slow(30))
    with openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0, timeout=0.2) as c:
        with pytest.raises(openai.APITimeoutError):
            create(c)
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 2
