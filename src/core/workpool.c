#include "core/workpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct workpool_job *head, *tail;
static unsigned queued, max_queued;
static pthread_t *threads;
static unsigned nthreads_running;
static bool stopping;

static void *worker_main(void *unused)
{
    /* password hashing must not starve the event loops that share the cores: run it at a
     * lower priority (Linux applies nice per thread) */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
        log_msg(LOG_DEBUG, NULL, "workpool: could not lower thread priority", NULL);
    for (;;) {
        pthread_mutex_lock(&mu);
        while (!head && !stopping)
            pthread_cond_wait(&cv, &mu);
        if (!head) {
            pthread_mutex_unlock(&mu);
            return NULL;
        }
        struct workpool_job *job = head;
        head = job->next;
        if (!head)
            tail = NULL;
        queued--;
        pthread_mutex_unlock(&mu);
        job->work(job);
        h2o_multithread_send_message(job->reply_to, &job->msg);
    }
}

int workpool_start(unsigned n, unsigned queue_max)
{
    if (n == 0)
        n = 1;
    max_queued = queue_max ? queue_max : 1024;
    stopping = false;
    threads = xcalloc(n, sizeof *threads);
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&threads[i], NULL, worker_main, NULL) != 0)
            return STRATA_EIO;
        nthreads_running++;
    }
    return 0;
}

void workpool_stop(void)
{
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (unsigned i = 0; i < nthreads_running; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    threads = NULL;
    nthreads_running = 0;
}

int workpool_submit(struct workpool_job *job)
{
    job->next = NULL;
    job->msg.link.next = job->msg.link.prev = NULL;
    pthread_mutex_lock(&mu);
    if (stopping || !nthreads_running || queued >= max_queued) {
        pthread_mutex_unlock(&mu);
        return STRATA_EBUSY;
    }
    if (tail)
        tail->next = job;
    else
        head = job;
    tail = job;
    queued++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return 0;
}

void workpool_on_replies(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        struct workpool_job *job = H2O_STRUCT_FROM_MEMBER(struct workpool_job, msg, m);
        job->done(job);
    }
}
