"""A small, real OpenID Connect provider on 127.0.0.1 for the tests: discovery, an authorization page, a token
endpoint with PKCE (S256) and single-use codes, RS256 ID tokens (a key generated at start), the JWKS.

``GET /authorize`` shows a sign-in page (an e-mail field and a button) and ``POST /authorize`` redirects to the
redirect URI with a code and the state. ``POST /token`` checks the code (once), the client, the redirect URI and the
PKCE verifier, and answers an ID token with the nonce of the authorization request.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    email: str
    used: bool = False


class OidcProvider:
    def __init__(self, client_id: str = "console-client", client_secret: str | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        self.grants: dict[str, Grant] = {}
        self.token_requests = 0
        self.email_override: str | None = None  # the ID token names this e-mail instead (a test's choice)
        self.nonce_override: str | None = None
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes, content_type: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, data: Any) -> None:
                self._send(status, json.dumps(data).encode())

            def _form(self) -> dict[str, str]:
                length = int(self.headers.get("content-length") or 0)
                return {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif parts.path == "/jwks.json":
                    self._json(200, provider.jwks())
                elif parts.path == "/authorize":
                    fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                                     for k, v in query.items())
                    page = (f'<!doctype html><html lang="en"><head><title>Test IdP</title></head><body><main>'
                            f'<h1>Test identity provider</h1><form method="post" action="/authorize">{fields}'
                            f'<label for="login">E-mail</label><input id="login" name="login" type="email">'
                            f'<button type="submit">Continue</button></form></main></body></html>')
                    self._send(200, page.encode(), "text/html; charset=utf-8")
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                form = self._form()
                if path == "/authorize":
                    try:
                        location = provider.authorize(form)
                    except ValueError as exc:
                        self._json(400, {"error": str(exc)})
                        return
                    self._send(302, b"", "text/plain", {"location": location})
                elif path == "/token":
                    status, body = provider.token(form, self.headers.get("authorization"))
                    self._json(status, body)
                else:
                    self._json(404, {"error": "not_found"})

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.issuer = self.base
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # ---- the endpoints ----

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token", "jwks_uri": f"{self.base}/jwks.json",
                "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"], "subject_types_supported": ["public"]}

    def jwks(self) -> dict[str, Any]:
        data: dict[str, Any] = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**data, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def authorize(self, params: dict[str, str]) -> str:
        """Where the browser goes after signing in as ``params['login']``: the redirect URI with a code."""
        if params.get("response_type") != "code" or params.get("client_id") != self.client_id:
            raise ValueError("unauthorized_client")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            raise ValueError("invalid_request")
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(client_id=self.client_id, redirect_uri=params["redirect_uri"],
                                  challenge=params["code_challenge"], nonce=params.get("nonce"),
                                  email=params.get("login", ""))
        return params["redirect_uri"] + "?" + urlencode({"code": code, "state": params.get("state", "")})

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.token_requests += 1
        client_id = form.get("client_id")
        if self.client_secret is not None:
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if authorization != f"Basic {expected}":
                return 401, {"error": "invalid_client"}
        grant = self.grants.get(form.get("code", ""))
        if form.get("grant_type") != "authorization_code" or grant is None or grant.used:
            if grant is not None:
                grant.used = True
            return 400, {"error": "invalid_grant"}
        grant.used = True  # single use, even when this exchange fails
        if client_id != grant.client_id or form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant"}
        if s256(form.get("code_verifier", "")) != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                     "id_token": self.id_token(self.email_override or grant.email,
                                               self.nonce_override or grant.nonce)}

    def id_token(self, email: str, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": hashlib.sha256(email.encode()).hexdigest()[:16],
                  "email": email, "email_verified": True, "iat": now, "exp": now + 300}
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    # ---- life ----

    def start(self) -> OidcProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
