"""A real OpenID provider on loopback for the single sign-on tests: oidc-provider-mock
(a Flask app on authlib: discovery, JWKS, RS256 ID tokens, a form where the test picks the
subject; claims set with PUT /users/<sub>), served by werkzeug in a thread.

oidc-provider-mock 0.3.4 (the last release for Python 3.11) accepts PKCE parameters but does
not check them. ``PKCERequired`` adds that check in front of it — a stand-in, written here,
for what a real provider configured to require PKCE does (RFC 7636, S256 only): the
authorization request must carry a challenge, and the token request the verifier whose
SHA-256 it is; otherwise the token endpoint answers ``invalid_grant``."""

import io
import json
import threading
from urllib.parse import parse_qs, urlsplit

import httpx
import oidc_provider_mock
import werkzeug.serving
from authlib.oauth2.rfc7636 import create_s256_code_challenge


class PKCERequired:
    def __init__(self, app):
        self.app = app
        self.challenges: dict[str, tuple[str, str]] = {}  # code → (challenge, method)
        self.authorization_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/oauth2/authorize" and environ["REQUEST_METHOD"] == "POST":
            return self._authorize(environ, start_response)
        if path == "/oauth2/token":
            return self._token(environ, start_response)
        return self.app(environ, start_response)

    def _authorize(self, environ, start_response):
        query = {key: values[0] for key, values in parse_qs(environ["QUERY_STRING"]).items()}
        with self.lock:
            self.authorization_requests.append(query)
        headers_seen = {}

        def capture(status, headers, exc_info=None):
            headers_seen.update(headers)
            return start_response(status, headers, exc_info)

        # The mock runs under werkzeug's debugger, a generator: headers come while iterating.
        iterable = self.app(environ, capture)
        try:
            body = list(iterable)
        finally:
            if hasattr(iterable, "close"):
                iterable.close()
        code = parse_qs(urlsplit(headers_seen.get("Location", "")).query).get("code")
        if code:
            with self.lock:
                self.challenges[code[0]] = (
                    query.get("code_challenge", ""),
                    query.get("code_challenge_method", "plain"),
                )
        return body

    def _token(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)
        form = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
        with self.lock:
            self.token_requests.append(form)
            challenge, method = self.challenges.pop(form.get("code", ""), ("", ""))
        verifier = form.get("code_verifier", "")
        if not challenge or method != "S256" or create_s256_code_challenge(verifier) != challenge:
            body = json.dumps(
                {"error": "invalid_grant", "error_description": "PKCE verification failed"}
            ).encode()
            start_response(
                "400 Bad Request",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return self.app(environ, start_response)


class Provider:
    """The provider at ``url`` (its issuer); ``pkce`` records what clients sent."""

    def __init__(self):
        self.pkce = PKCERequired(oidc_provider_mock.app(require_nonce=True))
        self.server = werkzeug.serving.make_server("127.0.0.1", 0, self.pkce, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))

    def start(self) -> "Provider":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()

    def user_set(self, subject: str, claims: dict) -> None:
        """The claims the provider will put in ``subject``'s tokens."""
        response = httpx.put(f"{self.url}/users/{subject}", json=claims)
        assert response.status_code == 204, response.text

    def authorize(self, authorization_url: str, subject: str) -> str:
        """Submit the provider's sign-in form as ``subject``: the redirect back (callback)."""
        response = httpx.post(authorization_url, data={"sub": subject})
        assert response.status_code == 302, response.text
        return response.headers["location"]
