"""Who is calling an admin route: an Entra ID bearer JWT (or, locally, one signed by a development key) that
carries the admin app role. PyJWT + cryptography + urllib only, so importing this stays cheap."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ALGORITHMS = ["RS256"]  # asymmetric only: never "none" nor HS*, whose secret could be our public key
VERIFIED_FOR_S = 60.0  # a signing key removed from the JWKS stops tokens verified with it within this time
VERIFIED_KEPT = 1024


class _Refused(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail  # short, for the caller; never contains the token


class Unauthenticated(_Refused):
    """No usable token (HTTP 401)."""


class Forbidden(_Refused):
    """A valid token without the required app role (HTTP 403)."""


class AuthUnavailable(Exception):
    """The signing keys cannot be fetched and none are cached (HTTP 503)."""


@dataclass(frozen=True)
class Principal:
    subject: str
    name: str
    roles: frozenset[str]


class KeySource(Protocol):
    def get_key(self, kid: str | None) -> Any: ...


class StaticKey:
    """One fixed public key (the local development key); the token's kid is ignored."""

    def __init__(self, public_key: Any) -> None:
        if isinstance(public_key, (str, bytes)):
            public_key = serialization.load_pem_public_key(
                public_key.encode() if isinstance(public_key, str) else public_key
            )
        self.public_key = public_key

    def get_key(self, kid: str | None) -> Any:
        return self.public_key


class JwksKeys:
    """The identity provider's JWKS, fetched with urllib, cached for `cache_seconds` and selected by kid.

    An unknown kid (key rotation) triggers a refetch, but at most one per `refetch_interval` seconds so a flood
    of bogus kids cannot hammer the endpoint. If a fetch fails, a previously fetched key set stays in use."""

    def __init__(self, url: str, cache_seconds: float = 3600, timeout: float = 5.0, *,
                 refetch_interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.url, self.cache_seconds, self.timeout = url, cache_seconds, timeout
        self.refetch_interval, self._clock = refetch_interval, clock
        self._keys: dict[str, Any] | None = None
        self._fetched_at = self._attempted_at = float("-inf")
        self._lock = threading.Lock()

    def get_key(self, kid: str | None) -> Any:
        if not kid:
            raise Unauthenticated("the token has no key id (kid) in its header")
        with self._lock:  # held while fetching, so concurrent requests wait for one fetch instead of each making one
            now = self._clock()
            stale = self._keys is None or now - self._fetched_at >= self.cache_seconds or kid not in self._keys
            may_fetch = self._keys is None or now - self._attempted_at >= self.refetch_interval
            if stale and may_fetch:
                self._refresh(now)
            assert self._keys is not None
            key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("the token is signed with an unknown key (kid)")
        return key

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        try:
            request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                document = json.load(response)
            keys = {}
            for jwk in document["keys"]:
                if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
                    continue  # RS256 only verifies with RSA signing keys
                try:
                    keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256").key
                except (jwt.PyJWTError, KeyError, TypeError, ValueError):
                    continue  # a malformed key; the others still count
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            if self._keys is None:
                raise AuthUnavailable(f"the signing keys at {self.url} cannot be fetched: {exc}") from exc
            return
        self._keys, self._fetched_at = keys, now


class TokenValidator:
    def __init__(self, issuer: str | tuple[str, ...], audience: str, keys: KeySource, leeway_seconds: float = 60,
                 *, client_app_id: str | None = None) -> None:
        self.issuer, self.audience, self.keys, self.leeway = issuer, audience, keys, leeway_seconds
        self.client_app_id = client_app_id  # when set, only tokens issued to this client app (appid / azp)
        self._verified: dict[str, tuple[float, dict[str, Any]]] = {}  # token -> (believed until, its claims)

    def authenticate(self, authorization_header: str | None, required_role: str) -> Principal:
        if not authorization_header or not authorization_header.strip():
            raise Unauthenticated("the Authorization header is missing")
        parts = authorization_header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        claims = self._decode(parts[1])
        subject = claims.get("oid") or claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("the token has neither an oid nor a sub claim")
        if self.client_app_id and self.client_app_id not in (claims.get("appid"), claims.get("azp")):
            raise Unauthenticated("the token was not issued to the expected client application")
        name = claims.get("name") or claims.get("preferred_username") or subject
        roles = claims.get("roles")
        roles = frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset()
        if required_role not in roles:
            raise Forbidden(f"the token does not carry the app role {required_role}")
        return Principal(subject=subject, name=str(name), roles=roles)

    def _decode(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature, issuer, audience and times verify. A client sends the same token
        with each request for an hour: its claims are kept for VERIFIED_FOR_S, never past its expiry."""
        now = time.time()
        kept = self._verified.get(token)
        if kept is not None and now < kept[0]:
            return kept[1]
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_KEPT:
            self._verified.clear()
        self._verified[token] = (min(now + VERIFIED_FOR_S, claims["exp"] + self.leeway), claims)
        return claims

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("the bearer token is not a well-formed JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated(f"the token must be signed with {' or '.join(ALGORITHMS)}")
        kid = header.get("kid")
        key = self.keys.get_key(kid if isinstance(kid, str) else None)
        try:
            return jwt.decode(
                token, key, algorithms=ALGORITHMS, audience=self.audience, issuer=self.issuer,
                leeway=self.leeway, options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            detail = "the token has expired"
        except jwt.ImmatureSignatureError:
            detail = "the token is not valid yet"
        except jwt.InvalidAudienceError:
            detail = f"the token's audience is not {self.audience}"
        except jwt.InvalidIssuerError:
            detail = f"the token's issuer is not {' or '.join(_as_tuple(self.issuer))}"
        except jwt.MissingRequiredClaimError as exc:
            detail = f"the token has no {exc.claim} claim"
        except jwt.InvalidSignatureError:
            detail = "the token's signature does not verify"
        except jwt.InvalidTokenError:
            detail = "the token is not valid"
        raise Unauthenticated(detail)


def _as_tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value


def _load_private_key(path: str | os.PathLike[str]) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    return key


def validator_from_settings(settings: Any) -> TokenValidator:
    if settings.incidents_dev_signing_key:
        keys: KeySource = StaticKey(_load_private_key(settings.incidents_dev_signing_key).public_key())
    else:
        keys = JwksKeys(settings.jwks_url)
    return TokenValidator(settings.token_issuer, settings.token_audience, keys)


AZURE_MONITOR_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a"  # "AzNS AAD Webhook", which signs in action groups
WEBHOOK_ROLE = "ActionGroupsSecureWebhook"


def webhook_validator_from_settings(settings: Any) -> TokenValidator | None:
    """Tokens of Azure Monitor's secure webhook, when ALERTS_AAD_AUDIENCE turns it on (None otherwise)."""
    if not settings.alerts_aad_audience:
        return None
    return TokenValidator(settings.webhook_issuers, settings.alerts_aad_audience, JwksKeys(settings.webhook_jwks_url),
                          client_app_id=AZURE_MONITOR_APP_ID)


def create_dev_key(path: str | os.PathLike[str]) -> Path:
    """Write a new RSA-2048 private key (PEM, mode 0600) unless the file exists; return its path."""
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return path


def mint_token(private_key_path: str | os.PathLike[str], *, issuer: str, audience: str, roles: list[str],
               subject: str = "local-admin", name: str = "Local Admin",
               expires_in: timedelta = timedelta(hours=8), kid: str = "local-dev") -> str:
    now = datetime.now(timezone.utc)
    claims = {"iss": issuer, "aud": audience, "sub": subject, "oid": subject, "name": name, "roles": list(roles),
              "iat": now, "nbf": now, "exp": now + expires_in}
    return jwt.encode(claims, _load_private_key(private_key_path), algorithm="RS256", headers={"kid": kid})
