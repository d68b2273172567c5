"""Subscriptions: a user's tickers, when to hear about them, and the states they go through."""
