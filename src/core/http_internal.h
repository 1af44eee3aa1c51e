/*
 * http_internal: what server.c needs from http.c (start-up and the H2O entry point). Apps
 * never include this.
 */
#ifndef STRATA_HTTP_INTERNAL_H
#define STRATA_HTTP_INTERNAL_H

#include <stddef.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>

int http_init(char *err, size_t errlen);
void http_cleanup(void);
struct http_loop;
void http_loop_init(struct http_loop *L);
int http_on_req(h2o_handler_t *self, h2o_req_t *req);

#endif
