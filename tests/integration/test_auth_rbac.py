"""Authorization (SPEC §4) against real strata processes: 401 with a Bearer challenge, 403 per
permission for the whole seeded role x permission matrix (expected values read from the
database, by JWT and by API key), API keys (create, use, list, revoke, expiry), revocation that
bites on another process within seconds (disable a user, change a role, revoke a key), the audit
log, the access_token query parameter on stream routes only, the admin bootstrap, and that no
secret used in these tests shows up in any strata log.

Two strata processes A and B on one database for the module.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests

import authutil as au
from authutil import (ADMIN_PASSWORD, ADMIN_USER, AUTHZ, AUTHZ_STREAM, assert_oauth_error, assert_unauthorized,
                      auth_env, bearer, jwt_parts, login, login_resp, remember)
from conftest import assert_problem

ADMIN_ROUTES = {  # route -> the permission it needs
    "/api/v1/users": "users:admin",
    "/api/v1/api-keys": "apikeys:admin",
    "/api/v1/audit": "audit:read",
}
PROPAGATION_S = 5.0


# ---- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def servers(request, pg, tmp_path_factory):
    yield from au.servers_fixture(request, pg, tmp_path_factory, "rbac")


@pytest.fixture(scope="module")
def a(servers):
    return servers.start(env=auth_env())


@pytest.fixture(scope="module")
def b(servers, a):
    return servers.start(env=auth_env())


@pytest.fixture(scope="module")
def admin_tok(a):
    return au.admin_token(a.url)


@pytest.fixture(scope="module")
def matrix(servers, a):
    """(roles, permissions, {(role, permission)}) from the database."""
    roles = [r for (r,) in servers.query("SELECT name FROM roles ORDER BY name")]
    perms = [p for (p,) in servers.query("SELECT name FROM permissions ORDER BY name")]
    grants = {(r, p) for r, p in servers.query("SELECT role, permission FROM role_permissions")}
    assert len(roles) >= 9 and len(perms) >= 20, (roles, perms)
    return roles, perms, grants


def get(base, path, headers=None, **kw):
    return requests.get(base + path, headers=headers or {}, timeout=30, **kw)


def wait_status(fn, status, timeout=PROPAGATION_S):
    """Calls fn() until it returns a response with this status; returns (response, seconds)."""
    t0 = time.monotonic()
    while True:
        r = fn()
        if r.status_code == status or time.monotonic() - t0 > timeout:
            return r, time.monotonic() - t0
        time.sleep(0.05)


def patch_user(base, admin_tok, uid, body, headers=None):
    h = bearer(admin_tok)
    h.update(headers or {})
    r = requests.patch(f"{base}/api/v1/users/{uid}", json=body, headers=h, timeout=30)
    assert r.status_code in (200, 204), f"PATCH user {uid} {body}: {r.status_code} {r.text[:300]}"
    return r


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- 401 ------------------------------------------------------------------------------------------

def test_no_credentials_is_401_with_bearer_challenge(a, matrix):
    _, perms, _ = matrix
    for path in [AUTHZ + perms[0], AUTHZ + "users:admin", *ADMIN_ROUTES]:
        r = get(a.url, path)
        assert_unauthorized(r, path)
        # RFC 6750 §3.1: no error code when the request had no credentials at all
        assert "error=" not in r.headers["WWW-Authenticate"], r.headers["WWW-Authenticate"]
    for method, path, body in [("POST", "/api/v1/users", {"username": "x.y", "password": "p" * 20, "role": "viewer"}),
                               ("PATCH", "/api/v1/users/1", {"disabled": True}),
                               ("POST", "/api/v1/api-keys", {"name": "k", "role": "admin"}),
                               ("DELETE", "/api/v1/api-keys/1", None)]:
        r = requests.request(method, a.url + path, json=body, timeout=30)
        assert_unauthorized(r, f"{method} {path}")


def test_public_routes_need_no_token(a):
    for path in ("/healthz", "/readyz", "/openapi.json", au.JWKS_PATH):
        assert get(a.url, path).status_code == 200, path


# ---- the matrix -----------------------------------------------------------------------------------

def _check(base, path, headers, expect_ok, label):
    r = get(base, path, headers)
    if expect_ok and r.status_code != 200:
        return f"{label} {path}: expected 200, got {r.status_code} {r.text[:120]}"
    if not expect_ok:
        if r.status_code != 403:
            return f"{label} {path}: expected 403, got {r.status_code} {r.text[:120]}"
        if not r.headers.get("Content-Type", "").startswith("application/problem+json"):
            return f"{label} {path}: 403 is not problem+json ({r.headers.get('Content-Type')})"
    if expect_ok and path.startswith(AUTHZ):
        body = r.json()
        if body.get("permission") != path[len(AUTHZ):]:
            return f"{label} {path}: body names permission {body.get('permission')!r}"
    return None


def _run_matrix(base, roles, perms, grants, creds, label):
    """creds: role -> (headers, principal name); returns the list of mismatches."""
    jobs = []
    for role in roles:
        h, _ = creds[role]
        for p in perms:
            jobs.append((AUTHZ + p, h, (role, p) in grants, f"{label} {role}"))
        for path, p in ADMIN_ROUTES.items():
            jobs.append((path, h, (role, p) in grants, f"{label} {role}"))
    with ThreadPoolExecutor(max_workers=8) as ex:
        return [m for m in ex.map(lambda j: _check(base, *j), jobs) if m], len(jobs)


def test_role_permission_matrix_by_token(a, admin_tok, matrix):
    roles, perms, grants = matrix
    created = au.create_users(a.url, admin_tok, [(f"mx.{r}", r) for r in roles])
    with ThreadPoolExecutor(max_workers=8) as ex:
        bodies = dict(zip(roles, ex.map(lambda r: login(a.url, f"mx.{r}", created[f"mx.{r}"][1]), roles)))
    creds = {}
    for r in roles:
        c = jwt_parts(bodies[r]["access_token"])[1]
        assert c["role"] == r and c["sub"] == f"mx.{r}", c
        assert set(bodies[r]["scope"].split()) == {p for (rr, p) in grants if rr == r}, (r, bodies[r]["scope"])
        creds[r] = (bearer(bodies[r]["access_token"]), f"mx.{r}")
    bad, n = _run_matrix(a.url, roles, perms, grants, creds, "token")
    assert not bad, f"{len(bad)} of {n} authorization decisions wrong:\n" + "\n".join(bad)
    # the principal the route saw
    r = get(a.url, AUTHZ + "quakes:read", creds["viewer"][0])
    assert "mx.viewer" in str(r.json().get("principal")), r.json()


def test_role_permission_matrix_by_api_key(a, admin_tok, matrix):
    roles, perms, grants = matrix
    with ThreadPoolExecutor(max_workers=8) as ex:
        keys = dict(zip(roles, ex.map(lambda r: au.create_api_key(a.url, admin_tok, f"mx-{r}", r)["key"], roles)))
    creds = {r: ({"X-API-Key": keys[r]}, None) for r in roles}
    bad, n = _run_matrix(a.url, roles, perms, grants, creds, "apikey")
    assert not bad, f"{len(bad)} of {n} authorization decisions wrong:\n" + "\n".join(bad)


# ---- API keys ---------------------------------------------------------------------------------------

def test_api_key_lifecycle(servers, a, b, admin_tok):
    r = requests.post(a.url + "/api/v1/api-keys", json={"name": "life", "role": "viewer"}, headers=bearer(admin_tok),
                      timeout=30)
    assert r.status_code == 201, r.text
    assert r.headers.get("Location"), "201 without Location"
    data = r.json()
    key = remember(data["key"])
    kid = data.get("id") or int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    h = {"X-API-Key": key}
    au.wait_key_known(a.url, key)
    au.wait_key_known(b.url, key)
    assert get(a.url, AUTHZ + "quakes:read", h).status_code == 200
    assert get(b.url, AUTHZ + "quakes:read", h).status_code == 200
    assert_problem(get(a.url, AUTHZ + "books:write", h), 403)
    assert get(a.url, "/api/v1/users", h).status_code == 403
    # shown once: never in a listing, never stored in clear
    lst = get(a.url, "/api/v1/api-keys", bearer(admin_tok))
    assert lst.status_code == 200, lst.text
    assert key not in lst.text and au.key_secret_part(key) not in lst.text
    assert any(str(kid) == str(item.get("id")) for item in lst.json()["data"]), lst.json()
    dump = str(servers.query("SELECT * FROM api_keys"))
    assert key not in dump and au.key_secret_part(key) not in dump
    # revoke
    d = requests.delete(f"{a.url}/api/v1/api-keys/{kid}", headers=bearer(admin_tok), timeout=30)
    assert d.status_code == 204, d.text
    r, _ = wait_status(lambda: get(a.url, AUTHZ + "quakes:read", h), 401)
    assert_unauthorized(r, "revoked key on A")
    r, took = wait_status(lambda: get(b.url, AUTHZ + "quakes:read", h), 401)
    assert_unauthorized(r, f"revoked key on B after {took:.1f}s")


def test_new_api_key_works_at_once(a, admin_tok):
    """The key a 201 hands out works on the next request to the same process (read your writes):
    a client that uses its new key at once must not get 401."""
    refused = []
    for i in range(20):
        data = au.create_api_key(a.url, admin_tok, f"at-once-{i}", "viewer", wait=False)
        r = get(a.url, AUTHZ + "quakes:read", {"X-API-Key": data["key"]})
        if r.status_code != 200:
            refused.append(f"key {i}: {r.status_code} {r.text[:120]}")
    assert not refused, "fresh API keys refused right after 201 Created:\n" + "\n".join(refused)


def test_api_key_expiry(a, admin_tok):
    exp = datetime.now(timezone.utc) + timedelta(seconds=3)
    data = au.create_api_key(a.url, admin_tok, "short", "viewer", expires_at=iso(exp))
    h = {"X-API-Key": data["key"]}
    assert get(a.url, AUTHZ + "quakes:read", h).status_code == 200
    time.sleep(max(0.0, (exp - datetime.now(timezone.utc)).total_seconds()) + 1.2)
    assert_unauthorized(get(a.url, AUTHZ + "quakes:read", h), "expired API key")


def test_garbage_api_keys_are_401(a, admin_tok):
    real = au.create_api_key(a.url, admin_tok, "probe", "viewer")["key"]
    flipped = real[:-1] + ("A" if real[-1] != "A" else "B")
    prefix_only = "_".join(real.split("_")[:2]) + "_" + "A" * 43
    for label, key in {"garbage": "garbage", "empty_secret": "stk_000000000000_", "flipped_last_char": flipped,
                       "right_prefix_wrong_secret": prefix_only, "long": "stk_" + "a" * 5000,
                       "truncated": real[:-5], "extended": real + "x"}.items():
        assert_unauthorized(get(a.url, AUTHZ + "quakes:read", {"X-API-Key": key}), label)
    assert get(a.url, AUTHZ + "quakes:read", {"X-API-Key": real}).status_code == 200


def test_api_key_admin_rules(a, admin_tok):
    viewer_key = au.create_api_key(a.url, admin_tok, "v-no-admin", "viewer")["key"]
    r = requests.post(a.url + "/api/v1/api-keys", json={"name": "x", "role": "admin"},
                      headers={"X-API-Key": viewer_key}, timeout=30)
    assert_problem(r, 403)
    r = requests.post(a.url + "/api/v1/api-keys", json={"name": "x", "role": "no-such-role"},
                      headers=bearer(admin_tok), timeout=30)
    assert r.status_code in (400, 422), r.text
    assert_problem(r, r.status_code)
    r = requests.delete(a.url + "/api/v1/api-keys/999999999", headers=bearer(admin_tok), timeout=30)
    assert_problem(r, 404)


# ---- revocation on another process ----------------------------------------------------------------------

def test_disabling_a_user_bites_on_the_other_process(a, b, admin_tok):
    uid, pw = au.create_user(a.url, admin_tok, "rv.disable", "viewer")
    body = login(a.url, "rv.disable", pw)
    h = bearer(body["access_token"])
    assert get(b.url, AUTHZ + "quakes:read", h).status_code == 200, "B refuses A's token"
    patch_user(a.url, admin_tok, uid, {"disabled": True})
    r, took = wait_status(lambda: get(b.url, AUTHZ + "quakes:read", h), 401)
    assert_unauthorized(r, f"disabled user's token on B after {took:.1f}s")
    assert_unauthorized(get(a.url, AUTHZ + "quakes:read", h), "disabled user's token on A")
    assert_oauth_error(login_resp(b.url, "rv.disable", pw), 400, "invalid_grant")
    assert_oauth_error(au.refresh_resp(b.url, body["refresh_token"]), 400, "invalid_grant")
    # enabled again: a new login works
    patch_user(a.url, admin_tok, uid, {"disabled": False})
    time.sleep(0.2)
    r, _ = wait_status(lambda: login_resp(b.url, "rv.disable", pw), 200)
    assert r.status_code == 200, r.text
    remember(r.json()["access_token"]); remember(r.json()["refresh_token"])


def test_role_change_bites_on_the_other_process(a, b, admin_tok):
    uid, pw = au.create_user(a.url, admin_tok, "rv.role", "member")
    body = login(a.url, "rv.role", pw)
    h = bearer(body["access_token"])
    assert get(b.url, AUTHZ + "books:write", h).status_code == 200
    patch_user(a.url, admin_tok, uid, {"role": "viewer"})
    r, took = wait_status(lambda: get(b.url, AUTHZ + "quakes:read", h), 401)
    assert_unauthorized(r, f"token with the old role on B after {took:.1f}s")
    assert_unauthorized(get(b.url, AUTHZ + "books:write", h), "old role, old permission")
    # the refresh token must not mint a token with the old role either
    rr = au.refresh_resp(b.url, body["refresh_token"])
    if rr.status_code == 200:
        c = jwt_parts(rr.json()["access_token"])[1]
        assert c["role"] == "viewer", f"refresh after a role change minted role {c['role']}"
        assert "books:write" not in rr.json()["scope"].split(), rr.json()
        assert get(b.url, AUTHZ + "books:write", bearer(rr.json()["access_token"])).status_code == 403
    else:
        assert_oauth_error(rr, 400, "invalid_grant")
    nb = login(b.url, "rv.role", pw)
    assert jwt_parts(nb["access_token"])[1]["role"] == "viewer"
    assert get(b.url, AUTHZ + "quakes:read", bearer(nb["access_token"])).status_code == 200
    assert get(b.url, AUTHZ + "books:write", bearer(nb["access_token"])).status_code == 403


def test_api_key_revoke_bites_on_the_other_process(a, b, admin_tok):
    data = au.create_api_key(a.url, admin_tok, "rv-key", "operator")
    h = {"X-API-Key": data["key"]}
    r, _ = wait_status(lambda: get(b.url, AUTHZ + "machines:read", h), 200)
    assert r.status_code == 200, f"B does not accept a key created on A: {r.status_code}"
    d = requests.delete(f"{a.url}/api/v1/api-keys/{data['id']}", headers=bearer(admin_tok), timeout=30)
    assert d.status_code == 204, d.text
    r, took = wait_status(lambda: get(b.url, AUTHZ + "machines:read", h), 401)
    assert_unauthorized(r, f"revoked key on B after {took:.1f}s")


# ---- audit ----------------------------------------------------------------------------------------------

def test_admin_actions_are_audited(servers, a, admin_tok):
    rid = lambda tag: {"X-Request-ID": f"audit-{tag}-{int(time.time() * 1000)}"}  # noqa: E731
    h_create, h_patch, h_key, h_revoke = rid("create"), rid("patch"), rid("key"), rid("revoke")
    r = requests.post(a.url + "/api/v1/users", json={"username": "au.target", "password": au.new_password(),
                                                     "role": "viewer"},
                      headers={**bearer(admin_tok), **h_create}, timeout=30)
    assert r.status_code == 201, r.text
    uid = r.json().get("id") or int(r.headers["Location"].rsplit("/", 1)[1])
    patch_user(a.url, admin_tok, uid, {"disabled": True}, headers=h_patch)
    key = au.create_api_key(a.url, admin_tok, "au-key", "viewer", headers=h_key)
    d = requests.delete(f"{a.url}/api/v1/api-keys/{key['id']}", headers={**bearer(admin_tok), **h_revoke},
                        timeout=30)
    assert d.status_code == 204
    time.sleep(0.2)

    def rows(h):
        return servers.query("SELECT actor, action, target, outcome FROM audit_log WHERE request_id = %s",
                             (h["X-Request-ID"],))

    expect = [(h_create, lambda act: act == "user.create"),
              (h_patch, lambda act: act.startswith("user.")),
              (h_key, lambda act: act == "apikey.create"),
              (h_revoke, lambda act: act == "apikey.revoke")]
    for h, ok in expect:
        got = rows(h)
        assert got, f"no audit row with request_id {h['X-Request-ID']}"
        assert any(ok(act) and actor == f"user:{ADMIN_USER}" and outcome == "success"
                   for actor, act, _, outcome in got), f"{h['X-Request-ID']}: {got}"
    # the API lists it to auditors
    r = get(a.url, "/api/v1/audit", bearer(admin_tok))
    assert r.status_code == 200, r.text
    assert isinstance(r.json().get("data"), list) and "next_cursor" in r.json(), r.json()
    assert any(e.get("action") == "apikey.revoke" for e in r.json()["data"]), r.json()["data"][:5]
    # no secret in the audit log
    dump = str(servers.query("SELECT * FROM audit_log"))
    with au._SECRETS_LOCK:
        leaked = [s[:8] for s in au._SECRETS if s in dump]
    assert not leaked, f"secrets in audit_log: {leaked}"


# ---- stream routes: ?access_token= ------------------------------------------------------------------------

def _stream_path(base, perm):
    """The stream-flagged debug route requiring perm: /authz-stream/{permission} per the issue;
    the lead's first version has one fixed route /authz-stream requiring quakes:read."""
    if get(base, AUTHZ_STREAM + perm).status_code != 404:
        return AUTHZ_STREAM + perm
    if perm == "quakes:read" and get(base, AUTHZ_STREAM.rstrip("/")).status_code != 404:
        return AUTHZ_STREAM.rstrip("/")
    return None


def test_query_access_token_only_on_stream_routes(a, admin_tok):
    path = _stream_path(a.url, "quakes:read")
    if path is None:
        pytest.skip(f"no {AUTHZ_STREAM} debug stream route")
    assert_unauthorized(get(a.url, path), "stream route without a token")
    tok = login(a.url, ADMIN_USER, ADMIN_PASSWORD)["access_token"]
    with requests.get(a.url + path, params={"access_token": tok}, stream=True, timeout=10) as r:
        assert r.status_code == 200, r.status_code
    # a token without quakes:read: 403
    narrow = login(a.url, ADMIN_USER, ADMIN_PASSWORD, scope="users:admin")["access_token"]
    with requests.get(a.url + path, params={"access_token": narrow}, stream=True, timeout=10) as r:
        assert r.status_code == 403, r.status_code
    for label, bad in {"garbage": "garbage.token.x",
                       "alg_none": au.hs256({"alg": "none", "typ": "JWT"}, au.claims()),
                       "wrong_secret": au.hs256(au.HS_HEADER, au.claims(), key="k" * 40)}.items():
        with requests.get(a.url + path, params={"access_token": bad}, stream=True, timeout=10) as r:
            assert r.status_code == 401, f"{label}: {r.status_code}"
            assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), label
    # a normal route does not take a token from the query
    r = get(a.url, AUTHZ + "quakes:read", params={"access_token": tok})
    assert r.status_code in (400, 401), f"query token on a normal route: {r.status_code} {r.text[:200]}"
    r = get(a.url, "/api/v1/users", params={"access_token": tok})
    assert r.status_code in (400, 401), f"query token on /api/v1/users: {r.status_code}"
    time.sleep(0.3)
    for rec in a.log_records():
        assert tok not in str(rec), f"access_token in a log record: {str(rec)[:300]}"


# ---- admin bootstrap ------------------------------------------------------------------------------------------

def test_admin_bootstrap_creates_and_resets(start_strata):
    pw1, pw2 = au.new_password(), au.new_password()
    env = auth_env(STRATA_ADMIN_USER="boot.admin", STRATA_ADMIN_PASSWORD=pw1)
    s = start_strata(env=env, ready=True)
    body = login(s.url, "boot.admin", pw1)
    assert jwt_parts(body["access_token"])[1]["role"] == "admin"
    assert get(s.url, "/api/v1/users", bearer(body["access_token"])).status_code == 200
    assert s.stop() == 0
    s = start_strata(env={**env, "STRATA_ADMIN_PASSWORD": pw2}, ready=True)
    assert_oauth_error(login_resp(s.url, "boot.admin", pw1), 400, "invalid_grant")
    login(s.url, "boot.admin", pw2)


# ---- last: nothing leaked ----------------------------------------------------------------------------------------

def test_no_secret_in_logs(a, b, admin_tok, tmp_path_factory):
    # requests that carry secrets in places a careless logger would print
    key = au.create_api_key(a.url, admin_tok, "log-probe", "viewer")["key"]
    tok = login(a.url, ADMIN_USER, ADMIN_PASSWORD)["access_token"]
    get(a.url, AUTHZ + "quakes:read", {"X-API-Key": key})
    get(a.url, AUTHZ + "quakes:read", {"X-API-Key": key + "x"})
    get(a.url, AUTHZ + "quakes:read", {"Authorization": "Bearer " + tok[:-2] + "xx"})
    get(a.url, AUTHZ + "quakes:read", params={"access_token": tok})
    path = _stream_path(a.url, "quakes:read")
    if path:
        get(a.url, path, params={"access_token": tok}, stream=True).close()
    login_resp(a.url, ADMIN_USER, ADMIN_PASSWORD + "-wrong")
    time.sleep(0.3)
    remember(ADMIN_PASSWORD + "-wrong")
    nfiles, nsecrets = au.assert_no_secret_in_logs([tmp_path_factory.getbasetemp()])
    assert nsecrets > 20
