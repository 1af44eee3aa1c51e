-- wrk script: the quakes API loads of `make bench` (bench/quakes.py runs it).
--   BENCH_QUAKES_MODE=item|list|radius wrk -t2 -c64 -d5s --latency -s bench/quakes.lua http://127.0.0.1:PORT
-- item    GET /api/v1/earthquakes/<id>, the id uniform over every generated id:
--         BENCH_QUAKES_IDS names a file of fixed-width lines (BENCH_QUAKES_ID_WIDTH characters and
--         a newline each), read once into one string (no table of a million strings).
-- list    GET /api/v1/earthquakes?starttime=S&endtime=S+30d&minmagnitude=2.5&limit=100
-- radius  GET /api/v1/earthquakes?starttime=S&endtime=S+30d&latitude=..&longitude=..&maxradiuskm=500&limit=100
--         S: a uniform whole second in [BENCH_QUAKES_T0, BENCH_QUAKES_T1] (Unix seconds); the
--         centre: a uniform line "lat lon" of BENCH_QUAKES_CENTRES, sent as written there.
-- fdsn_xml    GET /fdsnws/event/1/query?starttime=S&endtime=S+30d&limit=1000&format=xml (QuakeML)
-- fdsn_count  GET /fdsnws/event/1/count?starttime=S&endtime=S+30d&minmagnitude=2.5
-- pgbench draws the same distributions (bench/quakes.py writes its scripts).
-- done() prints one line "WRKJSON {...}" that bench/measure.py parses (latencies in microseconds).

local mode = os.getenv("BENCH_QUAKES_MODE") or "item"
local window = 30 * 86400

local function env_number(name)
    local v = tonumber(os.getenv(name) or "")
    if not v then
        error("quakes.lua: " .. name .. " is not set")
    end
    return v
end

local ids, id_count, id_width
local centres = {}
local t0, t1

if mode == "item" then
    local path = os.getenv("BENCH_QUAKES_IDS") or error("quakes.lua: BENCH_QUAKES_IDS is not set")
    id_width = env_number("BENCH_QUAKES_ID_WIDTH")
    local f = assert(io.open(path, "rb"))
    ids = f:read("*a")
    f:close()
    id_count = math.floor(#ids / (id_width + 1))
    if id_count < 1 then
        error("quakes.lua: no ids in " .. path)
    end
elseif mode == "list" or mode == "radius" or mode == "fdsn_xml" or mode == "fdsn_count" then
    t0 = env_number("BENCH_QUAKES_T0")
    t1 = env_number("BENCH_QUAKES_T1")
    if mode == "radius" then
        local path = os.getenv("BENCH_QUAKES_CENTRES") or error("quakes.lua: BENCH_QUAKES_CENTRES is not set")
        for line in io.lines(path) do
            local lat, lon = line:match("^(%S+) (%S+)$")
            if lat then
                centres[#centres + 1] = {lat, lon}
            end
        end
        if #centres == 0 then
            error("quakes.lua: no centres in " .. path)
        end
    end
else
    error("quakes.lua: BENCH_QUAKES_MODE must be item, list, radius, fdsn_xml or fdsn_count")
end

local counter = 0
function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
end

function init(args)
    -- a distinct seed per wrk thread, or every thread would replay the same sequence
    math.randomseed(os.time() * 1000 + (id or 0) * 7919)
end

local function iso(t)
    return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

function request()
    if mode == "item" then
        local k = math.random(0, id_count - 1)
        local off = k * (id_width + 1)
        return wrk.format("GET", "/api/v1/earthquakes/" .. ids:sub(off + 1, off + id_width))
    end
    local s = math.random(t0, t1)
    if mode == "fdsn_xml" then
        return wrk.format("GET", "/fdsnws/event/1/query?starttime=" .. iso(s) .. "&endtime=" .. iso(s + window) ..
                          "&limit=1000&format=xml")
    elseif mode == "fdsn_count" then
        return wrk.format("GET", "/fdsnws/event/1/count?starttime=" .. iso(s) .. "&endtime=" .. iso(s + window) ..
                          "&minmagnitude=2.5")
    end
    local q = "/api/v1/earthquakes?starttime=" .. iso(s) .. "&endtime=" .. iso(s + window)
    if mode == "list" then
        q = q .. "&minmagnitude=2.5&limit=100"
    else
        local c = centres[math.random(1, #centres)]
        q = q .. "&latitude=" .. c[1] .. "&longitude=" .. c[2] .. "&maxradiuskm=500&limit=100"
    end
    return wrk.format("GET", q)
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
