"""Tickers: the registry of symbols, names and aliases every stage and the API look up
(`registry`). It depends on nothing of ours but the core, so settings and sources can use it."""
