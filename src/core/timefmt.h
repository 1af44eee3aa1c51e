/*
 * timefmt: parsing and formatting of times. Internally a time is int64 microseconds since
 * 1970-01-01T00:00:00Z (the resolution PostgreSQL's timestamptz keeps).
 *
 * Accepted input (RFC 3339 and the ISO 8601 forms clients really send):
 *   2023-08-04                         date: midnight UTC
 *   2023-08-04T12:34:56                no offset: UTC (as FDSN and USGS do)
 *   2023-08-04T12:34                   minutes only
 *   2023-08-04T12:34:56.123456         fraction: 1 to 9 digits, kept to microseconds (truncated)
 *   ...Z | ...z | ...+02:00 | ...-0530 | ...+02     offsets
 *   't' or ' ' as date/time separator.
 * Years 0001..9999; month, day (per month, leap years), hour 0..23, minute 0..59,
 * second 0..60 (a leap second 60 is read as 59.999999). The instant, after its offset, must
 * also fall in years 0001..9999 UTC, so every parsed time formats back to a parseable string.
 * Anything else is STRATA_EINVAL.
 *
 * Output is RFC 3339 UTC with milliseconds: 2023-08-04T12:34:56.123Z.
 */
#ifndef STRATA_TIMEFMT_H
#define STRATA_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define TIMEFMT_LEN 32 /* enough for any formatted time + NUL */

int time_parse(const char *s, size_t len, int64_t *out_us) STRATA_MUST_CHECK;
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (TIMEFMT_LEN bytes); returns its length. */
size_t time_format(int64_t us, char *out);
/* Same with microseconds: "YYYY-MM-DDTHH:MM:SS.uuuuuuZ". */
size_t time_format_us(int64_t us, char *out);
/* Days from civil date (proleptic Gregorian), exposed for tests and other renderers. */
int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d);
int64_t time_now_us(void);

#endif
