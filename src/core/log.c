#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "core/timefmt.h"

static atomic_int min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, level_names[i]))
            atomic_store(&min_level, i);
}

bool log_enabled(enum log_level level)
{
    return (int)level >= atomic_load(&min_level);
}

bool log_begin(struct log_line *l, enum log_level level, const char *msg, const char *request_id)
{
    if (!log_enabled(level))
        return false;
    char ts[TIMEFMT_LEN];
    buf_init(&l->buf);
    jsonw_init(&l->w, &l->buf);
    jsonw_obj_begin(&l->w);
    time_format(time_now_us(), ts);
    jsonw_kv_str(&l->w, "time", ts);
    jsonw_kv_str(&l->w, "level", level_names[level]);
    jsonw_kv_str(&l->w, "msg", msg);
    if (request_id)
        jsonw_kv_str(&l->w, "request_id", request_id);
    return true;
}

void log_end(struct log_line *l)
{
    jsonw_obj_end(&l->w);
    buf_putc(&l->buf, '\n');
    const char *p = l->buf.data;
    size_t left = l->buf.len;
    while (left) {
        ssize_t n = write(STDERR_FILENO, p, left);
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    buf_cleanup(&l->buf);
}

void log_msg(enum log_level level, const char *request_id, const char *msg, const char *detail_fmt, ...)
{
    struct log_line l;
    if (!log_begin(&l, level, msg, request_id))
        return;
    if (detail_fmt) {
        struct buf d;
        buf_init(&d);
        va_list ap;
        va_start(ap, detail_fmt);
        buf_vprintf(&d, detail_fmt, ap);
        va_end(ap);
        jsonw_kv_str(&l.w, "detail", d.data ? d.data : "");
        buf_cleanup(&d);
    }
    log_end(&l);
}
