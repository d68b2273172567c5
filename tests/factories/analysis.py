"""What analysis tests read back: the stories still waiting to be analysed."""

from __future__ import annotations

from stockteacher.analysis.service import load_new_stories
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope

__all__ = ["new_story_ids"]


def new_story_ids(settings: Settings, ticker: str = "AAPL") -> list[int]:
    """The ids of `ticker`'s stories that no analysis has used yet."""
    with session_scope(settings.dsn) as session:
        return [s.story_id for s in load_new_stories(session, ticker)]
