/*
 * quakes quakeml: a QuakeML 1.2 (Basic Event Description) writer for the FDSN event service's
 * format=xml. One <event> per quake: its description (place), one origin, at most one
 * magnitude, the preferred ids, the event type and creation info. Rendered straight into a
 * buf in one pass, like jsonw.
 *
 * Input is text as PostgreSQL returns it; a NULL or "" field is absent and its element is left
 * out. Numbers are copied as given when they are valid finite xs:double text (|x| < 1e308),
 * else left out; counts (usedStationCount, stationCount) must be integral, 0..2^31-1, and are
 * written as integers ("6.0" -> 6). Depths and their uncertainties arrive in km and are
 * written in metres by moving the decimal point (12.3456 -> 12345.6, no float rounding).
 *
 * Text is XML-escaped (& < > " '); control characters other than tab and newline (C0, DEL,
 * C1), U+FFFE/U+FFFF and invalid UTF-8 (each maximal invalid subpart) are dropped, so the
 * output is always well-formed UTF-8 XML. Strings whose schema type has a maxLength
 * (agencyID 64, magnitude type 32 characters) are cut at that many characters.
 *
 * Resource ids: <base>/query?eventid=<id>, <base>/origin/<id>, <base>/magnitude/<id>. The
 * event id is written as it is when it holds only [A-Za-z0-9._-] (every USGS id does); any
 * other byte, '~' included, becomes "~XX" (two upper-case hex digits): '%' is not allowed by
 * the QuakeML ResourceReference pattern, so percent-encoding would make the id invalid.
 * The base is the caller's (a configured value); check it with quakeml_resource_id_ok.
 *
 * Must not: allocate except through the buf, touch the database, or read the clock.
 */
#ifndef STRATA_QUAKES_QUAKEML_H
#define STRATA_QUAKES_QUAKEML_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

struct quakeml_event {            /* text fields as PostgreSQL returns them; NULL or "" = absent */
    const char *id;               /* USGS event id, e.g. "us7000kfm5" (required) */
    int64_t time_us, updated_us;  /* origin time and last update, microseconds since the epoch */
    const char *lat, *lon, *depth_km;   /* required; depth in km (written in metres) */
    const char *mag, *magtype, *place, *eventtype, *status, *net, *sources;
    const char *nst, *gap, *dmin, *rms, *horizontal_error_km, *depth_error_km, *mag_error, *mag_nst;
    const char *location_source, *mag_source;
};

/* The XML declaration, <q:quakeml ...> and <eventParameters publicID="<base>/query">. */
void quakeml_begin(struct buf *b, const char *public_id_base);
/* One <event>. Times outside years 0001..9999 are clamped to them (xs:dateTime has four-digit
 * years); an event whose lat or lon is not a valid number has no origin (nor
 * preferredOriginID, nor magnitude originID), as the schema requires both. */
void quakeml_event(struct buf *b, const char *public_id_base, const struct quakeml_event *e);
/* </eventParameters></q:quakeml> */
void quakeml_end(struct buf *b);

/* The QuakeML EventType for a USGS `type` property, compared case-insensitively with '_' read
 * as ' ' ("quarry_blast" -> "quarry blast"), plus the USGS spellings that are not QuakeML
 * ("quarry" -> "quarry blast", "other" -> "other event", "meteor" -> "meteorite", "sonicboom"
 * -> "sonic boom", "rock slide" -> "rockslide", "null" -> "not reported"); anything else ->
 * "other event". NULL or ""
 * (no type) -> NULL: the writer then leaves <type> out. Returns a static string. */
const char *quakeml_event_type(const char *usgs_type);

/* Whether s matches the QuakeML ResourceReference pattern (smi: or quakeml: scheme; non-ASCII
 * bytes are taken as word characters). For checking a configured public_id_base, and tests. */
bool quakeml_resource_id_ok(const char *s);

#endif
