"""The bodies of the feed-token API (`/api/feeds/token`), and the JSON Feed 1.1 document as
OpenAPI shows it (`feeds.documents.json_feed` writes it; these classes only describe it)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = ["FeedTokenOut", "FeedTokenStatus", "FeedUrls", "JsonFeed", "JsonFeedItem"]


class FeedUrls(BaseModel):
    rss: str
    atom: str
    json_: str = Field(alias="json", serialization_alias="json")


class FeedTokenOut(BaseModel):
    """A new private feed: the token and its addresses are shown only in this answer."""

    token: str
    urls: FeedUrls
    created_at: datetime


class FeedTokenStatus(BaseModel):
    active: bool
    created_at: datetime | None = None
    last_used_at: datetime | None = None


class JsonFeedItem(BaseModel):
    id: str = Field(description="the report's insight_id")
    url: str
    title: str
    content_text: str
    summary: str
    date_published: str = Field(description="RFC 3339")
    date_modified: str = Field(description="RFC 3339")
    tags: list[str]
    language: str


class JsonFeedAuthor(BaseModel):
    name: str


class JsonFeed(BaseModel):
    """https://jsonfeed.org/version/1.1"""

    version: str = Field(examples=["https://jsonfeed.org/version/1.1"])
    title: str
    home_page_url: str
    feed_url: str
    description: str
    language: str
    authors: list[JsonFeedAuthor]
    items: list[JsonFeedItem]
