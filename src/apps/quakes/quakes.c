/*
 * quakes: the app's settings and metrics, registered by main.c before config_load. Each module
 * of the app keeps its own settings table; this only registers them all.
 */
#include "apps/quakes/quakes.h"

#include "apps/quakes/api.h"
#include "apps/quakes/fdsn.h"
#include "apps/quakes/ingest.h"
#include "apps/quakes/map.h"
#include "core/buf.h"
#include "core/metrics.h"

static void render_metrics(struct buf *out)
{
    struct quakes_ingest_stats s;
    quakes_ingest_stats(&s);
    buf_puts(out, "# HELP strata_quakes_features_total USGS features handled by the ingestor, by outcome.\n"
                  "# TYPE strata_quakes_features_total counter\n");
    buf_printf(out, "strata_quakes_features_total{outcome=\"created\"} %llu\n", (unsigned long long)s.features_created);
    buf_printf(out, "strata_quakes_features_total{outcome=\"updated\"} %llu\n", (unsigned long long)s.features_updated);
    buf_printf(out, "strata_quakes_features_total{outcome=\"deleted\"} %llu\n", (unsigned long long)s.features_deleted);
    buf_printf(out, "strata_quakes_features_total{outcome=\"ignored\"} %llu\n", (unsigned long long)s.features_ignored);
    buf_printf(out, "strata_quakes_features_total{outcome=\"invalid\"} %llu\n", (unsigned long long)s.features_invalid);
    buf_puts(out, "# HELP strata_quakes_polls_total USGS feed polls, by result.\n"
                  "# TYPE strata_quakes_polls_total counter\n");
    buf_printf(out, "strata_quakes_polls_total{result=\"ok\"} %llu\n",
               (unsigned long long)(s.polls_ok - s.polls_not_modified));
    buf_printf(out, "strata_quakes_polls_total{result=\"not_modified\"} %llu\n", (unsigned long long)s.polls_not_modified);
    buf_printf(out, "strata_quakes_polls_total{result=\"failed\"} %llu\n", (unsigned long long)s.polls_failed);
    buf_printf(out, "# HELP strata_quakes_backfill_windows_total FDSN backfill windows stored.\n"
                    "# TYPE strata_quakes_backfill_windows_total counter\nstrata_quakes_backfill_windows_total %llu\n",
               (unsigned long long)s.backfill_windows);
}

void quakes_register_config(void)
{
    quakes_ingest_register_config();
    quakes_api_register_config(); /* the API's settings (api.c: quakes_public_read, quakes_max_limit, ...) */
    quakes_fdsn_register_config();
    quakes_map_register_config(); /* the dashboard's folders (map.c: quakes_web_dir, quakes_map_assets_dir) */
    metrics_register_renderer(render_metrics);
}
