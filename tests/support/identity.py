"""The identity provider, for tests: RSA signing keys, a JWKS endpoint and a token factory.

Entra ID's JWKS endpoint (https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys) cannot be reached
from here, and tokens it issues could not be minted anyway. So `jwks_server` is a REAL HTTP server
(stdlib http.server in a thread, 127.0.0.1, a free port) that serves the JWKS of keys the tests own, in the
same shape as Entra ID's, and counts the requests it answers so tests can check caching. `token_factory`
signs access tokens shaped like Entra ID v2 tokens (iss, aud, oid, sub, name, roles, iat, nbf, exp, kid).

Fixtures:
  signing_key           session  SigningKey served by both JWKS servers and used by token_factory
  make_signing_key      session  make_signing_key(kid) -> a new SigningKey (another key, for rotation/forgery)
  jwks_server           function a fresh JwksServer serving [signing_key]; .url, .requests, .keys, .stop()
  jwks_server_session   session  the same for session-scoped consumers (e.g. a Functions host); do not mutate
  token_factory         session  token_factory(**overrides) -> a signed JWT (see TokenFactory.__call__)
  admin_token           function a valid token with the admin role for TEST_ISSUER/TEST_AUDIENCE
  dev_key               function tmp_path/"dev-signing-key.pem" created by incidents.http.auth.create_dev_key

`entra_environ(jwks_url)` gives the app settings (for load_settings or a host's environment) that make the
app trust tokens from token_factory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from incidents.http.auth import create_dev_key

TEST_TENANT_ID = "00000000-0000-4000-8000-000000000001"
TEST_ISSUER = f"https://login.microsoftonline.com/{TEST_TENANT_ID}/v2.0"
TEST_AUDIENCE = "api://incidents-test"
ADMIN_ROLE = "platform-admin"
JWKS_PATH = f"/{TEST_TENANT_ID}/discovery/v2.0/keys"


def entra_environ(jwks_url: str, *, audience: str = TEST_AUDIENCE, issuer: str = TEST_ISSUER) -> dict[str, str]:
    return {"AUTH_TENANT_ID": TEST_TENANT_ID, "AUTH_ISSUER": issuer, "AUTH_AUDIENCE": audience,
            "AUTH_JWKS_URL": jwks_url}


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def generate(cls, kid: str) -> SigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @cached_property
    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def jwk(self) -> dict[str, Any]:
        """The public key as Entra ID publishes it (minus x5c/x5t, which validators need not use)."""
        return {**jwt.algorithms.RSAAlgorithm.to_jwk(self.public_key, as_dict=True),
                "kid": self.kid, "use": "sig", "alg": "RS256"}


class JwksServer:
    """A JWKS endpoint on 127.0.0.1. Change `.keys` to rotate; `.requests` counts GETs answered."""

    def __init__(self, keys: Iterable[SigningKey]) -> None:
        self.keys: list[SigningKey] = list(keys)
        self.requests = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                with server._lock:
                    server.requests += 1
                    body = json.dumps({"keys": [k.jwk for k in server.keys]}).encode()
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}{JWKS_PATH}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="jwks-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the port: afterwards connections are refused, as when the provider is unreachable."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _numeric(value: Any) -> Any:
    return int(value.timestamp()) if isinstance(value, datetime) else value


class TokenFactory:
    def __init__(self, key: SigningKey) -> None:
        self.key = key

    def __call__(self, *, roles: Iterable[str] | str | None = (ADMIN_ROLE,), issuer: str = TEST_ISSUER,
                 audience: str | list[str] = TEST_AUDIENCE, key: SigningKey | None = None,
                 kid: str | None = None, algorithm: str = "RS256", secret: bytes | None = None,
                 headers: dict[str, Any] | None = None, expires_in: timedelta = timedelta(hours=1),
                 drop: Iterable[str] = (), **claims: Any) -> str:
        """A signed JWT. Defaults: a valid admin token for TEST_ISSUER/TEST_AUDIENCE signed by `signing_key`.

        roles=None leaves the claim out; other claims (sub, oid, name, iat, nbf, exp, ...) go in **claims,
        datetimes becoming NumericDates; `drop` removes claims. key/kid pick the signing key and the header's
        kid (default: the key's). algorithm "none" or "HS256" (with `secret`, e.g. a public key's PEM) build the
        unsigned/HMAC tokens attackers send, which PyJWT itself refuses to make."""
        key = key or self.key
        now = datetime.now(timezone.utc)
        payload: dict[str, Any] = {"iss": issuer, "aud": audience, "sub": "admin-subject", "oid": "admin-oid",
                                   "name": "Ada Admin", "preferred_username": "ada@example.test",
                                   "iat": now, "nbf": now, "exp": now + expires_in}
        if roles is not None:
            payload["roles"] = roles if isinstance(roles, str) else list(roles)  # a str: a malformed claim
        payload.update(claims)
        for name in drop:
            payload.pop(name, None)
        payload = {k: _numeric(v) for k, v in payload.items()}
        header = {"alg": algorithm, "typ": "JWT", "kid": kid or key.kid, **(headers or {})}
        header = {k: v for k, v in header.items() if v is not None}  # headers={"kid": None} drops the kid
        if algorithm == "RS256":
            extra = {k: v for k, v in header.items() if k not in ("alg", "typ")}
            return jwt.encode(payload, key.private_key, algorithm="RS256", headers=extra)
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        if algorithm == "none":
            return signing_input + "."
        if algorithm.startswith("HS"):
            digest = getattr(hashlib, f"sha{algorithm[2:]}")
            assert secret is not None, "HS* tokens need a secret"
            return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), digest).digest())}"
        raise ValueError(f"token_factory cannot sign with {algorithm}")


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey.generate("test-key-1")


@pytest.fixture(scope="session")
def make_signing_key():
    return SigningKey.generate


@pytest.fixture
def jwks_server(signing_key: SigningKey) -> Iterator[JwksServer]:
    server = JwksServer([signing_key])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def jwks_server_session(signing_key: SigningKey) -> Iterator[JwksServer]:
    server = JwksServer([signing_key])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_factory(signing_key: SigningKey) -> TokenFactory:
    return TokenFactory(signing_key)


@pytest.fixture
def admin_token(token_factory: TokenFactory) -> str:
    return token_factory()


@pytest.fixture
def dev_key(tmp_path: Path) -> Path:
    return create_dev_key(tmp_path / "dev-signing-key.pem")
