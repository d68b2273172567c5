"""A local SMTP server (aiosmtpd, 127.0.0.1, free port) that keeps what it receives, for e-mail tests.

    with SMTPSink() as sink:
        settings = make_settings(smtp_host=sink.host, smtp_port=sink.port, smtp_starttls=False)
        ...
        message = sink.messages[0]           # email.message.EmailMessage (policy=default)
        message["Subject"], message.get_body(("plain",)).get_content()

It speaks real SMTP but offers no STARTTLS. It can demand a login (`auth=("user", "pass")`,
AUTH PLAIN/LOGIN offered without TLS), refuse given recipients with a given reply
(`reject_recipient("x@example.com", "550 5.1.1 User unknown")`), and answer the next DATA
commands with an error (`fail_data_next(1, "451 4.3.0 Try again later")`).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

__all__ = ["ReceivedMail", "SMTPSink", "smtp_sink"]


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


class _Handler:
    def __init__(self, sink: SMTPSink) -> None:
        self.sink = sink

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.sink._rejected.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:  # noqa: N802
        with self.sink._lock:
            scripted = self.sink._data_script.popleft() if self.sink._data_script else None
        if scripted:
            return scripted
        raw = envelope.original_content or (envelope.content if isinstance(envelope.content, bytes) else b"")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        mail = ReceivedMail(
            mail_from=str(envelope.mail_from), rcpt_tos=list(envelope.rcpt_tos), raw=raw, message=parsed
        )
        with self.sink._lock:
            self.sink._mails.append(mail)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """A Controller that may listen on port 0: the real port is read back once bound."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = cast(asyncio.Server, self.server).sockets[0].getsockname()[1]
        super()._trigger_server()


class SMTPSink:
    """A threaded SMTP server collecting messages (see the module docstring)."""

    def __init__(self, *, auth: tuple[str, str] | None = None) -> None:
        self.auth = auth
        self.logins: list[str] = []
        self._mails: list[ReceivedMail] = []
        self._rejected: dict[str, str] = {}
        self._data_script: deque[str] = deque()
        self._lock = threading.Lock()
        self._controller: _Controller | None = None

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> SMTPSink:
        if self._controller is None:
            options: dict[str, Any] = {}
            if self.auth is not None:
                options = {"authenticator": self._authenticate, "auth_require_tls": False}
            controller = _Controller(
                _Handler(self), hostname="127.0.0.1", port=0, server_hostname="localhost", **options
            )
            controller.start()
            self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> SMTPSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("SMTPSink is not running")
        return int(self._controller.port)

    # --- scripting --------------------------------------------------------------------------
    def reject_recipient(self, address: str, reply: str = "550 5.1.1 User unknown") -> None:
        with self._lock:
            self._rejected[address.lower()] = reply

    def fail_data_next(self, times: int = 1, reply: str = "451 4.3.0 Try again later") -> None:
        with self._lock:
            self._data_script.extend([reply] * times)

    # --- what tests read --------------------------------------------------------------------
    @property
    def mails(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._mails)

    @property
    def messages(self) -> list[EmailMessage]:
        return [m.message for m in self.mails]

    # --- protocol ---------------------------------------------------------------------------
    def _authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if self.auth is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = self.auth
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        if ok:
            with self._lock:
                self.logins.append(user)
        return AuthResult(success=ok, handled=False)


def smtp_sink(**options: Any) -> Iterator[SMTPSink]:
    """A running sink for the duration of a fixture: `yield from smtp_sink()`."""
    with SMTPSink(**options) as sink:
        yield sink
