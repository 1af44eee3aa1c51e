#include "core/accept.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The q parameter of one element's parameter list (after the coding), 1000ths; 1000 when
 * absent, -1 when malformed. */
static int qvalue(const char *p, const char *end)
{
    int q = 1000;
    while (p < end) {
        while (p < end && (is_ows(*p) || *p == ';'))
            p++;
        const char *name = p;
        while (p < end && *p != '=' && *p != ';' && !is_ows(*p))
            p++;
        size_t nlen = (size_t)(p - name);
        while (p < end && is_ows(*p))
            p++;
        if (p >= end || *p != '=') {
            if (nlen)
                return -1;
            continue;
        }
        p++;
        while (p < end && is_ows(*p))
            p++;
        const char *v = p;
        while (p < end && *p != ';' && !is_ows(*p))
            p++;
        if (nlen != 1 || (name[0] != 'q' && name[0] != 'Q'))
            continue; /* another parameter: ignored */
        /* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
        size_t vlen = (size_t)(p - v);
        if (vlen == 0 || (v[0] != '0' && v[0] != '1'))
            return -1;
        q = (v[0] - '0') * 1000;
        if (vlen > 1) {
            if (v[1] != '.' || vlen > 5)
                return -1;
            int scale = 100;
            for (size_t i = 2; i < vlen; i++, scale /= 10) {
                if (!isdigit((unsigned char)v[i]))
                    return -1;
                q += (v[i] - '0') * scale;
            }
            if (q > 1000)
                return -1;
        }
    }
    return q;
}

bool accept_gzip(const char *value, size_t len)
{
    const char *p = value, *end = value + len;
    int gzip_q = -1, star_q = -1;
    while (p < end) {
        const char *elem = p;
        while (p < end && *p != ',')
            p++;
        const char *eend = p;
        if (p < end)
            p++;
        while (elem < eend && is_ows(*elem))
            elem++;
        const char *c = elem;
        while (c < eend && *c != ';' && !is_ows(*c))
            c++;
        size_t clen = (size_t)(c - elem);
        int q = qvalue(c, eend);
        if (q < 0)
            continue;
        if ((clen == 4 && !strncasecmp(elem, "gzip", 4)) || (clen == 6 && !strncasecmp(elem, "x-gzip", 6)))
            gzip_q = q > gzip_q ? q : gzip_q;
        else if (clen == 1 && elem[0] == '*')
            star_q = q;
    }
    if (gzip_q >= 0)
        return gzip_q > 0;
    return star_q > 0;
}
