-- wrk script: the static route (no database), GET /healthz on every request.
--   wrk -t2 -c64 -d10s --latency -s bench/static.lua http://127.0.0.1:PORT
-- done() prints one line "WRKJSON {...}" that scripts/bench.sh parses (latencies in microseconds).

wrk.method = "GET"
wrk.path = "/healthz"

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
