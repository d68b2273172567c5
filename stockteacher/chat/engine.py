"""The teacher's answers: grounded in the report and retrieved passages, streamed as events.

`ChatEngine(settings).stream(request)` takes plain data (it crosses a Ray Serve
`DeploymentHandle` boundary) and yields plain dicts, never raising:

    request = {"report": report_to_dict(...), "history": [{"sender", "content"}, ...],
               "question": str, "user_id": str, "spent_today_usd": float,
               "locale": "ko_KR" | "en_US", "trace_id": str}

    {"type": "billing", "model", "prompt_tokens", "price": [prompt, completion] USD per 1M}
                                         (online, once the call is open: what it costs so far)
    {"type": "chunk", "content": "..."}                                  … then one of
    {"type": "final", "content": full_text, "citations": [{"n", "kind", "ref", "article_id", "url",
     "title", "source"}], "model", "prompt_tokens", "completion_tokens", "cost_usd", "offline": bool}
    {"type": "error", "code": "cost_limit" | "llm_unavailable" | "internal_error", "detail"}

Online (an OpenAI key is set): one streamed Chat Completions call through the official
`openai` client. The worst-case cost (estimated prompt tokens + `CHAT_MAX_TOKENS`) is checked
before the call against `CHAT_COST_LIMIT_USD` and against what is left of the user's
`CHAT_DAILY_BUDGET_USD`; the actual cost comes from the stream's `usage`. A connection error,
5xx or 429 before the stream opens is retried once. Closing the generator (`aclose()`, which
is what a departed client causes) closes the HTTP stream, so the model stops generating; the
caller charges the tokens already streamed, from the `billing` event.

`request["prices"]` (optional) is the report's price context (`chat.price_context`): the bars
from the first close after publication on, numbered after the article passages as sources of
`kind: "price"` (articles are `kind: "article"`); a citation's `ref` is `article:<id>` or
`price:<symbol>:<date>`, and a price citation's `url` and `article_id` are None.

Offline: a "what happened after this news?" question is answered from the stored bars alone
(`price_context.offline_price_answer`); any other question from retrieval alone — labelled as offline, listing the best
passages with their `[n]` citations and a line from the report — and streamed in small
chunks like a model's answer, at no cost.
"""

from __future__ import annotations

import asyncio
import re
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import openai

from stockteacher.analysis.cost import cost_usd, estimate_prompt_tokens, estimate_text_tokens, price_for
from stockteacher.analysis.errors import LLMError, PermanentLLMError, TransientLLMError
from stockteacher.analysis.llm import map_openai_error
from stockteacher.chat.price_context import (
    PriceItem,
    asks_about_prices,
    offline_price_answer,
    price_items,
    prompt_lines,
)
from stockteacher.chat.retrieval import ArticleRetriever, Passage
from stockteacher.logs import get_logger, new_trace_id
from stockteacher.settings import Settings

__all__ = ["ChatEngine", "ChatTurn", "build_messages", "cited_numbers", "offline_answer"]

log = get_logger(__name__)

OFFLINE_MODEL = "offline"
RETRY_CODES = frozenset({"connection_error", "server_error", "rate_limited"})
MAX_RETRY_WAIT_SECONDS = 1.0
_CITATION = re.compile(r"\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")
_GLOSSARY_IN_PROMPT = 8
OFFLINE_NOTE_KO = "AI 선생님이 연결되어 있지 않아, 저장된 기사에서 질문과 관련된 부분을 찾아 보여 드려요."

_SYSTEM = """You are StockTeacher, a patient teacher who explains stock news to complete beginners.
Rules:
- Answer in {language}, in plain words. When you use a finance term, explain it briefly.
- Use only the report and the numbered source passages below; do not add facts, prices or events from elsewhere.
- Cite the passages you rely on with their numbers in square brackets, like [1] or [2][3].
- If the report and the passages do not cover the question, say so plainly instead of guessing.
- The numbered price lines are stored daily closes from after the report was published. When asked what the stock
  did, answer only from those lines and the moves listed with them, cite the price lines you use by their numbers
  like the passages, say plainly when a horizon has not passed yet, and when no price data is listed say you have
  none. Never invent prices or returns.
- Never give investment advice: do not tell anyone to buy, sell or hold, and make no price predictions.
- Keep it short: a few sentences or a short list."""

_LANGUAGES = {"ko": "Korean (한국어)", "en": "English"}


@dataclass(frozen=True)
class ChatTurn:
    """One question, parsed from the plain-data request."""

    report: dict[str, Any]
    question: str
    history: list[dict[str, str]] = field(default_factory=list)
    user_id: str = ""
    spent_today_usd: float = 0.0
    locale: str = "ko_KR"
    trace_id: str = ""
    prices: dict[str, Any] | None = None

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> ChatTurn:
        report = request["report"]
        if not isinstance(report, dict) or not report.get("ticker"):
            raise ValueError("request.report must be a report dict with a ticker")
        question = request["question"]
        if not isinstance(question, str) or not question.strip():
            raise ValueError("request.question must be a non-empty string")
        history = [
            {"sender": str(m["sender"]), "content": str(m["content"])}
            for m in request.get("history") or []
            if m.get("sender") in ("user", "agent")
        ]
        return cls(
            report=report,
            question=question.strip(),
            history=history,
            user_id=str(request.get("user_id") or ""),
            spent_today_usd=float(request.get("spent_today_usd") or 0.0),
            locale=str(request.get("locale") or "ko_KR"),
            trace_id=str(request.get("trace_id") or new_trace_id()),
            prices=request.get("prices") if isinstance(request.get("prices"), dict) else None,
        )

    @property
    def korean(self) -> bool:
        return self.locale.lower().startswith("ko")

    @property
    def source_article_ids(self) -> list[int]:
        ids = []
        for ref in self.report.get("source_refs") or []:
            value = ref.get("article_id") if isinstance(ref, dict) else None
            if isinstance(value, int):
                ids.append(value)
        return ids


# --- prompt ----------------------------------------------------------------------------------
Source = Passage | PriceItem


def _prices(turn: ChatTurn) -> list[PriceItem]:
    return price_items(turn.prices, korean=turn.korean)


def _context(turn: ChatTurn, passages: list[Passage]) -> str:
    report = turn.report
    lines = [
        f"Report on {report.get('ticker')} (published {str(report.get('published_at') or '')[:10]}):",
        f"Headline: {report.get('headline', '')}",
        f"Summary: {report.get('summary_text', '')}",
    ]
    if report.get("sentiment_score") is not None:
        lines.append(f"Sentiment score: {report['sentiment_score']:+.2f} (from -1 negative to +1 positive)")
    if report.get("keywords"):
        lines.append("Keywords: " + ", ".join(str(k) for k in report["keywords"][:12]))
    glossary = [g for g in report.get("glossary") or [] if isinstance(g, dict)][:_GLOSSARY_IN_PROMPT]
    if glossary:
        lines.append("Glossary:")
        lines += [f"- {g.get('term')}: {g.get('explanation')}" for g in glossary]
    lines.append("")
    lines.append("Source passages:")
    if passages:
        for n, p in enumerate(passages, start=1):
            lines.append(f"[{n}] {p.title} ({p.source}) — {p.snippet}")
    else:
        lines.append("(no stored article matches this question)")
    lines.append("")
    lines += prompt_lines(turn.prices, _prices(turn), first=len(passages) + 1, korean=turn.korean)
    return "\n".join(lines)


def build_messages(turn: ChatTurn, passages: list[Passage]) -> list[dict[str, str]]:
    """System rules, the report, numbered passages and price bars, the kept history, then the question."""
    language = _LANGUAGES["ko" if turn.korean else "en"]
    messages = [
        {"role": "system", "content": _SYSTEM.format(language=language)},
        {"role": "system", "content": _context(turn, passages)},
    ]
    for message in turn.history:
        role = "user" if message["sender"] == "user" else "assistant"
        messages.append({"role": role, "content": message["content"]})
    messages.append({"role": "user", "content": turn.question})
    return messages


def cited_numbers(text: str, count: int) -> list[int]:
    """The passage numbers `[n]` / `[n, m]` cited in `text` that exist (1..count), in order."""
    found: list[int] = []
    for match in _CITATION.finditer(text):
        for part in match.group(1).split(","):
            n = int(part)
            if 1 <= n <= count and n not in found:
                found.append(n)
    return found


def _citation(n: int, source: Source) -> dict[str, Any]:
    if isinstance(source, PriceItem):
        return source.citation(n)
    return {
        "n": n,
        "kind": "article",
        "ref": f"article:{source.article_id}",
        "article_id": source.article_id,
        "url": source.url,
        "title": source.title,
        "source": source.source,
    }


def _citations(numbers: list[int], sources: list[Source]) -> list[dict[str, Any]]:
    return [_citation(n, sources[n - 1]) for n in numbers]


def _first_sentence(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    match = re.search(r"(?<=[.!?。])\s", text)
    sentence = text[: match.start()] if match else text
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def offline_answer(turn: ChatTurn, passages: list[Passage], *, matched: bool) -> str:
    """The offline answer: what this is, the passages with their numbers, a line of the report."""
    summary = _first_sentence(str(turn.report.get("summary_text") or turn.report.get("headline") or ""))
    if turn.korean:
        lines = ["오프라인 모드입니다: " + OFFLINE_NOTE_KO]
        if not matched:
            lines.append("질문과 직접 관련된 기사를 찾지 못했어요. 이 리포트의 출처 기사를 참고해 보세요.")
        lines.append("")
        lines += [f"[{n}] {p.title} ({p.source}): {p.snippet}" for n, p in enumerate(passages, start=1)]
        if summary:
            lines += ["", f"리포트 요약: {summary}"]
        lines += ["", "참고용 설명이며 투자 조언이 아닙니다."]
    else:
        lines = [
            "Offline mode: the AI teacher is not connected, so here are the parts of the stored articles "
            "that best match your question."
        ]
        if not matched:
            lines.append("No stored article matches the question directly; these are the report's own sources.")
        lines.append("")
        lines += [f"[{n}] {p.title} ({p.source}): {p.snippet}" for n, p in enumerate(passages, start=1)]
        if summary:
            lines += ["", f"From the report: {summary}"]
        lines += ["", "This is an explanation, not investment advice."]
    return "\n".join(lines)


def _pieces(text: str, size: int) -> list[str]:
    """`text` in pieces of about `size` characters, cut after a space where possible."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            space = text.rfind(" ", start + size // 2, end + 1)
            if space > start:
                end = space + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def _error(code: str, detail: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail}


# --- the OpenAI client -----------------------------------------------------------------------
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str | None, float], Any]] = (
    weakref.WeakKeyDictionary()
)
_clients_lock = threading.Lock()


def shared_async_client(settings: Settings) -> openai.AsyncOpenAI:
    """One `AsyncOpenAI` per (key, server, timeout) per event loop: its connection pool belongs
    to the loop it was used on (in a Serve replica that is one client for the process)."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    if not key:
        raise PermanentLLMError("OPENAI_API_KEY is not set", code="auth_error")
    loop = asyncio.get_running_loop()
    cache_key = (key, settings.openai_base_url or None, settings.chat_request_timeout_seconds)
    with _clients_lock:
        per_loop = _clients.setdefault(loop, {})
        client = per_loop.get(cache_key)
        if client is None:
            client = openai.AsyncOpenAI(
                api_key=key,
                base_url=settings.openai_base_url or None,
                timeout=settings.chat_request_timeout_seconds,
                max_retries=0,  # one retry of our own, only before the first chunk
            )
            per_loop[cache_key] = client
        return client


# --- the engine ------------------------------------------------------------------------------
class ChatEngine:
    """Answers one question at a time as a stream of plain-dict events (see the module doc)."""

    offline_chunk_chars = 24
    offline_chunk_delay = 0.012  # seconds between offline pieces, so they arrive as a stream

    def __init__(self, settings: Settings, *, retriever: ArticleRetriever | None = None, client: Any = None) -> None:
        self.settings = settings
        self.retriever = retriever or ArticleRetriever(settings.dsn)
        self._client = client
        self.model = settings.chat_model_name
        self.price = price_for(self.model, settings.analysis_price_overrides)

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        trace_id = str(request.get("trace_id") or "") if isinstance(request, dict) else ""
        try:
            turn = ChatTurn.from_request(request)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.error("chat.bad_request", trace_id=trace_id, error=str(exc))
            yield _error("internal_error", f"malformed chat request: {exc}")
            return
        try:
            async with aclosing(self._answer(turn)) as events:
                async for event in events:
                    yield event
        except Exception as exc:  # never raise across the Serve boundary: report it as an event
            log.exception("chat.internal_error", trace_id=turn.trace_id, error=type(exc).__name__)
            yield _error("internal_error", f"the teacher failed unexpectedly ({type(exc).__name__})")

    async def _answer(self, turn: ChatTurn) -> AsyncGenerator[dict[str, Any], None]:
        k = self.settings.chat_retrieval_top_k
        if not self.settings.chat_uses_openai and asks_about_prices(turn.question):
            text, cited = offline_price_answer(turn.prices, korean=turn.korean)
            log.info("chat.price_answer", trace_id=turn.trace_id, ticker=turn.report.get("ticker"), bars=len(cited))
            async with aclosing(self._offline_text(text, list(cited))) as offline:
                async for event in offline:
                    yield event
            return
        matched = await asyncio.to_thread(
            self.retriever.search,
            str(turn.report["ticker"]),
            turn.question,
            k=k,
            include_article_ids=turn.source_article_ids,
        )
        log.info(
            "chat.retrieved",
            trace_id=turn.trace_id,
            ticker=turn.report.get("ticker"),
            passages=len(matched),
            question_chars=len(turn.question),
        )
        if not self.settings.chat_uses_openai:
            passages = matched or await self._report_sources(turn, [], k)
            async with aclosing(self._offline(turn, passages, matched=bool(matched))) as offline:
                async for event in offline:
                    yield event
            return
        # the report's own sources fill any slots retrieval left, so the model always has them
        passages = matched + await self._report_sources(turn, matched, k - len(matched))
        # aclosing: closing this generator must close `_online` at once, which closes the stream
        async with aclosing(self._online(turn, passages)) as online:
            async for event in online:
                yield event

    async def _report_sources(self, turn: ChatTurn, taken: list[Passage], room: int) -> list[Passage]:
        if room <= 0:
            return []
        have = {p.article_id for p in taken}
        ids = [i for i in turn.source_article_ids if i not in have][:room]
        return await asyncio.to_thread(self.retriever.passages_for, ids, turn.question) if ids else []

    # --- offline -------------------------------------------------------------------------------
    async def _offline(
        self, turn: ChatTurn, passages: list[Passage], *, matched: bool
    ) -> AsyncGenerator[dict[str, Any], None]:
        async with aclosing(
            self._offline_text(offline_answer(turn, passages, matched=matched), list(passages))
        ) as events:
            async for event in events:
                yield event

    async def _offline_text(self, text: str, sources: list[Source]) -> AsyncGenerator[dict[str, Any], None]:
        for i, piece in enumerate(_pieces(text, self.offline_chunk_chars)):
            if i and self.offline_chunk_delay:
                await asyncio.sleep(self.offline_chunk_delay)
            yield {"type": "chunk", "content": piece}
        yield {
            "type": "final",
            "content": text,
            "citations": _citations(cited_numbers(text, len(sources)), sources),
            "model": OFFLINE_MODEL,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "offline": True,
        }

    # --- online --------------------------------------------------------------------------------
    def _budget_error(self, turn: ChatTurn, estimate: float) -> dict[str, Any] | None:
        settings = self.settings
        if estimate > settings.chat_cost_limit_usd:
            return _error(
                "cost_limit",
                f"this question would cost up to ${estimate:.5f}, over the per-message limit "
                f"CHAT_COST_LIMIT_USD=${settings.chat_cost_limit_usd}; ask a shorter question or start a new chat",
            )
        if turn.spent_today_usd + estimate > settings.chat_daily_budget_usd:
            return {"reason": "daily_budget"} | _error(
                "cost_limit",
                f"daily chat budget reached: ${turn.spent_today_usd:.4f} spent today (UTC) and this question "
                f"could cost up to ${estimate:.5f}, over CHAT_DAILY_BUDGET_USD=${settings.chat_daily_budget_usd}; "
                "try again tomorrow",
            )
        return None

    async def _open(self, messages: list[dict[str, str]], trace_id: str) -> Any:
        client = self._client or shared_async_client(self.settings)
        for attempt in (1, 2):
            try:
                return await client.chat.completions.create(
                    model=self.model,
                    messages=cast(Any, messages),  # plain role/content dicts
                    max_tokens=self.settings.chat_max_tokens,
                    temperature=self.settings.chat_temperature,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            except openai.OpenAIError as exc:
                error = map_openai_error(exc)
                if attempt == 1 and isinstance(error, TransientLLMError) and error.code in RETRY_CODES:
                    log.warning("chat.transient_error", trace_id=trace_id, error_code=error.code, attempt=attempt)
                    await asyncio.sleep(min(error.retry_after or 0.2, MAX_RETRY_WAIT_SECONDS))
                    continue
                raise error from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _online(self, turn: ChatTurn, passages: list[Passage]) -> AsyncGenerator[dict[str, Any], None]:
        messages = build_messages(turn, passages)
        sources: list[Source] = [*passages, *_prices(turn)]
        estimated_prompt = estimate_prompt_tokens(messages)
        refusal = self._budget_error(turn, cost_usd(self.price, estimated_prompt, self.settings.chat_max_tokens))
        if refusal is not None:
            log.warning("chat.cost_limit", trace_id=turn.trace_id, detail=refusal["detail"])
            yield refusal
            return
        try:
            stream = await self._open(messages, turn.trace_id)
        except LLMError as exc:
            # the provider's own message goes to the log (masked), not to the user
            log.warning("chat.llm_unavailable", trace_id=turn.trace_id, error_code=exc.code, error=str(exc))
            yield _error("llm_unavailable", f"the teacher is not available right now ({exc.code}); try again later")
            return
        yield {
            "type": "billing",
            "model": self.model,
            "prompt_tokens": estimated_prompt,
            "price": [self.price.prompt, self.price.completion],
        }
        parts: list[str] = []
        usage: Any = None
        try:
            async for chunk in stream:
                if getattr(chunk, "usage", None) is not None:
                    usage = chunk.usage
                for choice in chunk.choices or []:
                    text = getattr(choice.delta, "content", None) if choice.delta else None
                    if text:
                        parts.append(text)
                        yield {"type": "chunk", "content": text}
        except openai.OpenAIError as exc:
            error = map_openai_error(exc)
            log.warning(
                "chat.llm_stream_broken", trace_id=turn.trace_id, error_code=error.code, chars=len("".join(parts))
            )
            yield _error("llm_unavailable", f"the answer broke off ({error.code}); please ask again")
            return
        finally:
            # A no-op after a complete answer; otherwise it drops the connection, which cancels the
            # call. Shielded: when our caller is being cancelled, the close must still happen.
            with anyio.CancelScope(shield=True):
                await stream.close()
        text = "".join(parts)
        if not text.strip():
            yield _error("llm_unavailable", "the model sent an empty answer; please ask again")
            return
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0) or estimated_prompt
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0) or estimate_text_tokens(text)
        cost = cost_usd(self.price, prompt_tokens, completion_tokens)
        log.info(
            "chat.answered",
            trace_id=turn.trace_id,
            answer_chars=len(text),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=round(cost, 6),
            usage_reported=usage is not None,
        )
        yield {
            "type": "final",
            "content": text,
            "citations": _citations(cited_numbers(text, len(sources)), sources),
            "model": self.model,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cost_usd": cost,
            "offline": False,
        }
