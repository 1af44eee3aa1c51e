"""Helpers for the authentication / authorization integration tests (test_auth_*.py).

* ``Servers``: a module-scoped stand-in for conftest's function-scoped ``db_url`` +
  ``start_strata``: one database for the module, any number of strata processes on it, all
  stopped (and checked for sanitizer reports) at module teardown.
* OAuth2 helpers: ``token()`` (raw POST to the token endpoint), ``login()``, ``refresh()``.
* JWT forging with the standard library only (hmac/hashlib/base64) and openssl(1) for the
  asymmetric checks.
* A session-wide registry of every secret the auth tests used (passwords, tokens, keys,
  client secrets) and ``assert_no_secret_in_logs()``, which greps every strata stderr/stdout
  of the session for them.
"""

import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import requests

from conftest import STRATA_BIN, Strata, base_env, free_port, run_strata_cli, wait_started

TOKEN_PATH = "/api/v1/auth/token"
REVOKE_PATH = "/api/v1/auth/revoke"
JWKS_PATH = "/.well-known/jwks.json"
AUTHZ = "/api/v1/_debug/authz/"
AUTHZ_STREAM = "/api/v1/_debug/authz-stream/"
PUBLIC_CLIENT = "strata-web"

# Fixed per session so the tests can forge HS256 tokens and check that no log shows them.
JWT_SECRET = "jwt-" + secrets.token_urlsafe(36)
API_KEY_SECRET = "aks-" + secrets.token_urlsafe(36)
ADMIN_USER = "root.admin"
ADMIN_PASSWORD = "Adm!n-" + secrets.token_urlsafe(18)

RFC6749_ERRORS = {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                  "unsupported_grant_type", "invalid_scope"}


def new_password():
    """Long and random: passes the password policy and never occurs in a log by chance."""
    return remember("Pw-" + secrets.token_urlsafe(18) + "!7")


def auth_env(**extra):
    """Settings every auth test server gets: a known HS256 secret and API key secret (so that
    several processes and the CLI agree), a bootstrap admin, rate limits out of the way."""
    env = {
        "STRATA_JWT_SECRET": JWT_SECRET,
        "STRATA_API_KEY_SECRET": API_KEY_SECRET,
        "STRATA_ADMIN_USER": ADMIN_USER,
        "STRATA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "STRATA_AUTH_RATE_PER_MINUTE": "100000",
        "STRATA_AUTH_USER_RATE_PER_MINUTE": "100000",
    }
    env.update({k: (None if v is None else str(v)) for k, v in extra.items()})
    return env


# --- secrets registry ---------------------------------------------------------------------------

_SECRETS = set()
_SECRETS_LOCK = threading.Lock()
_LOG_FILES = []


def remember(secret):
    """Registers a secret that must never appear in a log; returns it."""
    if isinstance(secret, str) and len(secret) >= 12:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)
    return secret


for _s in (JWT_SECRET, API_KEY_SECRET, ADMIN_PASSWORD):
    remember(_s)


def key_secret_part(key):
    """The secret part of an API key stk_<prefix>_<secret> (the prefix is public)."""
    if key.startswith("stk_") and key.count("_") >= 2:
        return key.split("_", 2)[2]
    return key[-24:]


def _needles(secret):
    """The strings to look for: the secret itself and, for JWTs, the signature part; for
    prefixed secrets (stk_<prefix>_<secret>) the secret part alone."""
    out = {secret}
    parts = secret.split(".")
    if len(parts) == 3 and len(parts[2]) >= 16:
        out.add(parts[2])
    if secret.startswith("stk_") and len(key_secret_part(secret)) >= 16:
        out.add(key_secret_part(secret))
    return out


def assert_no_secret_in_logs(extra_dirs=()):
    """Every secret registered so far is absent from every strata stderr/stdout this session
    wrote (the auth modules' servers and every conftest start_strata under pytest's basetemp)."""
    files = set(_LOG_FILES)
    for d in extra_dirs:
        files.update(Path(d).rglob("strata*.stderr"))
        files.update(Path(d).rglob("strata*.stdout"))
    assert files, "no strata log file found to check"
    with _SECRETS_LOCK:
        needles = {n: s for s in _SECRETS for n in _needles(s)}
    leaks = []
    for f in sorted(files):
        try:
            text = Path(f).read_text(errors="replace")
        except OSError:
            continue
        for needle, secret in needles.items():
            if needle in text:
                line = next(li for li in text.splitlines() if needle in li)
                leaks.append(f"{f}: secret {secret[:6]}... ({len(secret)} chars) in: {line[:300]}")
    assert not leaks, "secrets in strata's logs:\n" + "\n".join(leaks[:30])
    return len(files), len(needles)


# --- module-scoped servers ------------------------------------------------------------------------

_db_counter = itertools.count(1)


class Servers:
    """One database for a test module, strata processes on it, stopped at close()."""

    def __init__(self, pg, base_dir, tag):
        self.pg = pg
        self.base = Path(base_dir)
        self.dbname = f"auth_{tag}_{os.getpid()}_{next(_db_counter)}"
        with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.dbname}" TEMPLATE tmpl')
        self.db_url = pg.url(self.dbname)
        self.started = []
        self._n = itertools.count(1)

    def env(self, extra=None, var_dir=None):
        e = {
            "STRATA_DATABASE_URL": self.db_url,
            "STRATA_ENV": "development",
            "STRATA_DEBUG_ROUTES": "true",
            "STRATA_LOG_LEVEL": "debug",
            "STRATA_VAR_DIR": str(var_dir or self.base / "var"),
        }
        e.update(extra or {})
        return e

    def start(self, env=None, ready=True, timeout=60, var_dir=None):
        n = next(self._n)
        port = free_port()
        e = base_env()
        e.update(self.env(None, var_dir))
        e["STRATA_HTTP_ADDR"] = f"127.0.0.1:{port}"
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = str(v)
        cmd = [STRATA_BIN, "serve"]
        err_path = self.base / f"strata{n}.stderr"
        out_path = self.base / f"strata{n}.stdout"
        with open(err_path, "wb") as err, open(out_path, "wb") as out:
            proc = subprocess.Popen(cmd, env=e, cwd=self.base, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err)
        srv = Strata(proc, f"http://127.0.0.1:{port}", port, err_path, out_path, cmd)
        self.started.append(srv)
        _LOG_FILES.extend([err_path, out_path])
        if ready:
            wait_started(srv, proc, "/readyz", timeout)
        return srv

    def cli(self, args, env=None, check=True):
        e = self.env(env)
        p = run_strata_cli(list(args), env=e)
        if check:
            assert p.returncode == 0, f"strata {' '.join(args)} -> {p.returncode}:\n{p.stdout}\n{p.stderr}"
        return p

    def connect(self):
        return psycopg.connect(self.db_url, autocommit=True)

    def query(self, sql, params=None):
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()

    def close(self):
        problems = []
        for srv in self.started:
            try:
                srv.stop()
            except pytest.fail.Exception as e:
                problems.append(str(e))
        try:
            with psycopg.connect(self.pg.url("postgres"), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        except psycopg.Error:
            pass
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


def servers_fixture(request, pg, tmp_path_factory, tag):
    """Body of a module-scoped fixture: yields a Servers; use with `yield from`."""
    s = Servers(pg, tmp_path_factory.mktemp(f"auth-{tag}"), tag)
    try:
        yield s
    finally:
        s.close()


# --- OAuth2 ---------------------------------------------------------------------------------------

def parse_client_add(out):
    """(client_id, client_secret) from the output of `strata client add`: lines
    "client_id: <id>" and "client_secret: <secret>". The secret is base64url, so it may begin
    with '-': read up to the end of its line, nothing less."""
    cid = re.search(r"^client_id: (\S+)$", out, re.M)
    sec = re.search(r"^client_secret: (\S+)$", out, re.M)
    assert cid and sec, f"cannot find client_id / client_secret in the output of strata client add:\n{out}"
    return cid.group(1), sec.group(1)


def token(base, data, auth=None, headers=None, raw=None):
    """POST /api/v1/auth/token with a form body (data: dict or list of pairs)."""
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    h.update(headers or {})
    if raw is not None:
        return requests.post(base + TOKEN_PATH, data=raw, headers=h, auth=auth, timeout=30)
    return requests.post(base + TOKEN_PATH, data=data, headers=h, auth=auth, timeout=30)


def login_resp(base, username, password, scope=None, client_id=PUBLIC_CLIENT, headers=None):
    data = {"grant_type": "password", "username": username, "password": password}
    if client_id is not None:
        data["client_id"] = client_id
    if scope is not None:
        data["scope"] = scope
    return token(base, data, headers=headers)


def login(base, username, password, scope=None, client_id=PUBLIC_CLIENT, headers=None):
    """A successful password grant; returns the JSON body (tokens registered as secrets)."""
    r = login_resp(base, username, password, scope, client_id, headers)
    assert r.status_code == 200, f"login {username}: {r.status_code} {r.text[:300]}"
    body = r.json()
    remember(body.get("access_token"))
    remember(body.get("refresh_token"))
    return body


def refresh_resp(base, refresh_token, client_id=PUBLIC_CLIENT, scope=None, auth=None):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if client_id is not None:
        data["client_id"] = client_id
    if scope is not None:
        data["scope"] = scope
    r = token(base, data, auth=auth)
    if r.status_code == 200:
        remember(r.json().get("access_token"))
        remember(r.json().get("refresh_token"))
    return r


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


def assert_oauth_error(resp, status, error):
    """An RFC 6749 §5.2 error response: status, JSON {"error": ..., "error_description"?}."""
    assert resp.status_code == status, \
        f"expected {status} {error}, got {resp.status_code}: {resp.text[:400]}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"Content-Type {ctype!r}: {resp.text[:300]}"
    body = resp.json()
    assert body.get("error") == error, f"expected error {error!r}, got {body}"
    assert set(body) <= {"error", "error_description", "error_uri"}, body
    if "error_description" in body:
        desc = body["error_description"]
        # RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E
        assert isinstance(desc, str) and all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in desc), desc
    return body


def assert_unauthorized(resp, what=""):
    """401 problem+json with a Bearer challenge."""
    assert resp.status_code == 401, f"{what}: expected 401, got {resp.status_code}: {resp.text[:300]}"
    ch = resp.headers.get("WWW-Authenticate", "")
    assert ch.startswith("Bearer"), f"{what}: WWW-Authenticate {ch!r}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/problem+json"), f"{what}: Content-Type {ctype!r}"


# --- users / keys through the admin API ---------------------------------------------------------

def admin_token(base):
    return login(base, ADMIN_USER, ADMIN_PASSWORD)["access_token"]


def create_user(base, admin_tok, username, role, password=None):
    """POST /api/v1/users; returns (id, password)."""
    password = password or new_password()
    r = requests.post(base + "/api/v1/users", json={"username": username, "password": password, "role": role},
                      headers=bearer(admin_tok), timeout=30)
    assert r.status_code == 201, f"create user {username}/{role}: {r.status_code} {r.text[:300]}"
    body = r.json()
    uid = body.get("id")
    if uid is None and r.headers.get("Location"):
        uid = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert uid is not None, f"no id for the created user: {body} {r.headers}"
    return uid, password


def create_users(base, admin_tok, specs):
    """specs: [(username, role)] -> {username: (id, password)}, created in parallel (Argon2id)."""
    with ThreadPoolExecutor(max_workers=min(8, len(specs) or 1)) as ex:
        futs = {u: ex.submit(create_user, base, admin_tok, u, role) for u, role in specs}
        return {u: f.result() for u, f in futs.items()}


def wait_key_known(base, key, timeout=5.0):
    """Waits until base recognises key (any answer but 401 on a protected route): servers learn
    of new keys through their auth snapshot, reloaded on NOTIFY. Returns the seconds it took."""
    t0 = time.monotonic()
    while True:
        r = requests.get(base + AUTHZ + "quakes:read", headers={"X-API-Key": key}, timeout=30)
        if r.status_code != 401:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"a new API key is still refused after {timeout}s: {r.text[:200]}")
        time.sleep(0.02)


def create_api_key(base, admin_tok, name, role, expires_at=None, headers=None, wait=True):
    """POST /api/v1/api-keys; with wait, returns once the server accepts the key (see
    test_new_api_key_works_at_once for the strict check)."""
    body = {"name": name, "role": role}
    if expires_at is not None:
        body["expires_at"] = expires_at
    h = bearer(admin_tok)
    h.update(headers or {})
    r = requests.post(base + "/api/v1/api-keys", json=body, headers=h, timeout=30)
    assert r.status_code == 201, f"create API key {name}: {r.status_code} {r.text[:300]}"
    data = r.json()
    assert isinstance(data.get("key"), str) and data["key"], data
    remember(data["key"])
    if wait:
        wait_key_known(base, data["key"])
    return data


# --- JWT ------------------------------------------------------------------------------------------

def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(tok):
    h, p, s = tok.split(".")
    return json.loads(b64u_decode(h)), json.loads(b64u_decode(p)), b64u_decode(s)


def encode_json(obj):
    return b64u(json.dumps(obj, separators=(",", ":")))


def hs256(header, payload, key=JWT_SECRET):
    """header/payload: dicts or already-encoded segments; key: str or bytes."""
    h = header if isinstance(header, str) else encode_json(header)
    p = payload if isinstance(payload, str) else encode_json(payload)
    k = key.encode() if isinstance(key, str) else key
    sig = hmac.new(k, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return remember(f"{h}.{p}.{b64u(sig)}")


def claims(sub=ADMIN_USER, role="admin", **over):
    now = int(time.time())
    c = {"iss": "strata", "sub": sub, "aud": "strata-api", "iat": now, "nbf": now, "exp": now + 600,
         "jti": secrets.token_hex(16), "role": role, "scope": "", "gty": "password"}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


HS_HEADER = {"alg": "HS256", "typ": "JWT"}


def have_openssl():
    return shutil.which("openssl") is not None


def openssl(*args, data=None):
    p = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=60)
    assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr.decode(errors='replace')}"
    return p.stdout


def _der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + _der_len(len(b)) + b


def ecdsa_raw_to_der(sig):
    """JWS ES256 signature (R||S, 64 bytes) -> DER ECDSA-Sig-Value for openssl."""
    assert len(sig) == 64, f"ES256 signature must be 64 bytes (R||S), is {len(sig)}"
    body = _der_int(sig[:32]) + _der_int(sig[32:])
    return b"\x30" + _der_len(len(body)) + body


def verify_with_openssl(tok, pubkey_path, tmp_dir):
    """True when tok's RS256/ES256 signature verifies with the PEM public key."""
    header, _, sig = jwt_parts(tok)
    signing_input = tok.rsplit(".", 1)[0].encode()
    if header["alg"] == "ES256":
        sig = ecdsa_raw_to_der(sig)
    d = Path(tmp_dir)
    (d / "msg").write_bytes(signing_input)
    (d / "sig").write_bytes(sig)
    p = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pubkey_path), "-signature",
                        str(d / "sig"), str(d / "msg")], capture_output=True, timeout=60)
    return p.returncode == 0


def uint_b64u(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))
