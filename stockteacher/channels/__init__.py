"""Channels: how a user is told (e-mail, webhook), verified before use, and their notification
policy (time zone, window, frequency, channels, quiet hours, language)."""
