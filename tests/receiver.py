"""A real webhook receiver on 127.0.0.1 for the outbox tests: records every request, can fail on purpose."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    key: str
    signature: str | None
    body: bytes
    status: int
    answered_at: float  # the receiver's own clock (time.time()) when it answered


class WebhookReceiver:
    """``fail_times``: answer 503 to the first N requests of each Idempotency-Key; ``delay``: seconds per request;
    ``hold_after``: requests after the first N wait, unanswered, until ``release()`` (a sender stopped at a known
    point: ``holding()`` says how many wait). Dedupes by key as a receiver should: ``accepted`` holds each key once."""

    def __init__(self, *, fail_times: int = 0, delay: float = 0.0, hold_after: int | None = None) -> None:
        self.fail_times = fail_times
        self.delay = delay
        self.requests: list[Received] = []  # answered requests
        self.arrivals = 0  # requests that arrived (some may still be waiting out ``delay``)
        self.hold_after = hold_after
        self._arrived = 0
        self._holding = 0
        self._released = threading.Event()
        self.accepted: dict[str, bytes] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request (a SIGKILLed worker): as a real server, no
                    self.close_connection = True  # request was received, nothing recorded or answered
                    return
                key = self.headers.get("Idempotency-Key") or ""
                with receiver._lock:
                    receiver.arrivals += 1
                    arrived, receiver._arrived = receiver._arrived, receiver._arrived + 1
                    hold = receiver.hold_after is not None and arrived >= receiver.hold_after
                    receiver._holding += hold
                if hold:
                    receiver._released.wait()
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    seen = sum(1 for r in receiver.requests if r.key == key)
                    status = 503 if seen < receiver.fail_times else 200
                    receiver.requests.append(Received(key, self.headers.get("X-Complaintdesk-Signature"), body,
                                                      status, time.time()))
                    duplicate = status == 200 and key in receiver.accepted
                    if status == 200 and not duplicate:
                        receiver.accepted[key] = body
                answer = json.dumps({"id": f"rcpt-{hashlib.sha256(key.encode()).hexdigest()[:12]}",
                                     "duplicate": duplicate}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the outbox posts 16 at a time: no SYN backlog drops (1 s retransmits)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def holding(self) -> int:
        """Requests held so far (see ``hold_after``)."""
        with self._lock:
            return self._holding

    def release(self) -> None:
        """Answer the held requests, and hold none from now on."""
        with self._lock:
            self.hold_after = None
        self._released.set()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)
