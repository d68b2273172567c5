"""What each stage of the pipeline returns: frozen dataclasses that pickle across Ray.

- `Collected` — one (ticker, source) collection: counts and the stories it touched;
- `Analyzed`  — one ticker's analysis: `saved`, `cached`, `no_articles` or `failed`;
- `Published` — the materializer's reports for some analyses;
- `Notified`  — the notifier's outbox counts;
- `StageError` — a stage that raised, for one ticker (or for the sweep, `ticker=None`);
- `Planned`   — what a sweep is about to do (its first progress event);
- `SweepResult` — all of one sweep's results under its one `trace_id`, and its JSON summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Analyzed", "Collected", "Notified", "Planned", "Published", "StageError", "SweepResult", "Tracked"]


@dataclass(frozen=True)
class Collected:
    ticker: str
    source: str
    fetched: int
    unique: int
    saved: int
    stories: tuple[int, ...] = ()
    new_stories: int = 0
    node_id: str | None = None  # where it ran, when it ran on Ray
    node_ip: str | None = None
    invalid: int = 0  # items dropped as unreadable (each logged with its reason)

    def counts(self) -> dict[str, int]:
        return {"fetched": self.fetched, "unique": self.unique, "saved": self.saved}


@dataclass(frozen=True)
class Analyzed:
    ticker: str
    status: str  # saved | cached | no_articles | failed
    insight_id: str | None = None
    analysis_id: int | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error_code: str | None = None
    error: str | None = None
    replica: int | None = None  # the analyzer replica and node, when it ran on Ray
    node_id: str | None = None
    node_ip: str | None = None
    # The report of a `saved` analysis, when the replica that made it published it too (a
    # sweep's analyses on Ray): the publish stage's result, or its failure.
    published: Published | StageError | None = None

    @classmethod
    def failed(
        cls,
        ticker: str,
        error_code: str,
        error: str,
        *,
        cost_usd: float = 0.0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> Analyzed:
        """A failed analysis; what the failed call cost, when it cost something."""
        return cls(
            ticker,
            "failed",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost_usd,
            error_code=error_code,
            error=error[:500],
        )

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def summary(self) -> dict[str, Any]:
        """`{status, insight_id, model, prompt_tokens, completion_tokens, cost_usd}`, as
        `stockteacher analyze --json` prints it."""
        return {
            "status": self.status,
            "insight_id": self.insight_id,
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
        }


@dataclass(frozen=True)
class Published:
    ticker: str | None
    published: tuple[str, ...] = ()
    drafts: tuple[str, ...] = ()
    skipped: int = 0

    @property
    def insight_ids(self) -> list[str]:
        """Every report made, published or kept as a draft."""
        return [*self.published, *self.drafts]

    def summary(self) -> dict[str, int]:
        """`{published, skipped, drafts}`, as `stockteacher publish --json` prints it."""
        return {"published": len(self.published), "skipped": self.skipped, "drafts": len(self.drafts)}


@dataclass(frozen=True)
class Notified:
    trace_id: str
    planned: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "trace_id": self.trace_id,
            "planned": self.planned,
            "sent": self.sent,
            "retried": self.retried,
            "dead": self.dead,
        }


@dataclass(frozen=True)
class Tracked:
    """Prices fetched for a sweep's tickers and the reports evaluated (`track_stage`). Price
    errors are reported here, per symbol; they do not make the news sweep partial."""

    trace_id: str
    bars_stored: int = 0
    symbols_current: int = 0
    price_errors: dict[str, str] = field(default_factory=dict)
    outcomes_added: int = 0
    pending: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "bars_stored": self.bars_stored,
            "symbols_current": self.symbols_current,
            "price_errors": dict(self.price_errors),
            "outcomes_added": self.outcomes_added,
            "outcomes_pending": self.pending,
        }


@dataclass(frozen=True)
class StageError:
    stage: str
    ticker: str | None
    error_code: str
    error: str
    source: str | None = None

    @classmethod
    def of(cls, stage: str, exc: BaseException, *, ticker: str | None = None, source: str | None = None) -> StageError:
        """From the exception a stage raised; a Ray task error is described by its `cause`."""
        cause = getattr(exc, "cause", None) or exc
        code = getattr(cause, "code", None) or type(cause).__name__
        message = (str(cause).splitlines() or [""])[0][:300]
        return cls(stage, ticker, str(code), message, source)

    def as_dict(self) -> dict[str, Any]:
        where = {"ticker": self.ticker, "source": self.source} if self.stage == "collect" else {"ticker": self.ticker}
        return {"stage": self.stage, **where, "error_code": self.error_code, "error": self.error}


@dataclass(frozen=True)
class Planned:
    """A sweep's stages and its (ticker, source) pairs, as it starts."""

    trace_id: str
    stages: tuple[str, ...]
    pairs: tuple[tuple[str, str | None], ...]


@dataclass
class SweepResult:
    """One sweep's results, filled in as its stages finish (see `pipeline.sweep.Sweep`)."""

    trace_id: str
    collected: dict[str, Collected] = field(default_factory=dict)  # by "ticker:source"
    analyzed: dict[str, Analyzed] = field(default_factory=dict)  # by ticker
    published: list[Published] = field(default_factory=list)
    notified: Notified | None = None
    tracked: Tracked | None = None
    # The track step's own failure (prices or evaluation): reported, not a news sweep failure.
    track_error: StageError | None = None
    errors: list[StageError] = field(default_factory=list)
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def insight_ids(self) -> list[str]:
        return [i for p in self.published for i in p.insight_ids]

    def summary(self) -> dict[str, Any]:
        """The JSON summary that `run-once`, `backfill`, the jobs, the demo and the scheduler show."""
        totals = {k: sum(getattr(c, k) for c in self.collected.values()) for k in ("fetched", "unique", "saved")}
        return {
            "status": "ok" if self.ok else "partial" if (self.collected or self.analyzed) else "failed",
            "trace_id": self.trace_id,
            **totals,
            "analyses": sum(1 for a in self.analyzed.values() if a.status in ("saved", "cached")),
            "published": len(self.insight_ids),
            "insight_ids": self.insight_ids,
            "notified": self.notified.as_dict() if self.notified else {},
            "track": self.tracked.as_dict()
            if self.tracked
            else ({"error": self.track_error.as_dict()} if self.track_error else {}),
            "errors": [e.as_dict() for e in self.errors],
            "duration_seconds": round(self.duration_seconds, 2),
        }
