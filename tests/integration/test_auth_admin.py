"""The administration API and the operator CLI (SPEC §2, §4): users, roles, API keys, the
audit log, keyset paging with opaque cursors, `strata user|client|apikey ...`, and the admin
bootstrap at start.

One server (and one database) for most of the module; the bootstrap tests start their own.
"""

import base64
import re
import secrets
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

import authutil as au
from authutil import (ADMIN_PASSWORD, ADMIN_USER, AUTHZ, API_KEY_SECRET, JWT_SECRET, assert_oauth_error,
                      assert_unauthorized, auth_env, bearer, login, login_resp, new_password, refresh_resp,
                      remember)
from conftest import STRATA_BIN, assert_problem, base_env

USERS = "/api/v1/users"
ROLES = "/api/v1/roles"
KEYS = "/api/v1/api-keys"
AUDIT = "/api/v1/audit"
T = 30


# ---- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def servers(request, pg, tmp_path_factory):
    yield from au.servers_fixture(request, pg, tmp_path_factory, "adm")


@pytest.fixture(scope="module")
def srv(servers):
    return servers.start(env=auth_env())


@pytest.fixture(scope="module")
def admin(srv):
    return bearer(au.admin_token(srv.url))


@pytest.fixture(scope="module")
def viewer(srv, admin):
    uid, pw = au.create_user(srv.url, admin["Authorization"][7:], "adm.viewer", "viewer")
    return bearer(login(srv.url, "adm.viewer", pw)["access_token"])


def get(srv, path, headers, **kw):
    return requests.get(srv.url + path, headers=headers, timeout=T, **kw)


def post(srv, path, headers, body, **kw):
    return requests.post(srv.url + path, json=body, headers=headers, timeout=T, **kw)


def patch(srv, path, headers, body):
    return requests.patch(srv.url + path, json=body, headers=headers, timeout=T)


def fields(problem):
    return {e["field"]: e["message"] for e in problem.get("errors", [])}


def wait_status(fn, status, timeout=5, what=""):
    """Polls fn() until its status is `status` (revocations reach the snapshot within seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        r = fn()
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def audit_rows(servers, action, target=None, n=1):
    """Audit rows of an action (and target), oldest first, once there are at least n of them:
    the audit row is written beside the reply, so it may land a moment after it."""
    sql = "SELECT actor, action, target, outcome, detail, request_id FROM audit_log WHERE action = %s"
    args = [action]
    if target is not None:
        sql += " AND target = %s"
        args.append(target)
    deadline = time.monotonic() + 5
    while True:
        rows = servers.query(sql + " ORDER BY id", args)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def no_sql_in(text):
    low = text.lower()
    for word in ("duplicate key", "violates", "constraint", "insert into", "sqlstate", "select "):
        assert word not in low, f"SQL text leaked: {text[:300]}"


# ---- permissions ----------------------------------------------------------------------------------

ROUTES = [("GET", USERS), ("POST", USERS), ("GET", USERS + "/1"), ("PATCH", USERS + "/1"), ("GET", ROLES),
          ("GET", KEYS), ("POST", KEYS), ("GET", KEYS + "/1"), ("DELETE", KEYS + "/1"), ("GET", AUDIT)]


def test_every_route_needs_a_token_and_the_permission(srv, viewer):
    for method, path in ROUTES:
        body = {} if method in ("POST", "PATCH") else None
        r = requests.request(method, srv.url + path, json=body, timeout=T)
        assert_unauthorized(r, f"{method} {path}")
        r = requests.request(method, srv.url + path, json=body, headers=viewer, timeout=T)
        assert_problem(r, 403)


def test_routes_are_in_the_openapi_document(srv):
    doc = requests.get(srv.url + "/openapi.json", timeout=T).json()
    paths = doc["paths"]
    assert paths[USERS]["post"]["x-permission"] == "users:admin"
    assert "409" in paths[USERS]["post"]["responses"] and "422" in paths[USERS]["post"]["responses"]
    assert paths[USERS + "/{id}"]["patch"]["x-permission"] == "users:admin"
    assert paths[KEYS + "/{id}"]["delete"]["x-permission"] == "apikeys:admin"
    assert paths[AUDIT]["get"]["x-permission"] == "audit:read"
    names = {p["name"] for p in paths[AUDIT]["get"]["parameters"]}
    assert names >= {"limit", "cursor", "actor", "action", "outcome", "since", "until"}


# ---- users ---------------------------------------------------------------------------------------

def test_create_user(servers, srv, admin):
    pw = new_password()
    r = post(srv, USERS, admin, {"username": "adm.alice", "password": pw, "role": "member"})
    assert r.status_code == 201, r.text
    u = r.json()
    assert set(u) == {"id", "username", "role", "disabled", "created_at", "updated_at"}
    assert u["username"] == "adm.alice" and u["role"] == "member" and u["disabled"] is False
    assert r.headers["Location"] == f"{USERS}/{u['id']}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", u["created_at"])
    assert pw not in r.text
    got = get(srv, r.headers["Location"], admin)
    assert got.status_code == 200 and got.json() == u
    # stored as Argon2id, never as given
    (h,), = servers.query("SELECT password_hash FROM users WHERE username = 'adm.alice'")
    assert h.startswith("$argon2id$") and pw not in h
    # the new user can log in, and gets the member role
    tok = login(srv.url, "adm.alice", pw)
    use = requests.get(srv.url + AUTHZ + "books:write", headers=bearer(tok["access_token"]), timeout=T)
    assert use.status_code == 200, use.text
    rows = audit_rows(servers, "user.create", "user:adm.alice")
    assert len(rows) == 1
    actor, _, _, outcome, detail, request_id = rows[0]
    assert actor == f"user:{ADMIN_USER}" and outcome == "success" and detail == {"role": "member"}
    assert request_id == r.headers["X-Request-ID"]


def test_create_user_validation(srv, admin):
    cases = [
        ({}, {"username", "password", "role"}),
        ({"username": "ok.name", "password": new_password()}, {"role"}),
        ({"username": "bad name!", "password": new_password(), "role": "viewer"}, {"username"}),
        ({"username": "-leading", "password": new_password(), "role": "viewer"}, {"username"}),
        ({"username": "x" * 65, "password": new_password(), "role": "viewer"}, {"username"}),
        ({"username": "weakling", "password": "short", "role": "viewer"}, {"password"}),
        ({"username": "weakling", "password": "alllowercaseletters", "role": "viewer"}, {"password"}),
        ({"username": "weakling", "password": "Weakling-Pass-123", "role": "viewer"}, {"password"}),
        ({"username": "ok.name", "password": new_password(), "role": "emperor"}, {"role"}),
        ({"username": 42, "password": new_password(), "role": "viewer"}, {"username"}),
        ({"username": "ok.name", "password": new_password(), "role": "viewer", "admin": True}, {"admin"}),
    ]
    for body, want in cases:
        r = post(srv, USERS, admin, body)
        p = assert_problem(r, 422)
        assert set(fields(p)) == want, (body, p)
        if isinstance(body.get("password"), str):
            assert body["password"] not in r.text
    for data in ("[1, 2]", None):  # not an object; no body at all
        r = requests.post(srv.url + USERS, data=data, headers={**admin, "Content-Type": "application/json"}, timeout=T)
        assert "body" in fields(assert_problem(r, 422))
    r = requests.post(srv.url + USERS, data="username=x", headers={**admin, "Content-Type": "text/plain"}, timeout=T)
    assert_problem(r, 415)
    r = requests.post(srv.url + USERS, data="{", headers={**admin, "Content-Type": "application/json"}, timeout=T)
    assert_problem(r, 400)
    big = {"username": "big", "password": "P" * 5000, "role": "viewer"}
    assert_problem(post(srv, USERS, admin, big), 413)


def test_duplicate_username_is_409(servers, srv, admin):
    body = {"username": "adm.dup", "password": new_password(), "role": "viewer"}
    assert post(srv, USERS, admin, body).status_code == 201
    r = post(srv, USERS, admin, {**body, "password": new_password()})
    p = assert_problem(r, 409)
    assert "adm.dup" in p["detail"]
    no_sql_in(r.text)
    assert [row[3] for row in audit_rows(servers, "user.create", "user:adm.dup", n=2)] == ["success", "failure"]


def test_get_unknown_user_is_404(srv, admin):
    assert_problem(get(srv, USERS + "/987654321", admin), 404)
    assert_problem(get(srv, USERS + "/abc", admin), 400)
    assert_problem(patch(srv, USERS + "/987654321", admin, {"role": "viewer"}), 404)
    assert_problem(patch(srv, USERS + "/987654321", admin, {"password": new_password()}), 404)


def test_patch_validation(srv, admin):
    uid, _ = au.create_user(srv.url, admin["Authorization"][7:], "adm.patchv", "viewer")
    for body, want in [({}, "body"), ({"role": "emperor"}, "role"), ({"disabled": "yes"}, "disabled"),
                       ({"role": 5}, "role"), ({"password": "short"}, "password"), ({"name": "x"}, "name"),
                       ({"password": "adm.patchv-Long-Enough-1"}, "password")]:
        p = assert_problem(patch(srv, f"{USERS}/{uid}", admin, body), 422)
        assert want in fields(p), (body, p)


def test_patch_role_revokes_refresh_tokens(servers, srv, admin):
    uid, pw = au.create_user(srv.url, admin["Authorization"][7:], "adm.promote", "viewer")
    session = login(srv.url, "adm.promote", pw)
    r = patch(srv, f"{USERS}/{uid}", admin, {"role": "operator"})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["role"] == "operator" and u["updated_at"] >= u["created_at"]
    assert servers.query("SELECT count(*) FROM refresh_tokens WHERE user_id = %s AND revoked_at IS NULL",
                         [uid])[0][0] == 0
    assert_oauth_error(refresh_resp(srv.url, session["refresh_token"]), 400, "invalid_grant")
    # a fresh login carries the new role
    tok = login(srv.url, "adm.promote", pw)["access_token"]
    assert requests.get(srv.url + AUTHZ + "machines:read", headers=bearer(tok), timeout=T).status_code == 200
    (_, _, _, outcome, detail, _), = audit_rows(servers, "user.update", "user:adm.promote")
    assert outcome == "success"
    assert detail["role"] == {"from": "viewer", "to": "operator"}
    assert detail["refresh_tokens_revoked"] == 1


def test_patch_disable_and_enable(servers, srv, admin):
    uid, pw = au.create_user(srv.url, admin["Authorization"][7:], "adm.disable", "viewer")
    session = login(srv.url, "adm.disable", pw)
    r = patch(srv, f"{USERS}/{uid}", admin, {"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert_oauth_error(login_resp(srv.url, "adm.disable", pw), 400, "invalid_grant")
    assert_oauth_error(refresh_resp(srv.url, session["refresh_token"]), 400, "invalid_grant")
    r = wait_status(lambda: requests.get(srv.url + AUTHZ + "quakes:read", headers=bearer(session["access_token"]),
                                         timeout=T), 401)
    assert_unauthorized(r, "access token of a disabled user")
    r = patch(srv, f"{USERS}/{uid}", admin, {"disabled": False})
    assert r.status_code == 200 and r.json()["disabled"] is False
    login(srv.url, "adm.disable", pw)
    details = [row[4] for row in audit_rows(servers, "user.update", "user:adm.disable", n=2)]
    assert details[0]["disabled"] == {"from": False, "to": True}
    assert details[1]["disabled"] == {"from": True, "to": False}


def test_patch_password(servers, srv, admin):
    uid, old = au.create_user(srv.url, admin["Authorization"][7:], "adm.pw", "viewer")
    session = login(srv.url, "adm.pw", old)
    new = new_password()
    r = patch(srv, f"{USERS}/{uid}", admin, {"password": new})
    assert r.status_code == 200, r.text
    assert new not in r.text
    assert_oauth_error(login_resp(srv.url, "adm.pw", old), 400, "invalid_grant")
    login(srv.url, "adm.pw", new)
    assert_oauth_error(refresh_resp(srv.url, session["refresh_token"]), 400, "invalid_grant")
    (_, _, _, _, detail, _), = audit_rows(servers, "user.update", "user:adm.pw")
    assert detail.get("password_changed") is True
    assert new not in str(detail) and old not in str(detail)


def test_admin_cannot_lock_themselves_out(servers, srv, admin):
    (my_id,), = servers.query("SELECT id FROM users WHERE username = %s", [ADMIN_USER])
    p = assert_problem(patch(srv, f"{USERS}/{my_id}", admin, {"disabled": True}), 422)
    assert "disabled" in fields(p)
    p = assert_problem(patch(srv, f"{USERS}/{my_id}", admin, {"role": "viewer"}), 422)
    assert "role" in fields(p)
    # keeping the admin role, or enabling, is fine
    assert patch(srv, f"{USERS}/{my_id}", admin, {"role": "admin", "disabled": False}).status_code == 200
    assert servers.query("SELECT role, disabled FROM users WHERE id = %s", [my_id])[0] == ("admin", False)


def test_roles(srv, admin):
    r = get(srv, ROLES, admin)
    assert r.status_code == 200, r.text
    roles = {x["name"]: x for x in r.json()["data"]}
    assert set(roles) >= {"viewer", "member", "operator", "supervisor", "management", "gateway", "quant", "ops",
                          "admin"}
    assert roles["viewer"]["permissions"] == ["books:read", "quakes:read"]
    assert roles["gateway"]["permissions"] == ["telemetry:ingest"]
    assert {"users:admin", "apikeys:admin", "audit:read", "quakes:write"} <= set(roles["admin"]["permissions"])
    assert all(isinstance(x["description"], str) for x in roles.values())


# ---- keyset paging -----------------------------------------------------------------------------------

def walk(srv, path, headers, limit, params=None):
    """Follows next_cursor (and checks it against the Link header) to the end; returns
    (rows, pages)."""
    rows, pages = [], 0
    q = dict(params or {}, limit=limit)
    url = srv.url + path
    while True:
        r = requests.get(url, params=q, headers=headers, timeout=T)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data", "next_cursor"}
        assert len(body["data"]) <= limit
        rows += body["data"]
        pages += 1
        link = r.headers.get("Link")
        if body["next_cursor"] is None:
            assert link is None
            return rows, pages
        assert len(body["data"]) == limit
        m = re.fullmatch(r'<([^>]+)>; rel="next"', link or "")
        assert m, link
        nxt = requests.get(srv.url + m.group(1), headers=headers, timeout=T)
        assert nxt.status_code == 200
        q = dict(params or {}, limit=limit, cursor=body["next_cursor"])
        again = requests.get(url, params=q, headers=headers, timeout=T)
        assert nxt.json() == again.json(), "the Link header and next_cursor must lead to the same page"


def test_users_paging(servers, srv, admin):
    with servers.connect() as c:
        for i in range(11):
            c.execute("INSERT INTO users (username, password_hash, role) VALUES (%s, 'x', 'viewer')", [f"pg.u{i:02d}"])
    want = [row[0] for row in servers.query("SELECT id FROM users ORDER BY id")]
    rows, pages = walk(srv, USERS, admin, 4)
    ids = [u["id"] for u in rows]
    assert ids == want and len(set(ids)) == len(ids)
    assert pages >= 3
    # default limit 50, bounds
    assert len(get(srv, USERS, admin).json()["data"]) == min(50, len(want))
    for bad in ("0", "1001", "x"):
        assert "limit" in fields(assert_problem(get(srv, USERS, admin, params={"limit": bad}), 400))
    assert "sort" in fields(assert_problem(get(srv, USERS, admin, params={"sort": "id"}), 400))


def _tamper(cursor):
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    i = raw.index(b":") + 1
    raw[i] = ord("9") if raw[i] != ord("9") else ord("8")  # another id, same shape
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_bad_cursors_are_400(srv, admin):
    first = get(srv, USERS, admin, params={"limit": 2}).json()
    cur = first["next_cursor"]
    assert cur
    keys = get(srv, KEYS, admin, params={"limit": 1}).json()
    for bad in ["garbage", "!!!", _tamper(cur), cur[:-2], cur + "A", "", "x" * 300,
                base64.urlsafe_b64encode(b"u:1").rstrip(b"=").decode()]:
        if bad == "":
            continue  # an empty parameter is "absent"
        r = get(srv, USERS, admin, params={"cursor": bad})
        assert "cursor" in fields(assert_problem(r, 400)), bad
    if keys["next_cursor"]:  # a cursor of another list
        assert "cursor" in fields(assert_problem(get(srv, USERS, admin, params={"cursor": keys["next_cursor"]}), 400))


# ---- API keys ------------------------------------------------------------------------------------------

def test_api_key_lifecycle(servers, srv, admin):
    exp = (datetime.now(timezone.utc) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = post(srv, KEYS, admin, {"name": "gateway 7", "role": "gateway", "expires_at": exp})
    assert r.status_code == 201, r.text
    k = r.json()
    remember(k["key"])
    assert set(k) == {"id", "name", "role", "prefix", "created_by", "expires_at", "created_at", "key"}
    assert re.fullmatch(r"stk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", k["key"]), k["key"]
    assert k["key"].startswith(f"stk_{k['prefix']}_")
    assert k["expires_at"].startswith(exp[:19]) and k["name"] == "gateway 7" and k["role"] == "gateway"
    assert r.headers["Location"] == f"{KEYS}/{k['id']}"
    assert "no-store" in r.headers.get("Cache-Control", "")
    # stored as an HMAC only
    (h, prefix), = servers.query("SELECT encode(key_hmac, 'hex'), prefix FROM api_keys WHERE id = %s", [k["id"]])
    assert prefix == k["prefix"] and len(h) == 64 and k["key"] not in h
    # the key works, with its role
    use = lambda perm: requests.get(srv.url + AUTHZ + perm, headers={"X-API-Key": k["key"]}, timeout=T)  # noqa: E731
    r = wait_status(lambda: use("telemetry:ingest"), 200)
    assert r.status_code == 200, r.text
    assert_problem(use("quakes:read"), 403)
    # never shown again
    one = get(srv, f"{KEYS}/{k['id']}", admin)
    assert one.status_code == 200 and "key" not in one.json() and k["key"] not in one.text
    assert one.json()["created_by"] == f"user:{ADMIN_USER}" and one.json()["revoked_at"] is None
    listed = get(srv, KEYS, admin, params={"limit": 1000}).json()["data"]
    mine = [x for x in listed if x["id"] == k["id"]]
    assert len(mine) == 1
    assert set(mine[0]) == {"id", "name", "role", "prefix", "created_by", "expires_at", "revoked_at", "created_at"}
    assert k["key"].split("_", 2)[2] not in str(listed)
    # revoke: 204, then 404; the key stops working within seconds
    r = requests.delete(f"{srv.url}{KEYS}/{k['id']}", headers=admin, timeout=T)
    assert r.status_code == 204 and r.text == ""
    assert_problem(requests.delete(f"{srv.url}{KEYS}/{k['id']}", headers=admin, timeout=T), 404)
    assert_problem(requests.delete(f"{srv.url}{KEYS}/99999999", headers=admin, timeout=T), 404)
    r = wait_status(lambda: use("telemetry:ingest"), 401)
    assert_unauthorized(r, "revoked API key")
    assert get(srv, f"{KEYS}/{k['id']}", admin).json()["revoked_at"] is not None
    target = f"apikey:{k['prefix']}"
    (c_actor, _, _, c_out, c_detail, _), = audit_rows(servers, "apikey.create", target)
    assert c_actor == f"user:{ADMIN_USER}" and c_out == "success" and c_detail["role"] == "gateway"
    assert k["key"] not in str(c_detail)
    assert len(audit_rows(servers, "apikey.revoke", target)) == 1


def test_api_key_validation(srv, admin):
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for body, want in [({}, {"name", "role"}), ({"name": "k", "role": "emperor"}, {"role"}),
                       ({"name": "k", "role": "viewer", "expires_at": past}, {"expires_at"}),
                       ({"name": "k", "role": "viewer", "expires_at": "tomorrow"}, {"expires_at"}),
                       ({"name": "", "role": "viewer"}, {"name"}), ({"name": "a\nb", "role": "viewer"}, {"name"}),
                       ({"name": "k", "role": "viewer", "secret": "x"}, {"secret"})]:
        p = assert_problem(post(srv, KEYS, admin, body), 422)
        assert set(fields(p)) == want, (body, p)
    assert_problem(get(srv, KEYS + "/123456789", admin), 404)


def test_api_key_expiry(srv, admin):
    expires = datetime.now(timezone.utc) + timedelta(seconds=4)
    k = au.create_api_key(srv.url, admin["Authorization"][7:], "short-lived", "viewer", expires_at=expires.isoformat())
    use = lambda: requests.get(srv.url + AUTHZ + "quakes:read", headers={"X-API-Key": k["key"]}, timeout=T)  # noqa: E731
    assert wait_status(use, 200).status_code == 200
    time.sleep(max(0.0, (expires - datetime.now(timezone.utc)).total_seconds()) + 1.2)
    assert_unauthorized(use(), "expired API key")


def test_api_keys_paging(servers, srv, admin):
    with servers.connect() as c:
        for i in range(9):
            c.execute("INSERT INTO api_keys (prefix, key_hmac, name, role, created_by) "
                      "VALUES (%s, '\\x00', %s, 'viewer', 'test')", [secrets.token_hex(6), f"paged {i}"])
    want = [row[0] for row in servers.query("SELECT id FROM api_keys ORDER BY id")]
    rows, pages = walk(srv, KEYS, admin, 3)
    assert [k["id"] for k in rows] == want and pages >= 3
    assert all("key" not in k and "key_hmac" not in k for k in rows)
    assert "cursor" in fields(assert_problem(get(srv, KEYS, admin, params={"cursor": "Zm9v"}), 400))


# ---- audit log ---------------------------------------------------------------------------------------

def test_audit_log(servers, srv, admin, viewer):
    # a burst of rows from one actor, then read them back newest first
    with servers.connect() as c:
        for i in range(13):
            c.execute("INSERT INTO audit_log (actor, action, target, outcome, detail) VALUES "
                      "('test:pager', 'test.page', %s, %s, %s)",
                      [f"t{i}", "failure" if i % 3 == 0 else "success", f'{{"i": {i}}}'])
    rows, pages = walk(srv, AUDIT, admin, 5, {"actor": "test:pager"})
    assert [r["target"] for r in rows] == [f"t{i}" for i in reversed(range(13))]
    assert pages == 3 and len({r["id"] for r in rows}) == 13
    r0 = rows[0]
    assert set(r0) == {"id", "at", "actor", "action", "target", "request_id", "outcome", "detail"}
    assert r0["detail"] == {"i": 12} and r0["request_id"] is None
    # filters
    fails, _ = walk(srv, AUDIT, admin, 2, {"actor": "test:pager", "outcome": "failure"})
    assert [r["target"] for r in fails] == ["t12", "t9", "t6", "t3", "t0"]
    got = get(srv, AUDIT, admin, params={"action": "test.page", "limit": 1000}).json()["data"]
    assert len(got) == 13
    assert get(srv, AUDIT, admin, params={"action": "no.such"}).json() == {"data": [], "next_cursor": None}
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert get(srv, AUDIT, admin, params={"since": future}).json()["data"] == []
    assert get(srv, AUDIT, admin, params={"until": "2000-01-01"}).json()["data"] == []
    assert len(get(srv, AUDIT, admin, params={"actor": "test:pager", "since": "2000-01-01", "until": future})
               .json()["data"]) == 13
    for k, v in [("outcome", "maybe"), ("since", "yesterday"), ("limit", "5000"), ("cursor", "AAAA"), ("who", "x")]:
        assert k in fields(assert_problem(get(srv, AUDIT, admin, params={k: v}), 400)), (k, v)
    # the admin's own actions are there, attributed and with the request id
    r = post(srv, USERS, admin, {"username": "adm.audited", "password": new_password(), "role": "viewer"})
    rid = r.headers["X-Request-ID"]
    audit_rows(servers, "user.create", "user:adm.audited")  # written beside the reply: wait for it
    mine = get(srv, AUDIT, admin, params={"actor": f"user:{ADMIN_USER}", "action": "user.create"}).json()["data"]
    hit = [x for x in mine if x["target"] == "user:adm.audited"]
    assert hit and hit[0]["request_id"] == rid and hit[0]["outcome"] == "success"
    # a viewer may not read it
    assert_problem(get(srv, AUDIT, viewer), 403)


# ---- CLI -----------------------------------------------------------------------------------------

def cli(servers, *args, stdin=None, check=None):
    env = base_env()
    env.update(servers.env(auth_env()))
    p = subprocess.run([STRATA_BIN, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    if check is not None:
        assert p.returncode == check, f"strata {' '.join(args)} -> {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p


def test_cli_user_add_then_login(servers, srv):
    pw = new_password()
    p = cli(servers, "user", "add", "cli.bob", "--role", "member", "--password-stdin", stdin=pw + "\n", check=0)
    assert "cli.bob" in p.stdout and pw not in p.stdout + p.stderr
    login(srv.url, "cli.bob", pw)
    (actor, _, _, outcome, detail, _), = audit_rows(servers, "user.create", "user:cli.bob")
    assert actor == "cli" and outcome == "success" and detail == {"role": "member"}
    # duplicates, unknown roles, weak passwords, bad names: 1 with a plain message
    p = cli(servers, "user", "add", "cli.bob", "--role", "member", "--password-stdin", stdin=new_password(), check=1)
    assert "user 'cli.bob' already exists" in p.stderr
    no_sql_in(p.stderr)
    p = cli(servers, "user", "add", "cli.carol", "--role", "emperor", "--password-stdin", stdin=new_password(), check=1)
    assert "unknown role 'emperor'" in p.stderr and "viewer" in p.stderr
    p = cli(servers, "user", "add", "cli.carol", "--role", "viewer", "--password-stdin", stdin="short\n", check=1)
    assert "password" in p.stderr
    cli(servers, "user", "add", "bad name", "--role", "viewer", "--password-stdin", stdin=new_password(), check=1)
    cli(servers, "user", "add", "cli.carol", "--role", "viewer", "--password-stdin", stdin="", check=1)
    # without --password-stdin and no terminal: the first line of stdin
    pw2 = new_password()
    cli(servers, "user", "add", "cli.dave", "--role", "viewer", stdin=pw2 + "\nignored\n", check=0)
    login(srv.url, "cli.dave", pw2)
    assert servers.query("SELECT count(*) FROM users WHERE username = 'cli.carol'")[0][0] == 0


def test_cli_usage_errors(servers):
    for args in (["user"], ["user", "add"], ["user", "add", "x"], ["user", "add", "x", "--role"],
                 ["user", "add", "x", "--role", "viewer", "--bogus"], ["user", "frobnicate"],
                 ["user", "list", "extra"], ["client", "add", "x"], ["apikey", "create", "x"],
                 ["apikey", "revoke", "abc"], ["apikey", "revoke"], ["client"], ["apikey", "nope"]):
        p = cli(servers, *args, stdin="", check=2)
        assert "usage:" in p.stderr, args


def test_cli_user_passwd_disable_enable_list(servers, srv):
    pw = new_password()
    cli(servers, "user", "add", "cli.erin", "--role", "viewer", "--password-stdin", stdin=pw, check=0)
    session = login(srv.url, "cli.erin", pw)
    new = new_password()
    cli(servers, "user", "passwd", "cli.erin", "--password-stdin", stdin=new + "\n", check=0)
    assert_oauth_error(login_resp(srv.url, "cli.erin", pw), 400, "invalid_grant")
    session = login(srv.url, "cli.erin", new)
    cli(servers, "user", "disable", "cli.erin", check=0)
    assert_oauth_error(login_resp(srv.url, "cli.erin", new), 400, "invalid_grant")
    assert_oauth_error(refresh_resp(srv.url, session["refresh_token"]), 400, "invalid_grant")
    r = wait_status(lambda: requests.get(srv.url + AUTHZ + "quakes:read", headers=bearer(session["access_token"]),
                                         timeout=T), 401)
    assert_unauthorized(r, "access token of a user disabled by the CLI")
    p = cli(servers, "user", "list", check=0)
    line = next(li for li in p.stdout.splitlines() if " cli.erin " in li)
    assert "disabled" in line and "viewer" in line
    cli(servers, "user", "enable", "cli.erin", check=0)
    login(srv.url, "cli.erin", new)
    for action in ("user.passwd", "user.disable", "user.enable"):
        rows = audit_rows(servers, action, "user:cli.erin")
        assert len(rows) == 1 and rows[0][0] == "cli", action
    assert "no user 'cli.nobody'" in cli(servers, "user", "disable", "cli.nobody", check=1).stderr
    assert "no user 'cli.nobody'" in cli(servers, "user", "passwd", "cli.nobody", "--password-stdin",
                                         stdin=new_password(), check=1).stderr


def test_cli_clients(servers, srv):
    p = cli(servers, "client", "add", "cli-robot", "--role", "operator", check=0)
    cid = re.search(r"client_id: (\S+)", p.stdout).group(1)
    secret = remember(re.search(r"client_secret: (\S+)", p.stdout).group(1))
    assert cid == "cli-robot" and len(secret) >= 32
    (h,), = servers.query("SELECT secret_hash FROM oauth_clients WHERE id = 'cli-robot'")
    assert secret not in h and len(h) == 64
    grant = lambda: au.token(srv.url, {"grant_type": "client_credentials"}, auth=(cid, secret))  # noqa: E731
    r = wait_status(grant, 200)
    assert r.status_code == 200, r.text
    p = cli(servers, "client", "add", "cli-robot", "--role", "operator", check=1)
    assert "client 'cli-robot' already exists" in p.stderr
    no_sql_in(p.stderr)
    lst = cli(servers, "client", "list", check=0).stdout
    assert re.search(r"cli-robot\s+operator\s+confidential\s+active", lst), lst
    assert re.search(r"strata-web\s+-\s+public", lst), lst
    assert secret not in lst
    cli(servers, "client", "revoke", "cli-robot", check=0)
    r = wait_status(grant, 401)
    assert_oauth_error(r, 401, "invalid_client")
    assert "no active client" in cli(servers, "client", "revoke", "cli-robot", check=1).stderr
    assert len(audit_rows(servers, "client.create", "client:cli-robot")) == 1
    assert len(audit_rows(servers, "client.revoke", "client:cli-robot")) == 1


def test_cli_api_keys(servers, srv, admin):
    p = cli(servers, "apikey", "create", "cli gateway", "--role", "gateway", check=0)
    key = remember(re.search(r"key: (stk_\S+)", p.stdout).group(1))
    kid = re.search(r"id: (\d+)", p.stdout).group(1)
    use = lambda: requests.get(srv.url + AUTHZ + "telemetry:ingest", headers={"X-API-Key": key}, timeout=T)  # noqa: E731
    r = wait_status(use, 200)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "gateway"
    lst = cli(servers, "apikey", "list", check=0).stdout
    line = next(li for li in lst.splitlines() if li.split()[0] == kid)
    assert "gateway" in line and "active" in line and "cli" in line and key.split("_", 2)[2] not in lst
    one = get(srv, f"{KEYS}/{kid}", admin).json()
    assert one["created_by"] == "cli" and one["name"] == "cli gateway"
    cli(servers, "apikey", "revoke", kid, check=0)
    r = wait_status(use, 401)
    assert_unauthorized(r, "API key revoked by the CLI")
    assert "no active API key" in cli(servers, "apikey", "revoke", kid, check=1).stderr
    assert "revoked" in next(li for li in cli(servers, "apikey", "list", check=0).stdout.splitlines()
                             if li.split()[0] == kid)
    (_, _, target, _, _, _), = [row for row in audit_rows(servers, "apikey.create") if row[0] == "cli"]
    assert len(audit_rows(servers, "apikey.revoke", target)) == 1
    # expiry
    future = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    p = cli(servers, "apikey", "create", "dated", "--role", "viewer", "--expires", future, check=0)
    remember(re.search(r"key: (stk_\S+)", p.stdout).group(1))
    assert "expires" in cli(servers, "apikey", "create", "old", "--role", "viewer", "--expires", "2001-01-01",
                            check=1).stderr
    assert "unknown role" in cli(servers, "apikey", "create", "x", "--role", "emperor", check=1).stderr


# ---- admin bootstrap -------------------------------------------------------------------------------

def test_bootstrap_generates_a_password_once(start_strata):
    env = {"STRATA_JWT_SECRET": JWT_SECRET, "STRATA_API_KEY_SECRET": API_KEY_SECRET,
           "STRATA_ADMIN_USER": "boot.admin"}
    s = start_strata(env=env, ready=True)
    m = re.search(r"admin password for boot\.admin: (\S+)", s.stdout())
    assert m, s.stdout()
    pw = m.group(1)  # printed on purpose (make run shows it): not a log secret
    assert s.stdout().count("admin password for") == 1
    assert pw not in s.log()
    login(s.url, "boot.admin", pw)
    s.stop()
    s2 = start_strata(env=env, ready=True)
    assert "admin password" not in s2.stdout()
    login(s2.url, "boot.admin", pw)


def test_bootstrap_resets_password_and_reenables(start_strata, db_url):
    import psycopg
    pw1 = new_password()
    env = {"STRATA_JWT_SECRET": JWT_SECRET, "STRATA_API_KEY_SECRET": API_KEY_SECRET,
           "STRATA_ADMIN_USER": "boot.root", "STRATA_ADMIN_PASSWORD": pw1}
    s = start_strata(env=env, ready=True)
    login(s.url, "boot.root", pw1)
    assert pw1 not in s.stdout() + s.log()
    s.stop()
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("UPDATE users SET disabled = true, role = 'viewer' WHERE username = 'boot.root'")
    pw2 = new_password()
    s = start_strata(env={**env, "STRATA_ADMIN_PASSWORD": pw2}, ready=True)
    login(s.url, "boot.root", pw2)
    assert_oauth_error(login_resp(s.url, "boot.root", pw1), 400, "invalid_grant")
    with psycopg.connect(db_url, autocommit=True) as c:
        assert c.execute("SELECT role, disabled FROM users WHERE username = 'boot.root'").fetchone() == ("admin", False)
        n = c.execute("SELECT count(*) FROM audit_log WHERE action = 'user.bootstrap' AND actor = 'system'").fetchone()[0]
    assert n == 2  # created, then reset; an unchanged restart writes nothing
    s.stop()
    s = start_strata(env={**env, "STRATA_ADMIN_PASSWORD": pw2}, ready=True)
    with psycopg.connect(db_url, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM audit_log WHERE action = 'user.bootstrap'").fetchone()[0] == 2


def test_bootstrap_refuses_a_weak_password_in_production(start_strata):
    env = {"STRATA_ENV": "production", "STRATA_JWT_SECRET": JWT_SECRET, "STRATA_API_KEY_SECRET": API_KEY_SECRET,
           "STRATA_ADMIN_USER": "boot.weak", "STRATA_ADMIN_PASSWORD": "password"}
    s = start_strata(env=env, wait=False, ready=False)
    assert s.proc.wait(timeout=30) != 0
    assert "STRATA_ADMIN_PASSWORD is too weak" in s.log()


def test_no_secret_in_logs(servers, srv, tmp_path_factory):
    au.assert_no_secret_in_logs([tmp_path_factory.getbasetemp()])
