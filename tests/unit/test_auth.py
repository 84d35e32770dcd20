"""incidents.http.auth: which bearer tokens get in (401 / 403 / 503 otherwise), against a real local JWKS server."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from incidents.http.auth import (
    AuthUnavailable,
    Forbidden,
    JwksKeys,
    Principal,
    StaticKey,
    TokenValidator,
    Unauthenticated,
    create_dev_key,
    mint_token,
    validator_from_settings,
)
from incidents.settings import DEV_AUDIENCE, DEV_ISSUER, load_settings
from tests.support.identity import ADMIN_ROLE, TEST_AUDIENCE, TEST_ISSUER, entra_environ


def now() -> datetime:
    return datetime.now(timezone.utc)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def validator(jwks_server):
    return TokenValidator(TEST_ISSUER, TEST_AUDIENCE, JwksKeys(jwks_server.url))


def rejected(validator: TokenValidator, header: str | None, token: str | None = None) -> str:
    """Authenticate expecting 401; return the detail, after checking it does not echo the token."""
    with pytest.raises(Unauthenticated) as caught:
        validator.authenticate(header, ADMIN_ROLE)
    detail = caught.value.detail
    assert detail and detail == str(caught.value)
    if token:
        for part in [token, *token.split(".")]:
            assert len(part) < 8 or part not in detail  # short parts ("a") can occur in any sentence
    return detail


def bearer(token: str) -> str:
    return f"Bearer {token}"


# -- the header ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_authorization_header_is_unauthenticated(validator, header):
    assert "missing" in rejected(validator, header)


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc.def.ghi", "Bearer", "Bearer a.b.c extra", "abc"])
def test_wrong_scheme_or_shape_is_unauthenticated(validator, header):
    assert "Bearer <token>" in rejected(validator, header)


def test_scheme_is_case_insensitive(validator, admin_token):
    assert validator.authenticate(f"bEaReR {admin_token}", ADMIN_ROLE).subject == "admin-oid"


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30"])
def test_garbage_token_is_unauthenticated(validator, token):
    detail = rejected(validator, bearer(token), token)
    assert detail in ("the bearer token is not a well-formed JWT", "the token must be signed with RS256")


# -- time -----------------------------------------------------------------------------------------------------


def test_expired_token(validator, token_factory):
    two_hours_ago = now() - timedelta(hours=2)
    token = token_factory(iat=two_hours_ago, nbf=two_hours_ago, exp=now() - timedelta(hours=1))
    assert rejected(validator, bearer(token), token) == "the token has expired"


def test_expiry_within_leeway_is_tolerated(validator, token_factory):
    token = token_factory(exp=now() - timedelta(seconds=20))
    assert validator.authenticate(bearer(token), ADMIN_ROLE).subject == "admin-oid"


def test_a_token_used_again_is_refused_once_it_has_expired(jwks_server, token_factory):
    """Verified claims are kept for the token's next requests, never past its exp (plus the leeway, here 0)."""
    strict = TokenValidator(TEST_ISSUER, TEST_AUDIENCE, JwksKeys(jwks_server.url), leeway_seconds=0)
    token = token_factory(exp=now() + timedelta(seconds=2))
    assert strict.authenticate(bearer(token), ADMIN_ROLE).subject == "admin-oid"
    assert strict.authenticate(bearer(token), ADMIN_ROLE).subject == "admin-oid"
    time.sleep(3)
    assert rejected(strict, bearer(token), token) == "the token has expired"


def test_a_kept_token_still_needs_the_role(validator, token_factory):
    token = token_factory(roles=["Reader"])
    for _ in range(2):
        with pytest.raises(Forbidden):
            validator.authenticate(bearer(token), ADMIN_ROLE)


def test_not_yet_valid_token(validator, token_factory):
    token = token_factory(nbf=now() + timedelta(minutes=10), iat=now())
    assert rejected(validator, bearer(token), token) == "the token is not valid yet"


def test_token_without_exp_is_unauthenticated(validator, token_factory):
    token = token_factory(drop=["exp"])
    assert rejected(validator, bearer(token), token) == "the token has no exp claim"


# -- issuer, audience, signature ----------------------------------------------------------------------------------


def test_wrong_audience(validator, token_factory):
    token = token_factory(audience="api://someone-else")
    assert rejected(validator, bearer(token), token) == f"the token's audience is not {TEST_AUDIENCE}"


def test_audience_is_matched_exactly(validator, token_factory):
    token = token_factory(audience=TEST_AUDIENCE + "/")
    assert "audience" in rejected(validator, bearer(token), token)


def test_wrong_issuer(validator, token_factory):
    token = token_factory(issuer="https://login.microsoftonline.com/another-tenant/v2.0")
    assert rejected(validator, bearer(token), token) == f"the token's issuer is not {TEST_ISSUER}"


def test_signed_by_another_key_with_the_trusted_kid(validator, token_factory, make_signing_key, signing_key):
    forger = make_signing_key("attacker")
    token = token_factory(key=forger, kid=signing_key.kid)
    assert rejected(validator, bearer(token), token) == "the token's signature does not verify"


def test_tampered_payload_fails_the_signature(validator, token_factory):
    header, _, signature = token_factory(roles=["viewer"]).split(".")
    payload = token_factory().split(".")[1]
    token = f"{header}.{payload}.{signature}"
    assert rejected(validator, bearer(token), token) == "the token's signature does not verify"


def test_alg_none_is_rejected(validator, token_factory):
    token = token_factory(algorithm="none")
    assert "RS256" in rejected(validator, bearer(token), token)


def test_hs256_signed_with_the_public_key_as_secret_is_rejected(validator, token_factory, signing_key):
    token = token_factory(algorithm="HS256", secret=signing_key.public_pem)
    assert "RS256" in rejected(validator, bearer(token), token)


def test_hs256_is_rejected_even_with_a_static_key(token_factory, signing_key):
    validator = TokenValidator(TEST_ISSUER, TEST_AUDIENCE, StaticKey(signing_key.public_pem))
    token = token_factory(algorithm="HS256", secret=signing_key.public_pem)
    assert "RS256" in rejected(validator, bearer(token), token)


def test_unknown_kid(validator, token_factory, make_signing_key):
    token = token_factory(key=make_signing_key("not-published"))
    assert rejected(validator, bearer(token), token) == "the token is signed with an unknown key (kid)"


def test_missing_kid(validator, token_factory):
    token = token_factory(kid="", headers={"kid": None})
    assert "kid" in rejected(validator, bearer(token), token)


# -- roles ----------------------------------------------------------------------------------------------------------


def test_token_without_roles_is_forbidden(validator, token_factory):
    with pytest.raises(Forbidden) as caught:
        validator.authenticate(bearer(token_factory(roles=None)), ADMIN_ROLE)
    assert caught.value.detail == f"the token does not carry the app role {ADMIN_ROLE}"


@pytest.mark.parametrize("roles", [["viewer"], [], "platform-admin", ["Platform-Admin"]])
def test_other_roles_are_forbidden(validator, token_factory, roles):
    with pytest.raises(Forbidden, match=ADMIN_ROLE):
        validator.authenticate(bearer(token_factory(roles=roles)), ADMIN_ROLE)


def test_valid_admin_token_gives_the_principal(validator, token_factory):
    token = token_factory(roles=["viewer", ADMIN_ROLE])
    principal = validator.authenticate(bearer(token), ADMIN_ROLE)
    assert principal == Principal(subject="admin-oid", name="Ada Admin", roles=frozenset({"viewer", ADMIN_ROLE}))


@pytest.mark.parametrize(
    ("drop", "subject", "name"),
    [
        (["name"], "admin-oid", "ada@example.test"),
        (["name", "preferred_username"], "admin-oid", "admin-oid"),
        (["oid", "name", "preferred_username"], "admin-subject", "admin-subject"),
    ],
)
def test_principal_falls_back_for_subject_and_name(validator, token_factory, drop, subject, name):
    principal = validator.authenticate(bearer(token_factory(drop=drop)), ADMIN_ROLE)
    assert (principal.subject, principal.name) == (subject, name)


# -- the JWKS key source ------------------------------------------------------------------------------------------


def test_jwks_is_fetched_once_and_cached(validator, jwks_server, token_factory):
    for _ in range(25):
        validator.authenticate(bearer(token_factory()), ADMIN_ROLE)
    assert jwks_server.requests == 1


def test_concurrent_first_requests_share_one_fetch(validator, jwks_server, token_factory):
    token = token_factory()
    with ThreadPoolExecutor(max_workers=16) as pool:
        principals = list(pool.map(lambda _: validator.authenticate(bearer(token), ADMIN_ROLE), range(64)))
    assert {p.subject for p in principals} == {"admin-oid"}
    assert jwks_server.requests == 1


def test_a_flood_of_unknown_kids_refetches_at_most_once_per_interval(jwks_server, token_factory, make_signing_key):
    clock = FakeClock()
    validator = TokenValidator(TEST_ISSUER, TEST_AUDIENCE, JwksKeys(jwks_server.url, clock=clock))
    validator.authenticate(bearer(token_factory()), ADMIN_ROLE)
    bogus = make_signing_key("bogus")
    for i in range(100):
        clock.now += 1
        token = token_factory(key=bogus, kid=f"bogus-{i}")
        rejected(validator, bearer(token), token)
    assert jwks_server.requests == 2  # the first fetch, then one refetch once 60 s had passed


def test_key_rotation_is_picked_up_by_the_refetch(jwks_server, token_factory, make_signing_key, signing_key):
    clock = FakeClock()
    validator = TokenValidator(TEST_ISSUER, TEST_AUDIENCE, JwksKeys(jwks_server.url, clock=clock))
    validator.authenticate(bearer(token_factory()), ADMIN_ROLE)
    rotated = make_signing_key("test-key-2")
    jwks_server.keys = [signing_key, rotated]
    clock.now += 61
    principal = validator.authenticate(bearer(token_factory(key=rotated)), ADMIN_ROLE)
    assert principal.subject == "admin-oid"
    assert jwks_server.requests == 2
    validator.authenticate(bearer(token_factory(key=rotated)), ADMIN_ROLE)
    validator.authenticate(bearer(token_factory()), ADMIN_ROLE)
    assert jwks_server.requests == 2


def test_the_cache_expires(jwks_server, token_factory):
    clock = FakeClock()
    validator = TokenValidator(TEST_ISSUER, TEST_AUDIENCE, JwksKeys(jwks_server.url, cache_seconds=600, clock=clock))
    validator.authenticate(bearer(token_factory(jti="first")), ADMIN_ROLE)
    clock.now += 601
    validator.authenticate(bearer(token_factory(jti="second")), ADMIN_ROLE)  # another token: its own verification
    assert jwks_server.requests == 2


def test_jwks_server_down_is_auth_unavailable(jwks_server, token_factory):
    jwks_server.stop()
    validator = TokenValidator(TEST_ISSUER, TEST_AUDIENCE, JwksKeys(jwks_server.url, timeout=2))
    with pytest.raises(AuthUnavailable):
        validator.authenticate(bearer(token_factory()), ADMIN_ROLE)


def test_cached_keys_outlive_an_outage(jwks_server, token_factory):
    clock = FakeClock()
    validator = TokenValidator(TEST_ISSUER, TEST_AUDIENCE, JwksKeys(jwks_server.url, cache_seconds=600, clock=clock))
    validator.authenticate(bearer(token_factory()), ADMIN_ROLE)
    jwks_server.stop()
    clock.now += 601
    assert validator.authenticate(bearer(token_factory()), ADMIN_ROLE).subject == "admin-oid"


def test_validator_from_settings_uses_the_jwks_url(jwks_server, token_factory):
    validator = validator_from_settings(load_settings(entra_environ(jwks_server.url)))
    assert validator.authenticate(bearer(token_factory()), ADMIN_ROLE).name == "Ada Admin"
    assert jwks_server.requests == 1


# -- the local development key ------------------------------------------------------------------------------------


def test_create_dev_key_is_private_and_kept(tmp_path):
    path = create_dev_key(tmp_path / "nested" / "dev.pem")
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert os.stat(path).st_mode & 0o777 == 0o600
    first = path.read_bytes()
    assert create_dev_key(path) == path and path.read_bytes() == first


def test_dev_key_settings_accept_a_minted_admin_token(dev_key):
    settings = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key)})
    validator = validator_from_settings(settings)
    token = mint_token(dev_key, issuer=DEV_ISSUER, audience=DEV_AUDIENCE, roles=[settings.auth_admin_role])
    principal = validator.authenticate(bearer(token), settings.auth_admin_role)
    assert principal == Principal(subject="local-admin", name="Local Admin", roles=frozenset({ADMIN_ROLE}))


def test_dev_key_settings_reject_the_wrong_role(dev_key):
    settings = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key)})
    token = mint_token(dev_key, issuer=settings.token_issuer, audience=settings.token_audience, roles=["viewer"])
    with pytest.raises(Forbidden, match=ADMIN_ROLE):
        validator_from_settings(settings).authenticate(bearer(token), settings.auth_admin_role)


def test_dev_key_settings_reject_a_token_from_another_key(dev_key, tmp_path):
    settings = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key)})
    other = create_dev_key(tmp_path / "other.pem")
    token = mint_token(other, issuer=DEV_ISSUER, audience=DEV_AUDIENCE, roles=[ADMIN_ROLE])
    assert rejected(validator_from_settings(settings), bearer(token), token) == "the token's signature does not verify"


def test_minted_token_expires(dev_key):
    settings = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key)})
    token = mint_token(dev_key, issuer=DEV_ISSUER, audience=DEV_AUDIENCE, roles=[ADMIN_ROLE],
                       expires_in=timedelta(minutes=-5))
    assert rejected(validator_from_settings(settings), bearer(token), token) == "the token has expired"


# -- details never leak the token ---------------------------------------------------------------------------------


def test_no_error_detail_contains_the_token(validator, token_factory, make_signing_key):
    tokens = [
        token_factory(exp=now() - timedelta(hours=1)),
        token_factory(audience="api://other"),
        token_factory(issuer="https://evil.example"),
        token_factory(key=make_signing_key("x")),
        token_factory(algorithm="none"),
        "garbage-token-text",
    ]
    for token in tokens:
        with pytest.raises(Unauthenticated) as caught:
            validator.authenticate(bearer(token), ADMIN_ROLE)
        assert token not in caught.value.detail and token not in str(caught.value) and token not in repr(caught.value)
    with pytest.raises(Forbidden) as forbidden:
        validator.authenticate(bearer(viewer := token_factory(roles=["viewer"])), ADMIN_ROLE)
    assert viewer not in str(forbidden.value)
