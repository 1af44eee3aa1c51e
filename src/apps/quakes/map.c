/*
 * quakes map: GET / (the dashboard page) and GET /map/{file} (its whitelisted files); see
 * map.h. The files are a core/webassets.c set, as the Swagger UI's: read once,
 * under a mutex (every event-loop thread answers requests), and read-only afterwards.
 */
#include "apps/quakes/map.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/http.h"
#include "core/webassets.h"

#define ASSET_MAX_BYTES (4 * 1024 * 1024) /* leaflet.js ~150 KB, countries-110m.json ~105 KB */

/* No inline script or style anywhere; the page fetches only from this server (the list, the
 * token endpoint, the stream, the atlas); Leaflet sets styles through the CSSOM, which
 * style-src does not govern. */
#define PAGE_CSP                                                                                   \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static char *web_dir;
static char *assets_dir;

static const struct config_setting map_settings[] = {
    {"quakes_web_dir", CFG_STRING, "src/apps/quakes/web", &web_dir, 0, 0, 0, NULL,
     "folder of the dashboard's own files (map.js, map.css, favicon.svg) served at /map/ "
     "(empty: the dashboard at / answers 503)"},
    {"quakes_map_assets_dir", CFG_STRING, "build/ui/node_modules", &assets_dir, 0, 0, 0, NULL,
     "node_modules folder holding the npm packages leaflet, topojson-client and world-atlas "
     "the dashboard at / uses (scripts/ui.sh installs them; empty: / answers 503)"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

void quakes_map_register_config(void)
{
    config_register(map_settings);
}

/* ---- the files ------------------------------------------------------------------------------ */

#define WEB(path) &web_dir, "quakes_web_dir", path
#define NPM(path) &assets_dir, "quakes_map_assets_dir", path
#define JS "text/javascript; charset=utf-8"

/* The whitelist: nothing else under /map/ is ever served. */
static struct web_asset assets[] = {
    {"map.js", WEB("map.js"), JS, NULL, 0, ""},
    {"map.css", WEB("map.css"), "text/css; charset=utf-8", NULL, 0, ""},
    {"favicon.svg", WEB("favicon.svg"), "image/svg+xml", NULL, 0, ""},
    {"leaflet.js", NPM("leaflet/dist/leaflet.js"), JS, NULL, 0, ""},
    {"leaflet.css", NPM("leaflet/dist/leaflet.css"), "text/css; charset=utf-8", NULL, 0, ""},
    {"topojson-client.min.js", NPM("topojson-client/dist/topojson-client.min.js"), JS, NULL, 0, ""},
    {"countries-110m.json", NPM("world-atlas/countries-110m.json"), "application/json", NULL, 0, ""},
};
enum { A_MAP_JS, A_MAP_CSS, A_FAVICON, A_LEAFLET_JS, A_LEAFLET_CSS, A_TOPOJSON, A_ATLAS };

static struct buf page; /* the HTML, built once the versions are known; process lifetime */
static void page_build(void);

static struct web_assets files = {
    .v = assets,
    .n = sizeof assets / sizeof assets[0],
    .max_bytes = ASSET_MAX_BYTES,
    .log_disabled = "quakes map disabled",
    .log_missing = "quakes map not installed",
    .unavailable = "the earthquake dashboard's files are not installed on this server: set quakes_web_dir "
                   "(STRATA_QUAKES_WEB_DIR) to the folder of map.js and quakes_map_assets_dir "
                   "(STRATA_QUAKES_MAP_ASSETS_DIR) to a node_modules folder holding leaflet, "
                   "topojson-client and world-atlas; the API itself is at /api/v1/earthquakes",
    .on_loaded = page_build,
    .mu = PTHREAD_MUTEX_INITIALIZER,
};

/* "/map/<name>?v=<version>" as two printf arguments for "/map/%s?v=%s" */
#define URL_ARGS(i) assets[i].name, assets[i].version

/* The page. Controls start disabled; map.js enables them, so nothing is submitted before the
 * script handles the forms (the login form would otherwise post to / and get a 405). Text
 * that comes from USGS never passes through here: map.js builds it with textContent. */
static void page_build(void)
{
    buf_init(&page);
    buf_puts(&page,
             "<!DOCTYPE html>\n"
             "<html lang=\"en\">\n"
             "<head>\n"
             "<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<meta name=\"referrer\" content=\"no-referrer\">\n"
             "<title>Strata \xc2\xb7 live earthquakes</title>\n");
    buf_printf(&page, "<link rel=\"icon\" type=\"image/svg+xml\" href=\"/map/%s?v=%s\">\n", URL_ARGS(A_FAVICON));
    buf_printf(&page, "<link rel=\"stylesheet\" href=\"/map/%s?v=%s\">\n", URL_ARGS(A_LEAFLET_CSS));
    buf_printf(&page, "<link rel=\"stylesheet\" href=\"/map/%s?v=%s\">\n", URL_ARGS(A_MAP_CSS));
    buf_printf(&page, "<script src=\"/map/%s?v=%s\" defer></script>\n", URL_ARGS(A_LEAFLET_JS));
    buf_printf(&page, "<script src=\"/map/%s?v=%s\" defer></script>\n", URL_ARGS(A_TOPOJSON));
    buf_printf(&page, "<script src=\"/map/%s?v=%s\" defer></script>\n", URL_ARGS(A_MAP_JS));
    buf_puts(&page, "</head>\n");
    buf_printf(&page, "<body data-atlas=\"/map/%s?v=%s\" data-live=\"idle\">\n", URL_ARGS(A_ATLAS));
    buf_puts(&page,
             "<header>\n"
             "  <h1>Strata <span>live earthquakes</span></h1>\n"
             "  <div id=\"session\">\n"
             "    <form id=\"login\" method=\"post\" action=\"/\" autocomplete=\"on\">\n"
             "      <fieldset disabled>\n"
             "        <label>User <input id=\"username\" name=\"username\" autocomplete=\"username\" "
             "required maxlength=\"128\"></label>\n"
             "        <label>Password <input id=\"password\" name=\"password\" type=\"password\" "
             "autocomplete=\"current-password\" required maxlength=\"1024\"></label>\n"
             "        <button type=\"submit\">Sign in</button>\n"
             "      </fieldset>\n"
             "    </form>\n"
             "    <div id=\"whoami\" hidden>Signed in as <strong id=\"user\"></strong> "
             "<button type=\"button\" id=\"logout\">Sign out</button></div>\n"
             "    <p id=\"login-error\" class=\"error\" role=\"alert\" hidden></p>\n"
             "  </div>\n"
             "</header>\n"
             "<form id=\"filters\" method=\"get\" action=\"/\">\n"
             "  <fieldset disabled>\n"
             "    <label>Min. magnitude <input name=\"minmagnitude\" type=\"number\" step=\"0.1\" "
             "min=\"-10\" max=\"12\" placeholder=\"any\"></label>\n"
             "    <label>Time window <select name=\"window\">\n"
             "      <option value=\"3600\">last hour</option>\n"
             "      <option value=\"21600\">last 6 hours</option>\n"
             "      <option value=\"86400\">last 24 hours</option>\n"
             "      <option value=\"604800\" selected>last 7 days</option>\n"
             "      <option value=\"2592000\">last 30 days</option>\n"
             "      <option value=\"\">all time</option>\n"
             "    </select></label>\n"
             "    <label>Depth from <input name=\"mindepth\" type=\"number\" step=\"any\" min=\"-100\" "
             "max=\"1000\" placeholder=\"any\"> km</label>\n"
             "    <label>to <input name=\"maxdepth\" type=\"number\" step=\"any\" min=\"-100\" "
             "max=\"1000\" placeholder=\"any\"> km</label>\n"
             "    <label>Alert <select name=\"alertlevel\">\n"
             "      <option value=\"\" selected>any</option>\n"
             "      <option value=\"green\">green</option>\n"
             "      <option value=\"yellow\">yellow</option>\n"
             "      <option value=\"orange\">orange</option>\n"
             "      <option value=\"red\">red</option>\n"
             "    </select></label>\n"
             "    <label>Show <select name=\"limit\">\n"
             "      <option value=\"100\">100</option>\n"
             "      <option value=\"250\">250</option>\n"
             "      <option value=\"500\" selected>500</option>\n"
             "      <option value=\"1000\">1000</option>\n"
             "    </select> events</label>\n"
             "    <button type=\"submit\">Apply</button>\n"
             "  </fieldset>\n"
             "</form>\n"
             "<p id=\"status\" role=\"status\"><span id=\"count\">0</span> events \xc2\xb7 "
             "<span id=\"live\">not connected</span> <span id=\"message\" class=\"error\"></span></p>\n"
             "<main>\n"
             "  <div id=\"map\" role=\"region\" aria-label=\"Map of the events\"></div>\n"
             "  <div id=\"legend\" aria-label=\"Legend\"></div>\n"
             "  <div id=\"table-wrap\">\n"
             "    <table id=\"events\">\n"
             "      <thead><tr><th scope=\"col\">Time (UTC)</th><th scope=\"col\">Mag.</th>"
             "<th scope=\"col\">Place</th><th scope=\"col\">Depth</th><th scope=\"col\">Status</th>"
             "<th scope=\"col\">Alert</th></tr></thead>\n"
             "      <tbody></tbody>\n"
             "    </table>\n"
             "  </div>\n"
             "</main>\n"
             "<noscript><p class=\"error\">This dashboard needs JavaScript. The data itself is at "
             "<a href=\"/api/v1/earthquakes\">/api/v1/earthquakes</a>.</p></noscript>\n"
             "</body>\n"
             "</html>\n");
}

/* ---- handlers ------------------------------------------------------------------------------ */

static void page_handler(struct http_req *r)
{
    if (!web_assets_ready(&files, r))
        return;
    http_add_header(r, "Content-Security-Policy", PAGE_CSP);
    http_add_header(r, "X-Content-Type-Options", "nosniff");
    http_add_header(r, "Referrer-Policy", "no-referrer");
    http_add_header(r, "X-Frame-Options", "DENY");
    http_add_header(r, "Cache-Control", "no-cache");
    http_reply(r, 200, "text/html; charset=utf-8", page.data, page.len);
}

static void file_handler(struct http_req *r)
{
    const struct web_asset *a = web_assets_find(&files, http_path_param(r, "file"));
    if (!a) {
        http_reply_problem(r, 404, "no such file in the earthquake dashboard");
        return;
    }
    if (!web_assets_ready(&files, r))
        return;
    if (a == &assets[A_FAVICON]) /* an SVG opened on its own is a document: nothing runs in it */
        http_add_header(r, "Content-Security-Policy", "default-src 'none'");
    web_assets_reply(r, a);
}

/* ---- routes -------------------------------------------------------------------------------- */

static const struct param_spec file_path[] = {
    {.name = "file", .type = PARAM_STRING, .flags = PARAM_REQUIRED, .max_len = 64,
     .help = "one of map.js, map.css, favicon.svg, leaflet.js, leaflet.css, topojson-client.min.js, "
             "countries-110m.json"},
    {.name = NULL},
};

static const struct param_spec file_query[] = {
    {.name = "v", .type = PARAM_STRING, .max_len = 32,
     .help = "the file's version as the page names it (a cache key; any value gets the current file)"},
    {.name = NULL},
};

static const int errs_page[] = {503, 0};
static const int errs_file[] = {404, 503, 0};

const struct route quakes_map_routes[] = {
    {.method = "GET", .path = "/", .handler = page_handler,
     .summary = "The live earthquake dashboard (map, table, filters, sign-in; HTML)", .tag = "quakes",
     .errors = errs_page, .response_type = "text/html", .flags = ROUTE_INTERNAL},
    {.method = "GET", .path = "/map/{file}", .handler = file_handler, .path_params = file_path,
     .query = file_query, .summary = "A file of the earthquake dashboard (script, stylesheet, icon, world atlas)",
     .tag = "quakes", .errors = errs_file, .response_type = "*/*", .flags = ROUTE_INTERNAL},
    {.method = NULL},
};
