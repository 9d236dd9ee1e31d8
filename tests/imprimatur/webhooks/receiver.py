"""A real webhook receiver on loopback: an HTTP server in a thread that verifies every
request's signature with the ``standardwebhooks`` library, as a customer's receiver would,
and fails on purpose (HTTP 500) as often as a test asks, to exercise the retries."""

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    # The secrets (by index in ``Receiver.secrets``) whose signature verified.
    verified_by: list[int] = field(default_factory=list)
    answered: int = 0


class Receiver:
    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.fail_next = 0  # answer 500 to this many more requests
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                received = Received(self.path, headers, body)
                for index, secret in enumerate(receiver.secrets):
                    try:
                        Webhook(secret).verify(body, headers)
                    except WebhookVerificationError:
                        continue
                    received.verified_by.append(index)
                with receiver._lock:
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        received.answered = 500
                    elif not received.verified_by:
                        received.answered = 401
                    else:
                        received.answered = 204
                    receiver.received.append(received)
                self.send_response(received.answered)
                text = b"failing on purpose" if received.answered == 500 else b""
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
