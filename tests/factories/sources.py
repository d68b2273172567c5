"""The credentials the fake NewsAPI, Naver and OpenDART servers (`newsapi`, `naver`, `dart` fixtures) accept."""

from __future__ import annotations

__all__ = ["DART_API_KEY", "NAVER_ID", "NAVER_SECRET", "NEWS_API_KEY"]

NEWS_API_KEY = "nk-test-3f9a2c7e1b5d"
NAVER_ID = "naver-client-id-xyz"
NAVER_SECRET = "naver-secret-8c1d4f"
DART_API_KEY = "d4c1f0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3"  # 40 characters, as OpenDART issues them
