-- wrk script: the same primary-key lookups as bench/lookup.lua (same random ids, same request
-- shape) on the route that requires the quakes:read permission, with a bearer token:
--   BENCH_TOKEN=<access token> wrk -t2 -c64 -d10s --latency -s bench/protected.lua http://127.0.0.1:PORT
-- GET /api/v1/_debug/protected/items/<id> with "Authorization: Bearer $BENCH_TOKEN".
-- The difference with bench/lookup.lua is the cost of authentication and authorization.

local token = os.getenv("BENCH_TOKEN")
if not token or token == "" then
    error("protected.lua: BENCH_TOKEN (an access token with quakes:read) is not set")
end
-- wrk.format() (used by lookup.lua's request()) sends wrk.headers with every request.
wrk.headers["Authorization"] = "Bearer " .. token

LOOKUP_PREFIX = "/api/v1/_debug/protected/items/"
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "lookup.lua")
