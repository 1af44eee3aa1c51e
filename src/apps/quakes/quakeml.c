/*
 * quakes quakeml: QuakeML 1.2 BED writer (see quakeml.h for the escaping, number and id
 * policies). Element order follows the BED class diagrams; the schema itself does not impose
 * one (its content models are interleaves / unbounded choices).
 */
#include "apps/quakes/quakeml.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/timefmt.h"
#include "core/utf8.h"

#define NS_QUAKEML "http://quakeml.org/xmlns/quakeml/1.2"
#define NS_BED "http://quakeml.org/xmlns/bed/1.2"

#define AGENCY_ID_MAX 64  /* CreationInfo.agencyID maxLength */
#define MAG_TYPE_MAX 32   /* Magnitude.type maxLength */
#define DECIMAL_MAX_SIG 64 /* significant digits kept; more is refused, not rounded */
#define DOUBLE_MAX_POINT 308 /* 0.d * 10^308 < 1e308 < DBL_MAX: finite as a double */

static bool present(const char *s)
{
    return s && *s;
}

/* ---- text ------------------------------------------------------------------------------- */

/* Escaped text, at most maxchars characters (0: no limit). */
static void put_text(struct buf *b, const char *str, size_t maxchars)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len = strlen(str), i = 0, run = 0, chars = 0;

    while (i < len && (maxchars == 0 || chars < maxchars)) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7F && c != '&' && c != '<' && c != '>' && c != '"' && c != '\'') {
            i++; /* the common case first: printable ASCII that needs no entity */
            chars++;
            continue;
        }
        const char *ent = NULL;
        size_t adv = 1;
        bool drop = false;

        if (c >= 0x80) {
            unsigned cp = 0;
            size_t bad = 0, n = utf8_seq(s + i, len - i, &cp, &bad);
            if (n && !(cp >= 0x80 && cp <= 0x9F) && cp != 0xFFFE && cp != 0xFFFF) {
                i += n;
                chars++;
                continue;
            }
            drop = true;
            adv = n ? n : bad;
        } else if (c == '&') {
            ent = "&amp;";
        } else if (c == '<') {
            ent = "&lt;";
        } else if (c == '>') {
            ent = "&gt;";
        } else if (c == '"') {
            ent = "&quot;";
        } else if (c == '\'') {
            ent = "&apos;";
        } else if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) {
            drop = true;
        } else {
            i++;
            chars++;
            continue;
        }
        if (i > run)
            buf_append(b, s + run, i - run);
        if (!drop) {
            buf_puts(b, ent);
            chars++;
        }
        i += adv;
        run = i;
    }
    if (i > run)
        buf_append(b, s + run, i - run);
}

/* <name> and </name> (no printf: this writer runs ~40 elements per event, 1,000s of events) */
static void open_el(struct buf *b, const char *name)
{
    buf_putc(b, '<');
    buf_puts(b, name);
    buf_putc(b, '>');
}

static void close_el(struct buf *b, const char *name)
{
    buf_puts(b, "</");
    buf_puts(b, name);
    buf_putc(b, '>');
}

static void el_text(struct buf *b, const char *name, const char *s, size_t maxchars)
{
    if (!present(s))
        return;
    open_el(b, name);
    put_text(b, s, maxchars);
    close_el(b, name);
}

/* ---- numbers ---------------------------------------------------------------------------- */

/* A decimal number: value = (neg ? -1 : 1) * 0.d[0]d[1]...d[n-1] * 10^point; n == 0 is zero.
 * d has no leading or trailing zeros. */
struct decimal {
    bool neg;
    size_t n;
    long point;
    char d[DECIMAL_MAX_SIG];
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parses the xs:double lexical form without INF/NaN (that is, JSON's number grammar plus a
 * leading '+', "5." and ".5"), the whole string, refusing values that are not finite
 * doubles and numbers with more than DECIMAL_MAX_SIG significant digits. */
static bool decimal_parse(const char *s, struct decimal *x)
{
    bool any = false, seen = false;

    x->neg = false; /* d[] needs no clearing: only d[0..n) is ever read */
    x->n = 0;
    x->point = 0;
    if (*s == '+' || *s == '-')
        x->neg = *s++ == '-';
    for (; is_digit(*s); s++) {
        any = true;
        if (*s == '0' && !seen)
            continue;
        seen = true;
        x->point++;
        if (x->n < DECIMAL_MAX_SIG)
            x->d[x->n++] = *s;
        else if (*s != '0')
            return false;
    }
    if (*s == '.') {
        for (s++; is_digit(*s); s++) {
            any = true;
            if (*s == '0' && !seen) {
                x->point--;
                continue;
            }
            seen = true;
            if (x->n < DECIMAL_MAX_SIG)
                x->d[x->n++] = *s;
            else if (*s != '0')
                return false;
        }
    }
    if (!any)
        return false;
    if (*s == 'e' || *s == 'E') {
        bool eneg = false;
        long e = 0;
        s++;
        if (*s == '+' || *s == '-')
            eneg = *s++ == '-';
        if (!is_digit(*s))
            return false;
        for (; is_digit(*s); s++)
            if (e < 1000000)
                e = e * 10 + (*s - '0');
        x->point += eneg ? -e : e;
    }
    if (*s)
        return false;
    while (x->n && x->d[x->n - 1] == '0')
        x->n--;
    if (x->n == 0) {
        x->point = 0;
        return true;
    }
    return x->point <= DOUBLE_MAX_POINT;
}

/* Plain notation when the point is near the digits, else d.ddde<exp>. */
static void put_decimal(struct buf *b, const struct decimal *x)
{
    if (x->n == 0) {
        buf_putc(b, '0');
        return;
    }
    if (x->neg)
        buf_putc(b, '-');
    if (x->point > 21 || x->point < -6) {
        buf_putc(b, x->d[0]);
        if (x->n > 1) {
            buf_putc(b, '.');
            buf_append(b, x->d + 1, x->n - 1);
        }
        buf_printf(b, "e%ld", x->point - 1);
    } else if (x->point <= 0) {
        buf_puts(b, "0.");
        for (long i = x->point; i < 0; i++)
            buf_putc(b, '0');
        buf_append(b, x->d, x->n);
    } else if ((size_t)x->point >= x->n) {
        buf_append(b, x->d, x->n);
        for (size_t i = x->n; i < (size_t)x->point; i++)
            buf_putc(b, '0');
    } else {
        buf_append(b, x->d, (size_t)x->point);
        buf_putc(b, '.');
        buf_append(b, x->d + x->point, x->n - (size_t)x->point);
    }
}

/* A valid finite number, copied as given (it is ASCII without markup characters). */
static bool number_ok(const char *s)
{
    struct decimal x;
    return present(s) && decimal_parse(s, &x);
}

/* A length in km as metres; false (nothing written) when s is not a valid finite number. */
static bool metres_ok(const char *s, struct decimal *x)
{
    if (!present(s) || !decimal_parse(s, x))
        return false;
    if (x->n)
        x->point += 3;
    return x->point <= DOUBLE_MAX_POINT;
}

/* A count: integral, 0..INT32_MAX. */
static bool count_ok(const char *s, long *out)
{
    struct decimal x;
    long v = 0;

    if (!present(s) || !decimal_parse(s, &x))
        return false;
    if (x.n == 0) {
        *out = 0;
        return true;
    }
    if (x.neg || x.point < (long)x.n || x.point > 10)
        return false;
    for (long i = 0; i < x.point; i++)
        v = v * 10 + ((size_t)i < x.n ? x.d[i] - '0' : 0);
    if (v > INT32_MAX)
        return false;
    *out = v;
    return true;
}

static void el_number(struct buf *b, const char *name, const char *s)
{
    if (number_ok(s)) {
        open_el(b, name);
        buf_puts(b, s);
        close_el(b, name);
    }
}

static void el_metres(struct buf *b, const char *name, const char *km)
{
    struct decimal x;
    if (!metres_ok(km, &x))
        return;
    open_el(b, name);
    put_decimal(b, &x);
    close_el(b, name);
}

static void el_count(struct buf *b, const char *name, const char *s)
{
    long v;
    if (count_ok(s, &v)) {
        char digits[24];
        size_t n = sizeof digits;
        unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
        do {
            digits[--n] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            digits[--n] = '-';
        open_el(b, name);
        buf_append(b, digits + n, sizeof digits - n);
        close_el(b, name);
    }
}

static void put_time(struct buf *b, int64_t us)
{
    static const int64_t min_us = INT64_C(-62135596800) * 1000000;      /* 0001-01-01 */
    static const int64_t max_us = INT64_C(253402300800) * 1000000 - 1;  /* 9999-12-31T23:59:59.999999 */
    char t[TIMEFMT_LEN];

    us = us < min_us ? min_us : us > max_us ? max_us : us;
    buf_append(b, t, time_format_us(us, t));
}

/* ---- resource ids ----------------------------------------------------------------------- */

static bool id_byte_plain(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* base + what + the event id, each byte of the id outside [A-Za-z0-9._-] as ~XX. */
static void put_rid(struct buf *b, const char *base, const char *what, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";

    put_text(b, base ? base : "", 0);
    buf_puts(b, what);
    const unsigned char *p = (const unsigned char *)(id ? id : "");
    while (*p) {
        const unsigned char *run = p;
        while (*p && id_byte_plain(*p))
            p++;
        buf_append(b, run, (size_t)(p - run));
        if (*p) {
            char esc[3] = {'~', hex[*p >> 4], hex[*p & 0xF]};
            buf_append(b, esc, 3);
            p++;
        }
    }
}

static void el_rid(struct buf *b, const char *name, const char *base, const char *what, const char *id)
{
    open_el(b, name);
    put_rid(b, base, what, id);
    close_el(b, name);
}

/* XML Schema's \w for ASCII: letters, digits and the symbols (categories Sc, Sm, Sk); any
 * byte of a non-ASCII character is taken as a word character. */
static bool rid_word(unsigned char c)
{
    return c >= 0x80 || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c && strchr("$+<=>^`|~", c));
}

bool quakeml_resource_id_ok(const char *s)
{
    size_t n = 0;

    if (!s)
        return false;
    if (strncmp(s, "smi:", 4) == 0)
        s += 4;
    else if (strncmp(s, "quakeml:", 8) == 0)
        s += 8;
    else
        return false;
    if (!rid_word((unsigned char)*s))
        return false;
    for (s++; *s && *s != '/'; s++, n++)
        if (!rid_word((unsigned char)*s) && !strchr("-.*()_~'", *s))
            return false;
    if (n < 2 || *s != '/')
        return false;
    s++;
    if (!rid_word((unsigned char)*s) && !(*s && strchr("-.*()_~'", *s)))
        return false;
    for (s++; *s; s++)
        if (!rid_word((unsigned char)*s) && !strchr("-.*()+?_~'=,;#/&", *s))
            return false;
    return true;
}

/* ---- event type ------------------------------------------------------------------------- */

static const char *const event_types[] = {
    "not existing", "not reported", "earthquake", "anthropogenic event", "collapse",
    "cavity collapse", "mine collapse", "building collapse", "explosion", "accidental explosion",
    "chemical explosion", "controlled explosion", "experimental explosion", "industrial explosion",
    "mining explosion", "quarry blast", "road cut", "blasting levee", "nuclear explosion",
    "induced or triggered event", "rock burst", "reservoir loading", "fluid injection",
    "fluid extraction", "crash", "plane crash", "train crash", "boat crash", "other event",
    "atmospheric event", "sonic boom", "sonic blast", "acoustic noise", "thunder", "avalanche",
    "snow avalanche", "debris avalanche", "hydroacoustic event", "ice quake", "slide", "landslide",
    "rockslide", "meteorite", "volcanic eruption",
};

/* USGS ComCat spellings that are not QuakeML names, after normalisation. */
static const struct {
    const char *usgs, *quakeml;
} event_aliases[] = {
    {"quarry", "quarry blast"},   {"other", "other event"},      {"meteor", "meteorite"},
    {"sonicboom", "sonic boom"},  {"rock slide", "rockslide"},   {"null", "not reported"},
};

const char *quakeml_event_type(const char *usgs_type)
{
    char norm[48];
    size_t n = 0;
    bool space = false;

    if (!present(usgs_type))
        return NULL;
    /* lower case, '_' as ' ', runs of blanks as one, trimmed */
    for (const char *p = usgs_type; *p; p++) {
        char c = *p;
        if (c == '_' || c == ' ' || c == '\t') {
            space = n > 0;
            continue;
        }
        if (space) {
            if (n + 1 >= sizeof norm)
                return "other event";
            norm[n++] = ' ';
            space = false;
        }
        if (n + 1 >= sizeof norm)
            return "other event";
        norm[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof event_types / sizeof event_types[0]; i++)
        if (strcmp(norm, event_types[i]) == 0)
            return event_types[i];
    for (size_t i = 0; i < sizeof event_aliases / sizeof event_aliases[0]; i++)
        if (strcmp(norm, event_aliases[i].usgs) == 0)
            return event_aliases[i].quakeml;
    return "other event";
}

/* ---- document --------------------------------------------------------------------------- */

void quakeml_begin(struct buf *b, const char *public_id_base)
{
    buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<q:quakeml xmlns:q=\"" NS_QUAKEML "\" xmlns=\"" NS_BED "\">\n"
                "<eventParameters publicID=\"");
    put_rid(b, public_id_base, "/query", NULL);
    buf_puts(b, "\">\n");
}

void quakeml_end(struct buf *b)
{
    buf_puts(b, "</eventParameters>\n</q:quakeml>\n");
}

static void put_evaluation(struct buf *b, const char *status)
{
    if (!present(status))
        return;
    bool reviewed = strcasecmp(status, "reviewed") == 0;
    buf_puts(b, reviewed ? "<evaluationMode>manual</evaluationMode><evaluationStatus>reviewed</evaluationStatus>"
                         : "<evaluationMode>automatic</evaluationMode><evaluationStatus>preliminary</evaluationStatus>");
}

static void put_agency(struct buf *b, const char *agency, const char *fallback)
{
    const char *a = present(agency) ? agency : fallback;
    if (!present(a))
        return;
    buf_puts(b, "<creationInfo>");
    el_text(b, "agencyID", a, AGENCY_ID_MAX);
    buf_puts(b, "</creationInfo>");
}

static void put_origin(struct buf *b, const char *base, const struct quakeml_event *e)
{
    struct decimal depth;
    bool has_depth = metres_ok(e->depth_km, &depth);
    long nst;
    bool has_nst = count_ok(e->nst, &nst);

    buf_puts(b, "<origin publicID=\"");
    put_rid(b, base, "/origin/", e->id);
    buf_puts(b, "\"><time><value>");
    put_time(b, e->time_us);
    buf_puts(b, "</value></time><latitude><value>");
    buf_puts(b, e->lat);
    buf_puts(b, "</value></latitude><longitude><value>");
    buf_puts(b, e->lon);
    buf_puts(b, "</value></longitude>");
    if (has_depth) {
        buf_puts(b, "<depth><value>");
        put_decimal(b, &depth);
        buf_puts(b, "</value>");
        el_metres(b, "uncertainty", e->depth_error_km);
        buf_puts(b, "</depth>");
    }
    if (metres_ok(e->horizontal_error_km, &depth)) {
        buf_puts(b, "<originUncertainty>");
        el_metres(b, "horizontalUncertainty", e->horizontal_error_km);
        buf_puts(b, "<preferredDescription>horizontal uncertainty</preferredDescription></originUncertainty>");
    }
    if (has_nst || number_ok(e->rms) || number_ok(e->gap) || number_ok(e->dmin)) {
        buf_puts(b, "<quality>");
        el_count(b, "usedStationCount", e->nst);
        el_number(b, "standardError", e->rms);
        el_number(b, "azimuthalGap", e->gap);
        el_number(b, "minimumDistance", e->dmin);
        buf_puts(b, "</quality>");
    }
    put_evaluation(b, e->status);
    put_agency(b, e->location_source, e->net);
    buf_puts(b, "</origin>\n");
}

static void put_magnitude(struct buf *b, const char *base, const struct quakeml_event *e, bool has_origin)
{
    buf_puts(b, "<magnitude publicID=\"");
    put_rid(b, base, "/magnitude/", e->id);
    buf_puts(b, "\"><mag><value>");
    buf_puts(b, e->mag);
    buf_puts(b, "</value>");
    el_number(b, "uncertainty", e->mag_error);
    buf_puts(b, "</mag>");
    el_text(b, "type", e->magtype, MAG_TYPE_MAX);
    if (has_origin)
        el_rid(b, "originID", base, "/origin/", e->id);
    el_count(b, "stationCount", e->mag_nst);
    put_evaluation(b, e->status);
    put_agency(b, e->mag_source, e->net);
    buf_puts(b, "</magnitude>\n");
}

void quakeml_event(struct buf *b, const char *base, const struct quakeml_event *e)
{
    bool has_origin = number_ok(e->lat) && number_ok(e->lon);
    bool has_mag = number_ok(e->mag);
    const char *type = quakeml_event_type(e->eventtype);

    buf_puts(b, "<event publicID=\"");
    put_rid(b, base, "/query?eventid=", e->id);
    buf_puts(b, "\">\n");
    if (present(e->place)) {
        buf_puts(b, "<description><type>region name</type>");
        el_text(b, "text", e->place, 0);
        buf_puts(b, "</description>\n");
    }
    if (has_origin)
        put_origin(b, base, e);
    if (has_mag)
        put_magnitude(b, base, e, has_origin);
    if (has_origin)
        el_rid(b, "preferredOriginID", base, "/origin/", e->id);
    if (has_mag)
        el_rid(b, "preferredMagnitudeID", base, "/magnitude/", e->id);
    if (type) {
        open_el(b, "type");
        buf_puts(b, type);
        close_el(b, "type");
    }
    buf_puts(b, "<creationInfo>");
    el_text(b, "agencyID", e->net, AGENCY_ID_MAX);
    buf_puts(b, "<creationTime>");
    put_time(b, e->updated_us);
    buf_puts(b, "</creationTime></creationInfo>\n</event>\n");
}
