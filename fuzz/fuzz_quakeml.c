/*
 * fuzz_quakeml: the QuakeML writer fed with arbitrary field text. The input is split on NUL
 * bytes: the public id base (empty: the default), then the text fields of a quakeml_event in
 * declaration order; missing fields are absent (NULL). The two times are the first 16 bytes
 * of the base field when it is at least that long (and the base is then the default). The
 * event is written twice into one document. Never crash; the document must parse with
 * libxml2 as well-formed, namespace-well-formed XML with two events; with the default base,
 * every publicID and *ID element must be a valid ResourceReference.
 */
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/quakes/quakeml.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QUAKEML_MAX_INPUT (64u * 1024)
#define DEFAULT_BASE "smi:strata/fdsnws/event/1"

static void fail(const char *why, const struct buf *doc)
{
    fprintf(stderr, "fuzz_quakeml: %s\n%s\n", why, doc->data);
    abort();
}

static void check(const struct buf *doc, bool ids_must_be_valid)
{
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt)
        abort();
    xmlDocPtr xml = xmlCtxtReadMemory(ctxt, doc->data, (int)doc->len, "quakeml.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!xml || !ctxt->wellFormed || !ctxt->nsWellFormed)
        fail("not well-formed", doc);
    xmlFreeParserCtxt(ctxt);

    xmlXPathContextPtr xp = xmlXPathNewContext(xml);
    if (!xp)
        abort();
    xmlXPathRegisterNs(xp, BAD_CAST "q", BAD_CAST "http://quakeml.org/xmlns/quakeml/1.2");
    xmlXPathRegisterNs(xp, BAD_CAST "bed", BAD_CAST "http://quakeml.org/xmlns/bed/1.2");
    xmlXPathObjectPtr n = xmlXPathEvalExpression(BAD_CAST "count(/q:quakeml/bed:eventParameters/bed:event)", xp);
    if (!n || n->floatval != 2)
        fail("not two events", doc);
    xmlXPathFreeObject(n);
    if (ids_must_be_valid) {
        xmlXPathObjectPtr o = xmlXPathEvalExpression(
            BAD_CAST "//@publicID | //bed:preferredOriginID | //bed:preferredMagnitudeID | //bed:originID", xp);
        if (!o || !o->nodesetval)
            fail("no ids", doc);
        for (int i = 0; i < o->nodesetval->nodeNr; i++) {
            xmlChar *v = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
            if (!quakeml_resource_id_ok((const char *)v))
                fail("invalid resource id", doc);
            xmlFree(v);
        }
        xmlXPathFreeObject(o);
    }
    xmlXPathFreeContext(xp);
    xmlFreeDoc(xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *f[24] = {0};
    size_t nf = 0;
    struct quakeml_event e;
    struct buf doc;

    if (size > QUAKEML_MAX_INPUT)
        return 0;
    char *copy = malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (char *p = copy; nf < sizeof f / sizeof f[0]; p += strlen(p) + 1) {
        f[nf++] = p;
        if (p + strlen(p) >= copy + size)
            break;
    }

    const char *base = f[0] && f[0][0] ? f[0] : DEFAULT_BASE;
    memset(&e, 0, sizeof e);
    if (f[0] && strlen(f[0]) >= 16) {
        memcpy(&e.time_us, f[0], 8);
        memcpy(&e.updated_us, f[0] + 8, 8);
        base = DEFAULT_BASE;
    }
    const char **fields[] = {&e.id, &e.lat, &e.lon, &e.depth_km, &e.mag, &e.magtype, &e.place,
                             &e.eventtype, &e.status, &e.net, &e.sources, &e.nst, &e.gap, &e.dmin,
                             &e.rms, &e.horizontal_error_km, &e.depth_error_km, &e.mag_error,
                             &e.mag_nst, &e.location_source, &e.mag_source};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && i + 1 < nf; i++)
        *fields[i] = f[i + 1];

    buf_init(&doc);
    quakeml_begin(&doc, base);
    quakeml_event(&doc, base, &e);
    quakeml_event(&doc, base, &e);
    quakeml_end(&doc);
    check(&doc, strcmp(base, DEFAULT_BASE) == 0);
    (void)quakeml_event_type(e.eventtype);
    buf_cleanup(&doc);
    free(copy);
    return 0;
}
