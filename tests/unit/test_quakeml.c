/* Unit tests for apps/quakes/quakeml: every document is parsed back with libxml2 (strictly:
 * well-formed, namespace-well-formed) and checked with XPath; a full event, absent and invalid
 * fields, km -> m conversion, escaping of hostile text and ids, length limits, resource id
 * validity, event type mapping. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/quakes/quakeml.h"
#include "core/buf.h"

#define BASE "smi:strata/fdsnws/event/1"
#define EV "/q:quakeml/bed:eventParameters/bed:event[1]"
#define ORIGIN EV "/bed:origin"
#define MAG EV "/bed:magnitude"

struct doc {
    struct buf text;
    xmlDocPtr xml;
    xmlXPathContextPtr xp;
};

/* A real USGS event (nc73919986, data/usgs_all_week_2023-08-04.geojson) with the CSV fields. */
static struct quakeml_event full(void)
{
    return (struct quakeml_event){
        .id = "nc73919986",
        .time_us = INT64_C(1691117533180000),
        .updated_us = INT64_C(1691118251122000),
        .lat = "38.5060005",
        .lon = "-122.7301636",
        .depth_km = "3.84",
        .mag = "1.32",
        .magtype = "md",
        .place = "2 km ESE of Larkfield-Wikiup, CA",
        .eventtype = "earthquake",
        .status = "reviewed",
        .net = "nc",
        .sources = ",nc,",
        .nst = "6",
        .gap = "143",
        .dmin = "0.07786",
        .rms = "0.01",
        .horizontal_error_km = "0.31",
        .depth_error_km = "0.82",
        .mag_error = "0.15",
        .mag_nst = "5.0",
        .location_source = "nc",
        .mag_source = "ci",
    };
}

static struct quakeml_event minimal(void)
{
    return (struct quakeml_event){
        .id = "us7000kfm5",
        .time_us = INT64_C(1691117533180000),
        .updated_us = INT64_C(1691118251122000),
        .lat = "-5.5",
        .lon = "150.25",
        .depth_km = "10",
    };
}

static void render(struct doc *d, const struct quakeml_event *ev, size_t n)
{
    buf_init(&d->text);
    quakeml_begin(&d->text, BASE);
    for (size_t i = 0; i < n; i++)
        quakeml_event(&d->text, BASE, &ev[i]);
    quakeml_end(&d->text);

    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    assert_non_null(ctxt);
    d->xml = xmlCtxtReadMemory(ctxt, d->text.data, (int)d->text.len, "quakeml.xml", NULL, XML_PARSE_NONET);
    if (!d->xml || !ctxt->wellFormed || !ctxt->nsWellFormed)
        fail_msg("not well-formed XML:\n%s", d->text.data);
    xmlFreeParserCtxt(ctxt);
    d->xp = xmlXPathNewContext(d->xml);
    assert_non_null(d->xp);
    xmlXPathRegisterNs(d->xp, BAD_CAST "q", BAD_CAST "http://quakeml.org/xmlns/quakeml/1.2");
    xmlXPathRegisterNs(d->xp, BAD_CAST "bed", BAD_CAST "http://quakeml.org/xmlns/bed/1.2");
}

static void render1(struct doc *d, struct quakeml_event e)
{
    render(d, &e, 1);
}

static void done(struct doc *d)
{
    xmlXPathFreeContext(d->xp);
    xmlFreeDoc(d->xml);
    buf_cleanup(&d->text);
}

static xmlXPathObjectPtr eval(struct doc *d, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, d->xp);
    if (!o)
        fail_msg("bad XPath %s", expr);
    return o;
}

static int count(struct doc *d, const char *path)
{
    char expr[512];
    snprintf(expr, sizeof expr, "count(%s)", path);
    xmlXPathObjectPtr o = eval(d, expr);
    int n = (int)o->floatval;
    xmlXPathFreeObject(o);
    return n;
}

/* The string value of the single node at path. */
static void expect(struct doc *d, const char *path, const char *want)
{
    char expr[512];
    int n = count(d, path);
    if (n != 1)
        fail_msg("%d nodes at %s in:\n%s", n, path, d->text.data);
    snprintf(expr, sizeof expr, "string(%s)", path);
    xmlXPathObjectPtr o = eval(d, expr);
    if (strcmp((const char *)o->stringval, want) != 0)
        fail_msg("%s: got '%s', want '%s'", path, (const char *)o->stringval, want);
    xmlXPathFreeObject(o);
}

static void absent(struct doc *d, const char *path)
{
    int n = count(d, path);
    if (n != 0)
        fail_msg("%d nodes at %s, want none, in:\n%s", n, path, d->text.data);
}

/* Every publicID attribute and every *ID element is a valid ResourceReference. */
static void expect_ids_valid(struct doc *d)
{
    xmlXPathObjectPtr o = eval(d, "//@publicID | //bed:preferredOriginID | //bed:preferredMagnitudeID | "
                                  "//bed:originID");
    assert_non_null(o->nodesetval);
    assert_true(o->nodesetval->nodeNr > 0);
    for (int i = 0; i < o->nodesetval->nodeNr; i++) {
        xmlChar *v = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
        if (!quakeml_resource_id_ok((const char *)v))
            fail_msg("invalid resource id '%s'", (const char *)v);
        xmlFree(v);
    }
    xmlXPathFreeObject(o);
}

static void test_document(void **state)
{
    struct quakeml_event ev[3] = {full(), minimal(), full()};
    struct doc d;
    (void)state;

    ev[2].id = "ci40567384";
    render(&d, ev, 3);
    assert_true(strncmp(d.text.data, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 38) == 0);
    expect(&d, "/q:quakeml/bed:eventParameters/@publicID", BASE "/query");
    assert_int_equal(count(&d, "/q:quakeml/bed:eventParameters/bed:event"), 3);
    expect(&d, "/q:quakeml/bed:eventParameters/bed:event[3]/@publicID", BASE "/query?eventid=ci40567384");
    expect_ids_valid(&d);
    done(&d);

    render(&d, NULL, 0); /* no events: still a document */
    assert_int_equal(count(&d, "/q:quakeml/bed:eventParameters"), 1);
    absent(&d, "//bed:event");
    done(&d);
}

static void test_full_event(void **state)
{
    struct doc d;
    (void)state;

    render1(&d, full());
    expect(&d, EV "/@publicID", BASE "/query?eventid=nc73919986");
    expect(&d, EV "/bed:description/bed:type", "region name");
    expect(&d, EV "/bed:description/bed:text", "2 km ESE of Larkfield-Wikiup, CA");

    expect(&d, ORIGIN "/@publicID", BASE "/origin/nc73919986");
    expect(&d, ORIGIN "/bed:time/bed:value", "2023-08-04T02:52:13.180000Z");
    expect(&d, ORIGIN "/bed:latitude/bed:value", "38.5060005");
    expect(&d, ORIGIN "/bed:longitude/bed:value", "-122.7301636");
    expect(&d, ORIGIN "/bed:depth/bed:value", "3840");
    expect(&d, ORIGIN "/bed:depth/bed:uncertainty", "820");
    expect(&d, ORIGIN "/bed:originUncertainty/bed:horizontalUncertainty", "310");
    expect(&d, ORIGIN "/bed:originUncertainty/bed:preferredDescription", "horizontal uncertainty");
    expect(&d, ORIGIN "/bed:quality/bed:usedStationCount", "6");
    expect(&d, ORIGIN "/bed:quality/bed:standardError", "0.01");
    expect(&d, ORIGIN "/bed:quality/bed:azimuthalGap", "143");
    expect(&d, ORIGIN "/bed:quality/bed:minimumDistance", "0.07786");
    expect(&d, ORIGIN "/bed:evaluationMode", "manual");
    expect(&d, ORIGIN "/bed:evaluationStatus", "reviewed");
    expect(&d, ORIGIN "/bed:creationInfo/bed:agencyID", "nc");

    expect(&d, MAG "/@publicID", BASE "/magnitude/nc73919986");
    expect(&d, MAG "/bed:mag/bed:value", "1.32");
    expect(&d, MAG "/bed:mag/bed:uncertainty", "0.15");
    expect(&d, MAG "/bed:type", "md");
    expect(&d, MAG "/bed:stationCount", "5");
    expect(&d, MAG "/bed:originID", BASE "/origin/nc73919986");
    expect(&d, MAG "/bed:creationInfo/bed:agencyID", "ci");

    expect(&d, EV "/bed:preferredOriginID", BASE "/origin/nc73919986");
    expect(&d, EV "/bed:preferredMagnitudeID", BASE "/magnitude/nc73919986");
    expect(&d, EV "/bed:type", "earthquake");
    expect(&d, EV "/bed:creationInfo/bed:agencyID", "nc");
    expect(&d, EV "/bed:creationInfo/bed:creationTime", "2023-08-04T03:04:11.122000Z");
    expect_ids_valid(&d);
    done(&d);
}

static void test_minimal_event(void **state)
{
    struct doc d;
    (void)state;

    render1(&d, minimal());
    expect(&d, ORIGIN "/bed:depth/bed:value", "10000");
    expect(&d, ORIGIN "/bed:latitude/bed:value", "-5.5");
    absent(&d, EV "/bed:description");
    absent(&d, ORIGIN "/bed:depth/bed:uncertainty");
    absent(&d, ORIGIN "/bed:originUncertainty");
    absent(&d, ORIGIN "/bed:quality");
    absent(&d, ORIGIN "/bed:evaluationMode");
    absent(&d, ORIGIN "/bed:evaluationStatus");
    absent(&d, ORIGIN "/bed:creationInfo");
    absent(&d, MAG);
    absent(&d, EV "/bed:preferredMagnitudeID");
    absent(&d, EV "/bed:type");
    absent(&d, EV "/bed:creationInfo/bed:agencyID");
    expect(&d, EV "/bed:preferredOriginID", BASE "/origin/us7000kfm5");
    expect(&d, EV "/bed:creationInfo/bed:creationTime", "2023-08-04T03:04:11.122000Z");
    expect_ids_valid(&d);
    done(&d);
}

static void test_no_magnitude(void **state)
{
    static const char *const none[] = {NULL, "", "NaN", "Infinity", "-Infinity", "abc"};
    (void)state;

    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        struct quakeml_event e = full();
        struct doc d;
        e.mag = none[i];
        render1(&d, e);
        absent(&d, MAG);
        absent(&d, EV "/bed:preferredMagnitudeID");
        expect(&d, ORIGIN "/bed:depth/bed:value", "3840"); /* the rest is there */
        expect(&d, EV "/bed:preferredOriginID", BASE "/origin/nc73919986");
        done(&d);
    }
}

/* Invalid numbers leave their element out; a quality with nothing valid is left out whole. */
static void test_invalid_numbers(void **state)
{
    struct quakeml_event e = full();
    struct doc d;
    (void)state;

    e.nst = "6.5";
    e.rms = "Infinity";
    e.gap = "1,5";
    e.dmin = " 1";
    e.depth_error_km = "1e999";
    e.horizontal_error_km = "NaN";
    e.mag_error = "0x10";
    e.mag_nst = "-3";
    render1(&d, e);
    absent(&d, ORIGIN "/bed:quality");
    absent(&d, ORIGIN "/bed:depth/bed:uncertainty");
    absent(&d, ORIGIN "/bed:originUncertainty");
    absent(&d, MAG "/bed:mag/bed:uncertainty");
    absent(&d, MAG "/bed:stationCount");
    expect(&d, ORIGIN "/bed:depth/bed:value", "3840");
    done(&d);

    e = full();
    e.nst = "1e2"; /* integral: a count */
    e.rms = "-0";
    e.gap = "+7.";
    e.dmin = ".5e-3";
    e.mag_nst = "2147483648"; /* over 2^31-1 */
    render1(&d, e);
    expect(&d, ORIGIN "/bed:quality/bed:usedStationCount", "100");
    expect(&d, ORIGIN "/bed:quality/bed:standardError", "-0");
    expect(&d, ORIGIN "/bed:quality/bed:azimuthalGap", "+7.");
    expect(&d, ORIGIN "/bed:quality/bed:minimumDistance", ".5e-3");
    absent(&d, MAG "/bed:stationCount");
    done(&d);

    /* an origin needs latitude and longitude: without them, no origin and no reference to it */
    e = full();
    e.lat = "NaN";
    render1(&d, e);
    absent(&d, ORIGIN);
    absent(&d, EV "/bed:preferredOriginID");
    absent(&d, MAG "/bed:originID");
    expect(&d, MAG "/bed:mag/bed:value", "1.32");
    expect_ids_valid(&d);
    done(&d);

    e = minimal();
    e.depth_km = "deep";
    render1(&d, e);
    absent(&d, ORIGIN "/bed:depth");
    expect(&d, ORIGIN "/bed:latitude/bed:value", "-5.5");
    done(&d);
}

static void test_metres(void **state)
{
    static const struct {
        const char *km, *m;
    } cases[] = {
        {"12.3456", "12345.6"}, {"10", "10000"},     {"0", "0"},         {"-0", "0"},
        {"-0.5", "-500"},       {"1e-05", "0.01"},   {"0.0001", "0.1"},  {"1.5E2", "150000"},
        {"+3", "3000"},         {"7.", "7000"},      {".25", "250"},     {"3.84", "3840"},
        {"0.000001", "0.001"},  {"-1.23456789012345678", "-1234.56789012345678"},
        {"1e-10", "0.0000001"}, {"1e-12", "1e-9"},      {"1e300", "1e303"},  {"123e20", "1.23e25"},
        {"000120.500", "120500"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct quakeml_event e = minimal();
        struct doc d;
        e.depth_km = cases[i].km;
        e.depth_error_km = cases[i].km;
        e.horizontal_error_km = cases[i].km;
        render1(&d, e);
        expect(&d, ORIGIN "/bed:depth/bed:value", cases[i].m);
        expect(&d, ORIGIN "/bed:depth/bed:uncertainty", cases[i].m);
        expect(&d, ORIGIN "/bed:originUncertainty/bed:horizontalUncertainty", cases[i].m);
        done(&d);
    }

    /* finite in km, not in metres; and too many significant digits to keep exactly */
    static const char *const bad[] = {"1e306", "1e308", "1.0000000000000000000000000000000000000000000000000000000000000001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct quakeml_event e = minimal();
        struct doc d;
        e.depth_km = bad[i];
        render1(&d, e);
        absent(&d, ORIGIN "/bed:depth");
        done(&d);
    }
}

static void test_hostile_text(void **state)
{
    struct quakeml_event e = full();
    struct doc d;
    (void)state;

    e.id = "x\"><evil a='1'/>&amp;~%\x01 /\xff";
    e.place = "<b>&amp;\"'</b>]]>\x01\x1f\x7f tab\there\nline\r\xc2\x85\xef\xbf\xbe\xff\xc3\xa9\xe2\x82 end\xf0\x9f";
    e.magtype = "m<l>";
    e.net = "n&t";
    e.location_source = "<script>";
    e.mag_source = "\x01";
    render1(&d, e);
    expect(&d, EV "/bed:description/bed:text", "<b>&amp;\"'</b>]]> tab\there\nline\xc3\xa9 end");
    expect(&d, MAG "/bed:type", "m<l>");
    expect(&d, EV "/bed:creationInfo/bed:agencyID", "n&t");
    expect(&d, ORIGIN "/bed:creationInfo/bed:agencyID", "<script>");
    expect(&d, MAG "/bed:creationInfo/bed:agencyID", ""); /* nothing left, still valid */
    /* the id: every byte outside [A-Za-z0-9._-] as ~XX, so the reference stays valid */
    expect(&d, EV "/@publicID", BASE "/query?eventid=x~22~3E~3Cevil~20a~3D~271~27~2F~3E~26amp~3B~7E~25~01~20~2F~FF");
    expect(&d, ORIGIN "/@publicID", BASE "/origin/x~22~3E~3Cevil~20a~3D~271~27~2F~3E~26amp~3B~7E~25~01~20~2F~FF");
    assert_int_equal(count(&d, "//*[local-name()='evil']"), 0);
    expect_ids_valid(&d);
    done(&d);

    /* a hostile base is escaped too (it is never made valid: the caller checks it) */
    struct buf b;
    buf_init(&b);
    quakeml_begin(&b, "smi:a\"b<c&d");
    assert_non_null(strstr(b.data, "publicID=\"smi:a&quot;b&lt;c&amp;d/query\""));
    buf_cleanup(&b);
}

static void test_length_limits(void **state)
{
    char net[200], magtype[200], want[200];
    struct quakeml_event e = full();
    struct doc d;
    (void)state;

    memset(net, 'A', 100);
    net[100] = '\0';
    for (int i = 0; i < 40; i++)
        memcpy(magtype + 2 * i, "\xc3\xa9", 2); /* 40 characters, 80 bytes */
    magtype[80] = '\0';
    e.net = net;
    e.location_source = NULL;
    e.mag_source = NULL;
    e.magtype = magtype;
    render1(&d, e);
    memset(want, 'A', 64);
    want[64] = '\0';
    expect(&d, EV "/bed:creationInfo/bed:agencyID", want);
    expect(&d, ORIGIN "/bed:creationInfo/bed:agencyID", want);
    memcpy(want, magtype, 64);
    want[64] = '\0';
    expect(&d, MAG "/bed:type", want); /* 32 characters */
    done(&d);

    /* an entity is one character */
    memset(net, '&', 70);
    net[70] = '\0';
    e.net = net;
    render1(&d, e);
    memset(want, '&', 64);
    want[64] = '\0';
    expect(&d, EV "/bed:creationInfo/bed:agencyID", want);
    done(&d);
}

static void test_status_and_time(void **state)
{
    struct quakeml_event e = full();
    struct doc d;
    (void)state;

    e.status = "automatic";
    e.time_us = INT64_MAX;
    e.updated_us = INT64_MIN;
    render1(&d, e);
    expect(&d, ORIGIN "/bed:evaluationMode", "automatic");
    expect(&d, ORIGIN "/bed:evaluationStatus", "preliminary");
    expect(&d, MAG "/bed:evaluationMode", "automatic");
    expect(&d, ORIGIN "/bed:time/bed:value", "9999-12-31T23:59:59.999999Z");
    expect(&d, EV "/bed:creationInfo/bed:creationTime", "0001-01-01T00:00:00.000000Z");
    done(&d);

    e.status = "REVIEWED";
    e.time_us = -1; /* before the epoch */
    render1(&d, e);
    expect(&d, MAG "/bed:evaluationStatus", "reviewed");
    expect(&d, ORIGIN "/bed:time/bed:value", "1969-12-31T23:59:59.999999Z");
    done(&d);
}

static void test_event_type(void **state)
{
    static const struct {
        const char *usgs, *quakeml;
    } cases[] = {
        {"earthquake", "earthquake"},
        {"quarry blast", "quarry blast"},
        {"quarry_blast", "quarry blast"},
        {"Quarry Blast", "quarry blast"},
        {"  quarry   blast ", "quarry blast"},
        {"quarry", "quarry blast"},
        {"explosion", "explosion"},
        {"ice quake", "ice quake"},
        {"mining explosion", "mining explosion"},
        {"nuclear explosion", "nuclear explosion"},
        {"rock burst", "rock burst"},
        {"rock slide", "rockslide"},
        {"landslide", "landslide"},
        {"sonic boom", "sonic boom"},
        {"sonicboom", "sonic boom"},
        {"acoustic_noise", "acoustic noise"},
        {"volcanic eruption", "volcanic eruption"},
        {"induced or triggered event", "induced or triggered event"},
        {"not_reported", "not reported"},
        {"null", "not reported"},
        {"meteor", "meteorite"},
        {"other", "other event"},
        {"other event", "other event"},
        {"volcanic_explosion", "other event"},
        {"unknown", "other event"},
        {"earthquake!", "other event"},
        {"earth quake", "other event"},
        {"an extremely long type name that does not fit the normalisation buffer", "other event"},
        {"<x>", "other event"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = quakeml_event_type(cases[i].usgs);
        if (!got || strcmp(got, cases[i].quakeml) != 0)
            fail_msg("'%s' -> '%s', want '%s'", cases[i].usgs, got ? got : "(null)", cases[i].quakeml);
    }
    assert_null(quakeml_event_type(NULL));
    assert_null(quakeml_event_type(""));

    struct quakeml_event e = full();
    struct doc d;
    e.eventtype = "Quarry_Blast";
    render1(&d, e);
    expect(&d, EV "/bed:type", "quarry blast");
    done(&d);
}

static void test_resource_id_ok(void **state)
{
    static const char *const good[] = {
        "smi:strata/fdsnws/event/1",
        "quakeml:earthquake.usgs.gov/fdsnws/event/1/query?eventid=us7000kfm5&format=quakeml",
        "smi:local/8eff1c3a-48c2-4425-91c0-5190aae7612c",
        "smi:abc/d",
        "smi:abc/x~7E~25",
        "smi:ab$/x",
    };
    static const char *const bad[] = {
        NULL, "", "http://example.org/a", "smi:", "smi:ab/x", "smi:abc", "smi:abc/", "smi:-bc/x",
        "smi:abc//x", "smi:abc/x%20y", "smi:abc/x y", "smi:a c/x", "smi:abc/x\"", "smi:abc/x!",
        "smi:abc/@x", "smi:abc/x[1]",
    };
    (void)state;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!quakeml_resource_id_ok(good[i]))
            fail_msg("refused '%s'", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (quakeml_resource_id_ok(bad[i]))
            fail_msg("accepted '%s'", bad[i] ? bad[i] : "(null)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document),
        cmocka_unit_test(test_full_event),
        cmocka_unit_test(test_minimal_event),
        cmocka_unit_test(test_no_magnitude),
        cmocka_unit_test(test_invalid_numbers),
        cmocka_unit_test(test_metres),
        cmocka_unit_test(test_hostile_text),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_status_and_time),
        cmocka_unit_test(test_event_type),
        cmocka_unit_test(test_resource_id_ok),
    };
    int rc;

    xmlInitParser();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
