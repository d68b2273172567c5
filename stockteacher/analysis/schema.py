"""The one JSON result every analyzer (LLM or offline) produces, validated with pydantic."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["Anomaly", "Citation", "GlossaryEntry", "ReportDraft", "json_schema", "validate_draft"]


class Anomaly(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=500)
    score: float = Field(ge=0, le=1)


class GlossaryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    term: str = Field(min_length=1, max_length=80)
    explanation: str = Field(min_length=1, max_length=400)


class Citation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim: str = Field(min_length=1, max_length=500)
    story_ids: list[int] = Field(min_length=1, max_length=20)


class ReportDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    headline: str = Field(min_length=1, max_length=200)
    summary_text: str = Field(min_length=1, max_length=3000)
    keywords: list[str] = Field(min_length=3, max_length=10)
    sentiment_score: float = Field(ge=-1, le=1)
    anomalies: list[Anomaly] = Field(default_factory=list, max_length=10)
    glossary: list[GlossaryEntry] = Field(default_factory=list, max_length=15)
    citations: list[Citation] = Field(min_length=1, max_length=20)

    @field_validator("keywords")
    @classmethod
    def _clean_keywords(cls, value: list[str]) -> list[str]:
        cleaned = list(dict.fromkeys(k.strip() for k in value if k and k.strip()))
        if len(cleaned) < 3:
            raise ValueError("at least 3 distinct non-empty keywords are required")
        return cleaned

    @property
    def cited_story_ids(self) -> set[int]:
        return {sid for c in self.citations for sid in c.story_ids}

    @property
    def anomaly_score(self) -> float:
        return max((a.score for a in self.anomalies), default=0.0)


def validate_draft(data: Any, *, allowed_story_ids: set[int]) -> ReportDraft:
    """Validate a parsed JSON answer; citations must point at stories that were in the prompt.

    Raises `ValueError` with a readable reason.
    """
    try:
        draft = ReportDraft.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        raise ValueError(f"schema-invalid answer at {where}: {first['msg']} ({exc.error_count()} error(s))") from None
    unknown = draft.cited_story_ids - allowed_story_ids
    if unknown:
        raise ValueError(f"answer cites story ids that were not in the prompt: {sorted(unknown)}")
    return draft


def json_schema() -> dict[str, Any]:
    """The JSON schema sent as `response_format` (strict mode: every field required, no extras)."""

    def obj(properties: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}

    string = {"type": "string"}
    return obj(
        {
            "headline": string,
            "summary_text": string,
            "keywords": {"type": "array", "items": string},
            "sentiment_score": {"type": "number"},
            "anomalies": {
                "type": "array",
                "items": obj({"label": string, "description": string, "score": {"type": "number"}}),
            },
            "glossary": {"type": "array", "items": obj({"term": string, "explanation": string})},
            "citations": {
                "type": "array",
                "items": obj({"claim": string, "story_ids": {"type": "array", "items": {"type": "integer"}}}),
            },
        }
    )
