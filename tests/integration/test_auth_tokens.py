"""The OAuth2 token endpoint and the access token verifier (SPEC §4), against real strata
processes: grants (password, client_credentials, refresh_token), RFC 6749 §5.2 errors, scopes,
refresh token rotation and reuse detection, RFC 7009 revocation, the per-address and
per-username rate limits, the JWT claims, JWKS for HS256/RS256/ES256, forged and broken tokens,
and the secret settings at start.

One HS256 server for most of the module (plus one for the rate limits, one RS256 and one ES256,
each started once); tokens are forged with hmac/hashlib/base64 and, for RS256/ES256, signed
and checked with openssl(1).
"""

import hashlib
import secrets
import time

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import authutil as au
from authutil import (ADMIN_PASSWORD, ADMIN_USER, AUTHZ, HS_HEADER, JWKS_PATH, JWT_SECRET, PUBLIC_CLIENT,
                      REVOKE_PATH, assert_oauth_error, assert_unauthorized, auth_env, b64u, bearer, claims,
                      hs256, jwt_parts, login, login_resp, openssl, parse_client_add, refresh_resp, remember,
                      token)
from conftest import assert_problem


# ---- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def servers(request, pg, tmp_path_factory):
    yield from au.servers_fixture(request, pg, tmp_path_factory, "tok")


@pytest.fixture(scope="module")
def srv(servers):
    return servers.start(env=auth_env())


@pytest.fixture(scope="module")
def role_perms(servers, srv):
    """role -> set of permissions, from the database (the seeded matrix)."""
    out = {}
    for role, perm in servers.query("SELECT r.name, rp.permission FROM roles r "
                                    "LEFT JOIN role_permissions rp ON rp.role = r.name"):
        out.setdefault(role, set())
        if perm:
            out[role].add(perm)
    return out


@pytest.fixture(scope="module")
def admin_tok(srv):
    return au.admin_token(srv.url)


@pytest.fixture(scope="module")
def users(srv, admin_tok):
    """A few users of the module: name -> (id, password)."""
    return au.create_users(srv.url, admin_tok, [
        ("tok.viewer", "viewer"), ("tok.member", "member"), ("tok.operator", "operator"),
        ("tok.rotate", "viewer"), ("tok.reuse", "viewer"), ("tok.revoke", "viewer"),
        ("tok.disable", "viewer"), ("tok.scope", "member"),
    ])


@pytest.fixture(scope="module")
def client(servers, srv):
    """A confidential client (role operator) created with the CLI: (client_id, client_secret)."""
    p = servers.cli(["client", "add", "ci-bot", "--role", "operator"], env=auth_env())
    cid, secret = parse_client_add(p.stdout)
    remember(secret)
    wait_client_known(srv.url, cid, secret)
    return cid, secret


def wait_client_known(base, cid, secret, timeout=5.0):
    """The CLI is another process: the server learns of the new client through NOTIFY."""
    deadline = time.monotonic() + timeout
    while True:
        r = token(base, {"grant_type": "client_credentials"}, auth=(cid, secret))
        if r.status_code == 200:
            remember(r.json()["access_token"])
            return
        if time.monotonic() > deadline:
            pytest.fail(f"client {cid} created by the CLI still unknown after {timeout}s: {r.text}")
        time.sleep(0.05)


def authz(base, perm, headers):
    return requests.get(base + AUTHZ + perm, headers=headers, timeout=30)


# ---- password grant -------------------------------------------------------------------------------

def test_password_grant_response(srv, role_perms):
    r = login_resp(srv.url, ADMIN_USER, ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json")
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
    assert r.headers.get("Pragma") == "no-cache", r.headers
    body = r.json()
    remember(body.get("access_token"))
    remember(body.get("refresh_token"))
    assert set(body) >= {"access_token", "token_type", "expires_in", "refresh_token", "scope"}, body
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900  # default STRATA_ACCESS_TOKEN_TTL 15m
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 32
    assert "." not in body["refresh_token"], "refresh tokens are opaque, not JWTs"
    assert set(body["scope"].split()) == role_perms["admin"]


def test_access_token_claims(srv, role_perms):
    t0 = int(time.time())
    body = login(srv.url, ADMIN_USER, ADMIN_PASSWORD)
    body2 = login(srv.url, ADMIN_USER, ADMIN_PASSWORD)
    header, c, sig = jwt_parts(body["access_token"])
    assert header.get("alg") == "HS256" and header.get("typ") == "JWT", header
    # the signature is HMAC-SHA-256 with STRATA_JWT_SECRET
    h, p, _ = body["access_token"].split(".")
    assert hs256(h, p) == body["access_token"]
    assert c["iss"] == "strata"
    assert c["sub"] == ADMIN_USER
    assert c["aud"] == "strata-api" or c["aud"] == ["strata-api"]
    assert c["role"] == "admin"
    assert c["gty"] == "password"
    assert set(c["scope"].split()) == role_perms["admin"], c["scope"]
    assert t0 - 2 <= c["iat"] <= time.time() + 2
    assert c["nbf"] <= c["iat"] + 1
    assert c["exp"] - c["iat"] == 900
    assert isinstance(c["jti"], str) and len(c["jti"]) >= 16
    assert jwt_parts(body2["access_token"])[1]["jti"] != c["jti"], "jti must be unique per token"
    assert body["refresh_token"] != body2["refresh_token"]


def test_access_token_opens_protected_routes(srv):
    tok = login(srv.url, ADMIN_USER, ADMIN_PASSWORD)["access_token"]
    r = authz(srv.url, "quakes:read", bearer(tok))
    assert r.status_code == 200, r.text
    assert r.json()["permission"] == "quakes:read"
    assert ADMIN_USER in str(r.json()["principal"])
    r = requests.get(srv.url + "/api/v1/users", headers=bearer(tok), timeout=30)
    assert r.status_code == 200, r.text
    # RFC 6750: the scheme name is case-insensitive
    r = authz(srv.url, "quakes:read", {"Authorization": f"bearer {tok}"})
    assert r.status_code == 200, r.text


def test_password_grant_errors(srv, users):
    base = srv.url
    viewer_pw = users["tok.viewer"][1]
    wrong = token(base, {"grant_type": "password", "username": "tok.viewer", "password": "wrong-" + viewer_pw,
                         "client_id": PUBLIC_CLIENT})
    unknown = token(base, {"grant_type": "password", "username": "no.such.user", "password": viewer_pw,
                           "client_id": PUBLIC_CLIENT})
    b1 = assert_oauth_error(wrong, 400, "invalid_grant")
    b2 = assert_oauth_error(unknown, 400, "invalid_grant")
    assert b1 == b2, f"wrong password and unknown user must look alike: {b1} vs {b2}"

    assert_oauth_error(token(base, {"username": "tok.viewer", "password": viewer_pw, "client_id": PUBLIC_CLIENT}),
                       400, "invalid_request")
    assert_oauth_error(token(base, {"grant_type": "password", "password": viewer_pw, "client_id": PUBLIC_CLIENT}),
                       400, "invalid_request")
    assert_oauth_error(token(base, {"grant_type": "password", "username": "tok.viewer", "client_id": PUBLIC_CLIENT}),
                       400, "invalid_request")
    for gt in ("authorization_code", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer", "PASSWORD"):
        assert_oauth_error(token(base, {"grant_type": gt, "username": "tok.viewer", "password": viewer_pw,
                                        "client_id": PUBLIC_CLIENT}), 400, "unsupported_grant_type")
    # RFC 6749 §3.2: parameters MUST NOT be included more than once
    dup = token(base, [("grant_type", "password"), ("grant_type", "password"), ("username", "tok.viewer"),
                       ("password", viewer_pw), ("client_id", PUBLIC_CLIENT)])
    assert_oauth_error(dup, 400, "invalid_request")
    dup = token(base, [("grant_type", "password"), ("username", "tok.viewer"), ("username", ADMIN_USER),
                       ("password", viewer_pw), ("client_id", PUBLIC_CLIENT)])
    assert_oauth_error(dup, 400, "invalid_request")


def test_token_endpoint_unknown_client_is_invalid_client(srv, users):
    r = login_resp(srv.url, "tok.viewer", users["tok.viewer"][1], client_id="no-such-client")
    assert_oauth_error(r, 401, "invalid_client")
    assert r.headers.get("WWW-Authenticate", "").startswith("Basic"), r.headers
    assert 'realm="strata"' in r.headers["WWW-Authenticate"]


def test_token_endpoint_wants_a_form(srv, users):
    pw = users["tok.viewer"][1]
    r = requests.post(srv.url + au.TOKEN_PATH, json={"grant_type": "password", "username": "tok.viewer",
                                                     "password": pw, "client_id": PUBLIC_CLIENT}, timeout=30)
    assert r.status_code in (400, 415), r.text
    if r.status_code == 400:
        assert_oauth_error(r, 400, "invalid_request")
    r = requests.get(srv.url + au.TOKEN_PATH, timeout=30)
    assert r.status_code == 405, r.text
    assert "POST" in r.headers.get("Allow", "")


def test_disabled_user_cannot_log_in(srv, admin_tok, users):
    uid, pw = users["tok.disable"]
    body = login(srv.url, "tok.disable", pw)
    r = requests.patch(f"{srv.url}/api/v1/users/{uid}", json={"disabled": True}, headers=bearer(admin_tok),
                       timeout=30)
    assert r.status_code in (200, 204), r.text
    assert_oauth_error(login_resp(srv.url, "tok.disable", pw), 400, "invalid_grant")
    # nor refresh (the refresh token predates the disabling)
    assert_oauth_error(refresh_resp(srv.url, body["refresh_token"]), 400, "invalid_grant")
    # nor use the access token it already has
    deadline = time.monotonic() + 5
    while True:
        r = authz(srv.url, "quakes:read", bearer(body["access_token"]))
        if r.status_code == 401 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert_unauthorized(r, "access token of a disabled user")


# ---- client credentials ---------------------------------------------------------------------------

def test_client_credentials_with_basic(srv, client, role_perms):
    cid, secret = client
    r = token(srv.url, {"grant_type": "client_credentials"}, auth=(cid, secret))
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers.get("Cache-Control", "")
    body = r.json()
    remember(body["access_token"])
    assert "refresh_token" not in body, "RFC 6749 §4.4.3: no refresh token for client credentials"
    assert body["token_type"] == "bearer"
    assert set(body["scope"].split()) == role_perms["operator"]
    _, c, _ = jwt_parts(body["access_token"])
    assert c["sub"] == cid and c["role"] == "operator" and c["gty"] == "client_credentials", c
    assert authz(srv.url, "machines:read", bearer(body["access_token"])).status_code == 200
    r = authz(srv.url, "quakes:read", bearer(body["access_token"]))
    assert_problem(r, 403)


def test_client_credentials_in_body_and_narrowed(srv, client):
    cid, secret = client
    r = token(srv.url, {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret,
                        "scope": "telemetry:read"})
    assert r.status_code == 200, r.text
    body = r.json()
    remember(body["access_token"])
    assert body["scope"] == "telemetry:read"
    assert authz(srv.url, "telemetry:read", bearer(body["access_token"])).status_code == 200
    assert authz(srv.url, "machines:read", bearer(body["access_token"])).status_code == 403
    r = token(srv.url, {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret,
                        "scope": "telemetry:read quakes:read"})
    assert_oauth_error(r, 400, "invalid_scope")


def test_client_credentials_errors(srv, client):
    cid, secret = client
    # wrong secret by Basic: 401 + Basic challenge
    r = token(srv.url, {"grant_type": "client_credentials"}, auth=(cid, "x" + secret))
    assert_oauth_error(r, 401, "invalid_client")
    assert r.headers.get("WWW-Authenticate", "").startswith("Basic")
    assert 'realm="strata"' in r.headers["WWW-Authenticate"]
    # wrong secret in the body
    r = token(srv.url, {"grant_type": "client_credentials", "client_id": cid, "client_secret": "x" + secret})
    assert_oauth_error(r, 401, "invalid_client")
    assert r.headers.get("WWW-Authenticate", "").startswith("Basic")
    # unknown client
    r = token(srv.url, {"grant_type": "client_credentials"}, auth=("nobody", secret))
    assert_oauth_error(r, 401, "invalid_client")
    # no client authentication at all
    r = token(srv.url, {"grant_type": "client_credentials"})
    assert r.status_code in (400, 401), r.text
    assert_oauth_error(r, r.status_code, "invalid_client" if r.status_code == 401 else "invalid_request")
    # the public client cannot use client_credentials (RFC 6749 §4.4: confidential clients only)
    r = token(srv.url, {"grant_type": "client_credentials", "client_id": PUBLIC_CLIENT})
    assert r.status_code in (400, 401), r.text
    assert_oauth_error(r, r.status_code, "unauthorized_client" if r.status_code == 400 else "invalid_client")
    # a malformed Basic header
    r = token(srv.url, {"grant_type": "client_credentials"}, headers={"Authorization": "Basic !!!notbase64"})
    assert r.status_code in (400, 401), r.text
    assert r.json()["error"] in ("invalid_client", "invalid_request")


def test_revoked_client_loses_its_tokens(servers, srv):
    p = servers.cli(["client", "add", "ci-revoked", "--role", "gateway"], env=auth_env())
    cid, secret = parse_client_add(p.stdout)
    remember(secret)
    wait_client_known(srv.url, cid, secret)
    r = token(srv.url, {"grant_type": "client_credentials"}, auth=(cid, secret))
    assert r.status_code == 200, r.text
    tok = remember(r.json()["access_token"])
    assert authz(srv.url, "telemetry:ingest", bearer(tok)).status_code == 200
    servers.cli(["client", "revoke", cid], env=auth_env())
    deadline = time.monotonic() + 5
    while authz(srv.url, "telemetry:ingest", bearer(tok)).status_code != 401 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_unauthorized(authz(srv.url, "telemetry:ingest", bearer(tok)), "token of a revoked client")
    assert_oauth_error(token(srv.url, {"grant_type": "client_credentials"}, auth=(cid, secret)), 401,
                       "invalid_client")


def test_form_content_type_with_charset(srv):
    r = token(srv.url, {"grant_type": "password", "username": ADMIN_USER, "password": ADMIN_PASSWORD,
                        "client_id": PUBLIC_CLIENT},
              headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    assert r.status_code == 200, r.text
    remember(r.json()["access_token"]); remember(r.json()["refresh_token"])


# ---- scopes ----------------------------------------------------------------------------------------

def test_scope_narrows_a_token(srv, users, role_perms):
    pw = users["tok.scope"][1]  # member
    body = login(srv.url, "tok.scope", pw, scope="books:read")
    assert body["scope"] == "books:read"
    tok = body["access_token"]
    assert jwt_parts(tok)[1]["scope"] == "books:read"
    assert authz(srv.url, "books:read", bearer(tok)).status_code == 200
    for perm in sorted(role_perms["member"] - {"books:read"}):
        r = authz(srv.url, perm, bearer(tok))
        assert r.status_code == 403, f"{perm} with a books:read token: {r.status_code}"
    # two scopes, any order / extra spaces collapse to the set
    body = login(srv.url, "tok.scope", pw, scope="reviews:write books:write")
    assert set(body["scope"].split()) == {"reviews:write", "books:write"}
    assert authz(srv.url, "reviews:write", bearer(body["access_token"])).status_code == 200
    assert authz(srv.url, "books:read", bearer(body["access_token"])).status_code == 403


def test_narrowed_admin_token_cannot_administer(srv):
    body = login(srv.url, ADMIN_USER, ADMIN_PASSWORD, scope="quakes:read")
    r = requests.get(srv.url + "/api/v1/users", headers=bearer(body["access_token"]), timeout=30)
    assert r.status_code == 403, r.text
    r = requests.post(srv.url + "/api/v1/users", json={"username": "evil.one", "password": au.new_password(),
                                                       "role": "admin"},
                      headers=bearer(body["access_token"]), timeout=30)
    assert r.status_code == 403, r.text


def test_invalid_scope(srv, users):
    pw = users["tok.scope"][1]
    for scope in ("users:admin", "books:read users:admin", "nope:nope", "quakes:write"):
        assert_oauth_error(login_resp(srv.url, "tok.scope", pw, scope=scope), 400, "invalid_scope")


def test_refresh_keeps_scope_and_cannot_widen_it(srv, users):
    pw = users["tok.scope"][1]
    body = login(srv.url, "tok.scope", pw, scope="books:read")
    r = refresh_resp(srv.url, body["refresh_token"])
    assert r.status_code == 200, r.text
    nb = r.json()
    assert nb["scope"] == "books:read"
    assert authz(srv.url, "books:write", bearer(nb["access_token"])).status_code == 403
    # RFC 6749 §6: a refresh cannot ask for more than originally granted
    r = refresh_resp(srv.url, nb["refresh_token"], scope="books:read books:write")
    assert_oauth_error(r, 400, "invalid_scope")
    # a refused request has no side effect: the client's refresh token still works (it was not
    # rotated behind its back, and using it again is not "reuse")
    r = refresh_resp(srv.url, nb["refresh_token"])
    assert r.status_code == 200, f"the refresh token died with a refused invalid_scope request: {r.text}"
    assert r.json()["scope"] == "books:read"


# ---- refresh tokens --------------------------------------------------------------------------------

def test_refresh_rotates(srv, users):
    pw = users["tok.rotate"][1]
    b1 = login(srv.url, "tok.rotate", pw)
    r = refresh_resp(srv.url, b1["refresh_token"])
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers.get("Cache-Control", "")
    b2 = r.json()
    assert set(b2) >= {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert b2["refresh_token"] != b1["refresh_token"]
    _, c, _ = jwt_parts(b2["access_token"])
    assert c["gty"] == "refresh_token" and c["sub"] == "tok.rotate" and c["role"] == "viewer", c
    assert authz(srv.url, "quakes:read", bearer(b2["access_token"])).status_code == 200
    # the new one works again, and again rotates
    r = refresh_resp(srv.url, b2["refresh_token"])
    assert r.status_code == 200, r.text
    b3 = r.json()
    assert b3["refresh_token"] not in (b1["refresh_token"], b2["refresh_token"])


def test_refresh_tokens_are_stored_hashed(servers, srv, users):
    pw = users["tok.rotate"][1]
    b = login(srv.url, "tok.rotate", pw)
    rt = b["refresh_token"]
    rows = servers.query("SELECT token_hash FROM refresh_tokens")
    assert rows
    stored = {bytes(r[0]) for r in rows}
    assert hashlib.sha256(rt.encode()).digest() in stored
    dump = " ".join(str(r) for r in servers.query("SELECT * FROM refresh_tokens"))
    assert rt not in dump


def test_refresh_errors(srv, users, client):
    assert_oauth_error(refresh_resp(srv.url, "not-a-refresh-token-" + secrets.token_urlsafe(20)), 400,
                       "invalid_grant")
    assert_oauth_error(token(srv.url, {"grant_type": "refresh_token", "client_id": PUBLIC_CLIENT}), 400,
                       "invalid_request")
    # a refresh token is bound to the client it was issued to (RFC 6749 §6)
    b = login(srv.url, "tok.viewer", users["tok.viewer"][1])
    cid, secret = client
    r = refresh_resp(srv.url, b["refresh_token"], client_id=None, auth=(cid, secret))
    assert_oauth_error(r, 400, "invalid_grant")


def test_refresh_reuse_revokes_the_family(servers, srv, users):
    pw = users["tok.reuse"][1]
    before = servers.query("SELECT count(*) FROM audit_log WHERE action = 'token.family_revoked'")[0][0]
    b1 = login(srv.url, "tok.reuse", pw)
    r = refresh_resp(srv.url, b1["refresh_token"])
    assert r.status_code == 200, r.text
    b2 = r.json()
    r = refresh_resp(srv.url, b2["refresh_token"])
    assert r.status_code == 200, r.text
    b3 = r.json()
    # an unrelated session of the same user, which must survive
    other = login(srv.url, "tok.reuse", pw)
    # replay of an already rotated token: refused ...
    assert_oauth_error(refresh_resp(srv.url, b1["refresh_token"]), 400, "invalid_grant")
    # ... and the whole family is dead, the newest token included
    assert_oauth_error(refresh_resp(srv.url, b3["refresh_token"]), 400, "invalid_grant")
    assert_oauth_error(refresh_resp(srv.url, b2["refresh_token"]), 400, "invalid_grant")
    r = refresh_resp(srv.url, other["refresh_token"])
    assert r.status_code == 200, f"another login's refresh token must survive: {r.text}"
    rows = servers.query("SELECT actor, target, outcome, detail::text FROM audit_log "
                         "WHERE action = 'token.family_revoked' ORDER BY id")
    assert len(rows) == before + 1, (
        f"one reuse revoked one family: expected exactly one token.family_revoked row more, got "
        f"{len(rows) - before}: {rows[before:]}")
    row = rows[-1]
    assert "tok.reuse" in " ".join(str(x) for x in row) or str(users["tok.reuse"][0]) in " ".join(
        str(x) for x in row), f"audit row does not name the user: {row}"
    assert b3["refresh_token"] not in str(row) and b1["refresh_token"] not in str(row)


def test_concurrent_refresh_with_one_token_succeeds_at_most_once(srv, users):
    b = login(srv.url, "tok.rotate", users["tok.rotate"][1])
    with ThreadPoolExecutor(max_workers=6) as ex:
        rs = list(ex.map(lambda _: refresh_resp(srv.url, b["refresh_token"]), range(6)))
    ok = [r for r in rs if r.status_code == 200]
    assert len(ok) <= 1, f"one refresh token rotated {len(ok)} times concurrently"
    for r in rs:
        if r.status_code != 200:
            assert_oauth_error(r, 400, "invalid_grant")


# ---- revocation (RFC 7009) ---------------------------------------------------------------------------

def revoke(base, tok, hint=None, client_id=PUBLIC_CLIENT):
    data = {"token": tok}
    if hint:
        data["token_type_hint"] = hint
    if client_id:
        data["client_id"] = client_id
    return requests.post(base + REVOKE_PATH, data=data, timeout=30)


def test_revoke_refresh_token(srv, users):
    pw = users["tok.revoke"][1]
    b = login(srv.url, "tok.revoke", pw)
    r = revoke(srv.url, b["refresh_token"])
    assert r.status_code == 200, r.text
    assert_oauth_error(refresh_resp(srv.url, b["refresh_token"]), 400, "invalid_grant")
    # with the hint too
    b = login(srv.url, "tok.revoke", pw)
    assert revoke(srv.url, b["refresh_token"], hint="refresh_token").status_code == 200
    assert_oauth_error(refresh_resp(srv.url, b["refresh_token"]), 400, "invalid_grant")
    # revoking twice is fine
    assert revoke(srv.url, b["refresh_token"]).status_code == 200


def test_revoke_only_by_the_owning_client(srv, users, client):
    """RFC 7009 §2.1: a client cannot revoke a token issued to another client."""
    b = login(srv.url, "tok.revoke", users["tok.revoke"][1])
    cid, secret = client
    r = requests.post(srv.url + REVOKE_PATH, data={"token": b["refresh_token"]}, auth=(cid, secret), timeout=30)
    assert r.status_code in (200, 400), r.text
    r = refresh_resp(srv.url, b["refresh_token"])
    assert r.status_code == 200, f"another client revoked strata-web's refresh token: {r.text}"
    # wrong client secret: invalid_client
    r = requests.post(srv.url + REVOKE_PATH, data={"token": r.json()["refresh_token"]}, auth=(cid, "x" + secret),
                      timeout=30)
    assert_oauth_error(r, 401, "invalid_client")


def test_revoke_unknown_token_is_200(srv):
    assert revoke(srv.url, "unknown-" + secrets.token_urlsafe(24)).status_code == 200
    assert revoke(srv.url, "unknown-" + secrets.token_urlsafe(24), hint="access_token").status_code == 200
    assert revoke(srv.url, "x").status_code == 200


def test_revoke_needs_token_parameter(srv):
    r = requests.post(srv.url + REVOKE_PATH, data={"client_id": PUBLIC_CLIENT}, timeout=30)
    assert_oauth_error(r, 400, "invalid_request")


# ---- JWKS ----------------------------------------------------------------------------------------------

def test_jwks_hs256_is_empty_and_public(srv):
    r = requests.get(srv.url + JWKS_PATH, timeout=30)
    assert r.status_code == 200, r.text
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json") or ctype.startswith("application/jwk-set+json"), ctype
    assert r.json() == {"keys": []}
    assert JWT_SECRET not in r.text


# ---- forged and broken tokens (HS256 server) ------------------------------------------------------------

def _sign_with(secret):
    return lambda: hs256(HS_HEADER, claims(), key=secret)


def _tampered_payload(srv, users):
    tok = login(srv.url, "tok.viewer", users["tok.viewer"][1])["access_token"]
    h, p, s = tok.split(".")
    c = jwt_parts(tok)[1]
    c["role"] = "admin"
    c["sub"] = ADMIN_USER
    return remember(f"{h}.{au.encode_json(c)}.{s}")


def _tampered_signature(srv, users):
    tok = login(srv.url, ADMIN_USER, ADMIN_PASSWORD)["access_token"]
    h, p, s = tok.split(".")
    s = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
    return f"{h}.{p}.{s}"


def _none(alg):
    return lambda: f"{au.encode_json({'alg': alg, 'typ': 'JWT'})}.{au.encode_json(claims())}."


def _now():
    return int(time.time())


BAD_TOKENS = {
    "alg_none": lambda srv, users: _none("none")(),
    "alg_None": lambda srv, users: _none("None")(),
    "alg_NONE": lambda srv, users: _none("NONE")(),
    "alg_none_with_signature": lambda srv, users: hs256({"alg": "none", "typ": "JWT"}, claims()),
    "alg_HS512": lambda srv, users: hs256({"alg": "HS512", "typ": "JWT"}, claims()),
    "alg_hs256_lowercase": lambda srv, users: hs256({"alg": "hs256", "typ": "JWT"}, claims()),
    "no_alg": lambda srv, users: hs256({"typ": "JWT"}, claims()),
    "crit_header": lambda srv, users: hs256({"alg": "HS256", "typ": "JWT", "crit": ["exp"]}, claims()),
    "wrong_secret": lambda srv, users: hs256(HS_HEADER, claims(), key="another-secret-" + "x" * 40),
    "tampered_payload": _tampered_payload,
    "tampered_signature": _tampered_signature,
    "signature_stripped": lambda srv, users: hs256(HS_HEADER, claims()).rsplit(".", 1)[0] + ".",
    "expired_beyond_leeway": lambda srv, users: hs256(HS_HEADER, claims(iat=_now() - 1000, nbf=_now() - 1000,
                                                                         exp=_now() - 60)),
    "nbf_in_future": lambda srv, users: hs256(HS_HEADER, claims(nbf=_now() + 300)),
    "iat_in_future": lambda srv, users: hs256(HS_HEADER, claims(iat=_now() + 300, nbf=_now())),
    "wrong_aud": lambda srv, users: hs256(HS_HEADER, claims(aud="other-api")),
    "wrong_aud_array": lambda srv, users: hs256(HS_HEADER, claims(aud=["other-api", "strata-apix"])),
    "wrong_iss": lambda srv, users: hs256(HS_HEADER, claims(iss="evil")),
    "no_exp": lambda srv, users: hs256(HS_HEADER, claims(exp=None)),
    "exp_as_string": lambda srv, users: hs256(HS_HEADER, claims(exp=str(_now() + 600))),
    "no_sub": lambda srv, users: hs256(HS_HEADER, claims(sub=None)),
    "unknown_sub": lambda srv, users: hs256(HS_HEADER, claims(sub="ghost.user")),
    "role_not_the_users": lambda srv, users: hs256(HS_HEADER, claims(sub="tok.viewer", role="admin")),
    "client_token_for_unknown_client": lambda srv, users: hs256(HS_HEADER, claims(sub="ghost-client", role="admin",
                                                                               gty="client_credentials")),
    "garbage": lambda srv, users: "garbage",
    "garbage_three_parts": lambda srv, users: "a.b.c",
    "padded_base64": lambda srv, users: (lambda t: t.split(".")[0] + "=." + t.split(".", 1)[1])(
        hs256(HS_HEADER, claims())),
    "payload_not_json": lambda srv, users: hs256(HS_HEADER, b64u(b"not json")),
    "payload_array": lambda srv, users: hs256(HS_HEADER, b64u(b"[1,2]")),
    "duplicate_claim": lambda srv, users: hs256(HS_HEADER, b64u(
        '{"iss":"strata","sub":"tok.viewer","sub":"%s","aud":"strata-api","iat":%d,"nbf":%d,"exp":%d,'
        '"jti":"d1","role":"admin","scope":"","gty":"password"}' % (ADMIN_USER, _now(), _now(), _now() + 600))),
    "ten_kb": lambda srv, users: hs256(HS_HEADER, claims(pad="p" * 7400)),  # ~10 KB token
    "ten_kb_garbage": lambda srv, users: "x" * 10240,
    "four_parts": lambda srv, users: hs256(HS_HEADER, claims()) + ".AAAA",
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_bad_token_is_401(srv, users, case):
    tok = BAD_TOKENS[case](srv, users)
    r = authz(srv.url, "quakes:read", bearer(tok))
    assert_unauthorized(r, case)
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"], r.headers["WWW-Authenticate"]  # RFC 6750 §3.1
    r = requests.get(srv.url + "/api/v1/users", headers=bearer(tok), timeout=30)
    assert_unauthorized(r, case + " on /api/v1/users")


def test_forged_control_tokens_are_accepted(srv):
    """The forging itself is right: with the real secret and sane claims the server accepts the
    token, so the 401s above are the verifier's doing. Also the leeway (default 30 s)."""
    now = _now()
    for name, c in {
        "plain": claims(),
        "aud_array": claims(aud=["other", "strata-api"]),
        "expired_within_leeway": claims(iat=now - 900, nbf=now - 900, exp=now - 5),
        "nbf_within_leeway": claims(nbf=now + 5),
    }.items():
        r = authz(srv.url, "quakes:read", bearer(hs256(HS_HEADER, c)))
        assert r.status_code == 200, f"{name}: {r.status_code} {r.text[:200]}"


def test_empty_and_odd_authorization_headers(srv):
    for value in ("Bearer", "Bearer ", "Bearer  ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b"):
        r = authz(srv.url, "quakes:read", {"Authorization": value})
        assert r.status_code == 401, f"{value!r}: {r.status_code}"
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), value


# ---- rate limits ------------------------------------------------------------------------------------------

ADDR_LIMIT = 12
USER_LIMIT = 10


@pytest.fixture(scope="module")
def limited(servers):
    return servers.start(env=auth_env(STRATA_AUTH_RATE_PER_MINUTE=ADDR_LIMIT,
                                      STRATA_AUTH_USER_RATE_PER_MINUTE=USER_LIMIT,
                                      STRATA_TRUSTED_PROXIES="127.0.0.0/8"))


def _attempt(base, username, password, addr):
    return login_resp(base, username, password, headers={"X-Forwarded-For": addr})


def _exhaust(base, attempts, limit):
    """attempts: [(username, password, addr)]; returns (index of the first 429, response)."""
    for i, (u, p, a) in enumerate(attempts):
        r = _attempt(base, u, p, a)
        if r.status_code == 429:
            assert i >= limit, f"429 after only {i} attempts; the limit is {limit} a minute"
            return i, r
        assert r.status_code in (400, 401), f"attempt {i}: {r.status_code} {r.text[:200]}"
    pytest.fail(f"no 429 after {len(attempts)} attempts (limit {limit} a minute)")


def _retry_after(r, limit):
    assert_oauth_error(r, 429, "invalid_request")
    ra = r.headers.get("Retry-After")
    assert ra is not None and ra.isdigit(), f"Retry-After {ra!r}"
    ra = int(ra)
    assert 1 <= ra <= 60, ra
    assert ra <= 60 // limit + 2, f"Retry-After {ra} s is more than one token interval ({60 // limit} s)"
    return ra


def test_rate_limits(limited):
    base = limited.url
    admin_tok = login(base, ADMIN_USER, ADMIN_PASSWORD)["access_token"]
    uid, victim_pw = au.create_user(base, admin_tok, "rl.victim", "viewer")
    _, other_pw = au.create_user(base, admin_tok, "rl.other", "viewer")

    # per address: many usernames from one address
    addr = "198.51.100.10"
    i, r = _exhaust(base, [(f"rl.nobody{n}", "wrong-password-123", addr) for n in range(2 * ADDR_LIMIT)],
                    ADDR_LIMIT)
    ra_addr = _retry_after(r, ADDR_LIMIT)
    t_addr = time.monotonic()
    # the limit is the address's: even the right password is refused from there ...
    r = _attempt(base, "rl.other", other_pw, addr)
    assert r.status_code == 429, r.text
    # ... while another address is not limited (keyed on the real client address)
    r = _attempt(base, "rl.other", other_pw, "198.51.100.11")
    assert r.status_code == 200, r.text
    remember(r.json()["access_token"]); remember(r.json()["refresh_token"])

    # per username: one username from many addresses
    j, r = _exhaust(base, [("rl.victim", "wrong-password-123", f"203.0.113.{n + 1}") for n in range(2 * USER_LIMIT)],
                    USER_LIMIT)
    ra_user = _retry_after(r, USER_LIMIT)
    t_user = time.monotonic()
    r = _attempt(base, "rl.victim", victim_pw, "203.0.113.200")
    assert r.status_code == 429, f"per-username limit must hold from a fresh address: {r.status_code}"
    r = _attempt(base, "rl.other", other_pw, "203.0.113.201")
    assert r.status_code == 200, f"another username from a fresh address: {r.status_code} {r.text}"
    remember(r.json()["access_token"]); remember(r.json()["refresh_token"])

    # after Retry-After both recover
    time.sleep(max(0.0, t_addr + ra_addr + 0.3 - time.monotonic()))
    r = _attempt(base, "rl.other", other_pw, addr)
    assert r.status_code == 200, f"address still limited after Retry-After {ra_addr}: {r.status_code} {r.text}"
    remember(r.json()["access_token"]); remember(r.json()["refresh_token"])
    time.sleep(max(0.0, t_user + ra_user + 0.3 - time.monotonic()))
    r = _attempt(base, "rl.victim", victim_pw, "203.0.113.202")
    assert r.status_code == 200, f"username still limited after Retry-After {ra_user}: {r.status_code} {r.text}"
    remember(r.json()["access_token"]); remember(r.json()["refresh_token"])


# ---- RS256 / ES256 -------------------------------------------------------------------------------------------

needs_openssl = pytest.mark.skipif(not au.have_openssl(), reason="openssl(1) not installed")


@pytest.fixture(scope="module")
def rsa_keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("rsa")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(d / "key.pem"))
    openssl("pkey", "-in", str(d / "key.pem"), "-pubout", "-out", str(d / "pub.pem"))
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(d / "other.pem"))
    return d


@pytest.fixture(scope="module")
def ec_keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("ec")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(d / "key.pem"))
    openssl("pkey", "-in", str(d / "key.pem"), "-pubout", "-out", str(d / "pub.pem"))
    return d


@pytest.fixture(scope="module")
def rs(servers, rsa_keys):
    return servers.start(env=auth_env(STRATA_JWT_ALG="RS256", STRATA_JWT_KEY_FILE=rsa_keys / "key.pem"))


@pytest.fixture(scope="module")
def es(servers, ec_keys):
    return servers.start(env=auth_env(STRATA_JWT_ALG="ES256", STRATA_JWT_KEY_FILE=ec_keys / "key.pem",
                                      STRATA_ACCESS_TOKEN_TTL="90s"))


def _rs256_sign(key_path, header, payload, tmp):
    signing_input = f"{au.encode_json(header)}.{au.encode_json(payload)}"
    (tmp / "in").write_text(signing_input)
    sig = openssl("dgst", "-sha256", "-sign", str(key_path), str(tmp / "in"))
    return remember(f"{signing_input}.{b64u(sig)}")


@needs_openssl
def test_rs256_tokens_and_jwks(rs, rsa_keys, tmp_path):
    body = login(rs.url, ADMIN_USER, ADMIN_PASSWORD)
    tok = body["access_token"]
    header, c, _ = jwt_parts(tok)
    assert header["alg"] == "RS256", header
    assert au.verify_with_openssl(tok, rsa_keys / "pub.pem", tmp_path), "RS256 signature does not verify"
    assert authz(rs.url, "quakes:read", bearer(tok)).status_code == 200

    r = requests.get(rs.url + JWKS_PATH, timeout=30)
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert len(keys) == 1, keys
    k = keys[0]
    assert k["kty"] == "RSA" and k.get("alg") == "RS256" and k.get("use") == "sig", k
    assert not set(k) & {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}, f"private key material in the JWKS: {set(k)}"
    modulus = openssl("rsa", "-pubin", "-in", str(rsa_keys / "pub.pem"), "-noout", "-modulus").decode()
    n = int(modulus.strip().split("=", 1)[1], 16)
    assert k["n"] == au.uint_b64u(n)
    assert k["e"] == "AQAB"
    if "kid" in header:
        assert k.get("kid") == header["kid"]
    # refresh works with RS256 too
    r = refresh_resp(rs.url, body["refresh_token"])
    assert r.status_code == 200, r.text
    assert jwt_parts(r.json()["access_token"])[0]["alg"] == "RS256"


@needs_openssl
def test_rs256_forged_with_the_private_key_is_accepted(rs, rsa_keys, tmp_path):
    tok = _rs256_sign(rsa_keys / "key.pem", {"alg": "RS256", "typ": "JWT", "kid": "strata-1"}, claims(), tmp_path)
    r = authz(rs.url, "quakes:read", bearer(tok))
    assert r.status_code == 200, f"control token signed with the real key refused: {r.status_code} {r.text}"


@needs_openssl
def test_rs256_attacks(rs, rsa_keys, tmp_path):
    pem = (rsa_keys / "pub.pem").read_bytes()
    der = openssl("pkey", "-pubin", "-in", str(rsa_keys / "pub.pem"), "-outform", "DER")
    jwks_text = requests.get(rs.url + JWKS_PATH, timeout=30).content
    cases = {}
    # algorithm confusion: HS256 with the public key as the HMAC secret
    for variant, key in {"pem": pem, "pem_no_newline": pem.rstrip(b"\n"), "der": der, "jwks": jwks_text}.items():
        for hdr in ({"alg": "HS256", "typ": "JWT"}, {"alg": "HS256", "typ": "JWT", "kid": "strata-1"}):
            cases[f"hs256_with_{variant}_{len(hdr)}"] = hs256(hdr, claims(), key=key)
    # HS256 with the server's HS256 secret from other servers: not the pinned algorithm
    cases["hs256_with_shared_secret"] = hs256(HS_HEADER, claims())
    cases["alg_none"] = _none("none")()
    cases["other_rsa_key"] = _rs256_sign(rsa_keys / "other.pem", {"alg": "RS256", "typ": "JWT", "kid": "strata-1"},
                                         claims(), tmp_path)
    cases["rs256_wrong_aud"] = _rs256_sign(rsa_keys / "key.pem", {"alg": "RS256", "typ": "JWT"},
                                           claims(aud="x"), tmp_path)
    cases["rs256_expired"] = _rs256_sign(rsa_keys / "key.pem", {"alg": "RS256", "typ": "JWT"},
                                         claims(iat=_now() - 999, nbf=_now() - 999, exp=_now() - 100), tmp_path)
    cases["ps256_header"] = _rs256_sign(rsa_keys / "key.pem", {"alg": "PS256", "typ": "JWT"}, claims(), tmp_path)
    failures = []
    for name, tok in cases.items():
        r = authz(rs.url, "quakes:read", bearer(tok))
        if r.status_code != 401 or not r.headers.get("WWW-Authenticate", "").startswith("Bearer"):
            failures.append(f"{name}: {r.status_code} {r.headers.get('WWW-Authenticate')!r}")
    assert not failures, "accepted or mis-answered forged tokens on the RS256 server:\n" + "\n".join(failures)


@needs_openssl
def test_es256_tokens_and_jwks(es, ec_keys, tmp_path):
    body = login(es.url, ADMIN_USER, ADMIN_PASSWORD)
    assert body["expires_in"] == 90  # STRATA_ACCESS_TOKEN_TTL=90s
    tok = body["access_token"]
    header, c, sig = jwt_parts(tok)
    assert header["alg"] == "ES256", header
    assert c["exp"] - c["iat"] == 90
    assert len(sig) == 64, "ES256 JWS signatures are R||S, 64 bytes (RFC 7518 §3.4), not DER"
    assert au.verify_with_openssl(tok, ec_keys / "pub.pem", tmp_path), "ES256 signature does not verify"
    assert authz(es.url, "quakes:read", bearer(tok)).status_code == 200
    keys = requests.get(es.url + JWKS_PATH, timeout=30).json()["keys"]
    assert len(keys) == 1, keys
    k = keys[0]
    assert k["kty"] == "EC" and k["crv"] == "P-256" and k.get("alg") == "ES256" and k.get("use") == "sig", k
    assert "d" not in k, "private key in the JWKS"
    spki = openssl("pkey", "-pubin", "-in", str(ec_keys / "pub.pem"), "-outform", "DER")
    point = spki[-65:]
    assert point[0] == 4
    assert k["x"] == b64u(point[1:33]) and k["y"] == b64u(point[33:]), k
    # the public key as an HMAC secret, and alg none
    pem = (ec_keys / "pub.pem").read_bytes()
    for name, bad in {"hs256_with_pem": hs256(HS_HEADER, claims(), key=pem), "none": _none("none")(),
                      "hs256_shared": hs256(HS_HEADER, claims())}.items():
        assert_unauthorized(authz(es.url, "quakes:read", bearer(bad)), name)


# ---- secrets at start ------------------------------------------------------------------------------------------

def expect_start_refused(s, name, setting, timeout=20):
    """strata s exits 2 during start with a message naming setting (fails early once it serves)."""
    deadline = time.monotonic() + timeout
    while s.proc.poll() is None:
        serving = False
        try:
            serving = requests.get(s.url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            pass
        if serving or time.monotonic() > deadline:
            s.stop()
            pytest.fail(f"{name}: strata started instead of refusing (serving: {serving}); it should exit 2 "
                        f"naming {setting}; stderr:\n{s.log()[-1500:]}", pytrace=False)
        time.sleep(0.05)
    rc = s.proc.returncode
    assert rc == 2, f"{name}: exit {rc}; stderr:\n{s.log()[-2000:]}"
    assert setting in s.log(), f"{name}: stderr does not name {setting}:\n{s.log()[-2000:]}"


def _prod_env(**over):
    e = {"STRATA_ENV": "production", "STRATA_DEBUG_ROUTES": None,
         "STRATA_API_KEY_SECRET": au.API_KEY_SECRET, "STRATA_JWT_SECRET": JWT_SECRET}
    e.update(over)
    return e


def test_production_refuses_to_start_without_jwt_secret(start_strata):
    for name, over in {"missing": {"STRATA_JWT_SECRET": None},
                       "empty": {"STRATA_JWT_SECRET": ""},
                       "short": {"STRATA_JWT_SECRET": "s" * 31}}.items():
        s = start_strata(env=_prod_env(**over), wait=False)
        expect_start_refused(s, name, "STRATA_JWT_SECRET")
    s = start_strata(env=_prod_env(STRATA_API_KEY_SECRET=None), wait=False)
    expect_start_refused(s, "no api key secret", "STRATA_API_KEY_SECRET")
    # control: with both secrets production starts
    s = start_strata(env=_prod_env(), ready=True)
    assert requests.get(s.url + JWKS_PATH, timeout=10).json() == {"keys": []}


@needs_openssl
def test_bad_key_settings_stop_the_start(start_strata, rsa_keys, tmp_path):
    for name, over, setting in [
        ("rs256_without_key_file", {"STRATA_JWT_ALG": "RS256"}, "STRATA_JWT_KEY_FILE"),
        ("missing_key_file", {"STRATA_JWT_ALG": "RS256", "STRATA_JWT_KEY_FILE": str(tmp_path / "nope.pem")},
         "STRATA_JWT_KEY_FILE"),
        ("public_key_only", {"STRATA_JWT_ALG": "RS256", "STRATA_JWT_KEY_FILE": str(rsa_keys / "pub.pem")},
         "STRATA_JWT_KEY_FILE"),
        ("es256_with_rsa_key", {"STRATA_JWT_ALG": "ES256", "STRATA_JWT_KEY_FILE": str(rsa_keys / "key.pem")},
         "STRATA_JWT_KEY_FILE"),
        ("unknown_alg", {"STRATA_JWT_ALG": "none"}, "STRATA_JWT_ALG"),
    ]:
        s = start_strata(env=auth_env(**over), wait=False)
        expect_start_refused(s, name, setting)


def test_development_secret_is_generated_once_and_kept(start_strata, tmp_path):
    var = tmp_path / "devvar"
    env = auth_env(STRATA_JWT_SECRET=None, STRATA_API_KEY_SECRET=None, STRATA_VAR_DIR=var)
    s1 = start_strata(env=env, ready=True)
    tok = login(s1.url, ADMIN_USER, ADMIN_PASSWORD)["access_token"]
    assert authz(s1.url, "quakes:read", bearer(tok)).status_code == 200
    files = [f for f in var.rglob("*") if f.is_file()]
    assert files, f"nothing generated under STRATA_VAR_DIR {var}"
    for f in files:
        assert f.stat().st_mode & 0o077 == 0, f"{f} is readable by others: {oct(f.stat().st_mode)}"
        remember(f.read_text().strip())
    # the generated secret is not the test's
    assert hs256(*tok.split(".")[:2]) != tok
    assert s1.stop() == 0
    s2 = start_strata(env=env, ready=True)
    r = authz(s2.url, "quakes:read", bearer(tok))
    assert r.status_code == 200, f"token of the first start refused after a restart: {r.status_code} {r.text}"


# ---- last: nothing of the above leaked into a log ---------------------------------------------------------------

def test_no_secret_in_logs(servers, srv, tmp_path_factory):
    # a query-string access_token on a normal route must not be logged either
    tok = login(srv.url, ADMIN_USER, ADMIN_PASSWORD)["access_token"]
    requests.get(srv.url + AUTHZ + "quakes:read", params={"access_token": tok}, timeout=30)
    requests.post(srv.url + au.TOKEN_PATH + "?password=" + ADMIN_PASSWORD, data={"grant_type": "password"},
                  timeout=30)
    time.sleep(0.3)
    nfiles, nsecrets = au.assert_no_secret_in_logs([tmp_path_factory.getbasetemp()])
    assert nsecrets > 20
