/*
 * openapi_routes: the API document and the Swagger UI (see openapi_routes.h).
 *
 * Both are built on the first request that needs them, under pthread_once, because every
 * event-loop thread answers requests and the router is only final once the server runs.
 * Afterwards they are read-only.
 */
#include "core/openapi_routes.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/http.h"
#include "core/log.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/openapi.h"
#include "core/server.h"

#define ASSET_MAX_BYTES (16 * 1024 * 1024) /* swagger-ui-bundle.js is ~1.7 MB */
#define ASSET_CACHE "public, max-age=86400"
#define PAGE_CSP                                                                                   \
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "                 \
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"

static char *docs_ui_dir;

static const struct config_setting docs_settings[] = {
    {"docs_ui_dir", CFG_STRING, "build/ui/node_modules/swagger-ui-dist", &docs_ui_dir, 0, 0, 0, NULL,
     "folder of the npm package swagger-ui-dist served at /docs (scripts/ui.sh installs it; "
     "empty: /docs answers 503)"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

void openapi_register_config(void)
{
    config_register(docs_settings);
}

/* ---- /openapi.json ----------------------------------------------------------------------------- */

static pthread_once_t doc_once = PTHREAD_ONCE_INIT;
static struct buf doc; /* process lifetime */

static void doc_build(void)
{
    buf_init(&doc);
    openapi_render(server_router(), &doc);
}

static void openapi_json(struct http_req *r)
{
    pthread_once(&doc_once, doc_build);
    http_add_header(r, "Cache-Control", "no-cache");
    http_reply(r, 200, "application/json", doc.data, doc.len);
}

/* ---- /docs --------------------------------------------------------------------------------------- */

/* Starts Swagger UI. A served file rather than an inline script, so that the page's CSP needs
 * no 'unsafe-inline' for scripts. validatorUrl null: the default sends the document to
 * validator.swagger.io. The OAuth2 password flow uses the public client strata-web. */
static const char init_js[] =
    "/* Strata: starts Swagger UI on this server's /openapi.json */\n"
    "\"use strict\";\n"
    "window.addEventListener(\"load\", function () {\n"
    "  var ui = SwaggerUIBundle({\n"
    "    url: \"/openapi.json\",\n"
    "    dom_id: \"#swagger-ui\",\n"
    "    deepLinking: true,\n"
    "    validatorUrl: null,\n"
    "    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],\n"
    "    plugins: [SwaggerUIBundle.plugins.DownloadUrl],\n"
    "    layout: \"StandaloneLayout\"\n"
    "  });\n"
    "  ui.initOAuth({ clientId: \"strata-web\" });\n"
    "  window.ui = ui;\n"
    "});\n";

static const char docs_page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>Strata API</title>\n"
    "<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">\n"
    "<link rel=\"icon\" type=\"image/png\" sizes=\"32x32\" href=\"/docs/favicon-32x32.png\">\n"
    "</head>\n"
    "<body>\n"
    "<div id=\"swagger-ui\"></div>\n"
    "<noscript>Swagger UI needs JavaScript. The API description itself is at "
    "<a href=\"/openapi.json\">/openapi.json</a>.</noscript>\n"
    "<script src=\"/docs/swagger-ui-bundle.js\"></script>\n"
    "<script src=\"/docs/swagger-ui-standalone-preset.js\"></script>\n"
    "<script src=\"/docs/init.js\"></script>\n"
    "</body>\n"
    "</html>\n";

struct docs_asset {
    const char *name;
    const char *type;
    bool generated; /* init.js: ours, not read from the folder */
    const char *data;
    size_t len;
};

/* The whitelist: nothing else under /docs/ is ever served. */
static struct docs_asset assets[] = {
    {"swagger-ui.css", "text/css; charset=utf-8", false, NULL, 0},
    {"swagger-ui-bundle.js", "text/javascript; charset=utf-8", false, NULL, 0},
    {"swagger-ui-standalone-preset.js", "text/javascript; charset=utf-8", false, NULL, 0},
    {"favicon-32x32.png", "image/png", false, NULL, 0},
    {"init.js", "text/javascript; charset=utf-8", true, init_js, sizeof init_js - 1},
};
#define N_ASSETS (sizeof assets / sizeof assets[0])

static pthread_once_t assets_once = PTHREAD_ONCE_INIT;
static bool assets_ok;


static void assets_load(void)
{
    struct buf path;
    buf_init(&path);
    assets_ok = docs_ui_dir && docs_ui_dir[0];
    if (!assets_ok)
        log_msg(LOG_WARN, NULL, "API docs UI disabled", "docs_ui_dir is empty: /docs answers 503");
    for (size_t i = 0; assets_ok && i < N_ASSETS; i++) {
        if (assets[i].generated)
            continue;
        char *data = NULL;
        const char *why = "";
        buf_reset(&path);
        buf_printf(&path, "%s/%s", docs_ui_dir, assets[i].name);
        if (file_read_all(path.data, ASSET_MAX_BYTES, &data, &assets[i].len, &why) < 0) {
            log_msg(LOG_WARN, NULL, "API docs UI not installed",
                    "cannot read %s: %s; /docs answers 503 (run scripts/ui.sh or set docs_ui_dir)",
                    path.data, why);
            assets_ok = false;
            break;
        }
        assets[i].data = data;
    }
    if (!assets_ok) {
        for (size_t i = 0; i < N_ASSETS; i++) {
            if (!assets[i].generated) {
                free((void *)assets[i].data);
                assets[i].data = NULL;
                assets[i].len = 0;
            }
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
        http_reply_problem(r, 503, "the API docs UI (swagger-ui-dist) is not installed on this server: "
                                   "set docs_ui_dir (STRATA_DOCS_UI_DIR) to its folder; the API "
                                   "description is still at /openapi.json");
    }
    return assets_ok;
}

static void docs_page_handler(struct http_req *r)
{
    if (!assets_ready(r))
        return;
    http_add_header(r, "Content-Security-Policy", PAGE_CSP);
    http_add_header(r, "X-Content-Type-Options", "nosniff");
    http_add_header(r, "Referrer-Policy", "no-referrer");
    http_add_header(r, "Cache-Control", "no-cache");
    http_reply(r, 200, "text/html; charset=utf-8", docs_page, sizeof docs_page - 1);
}

static void docs_file_handler(struct http_req *r)
{
    const char *name = http_path_param(r, "file");
    const struct docs_asset *a = NULL;
    for (size_t i = 0; name && i < N_ASSETS && !a; i++)
        if (!strcmp(name, assets[i].name))
            a = &assets[i];
    if (!a) {
        http_reply_problem(r, 404, "no such file in the API docs UI");
        return;
    }
    if (!assets_ready(r))
        return;
    http_add_header(r, "Cache-Control", ASSET_CACHE);
    http_add_header(r, "X-Content-Type-Options", "nosniff");
    http_reply(r, 200, a->type, a->data, a->len);
}

static const struct param_spec docs_file_path[] = {
    {.name = "file", .type = PARAM_STRING, .flags = PARAM_REQUIRED, .max_len = 64,
     .help = "one of swagger-ui.css, swagger-ui-bundle.js, swagger-ui-standalone-preset.js, "
             "favicon-32x32.png, init.js"},
    {.name = NULL},
};

static const int errs_docs_page[] = {503, 0};
static const int errs_docs_file[] = {404, 503, 0};

const struct route openapi_routes[] = {
    {.method = "GET", .path = "/openapi.json", .handler = openapi_json,
     .summary = "This OpenAPI 3.1 document", .tag = "operations", .flags = ROUTE_INTERNAL},
    {.method = "GET", .path = "/docs", .handler = docs_page_handler,
     .summary = "Swagger UI for this API", .tag = "operations", .errors = errs_docs_page,
     .response_type = "text/html", .flags = ROUTE_INTERNAL},
    {.method = "GET", .path = "/docs/{file}", .handler = docs_file_handler, .path_params = docs_file_path,
     .summary = "A file of the Swagger UI (stylesheet, scripts, icon)", .tag = "operations",
     .errors = errs_docs_file, .response_type = "*/*", .flags = ROUTE_INTERNAL},
    {.method = NULL},
};
