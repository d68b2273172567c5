"""Accounts: users, their roles and their API keys."""
