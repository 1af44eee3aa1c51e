/*
 * openapi_routes: the API document and the Swagger UI (see openapi_routes.h).
 *
 * The document is rendered on the first request, under pthread_once, because every event-loop
 * thread answers requests and the router is only final once the server runs; the UI's files
 * are a core/webassets.c set. Afterwards both are read-only.
 */
#include "core/openapi_routes.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/http.h"
#include "core/openapi.h"
#include "core/webassets.h"
#include "core/server.h"

#define ASSET_MAX_BYTES (16 * 1024 * 1024) /* swagger-ui-bundle.js is ~1.7 MB */
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

#define DOCS_DIR(path) &docs_ui_dir, "docs_ui_dir", path
#define JS "text/javascript; charset=utf-8"

/* The whitelist: nothing else under /docs/ is ever served. */
static struct web_asset docs_files[] = {
    {"swagger-ui.css", DOCS_DIR("swagger-ui.css"), "text/css; charset=utf-8", NULL, 0, ""},
    {"swagger-ui-bundle.js", DOCS_DIR("swagger-ui-bundle.js"), JS, NULL, 0, ""},
    {"swagger-ui-standalone-preset.js", DOCS_DIR("swagger-ui-standalone-preset.js"), JS, NULL, 0, ""},
    {"favicon-32x32.png", DOCS_DIR("favicon-32x32.png"), "image/png", NULL, 0, ""},
    {"init.js", NULL, NULL, NULL, JS, init_js, sizeof init_js - 1, ""}, /* ours, not from the folder */
};

static struct web_assets docs = {
    .v = docs_files,
    .n = sizeof docs_files / sizeof docs_files[0],
    .max_bytes = ASSET_MAX_BYTES,
    .log_disabled = "API docs UI disabled",
    .log_missing = "API docs UI not installed",
    .unavailable = "the API docs UI (swagger-ui-dist) is not installed on this server: set docs_ui_dir "
                   "(STRATA_DOCS_UI_DIR) to its folder; the API description is still at /openapi.json",
    .mu = PTHREAD_MUTEX_INITIALIZER,
};

static void docs_page_handler(struct http_req *r)
{
    if (!web_assets_ready(&docs, r))
        return;
    http_add_header(r, "Content-Security-Policy", PAGE_CSP);
    http_add_header(r, "X-Content-Type-Options", "nosniff");
    http_add_header(r, "Referrer-Policy", "no-referrer");
    http_add_header(r, "Cache-Control", "no-cache");
    http_reply(r, 200, "text/html; charset=utf-8", docs_page, sizeof docs_page - 1);
}

static void docs_file_handler(struct http_req *r)
{
    const struct web_asset *a = web_assets_find(&docs, http_path_param(r, "file"));
    if (!a) {
        http_reply_problem(r, 404, "no such file in the API docs UI");
        return;
    }
    if (web_assets_ready(&docs, r))
        web_assets_reply(r, a);
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
