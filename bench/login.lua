-- wrk script: OAuth 2.0 password-grant logins, back to back, on each connection:
--   BENCH_LOGIN_BODY='grant_type=password&username=...&password=...&client_id=strata-web' \
--     wrk -t1 -c4 -d60s --timeout 10s --latency -s bench/login.lua http://127.0.0.1:PORT
-- POST /api/v1/auth/token (form body); each one costs the server an Argon2id verification on
-- its worker pool, a user lookup and a refresh-token INSERT. The concurrency (-c) bounds the
-- logins in flight. measure.py runs it next to a lookup run and stops it with SIGINT (wrk then
-- prints its summary). done() prints one line "WRKJSON {...}" (latencies in microseconds).

local body = os.getenv("BENCH_LOGIN_BODY")
if not body or body == "" then
    error("login.lua: BENCH_LOGIN_BODY (the urlencoded password-grant form) is not set")
end
wrk.method = "POST"
wrk.path = "/api/v1/auth/token"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
        '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.mean, latency.stdev, latency.max,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
