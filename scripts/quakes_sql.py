"""The quakes SQL exactly as the server prepares it, for the tests and the benchmarks.

src/apps/quakes/sql.h and fdsn_sql.h hold every statement as `#define QUAKES_SQL_X` /
`#define QUAKES_FDSN_SQL_X` made of string literals and other such macros (and a few integer
macros: NPARAMS). read_headers() resolves them the way the C preprocessor would for that form,
so EXPLAIN tests and pgbench scripts run the very text the binary carries. circle_boxes() is
filter.c's quake_circle_boxes in Python (the circle's index prefilter). Standard library only.
"""

import math
import re
from pathlib import Path

QUAKES_DIR = Path(__file__).resolve().parent.parent / "src" / "apps" / "quakes"
SQL_H = QUAKES_DIR / "sql.h"
FDSN_SQL_H = QUAKES_DIR / "fdsn_sql.h"

_DEFINE = re.compile(r"^\s*#define\s+(QUAKES_(?:FDSN_)?SQL_\w+)\s+(.*)$", re.M)
_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*)|(\S+))')


def read_headers(*paths):
    """{macro: SQL text} and {macro: int} for the headers given (default: sql.h and fdsn_sql.h)."""
    raw = {}
    for path in paths or (SQL_H, FDSN_SQL_H):
        text = re.sub(r"/\*.*?\*/", " ", Path(path).read_text(), flags=re.S).replace("\\\n", " ")
        raw.update((m.group(1), m.group(2)) for m in _DEFINE.finditer(text))
    numbers = {name: int(body) for name, body in raw.items() if body.strip().isdigit()}
    texts = {}

    def resolve(name):
        if name not in texts:
            body, pos, parts = raw[name], 0, []
            while pos < len(body):
                m = _TOKEN.match(body, pos)
                if not m or m.end() == pos:
                    break
                pos = m.end()
                if m.group(1) is not None:
                    parts.append(m.group(1).encode().decode("unicode_escape"))
                elif m.group(2):
                    parts.append(resolve(m.group(2)))
                else:
                    raise ValueError(f"{name}: unexpected {m.group(3)!r} in a SQL macro")
            texts[name] = "".join(parts)
        return texts[name]

    for name in raw:
        if name not in numbers:
            resolve(name)
    return texts, numbers


def circle_boxes(lat, lon, km):
    """As filter.c's quake_circle_boxes: longitude/latitude boxes holding every point within km
    of (lat, lon), split at the antimeridian, the whole longitude range near a pole."""
    dlat = km / 110.574 * 1.001 + 1e-9
    lo, hi = lat - dlat, lat + dlat
    if lo <= -90 or hi >= 90:
        return [(-180, max(lo, -90), 180, min(hi, 90))]
    dlon = km / (111.3195 * math.cos(math.radians(max(abs(lo), abs(hi))))) * 1.001 + 1e-9
    if dlon >= 180:
        return [(-180, lo, 180, hi)]
    a, b = lon - dlon, lon + dlon
    if a <= -180:
        return [(a + 360, lo, 180, hi), (-180, lo, b, hi)]
    if b >= 180:
        return [(a, lo, 180, hi), (-180, lo, b - 360, hi)]
    return [(a, lo, b, hi)]
