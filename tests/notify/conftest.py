"""Local receivers for notification tests: a webhook endpoint that checks signatures with
`tests.factories.notify.WEBHOOK_SECRET`, and an SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.factories.notify import WEBHOOK_SECRET
from tests.servers.smtp import SMTPSink
from tests.servers.webhook import WebhookReceiver


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        yield receiver


@pytest.fixture
def sink() -> Iterator[SMTPSink]:
    with SMTPSink() as server:
        yield server
