"""Local receivers for notification tests: a webhook endpoint that checks signatures with
`WEBHOOK_SECRET`, and an SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.smtp import SMTPSink
from tests.servers.webhook import WebhookReceiver

WEBHOOK_SECRET = "whsec-test-0123456789"


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        yield receiver


@pytest.fixture
def sink() -> Iterator[SMTPSink]:
    with SMTPSink() as server:
        yield server
