"""The credentials the fake NewsAPI and Naver servers (`newsapi`, `naver` fixtures) accept."""

from __future__ import annotations

__all__ = ["NAVER_ID", "NAVER_SECRET", "NEWS_API_KEY"]

NEWS_API_KEY = "nk-test-3f9a2c7e1b5d"
NAVER_ID = "naver-client-id-xyz"
NAVER_SECRET = "naver-secret-8c1d4f"
