"""News sources behind one interface: `build_source(name, settings)` returns a `Source`."""

from __future__ import annotations

from pathlib import Path

import httpx

from stockteacher.settings import SOURCE_NAMES, Settings
from stockteacher.sources.base import Source, SourceConfigError

__all__ = ["SOURCE_NAMES", "build_source"]


def build_source(
    name: str,
    settings: Settings,
    *,
    path: str | Path | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Source:
    """The source called `name`, configured from `settings`."""
    if name == "news_api":
        from stockteacher.sources.news_api import NewsApiSource

        return NewsApiSource(settings, transport=transport)
    if name == "naver":
        from stockteacher.sources.naver import NaverNewsSource

        return NaverNewsSource(settings, transport=transport)
    if name == "dart":
        from stockteacher.sources.dart import DartSource

        return DartSource(settings, transport=transport)
    if name == "rss":
        from stockteacher.sources.rss import RssSource

        return RssSource(settings, transport=transport)
    if name == "file":
        from stockteacher.sources.files import FileSource

        return FileSource(path or settings.file_source_path)
    if name == "sample":
        from stockteacher.sources.sample import SampleSource

        return SampleSource()
    raise SourceConfigError(
        f"unknown source {name!r}; choose one of {', '.join(SOURCE_NAMES)}", source=name, code="unknown_source"
    )
