/*
 * sse_fanout: N idle SSE subscribers, then the delivery time of a burst (bench/quakes_sse.py).
 *
 *   STRATA_DATABASE_URL=postgresql://... sse_fanout HOST PORT PATH SUBSCRIBERS EVENTS TIMEOUT_MS
 *
 * 1. Opens its own libpq connection to STRATA_DATABASE_URL (the server's database) and runs
 *    LISTEN quakes_events, the channel the ingest NOTIFYs in the transaction that stores the
 *    events (src/apps/quakes/store.c). PostgreSQL delivers a NOTIFY at COMMIT, to every listener
 *    alike, the server's bus thread included.
 * 2. Opens SUBSCRIBERS connections (250 at a time) with GET PATH, and waits until each has a
 *    200 answer and the stream's first frame. Then prints "READY <ms it took>" on stdout.
 * 3. Keeps reading every stream and the libpq socket (epoll, one thread). Reads
 *    "GO <Unix time in ns>" on stdin: the wall-clock time the driver noted right before it
 *    started the burst's ingest process. The arrival time (CLOCK_REALTIME) of the first NOTIFY
 *    on quakes_events at or after GO's time is T_commit: the moment the burst became visible.
 * 4. Counts the "event: created" lines of each stream (SSE frames are written whole, so the
 *    chunked coding's size lines never split one; a line split across two reads is found with
 *    the carried last bytes). A subscriber is done when it has EVENTS of them, at
 *    CLOCK_REALTIME then.
 * 5. When all are done (or TIMEOUT_MS after GO), prints one line "RESULT {json}": per-subscriber
 *    done times and first-event times in ms after GO (sorted), commit_ms = T_commit in ms after
 *    GO (null when no NOTIFY came), the count of NOTIFYs after GO and before it, errors, this
 *    process's CPU seconds (in all, and from GO on). The driver subtracts commit_ms.
 *
 * C, rather than Python: one Python thread reading 5,000 sockets took longer to get to the last
 * socket (0.5-0.8 s of its own CPU for the 100-event burst) than the server took to write them.
 * The NOTIFY is read in the same loop and on the same clock as the streams.
 * Build: cc -O2 -Wall -Wextra $(pkg-config --cflags libpq) -o sse_fanout bench/sse_fanout.c
 *        $(pkg-config --libs libpq)   (bench/quakes_sse.py does, in the temp folder).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 250
#define OPEN_TIMEOUT_MS 60000
#define HEAD_MAX 4096

static const char CREATED[] = "\nevent: created\n";
static const char OVERFLOW[] = "\nevent: overflow\n";
#define CARRY (sizeof OVERFLOW - 2)

struct sub {
    int fd;
    int opened;    /* headers and the first frame read */
    int status;
    int closed;
    int overflow;
    int created;
    int64_t first_ns, done_ns;
    size_t head_len;
    char head[HEAD_MAX];
    size_t carry_len;
    char carry[CARRY];
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The lines that matter, "event: created" and "event: overflow", found in one memchr pass over
 * the newlines, in place (no copy of what was read). A line that starts within the last bytes of
 * one read and ends in the next is found at the boundary: the carried bytes (the last CARRY of
 * the stream, CARRY = the longest pattern - 1) plus the first CARRY new bytes; a match there is
 * counted only when it ends among the new bytes, so nothing is counted twice. */
static int match_at(const char *p, const char *end, const char *pat, size_t plen)
{
    return (size_t)(end - p) >= plen && !memcmp(p, pat, plen);
}

static void scan_lines(const char *carry, size_t carry_len, const char *data, size_t len, int *created,
                       int *overflow)
{
    char edge[2 * CARRY];
    size_t take = len < CARRY ? len : CARRY;
    memcpy(edge, carry, carry_len);
    memcpy(edge + carry_len, data, take);
    const char *eend = edge + carry_len + take;
    for (size_t i = 0; i < carry_len; i++) {
        if (edge[i] != '\n')
            continue;
        if (i + sizeof CREATED - 1 > carry_len && match_at(edge + i, eend, CREATED, sizeof CREATED - 1))
            (*created)++;
        if (i + sizeof OVERFLOW - 1 > carry_len && match_at(edge + i, eend, OVERFLOW, sizeof OVERFLOW - 1))
            *overflow = 1;
    }
    const char *p = data, *end = data + len;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        if (match_at(p, end, CREATED, sizeof CREATED - 1))
            (*created)++;
        else if (match_at(p, end, OVERFLOW, sizeof OVERFLOW - 1))
            *overflow = 1;
        p++;
    }
}

static int events_wanted;
static int64_t go_ns; /* 0 until GO */

/* The LISTEN connection. Each NOTIFY on the channel is timed when its bytes are read; the first
 * one at or after GO's time is the burst's commit (the driver starts the ingest after GO). */
#define NOTIFY_CHANNEL "quakes_events"
#define NOTIFY_MAX 64
static PGconn *pg;
static int64_t notify_ns[NOTIFY_MAX];
static int notify_n;

/* Reads what the libpq socket holds; returns -1 when the connection is lost. */
static int pg_drain(void)
{
    int64_t t = now_ns();
    if (!PQconsumeInput(pg)) {
        fprintf(stderr, "sse_fanout: LISTEN connection: %s", PQerrorMessage(pg));
        return -1;
    }
    PGnotify *n;
    while ((n = PQnotifies(pg)) != NULL) {
        if (!strcmp(n->relname, NOTIFY_CHANNEL) && notify_n < NOTIFY_MAX)
            notify_ns[notify_n++] = t;
        PQfreemem(n);
    }
    return 0;
}
static double go_cpu; /* this process's CPU seconds at GO */
static char rbuf[1 << 18];

/* New bytes of one stream. */
static void feed(struct sub *s, const char *data, size_t len)
{
    if (!s->opened) {
        size_t take = len < HEAD_MAX - s->head_len ? len : HEAD_MAX - s->head_len;
        memcpy(s->head + s->head_len, data, take);
        s->head_len += take;
        char *e = memmem(s->head, s->head_len, "\r\n\r\n", 4);
        if (!e)
            return;
        if (s->status == 0)
            s->status = atoi(s->head + 9 < s->head + s->head_len ? s->head + 9 : "0");
        char *body = e + 4;
        if (!memmem(body, (size_t)(s->head + s->head_len - body), "\n\n", 2))
            return;
        s->opened = 1;
        data = body;
        len = (size_t)(s->head + s->head_len - body);
        /* (the head buffer only ever holds the headers and the first frame: nothing is lost) */
    }
    int c = 0;
    scan_lines(s->carry, s->carry_len, data, len, &c, &s->overflow);
    if (c) {
        int64_t t = now_ns();
        if (!s->first_ns)
            s->first_ns = t;
        s->created += c;
        if (s->created >= events_wanted && !s->done_ns)
            s->done_ns = t;
    }
    if (len >= CARRY) {
        s->carry_len = CARRY;
        memcpy(s->carry, data + len - CARRY, CARRY);
    } else {
        size_t keep = s->carry_len + len > CARRY ? CARRY - len : s->carry_len;
        memmove(s->carry, s->carry + s->carry_len - keep, keep);
        memcpy(s->carry + keep, data, len);
        s->carry_len = keep + len;
    }
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: sse_fanout HOST PORT PATH SUBSCRIBERS EVENTS TIMEOUT_MS\n");
        return 2;
    }
    const char *host = argv[1], *path = argv[3];
    int port = atoi(argv[2]), nsubs = atoi(argv[4]);
    events_wanted = atoi(argv[5]);
    int64_t timeout_ms = atoll(argv[6]);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "sse_fanout: HOST must be an IPv4 address\n");
        return 2;
    }
    char req[512];
    int reqlen = snprintf(req, sizeof req,
                          "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
                          path, host, port);

    const char *dburl = getenv("STRATA_DATABASE_URL");
    if (!dburl || !*dburl) {
        fprintf(stderr, "sse_fanout: STRATA_DATABASE_URL is not set\n");
        return 2;
    }
    pg = PQconnectdb(dburl);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "sse_fanout: cannot connect to the database: %s", PQerrorMessage(pg));
        return 1;
    }
    PGresult *lr = PQexec(pg, "LISTEN " NOTIFY_CHANNEL);
    if (PQresultStatus(lr) != PGRES_COMMAND_OK) {
        fprintf(stderr, "sse_fanout: LISTEN " NOTIFY_CHANNEL ": %s", PQresultErrorMessage(lr));
        return 1;
    }
    PQclear(lr);
    if (PQsetnonblocking(pg, 1) != 0) {
        fprintf(stderr, "sse_fanout: LISTEN connection: %s", PQerrorMessage(pg));
        return 1;
    }

    struct sub *subs = calloc((size_t)nsubs, sizeof *subs);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev); /* stdin: GO */
    ev.data.u32 = UINT32_MAX - 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, PQsocket(pg), &ev); /* the LISTEN connection */
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    struct epoll_event evs[512];
    char line[128];
    size_t line_len = 0;

    int64_t t_open = mono_ms();
    int opened = 0;
    for (int i = 0; i < nsubs;) {
        int end = i + BATCH < nsubs ? i + BATCH : nsubs;
        for (int k = i; k < end; k++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                fprintf(stderr, "sse_fanout: connection %d: %s\n", k, strerror(errno));
                return 1;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (write(fd, req, (size_t)reqlen) != reqlen) {
                fprintf(stderr, "sse_fanout: request %d: %s\n", k, strerror(errno));
                return 1;
            }
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            subs[k].fd = fd;
            ev.events = EPOLLIN;
            ev.data.u32 = (uint32_t)k;
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        while (opened < end) {
            if (mono_ms() - t_open > OPEN_TIMEOUT_MS) {
                fprintf(stderr, "sse_fanout: %d of %d streams open after %d ms\n", opened, end, OPEN_TIMEOUT_MS);
                return 1;
            }
            int n = epoll_wait(ep, evs, 512, 1000);
            for (int j = 0; j < n; j++) {
                if (evs[j].data.u32 == UINT32_MAX - 1 && pg_drain() < 0)
                    return 1;
                if (evs[j].data.u32 >= UINT32_MAX - 1)
                    continue;
                struct sub *s = &subs[evs[j].data.u32];
                ssize_t r = read(s->fd, rbuf, sizeof rbuf);
                if (r <= 0) {
                    if (r < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                    fprintf(stderr, "sse_fanout: stream %u closed while opening\n", evs[j].data.u32);
                    return 1;
                }
                int was = s->opened;
                feed(s, rbuf, (size_t)r);
                if (s->opened && !was) {
                    if (s->status != 200) {
                        fprintf(stderr, "sse_fanout: stream %u answered %d\n", evs[j].data.u32, s->status);
                        return 1;
                    }
                    opened++;
                }
            }
        }
        i = end;
    }
    if (pg_drain() < 0)
        return 1;
    printf("READY %lld\n", (long long)(mono_ms() - t_open));
    fflush(stdout);

    int done = 0, failed = 0;
    int64_t deadline = 0;
    for (;;) {
        if (go_ns && (done + failed >= nsubs || mono_ms() > deadline))
            break;
        int n = epoll_wait(ep, evs, 512, 100);
        /* the LISTEN socket first: a NOTIFY read in the same wake-up as stream data is timed
         * before that data */
        for (int j = 0; j < n; j++)
            if (evs[j].data.u32 == UINT32_MAX - 1 && pg_drain() < 0)
                return 1;
        for (int j = 0; j < n; j++) {
            if (evs[j].data.u32 == UINT32_MAX - 1)
                continue;
            if (evs[j].data.u32 == UINT32_MAX) {
                ssize_t r = read(0, line + line_len, sizeof line - 1 - line_len);
                if (r > 0) {
                    line_len += (size_t)r;
                    line[line_len] = '\0';
                    long long t;
                    if (!go_ns && strchr(line, '\n') && sscanf(line, "GO %lld", &t) == 1) {
                        go_ns = t;
                        go_cpu = cpu_seconds();
                        deadline = mono_ms() + timeout_ms;
                    }
                } else if (r == 0 && !go_ns) {
                    fprintf(stderr, "sse_fanout: stdin closed before GO\n");
                    return 1;
                } else if (r == 0) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
                }
                continue;
            }
            struct sub *s = &subs[evs[j].data.u32];
            for (;;) {
                ssize_t r = read(s->fd, rbuf, sizeof rbuf);
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                if (r <= 0) {
                    s->closed = 1;
                    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                    if (!s->done_ns)
                        failed++;
                    break;
                }
                int had = s->done_ns != 0;
                feed(s, rbuf, (size_t)r);
                if (!had && s->done_ns)
                    done++;
                if (s->overflow && !s->done_ns && !s->closed) {
                    s->closed = 1;
                    failed++;
                    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                    break;
                }
                if ((size_t)r < sizeof rbuf)
                    break;
            }
        }
    }

    double cpu = cpu_seconds();
    int64_t *lat = calloc((size_t)nsubs, sizeof *lat), *first = calloc((size_t)nsubs, sizeof *first);
    int nl = 0, nf = 0, overflow = 0, closed = 0;
    for (int i = 0; i < nsubs; i++) {
        if (subs[i].done_ns)
            lat[nl++] = subs[i].done_ns - go_ns;
        if (subs[i].first_ns)
            first[nf++] = subs[i].first_ns - go_ns;
        overflow += subs[i].overflow;
        closed += subs[i].closed && !subs[i].done_ns;
    }
    qsort(lat, (size_t)nl, sizeof *lat, cmp_i64);
    qsort(first, (size_t)nf, sizeof *first, cmp_i64);
    int64_t commit_ns = 0;
    int notifies_after = 0, notifies_before = 0;
    for (int i = 0; i < notify_n; i++) {
        if (notify_ns[i] < go_ns) {
            notifies_before++;
            continue;
        }
        if (!notifies_after++)
            commit_ns = notify_ns[i];
    }
    char commit[32] = "null";
    if (notifies_after)
        snprintf(commit, sizeof commit, "%.3f", (commit_ns - go_ns) / 1e6);
    printf("RESULT {\"subscribers\":%d,\"complete\":%d,\"overflow\":%d,\"closed\":%d,\"cpu_seconds\":%.3f,"
           "\"burst_cpu_seconds\":%.3f,\"commit_ms\":%s,\"notifies\":%d,\"notifies_before_go\":%d,"
           "\"first_ms\":[",
           nsubs, nl, overflow, closed, cpu, cpu - go_cpu, commit, notifies_after, notifies_before);
    for (int i = 0; i < nf; i++)
        printf("%s%.3f", i ? "," : "", first[i] / 1e6);
    printf("],\"done_ms\":[");
    for (int i = 0; i < nl; i++)
        printf("%s%.3f", i ? "," : "", lat[i] / 1e6);
    printf("]}\n");
    fflush(stdout);
    for (int i = 0; i < nsubs; i++)
        close(subs[i].fd);
    PQfinish(pg);
    return 0;
}
