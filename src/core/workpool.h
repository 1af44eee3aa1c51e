/*
 * workpool: a small pool of threads for CPU-heavy or blocking work that must never run on an
 * event loop (Argon2id password hashing, blocking library calls). A job's work() runs on a
 * pool thread; its done() then runs on the event loop that submitted it, delivered through
 * H2O's cross-thread queue, so done() may touch loop-owned state (replies, db queries).
 *
 * The queue is bounded: workpool_submit refuses (STRATA_EBUSY) when full, so a flood of
 * logins turns into 503s instead of unbounded memory.
 */
#ifndef STRATA_WORKPOOL_H
#define STRATA_WORKPOOL_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "core/err.h"

struct workpool_job {
    void (*work)(struct workpool_job *job); /* on a pool thread */
    void (*done)(struct workpool_job *job); /* back on the submitting loop */
    h2o_multithread_receiver_t *reply_to;   /* the submitting loop's receiver */
    h2o_multithread_message_t msg;          /* internal */
    struct workpool_job *next;              /* internal */
};

int workpool_start(unsigned nthreads, unsigned queue_max) STRATA_MUST_CHECK;
/* Stops the threads after the jobs already queued; jobs submitted later are refused. */
void workpool_stop(void);
int workpool_submit(struct workpool_job *job) STRATA_MUST_CHECK;
/* The receiver callback each loop registers for its reply_to receiver. */
void workpool_on_replies(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages);

#endif
