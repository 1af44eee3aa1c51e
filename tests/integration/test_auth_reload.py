"""The auth snapshot reload never sits on a notification libpq has already read.

The reload thread LISTENs on strata_auth and reloads the snapshot with several queries on the
same connection. PostgreSQL sends a notification to a busy backend together with the answer to
its current query, so libpq reads it inside PQexec and queues it; the socket then stays quiet
and poll() would not wake for it. This test makes that happen on purpose: the reload is held on
its last query (a lock on api_keys), a client is created meanwhile (after the reload read
oauth_clients), the lock is released, and with the periodic reload set to an hour the client
must still be known within seconds.
"""

import time

import pytest

import authutil as au
from authutil import auth_env, parse_client_add, token


@pytest.fixture(scope="module")
def servers(request, pg, tmp_path_factory):
    yield from au.servers_fixture(request, pg, tmp_path_factory, "reload")


def client_known(base, cid, secret):
    return token(base, {"grant_type": "client_credentials"}, auth=(cid, secret)).status_code == 200


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_notification_read_during_a_reload_query_is_not_lost(servers):
    srv = servers.start(env=auth_env(STRATA_AUTH_RELOAD_INTERVAL="3600s"))
    with servers.connect() as locker, servers.connect() as other:
        locker.autocommit = False
        locker.execute("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        # a change nobody cares about starts a reload, which then waits on api_keys (its last query)
        other.execute("SELECT pg_notify('strata_auth', 'noise')")
        wait_for(lambda: other.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM api_keys%'"
        ).fetchone()[0] == 1, 10, "the reload to wait on api_keys")
        # created after the reload read oauth_clients: only its notification can bring it in
        p = servers.cli(["client", "add", "reload-bot", "--role", "viewer"], env=auth_env())
        cid, secret = parse_client_add(p.stdout)
        assert not client_known(srv.url, cid, secret)
        locker.rollback()  # the reload's query ends; its answer carries the client's notification
    wait_for(lambda: client_known(srv.url, cid, secret), 5, "the new client to be known")
