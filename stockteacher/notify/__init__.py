"""Notify: render new reports for a reader and deliver them by webhook, e-mail or web-push.

`render` turns reports into a subject, text, HTML and a webhook payload; `channels` sends them
and classifies every outcome as delivered, worth retrying, or permanently failed, so that the
outbox can decide what to do next.
"""
