/*
 * fuzz_time: time_parse on arbitrary bytes; whatever it accepts must format and parse back
 * to the same instant, truncated to milliseconds (and exactly, at microseconds).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[TIMEFMT_LEN];
    int64_t us, back, ms;
    size_t n;

    if (time_parse((const char *)data, size, &us) != 0)
        return 0;

    n = time_format(us, out);
    if (n == 0 || n >= TIMEFMT_LEN || strlen(out) != n)
        abort();
    if (time_parse(out, n, &back) != 0)
        abort();
    ms = us / 1000 * 1000;
    if (us % 1000 < 0)
        ms -= 1000; /* floor, as the formatter does before 1970 */
    if (back != ms)
        abort();

    n = time_format_us(us, out);
    if (time_parse(out, n, &back) != 0 || back != us)
        abort();
    return 0;
}
