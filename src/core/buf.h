/*
 * buf: a growable byte buffer, always NUL-terminated so it can be handed to C string
 * functions. The JSON writer and every response renderer append to one of these.
 */
#ifndef STRATA_BUF_H
#define STRATA_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct buf {
    char *data; /* owned; NUL-terminated after any append */
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_cleanup(struct buf *b);
void buf_reset(struct buf *b);
/* Out of line: makes room for extra bytes + the NUL when there is not enough. */
void buf_grow(struct buf *b, size_t extra);

/* The appends are inline: renderers call them for every element of every row, and the common
 * case (room left) is a compare and a copy. */
static inline void buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra + 1 > b->cap)
        buf_grow(b, extra);
}

static inline void buf_append(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

static inline void buf_putc(struct buf *b, char c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Takes the data out of the buffer (caller frees); the buffer is left empty. */
char *buf_steal(struct buf *b, size_t *len);

#endif
