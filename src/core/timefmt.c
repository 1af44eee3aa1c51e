/*
 * timefmt: RFC 3339 / ISO 8601 parsing and RFC 3339 formatting (see timefmt.h). The civil
 * date arithmetic is done here rather than with timegm/gmtime so that results do not depend
 * on the C library, the TZ variable or the locale, and years before 1970 work everywhere.
 */
#include "core/timefmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar, any year. */
int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t mp = m > 2 ? (int64_t)m - 3 : (int64_t)m + 9;         /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;            /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                    /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);             /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                  /* [0, 11] */
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n ASCII digits at s[*pos]. */
static bool digits(const char *s, size_t len, size_t *pos, size_t n, unsigned *out)
{
    unsigned v = 0;

    if (len - *pos < n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[*pos + i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *pos += n;
    *out = v;
    return true;
}

static bool next_is(const char *s, size_t len, size_t pos, char c)
{
    return pos < len && s[pos] == c;
}

/* Offset after the time: Z, z, +HH:MM, +HHMM or +HH (and '-'). Seconds east of UTC. */
static bool parse_offset(const char *s, size_t len, size_t *pos, int64_t *off_s)
{
    unsigned hh, mm = 0;
    int sign;

    if (*pos == len) {
        *off_s = 0;
        return true;
    }
    if (s[*pos] == 'Z' || s[*pos] == 'z') {
        (*pos)++;
        *off_s = 0;
        return true;
    }
    if (s[*pos] != '+' && s[*pos] != '-')
        return false;
    sign = s[*pos] == '-' ? -1 : 1;
    (*pos)++;
    if (!digits(s, len, pos, 2, &hh) || hh > 23)
        return false;
    if (next_is(s, len, *pos, ':')) {
        (*pos)++;
        if (!digits(s, len, pos, 2, &mm))
            return false;
    } else if (*pos < len) {
        if (!digits(s, len, pos, 2, &mm))
            return false;
    }
    if (mm > 59)
        return false;
    *off_s = sign * ((int64_t)hh * 3600 + (int64_t)mm * 60);
    return true;
}

int time_parse(const char *s, size_t len, int64_t *out_us)
{
    size_t pos = 0;
    unsigned y, mo, d, h = 0, mi = 0, sec = 0, frac_us = 0;
    int64_t off_s = 0;

    if (!s)
        return STRATA_EINVAL;
    if (!digits(s, len, &pos, 4, &y) || !next_is(s, len, pos++, '-') ||
        !digits(s, len, &pos, 2, &mo) || !next_is(s, len, pos++, '-') ||
        !digits(s, len, &pos, 2, &d))
        return STRATA_EINVAL;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return STRATA_EINVAL;

    if (pos < len) {
        char sep = s[pos++];
        if (sep != 'T' && sep != 't' && sep != ' ')
            return STRATA_EINVAL;
        if (!digits(s, len, &pos, 2, &h) || !next_is(s, len, pos++, ':') ||
            !digits(s, len, &pos, 2, &mi))
            return STRATA_EINVAL;
        if (next_is(s, len, pos, ':')) {
            pos++;
            if (!digits(s, len, &pos, 2, &sec))
                return STRATA_EINVAL;
            if (next_is(s, len, pos, '.')) {
                size_t n = 0;
                unsigned scale = 100000;
                pos++;
                while (pos < len && s[pos] >= '0' && s[pos] <= '9') {
                    if (++n > 9)
                        return STRATA_EINVAL;
                    frac_us += (unsigned)(s[pos] - '0') * scale; /* digits past 6 truncate */
                    scale /= 10;
                    pos++;
                }
                if (n == 0)
                    return STRATA_EINVAL;
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return STRATA_EINVAL;
        if (sec == 60) {
            /* A leap second has no place on a POSIX time line: pin it to the last
             * representable instant of the minute, so ordering is kept. */
            sec = 59;
            frac_us = 999999;
        }
        if (!parse_offset(s, len, &pos, &off_s))
            return STRATA_EINVAL;
    }
    if (pos != len)
        return STRATA_EINVAL;

    int64_t secs = time_days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 +
                   (int64_t)mi * 60 + sec - off_s;
    int64_t us = secs * US_PER_SEC + frac_us;
    /* An offset can carry 0001-01-01 or 9999-12-31 out of the years we can write back. */
    static const int64_t min_us = INT64_C(-62135596800) * US_PER_SEC; /* 0001-01-01 */
    static const int64_t max_us = INT64_C(253402300800) * US_PER_SEC; /* 10000-01-01 */
    if (us < min_us || us >= max_us)
        return STRATA_EINVAL;
    *out_us = us;
    return 0;
}

/* Splits us into civil fields, flooring so times before 1970 still have a fraction in
 * [0, 1 s). Years outside 0001..9999 are written as they come (never produced by
 * time_parse; a caller passing such a time gets a string, not a failure). */
static size_t format(int64_t us, char *out, bool micro)
{
    int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY;
    int64_t y;
    unsigned m, d;

    if (rem < 0) {
        rem += US_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    int64_t s = rem / US_PER_SEC;
    int64_t frac = rem % US_PER_SEC;
    if (y >= 0 && y <= 9999) {
        /* digits by hand: this runs once or twice per row of every listing */
        int fields[6] = {(int)y, (int)m, (int)d, (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60)};
        static const char seps[] = "--T::.";
        char *p = out;
        for (int i = 0; i < 6; i++) {
            int v = fields[i];
            if (i == 0) {
                *p++ = (char)('0' + v / 1000);
                *p++ = (char)('0' + v / 100 % 10);
            }
            *p++ = (char)('0' + v / 10 % 10);
            *p++ = (char)('0' + v % 10);
            *p++ = seps[i];
        }
        int digits = micro ? 6 : 3;
        int f = micro ? (int)frac : (int)(frac / 1000);
        for (int i = digits - 1; i >= 0; i--, f /= 10)
            p[i] = (char)('0' + f % 10);
        p += digits;
        *p++ = 'Z';
        *p = '\0';
        return (size_t)(p - out);
    }
    int n;
    if (micro)
        n = snprintf(out, TIMEFMT_LEN, "%04lld-%02u-%02uT%02d:%02d:%02d.%06dZ", (long long)y, m,
                     d, (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60), (int)frac);
    else
        n = snprintf(out, TIMEFMT_LEN, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m,
                     d, (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60), (int)(frac / 1000));
    return n < 0 ? 0 : (size_t)n;
}

size_t time_format(int64_t us, char *out)
{
    return format(us, out, false);
}

size_t time_format_us(int64_t us, char *out)
{
    return format(us, out, true);
}

int64_t time_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}
