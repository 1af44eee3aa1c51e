-- wrk script: primary-key lookups of random rows through the app's router, pool and JSON path.
--   wrk -t2 -c64 -d10s --latency -s bench/lookup.lua http://127.0.0.1:PORT
-- Ids are uniform in [1, BENCH_ROWS] (env, default 1000000), like pgbench's random(1, 1000000).
-- done() prints one line "WRKJSON {...}" that scripts/bench.sh parses (latencies in microseconds).
-- bench/protected.lua reuses this file with LOOKUP_PREFIX set (same ids, same request shape).

local rows = tonumber(os.getenv("BENCH_ROWS") or "") or 1000000
local prefix = LOOKUP_PREFIX or "/api/v1/_debug/items/"

local counter = 0
function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
end

function init(args)
    -- A distinct seed per wrk thread, or every thread would replay the same id sequence.
    math.randomseed(os.time() * 1000 + (id or 0) * 7919)
end

function request()
    return wrk.format("GET", prefix .. math.random(1, rows))
end

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
