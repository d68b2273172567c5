"""Notify: render new reports for a reader and deliver them by webhook, e-mail or Apprise (chat
and push services: Telegram, Slack, Discord, KakaoTalk, LINE, ntfy, …).

`render` turns reports into a subject, text, HTML, a chat-sized message and a webhook payload;
`channels` (webhooks, e-mail) and `apprise_channel` send them and classify every outcome as
delivered, worth retrying, or permanently failed, so that the outbox can decide what to do next.
"""
