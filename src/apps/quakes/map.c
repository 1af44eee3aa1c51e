/*
 * quakes map: GET / (the dashboard page) and GET /map/{file} (its whitelisted files); see
 * map.h. Same pattern as the Swagger UI in core/openapi_routes.c: the files are read once,
 * under pthread_once (every event-loop thread answers requests), and are read-only afterwards.
 */
#include "apps/quakes/map.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/http.h"
#include "core/log.h"
#include "core/fileio.h"
#include "core/mem.h"

#define ASSET_MAX_BYTES (4 * 1024 * 1024) /* leaflet.js ~150 KB, countries-110m.json ~105 KB */
#define ASSET_CACHE "public, max-age=86400"

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

enum asset_dir { FROM_WEB, FROM_NPM };

struct map_asset {
    const char *name; /* under /map/ */
    enum asset_dir dir;
    const char *path; /* under the folder */
    const char *type;
    const char *data;
    size_t len;
    char version[17]; /* 64-bit FNV-1a of the content, hex: the page's ?v= */
};

/* The whitelist: nothing else under /map/ is ever served. */
static struct map_asset assets[] = {
    {"map.js", FROM_WEB, "map.js", "text/javascript; charset=utf-8", NULL, 0, ""},
    {"map.css", FROM_WEB, "map.css", "text/css; charset=utf-8", NULL, 0, ""},
    {"favicon.svg", FROM_WEB, "favicon.svg", "image/svg+xml", NULL, 0, ""},
    {"leaflet.js", FROM_NPM, "leaflet/dist/leaflet.js", "text/javascript; charset=utf-8", NULL, 0, ""},
    {"leaflet.css", FROM_NPM, "leaflet/dist/leaflet.css", "text/css; charset=utf-8", NULL, 0, ""},
    {"topojson-client.min.js", FROM_NPM, "topojson-client/dist/topojson-client.min.js",
     "text/javascript; charset=utf-8", NULL, 0, ""},
    {"countries-110m.json", FROM_NPM, "world-atlas/countries-110m.json", "application/json", NULL, 0, ""},
};
#define N_ASSETS (sizeof assets / sizeof assets[0])
enum { A_MAP_JS, A_MAP_CSS, A_FAVICON, A_LEAFLET_JS, A_LEAFLET_CSS, A_TOPOJSON, A_ATLAS };

static pthread_once_t assets_once = PTHREAD_ONCE_INIT;
static bool assets_ok;
static struct buf page; /* the HTML, built once the versions are known; process lifetime */


static void version_of(struct map_asset *a)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < a->len; i++) {
        h ^= (unsigned char)a->data[i];
        h *= 0x100000001b3ull;
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, h >>= 4)
        a->version[i] = hex[h & 15];
    a->version[16] = '\0';
}

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

static void assets_load(void)
{
    struct buf path;
    buf_init(&path);
    assets_ok = web_dir && web_dir[0] && assets_dir && assets_dir[0];
    if (!assets_ok)
        log_msg(LOG_WARN, NULL, "quakes map disabled",
                "quakes_web_dir or quakes_map_assets_dir is empty: / answers 503");
    for (size_t i = 0; assets_ok && i < N_ASSETS; i++) {
        char *data = NULL;
        const char *why = "";
        buf_reset(&path);
        buf_printf(&path, "%s/%s", assets[i].dir == FROM_WEB ? web_dir : assets_dir, assets[i].path);
        if (file_read_all(path.data, ASSET_MAX_BYTES, &data, &assets[i].len, &why) < 0) {
            log_msg(LOG_WARN, NULL, "quakes map not installed",
                    "cannot read %s: %s; / answers 503 (run scripts/ui.sh, or set %s)", path.data, why,
                    assets[i].dir == FROM_WEB ? "quakes_web_dir" : "quakes_map_assets_dir");
            assets_ok = false;
            break;
        }
        assets[i].data = data;
        version_of(&assets[i]);
    }
    if (assets_ok) {
        page_build();
    } else {
        for (size_t i = 0; i < N_ASSETS; i++) {
            free((void *)assets[i].data);
            assets[i].data = NULL;
            assets[i].len = 0;
        }
    }
    buf_cleanup(&path);
}

/* Loads the files once; answers 503 and returns false when they are not there. */
static bool assets_ready(struct http_req *r)
{
    pthread_once(&assets_once, assets_load);
    if (!assets_ok) {
        http_add_header(r, "Cache-Control", "no-store");
        http_reply_problem(r, 503, "the earthquake dashboard's files are not installed on this server: "
                                   "set quakes_web_dir (STRATA_QUAKES_WEB_DIR) to the folder of map.js and "
                                   "quakes_map_assets_dir (STRATA_QUAKES_MAP_ASSETS_DIR) to a node_modules "
                                   "folder holding leaflet, topojson-client and world-atlas; the API "
                                   "itself is at /api/v1/earthquakes");
    }
    return assets_ok;
}

/* ---- handlers ------------------------------------------------------------------------------ */

static void page_handler(struct http_req *r)
{
    if (!assets_ready(r))
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
    const char *name = http_path_param(r, "file");
    const struct map_asset *a = NULL;
    for (size_t i = 0; name && i < N_ASSETS && !a; i++)
        if (!strcmp(name, assets[i].name))
            a = &assets[i];
    if (!a) {
        http_reply_problem(r, 404, "no such file in the earthquake dashboard");
        return;
    }
    if (!assets_ready(r))
        return;
    http_add_header(r, "Cache-Control", ASSET_CACHE);
    http_add_header(r, "X-Content-Type-Options", "nosniff");
    if (a == &assets[A_FAVICON]) /* an SVG opened on its own is a document: nothing runs in it */
        http_add_header(r, "Content-Security-Policy", "default-src 'none'");
    http_reply(r, 200, a->type, a->data, a->len);
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
