"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the e-mail tests: records what it receives, can refuse on purpose.

It runs its own event loop in a thread (the code under test sends with blocking ``smtplib`` from a worker
thread), listens on a port the kernel picks, and is stopped when the ``with`` block ends.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


@dataclass
class MailServer:
    """``refuse_data``: answer the first N DATA commands with ``data_reply`` (a 4xx: try later);
    ``rcpt_reply``: answer every RCPT with it (a 5xx: no such user); ``tls_context`` + ``require_starttls``:
    STARTTLS before anything else; ``logins``: user -> password the server accepts (AUTH is then offered)."""

    refuse_data: int = 0
    data_reply: str = "451 4.3.0 Try again later"
    rcpt_reply: str | None = None
    tls_context: Any = None
    logins: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    data_attempts: list[EmailMessage] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-smtp", daemon=True)
        self._server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    # ------------------------------------------------------------ aiosmtpd handler hooks

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply.replace("{address}", address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.data_attempts.append(message)
            if len(self.data_attempts) <= self.refuse_data:
                return self.data_reply
            login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message,
                                          tls=session.ssl is not None, login=login))
        return "250 2.0.0 OK: queued"

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and self.logins.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    # ------------------------------------------------------------ lifecycle

    def _protocol(self) -> SMTP:
        with self._lock:
            self.connections += 1
        return SMTP(self, hostname="mail.test.example", tls_context=self.tls_context,
                    require_starttls=self.tls_context is not None,
                    authenticator=self._authenticate if self.logins else None,
                    auth_require_tls=self.tls_context is not None)

    def __enter__(self) -> MailServer:
        self._thread.start()  # the loop runs in its own thread (the test's own loop is running in this one)
        self._server = asyncio.run_coroutine_threadsafe(
            self._loop.create_server(self._protocol, "127.0.0.1", 0), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class ClosedPort:
    """A port on 127.0.0.1 where nothing listens, held (bound, never listening) so nobody else takes it:
    a connection is refused at once."""

    def __enter__(self) -> int:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        port: int = self._socket.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self._socket.close()


class SilentServer:
    """A port on 127.0.0.1 that accepts connections and never says a word (a mail server that hangs): a client
    waits for the greeting until its timeout. Counts the connections it accepted."""

    def __enter__(self) -> SilentServer:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._socket.settimeout(0.1)
        self.port: int = self._socket.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                continue
            self.connections.append(conn)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self.connections:
            conn.close()
        self._socket.close()
