/*
 * metrics: Prometheus text exposition (format 0.0.4) at /metrics. HTTP requests and latency
 * histograms by route template, method and status; in-flight requests and open connections;
 * database pool state, pipeline depth and query outcomes; process RSS, open fds and CPU.
 *
 * Counters are per (route, status) slots updated with relaxed atomics from every loop; the
 * pool figures are snapshots each loop publishes on its tick. Rendering never blocks a loop
 * for longer than copying those snapshots.
 *
 * Must not: know app metrics by name (apps add theirs with metrics_register_family later).
 */
#ifndef STRATA_METRICS_H
#define STRATA_METRICS_H

#include <stdint.h>

#include "core/buf.h"
#include "core/db.h"
#include "core/router.h"

void metrics_init(const struct router *r, unsigned nloops);
/* route may be NULL (no route matched). */
void metrics_observe_request(const struct route *route, const char *method, size_t method_len, int status,
                             double seconds);
void metrics_publish_loop(unsigned loop_idx, unsigned inflight, unsigned conns, const struct db_pool_stats *db);
void metrics_render(struct buf *out);

/* Apps add their own families: fn appends exposition text (with # HELP / # TYPE) to out. */
void metrics_register_renderer(void (*fn)(struct buf *out));

extern const struct route metrics_routes[]; /* GET /metrics; ends with a NULL method */

#endif
