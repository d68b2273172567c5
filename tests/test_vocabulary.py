"""The core vocabulary: one definition of each enum and threshold, used everywhere."""

from __future__ import annotations

import ast
import pathlib
import re

import httpx
import pytest

from stockteacher.analysis.errors import TransientLLMError
from stockteacher.analysis.llm import map_openai_error
from stockteacher.core import vocabulary as v
from stockteacher.notify.render import sentiment_words
from stockteacher.sources.base import PermanentSourceError, TransientSourceError, error_for_status

ROOT = pathlib.Path(__file__).resolve().parents[1] / "stockteacher"


@pytest.mark.parametrize(
    ("score", "label", "strength"),
    [
        (0.2, "neutral", "neutral"),
        (-0.2, "neutral", "neutral"),
        (0.2001, "positive", "positive"),
        (-0.21, "negative", "negative"),
        (0.6, "positive", "very_positive"),
        (-0.6, "negative", "very_negative"),
        (0.0, "neutral", "neutral"),
    ],
)
def test_the_band_edges_are_neutral_and_strength_starts_at_0_6(score: float, label: str, strength: str) -> None:
    assert v.sentiment_label(score) == label
    assert v.sentiment_strength(score) == strength


def test_alerts_say_the_same_words_as_the_tags() -> None:
    assert sentiment_words(0.2, "en_US") == sentiment_words(0.0, "en_US")
    assert sentiment_words(0.21, "en_US") != sentiment_words(0.2, "en_US")


def test_urgency_thresholds() -> None:
    assert v.is_urgent(0.7, 0.0) and v.is_urgent(0.0, -0.6)
    assert not v.is_urgent(0.69, -0.59)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 503, 599])
def test_every_remote_retries_the_same_statuses(status: int) -> None:
    response = httpx.Response(status, request=httpx.Request("GET", "http://news.test/"))
    assert isinstance(error_for_status(response, source="news_api"), TransientSourceError)
    assert v.is_transient_status(status)


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_client_errors_are_permanent(status: int) -> None:
    response = httpx.Response(status, request=httpx.Request("GET", "http://news.test/"))
    assert isinstance(error_for_status(response, source="news_api"), PermanentSourceError)
    assert not v.is_transient_status(status)


def test_the_llm_also_retries_409() -> None:
    import openai

    request = httpx.Request("POST", "http://llm.test/v1/chat/completions")
    exc = openai.ConflictError("conflict", response=httpx.Response(409, request=request), body=None)
    assert isinstance(map_openai_error(exc), TransientLLMError)
    assert not v.is_transient_status(409)


def test_the_web_page_gets_every_enum_from_the_api() -> None:
    vocabulary = v.vocabulary()
    assert vocabulary["channels"] == list(v.CHANNELS)
    assert vocabulary["sentiment_band"] == v.SENTIMENT_BAND
    assert set(vocabulary) >= {"alert_windows", "policy_windows", "frequencies", "sources", "report_statuses"}


def test_core_imports_nothing_of_ours() -> None:
    """Outside core, that is: its modules are leaves (crypto uses core.errors)."""
    for path in (ROOT / "core").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and module.startswith("stockteacher") and not module.startswith("stockteacher.core"):
                pytest.fail(f"{path.name} imports {module}")


def test_no_module_writes_the_band_or_the_channel_list_again() -> None:
    """The literal thresholds and enum lists appear only in the core."""
    band = re.compile(r"[<>]=?\s*-?0\.2\b")
    channels = re.compile(r"""["']email["'],\s*["'](webhook|web-push)["']""")
    offenders = []
    for path in ROOT.rglob("*"):
        if path.suffix not in {".py", ".js"} or "core" in path.parts or "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if band.search(text) or channels.search(text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
