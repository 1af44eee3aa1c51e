#!/usr/bin/python3
"""Synthetic earthquake catalogue for `make bench` (bench/quakes.py): N events over 10 years.

    /usr/bin/python3 bench/quakes_gen.py OUTDIR [--events 1000000] [--seed 20230804]

Made from the real week data/usgs_all_week_2023-08-04.geojson (2,124 events), so that places,
networks, depths and magnitude floors look like the USGS catalogue:

- 80 % background events: a real event of the week drawn uniformly (its network, place, type,
  magnitude type), moved by a Gaussian jitter of 25 km (per axis) and 5 km of depth, at a time
  uniform over the 10 years 2013-08-04 .. 2023-08-04 (UTC).
- 20 % aftershocks: each background event at least 2 units above its network's completeness
  magnitude Mc is a mainshock with a productivity of 10^(0.8 (M - Mc)) (so recorded aftershocks
  follow the networks that record small events); the aftershocks are shared out in proportion
  (about 8,000 sequences). Delay after the mainshock:
  Omori-Utsu (c = 0.05 d, p = 1.1, at most 365 d, never after the end of the 10 years);
  place: Gaussian around the mainshock with sigma = max(5 km, 10^(0.5 M - 1.8) km) (about the
  rupture length); magnitude below the mainshock's.
- Magnitudes: Gutenberg-Richter with b = 1 above each network's magnitude of completeness,
  taken as the 10th percentile of that network's magnitudes in the real week (e.g. ak 0.6,
  ci 0.5, us 3.1), capped at 9.5; 2 decimals. About 10 % are M >= 2.5 (the real week: 11.9 %),
  about 820 per 30 days.

Ids are 10-digit numbers 1000000000.. in origin-time order (the ingest accepts [A-Za-z0-9._-];
numbers let pgbench draw the same ids with random(): it cannot build strings). Properties carry
every key of the USGS feed (~700 bytes a feature).

Writes to OUTDIR:
  quakes.geojson   the FeatureCollection for `strata ingest --replay FILE --speed 0`
  quakes.tsv       the same rows in COPY text format, columns as the ingest's COPY (COPY_COLUMNS)
  ids.txt          every id, fixed width (11 bytes a line), for bench/quakes_item.lua
  centres.txt      the real week's distinct epicentres "lat lon" (radius query centres), with at
                   most 15 significant digits (what pgbench sends a double variable as)
  meta.json        counts, time range, id range, magnitude statistics
Standard library only; about 18 s for 1,000,000 events (the TSV is written by a forked child
while the GeoJSON is written).
"""

import argparse
import bisect
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_WEEK = os.path.join(os.path.dirname(HERE), "data", "usgs_all_week_2023-08-04.geojson")

T_END_S = 1691107200  # 2023-08-04T00:00:00Z
DAYS = 3652  # 2013-08-04 .. 2023-08-04
T0_MS = (T_END_S - DAYS * 86400) * 1000
T1_MS = T_END_S * 1000
ID_BASE = 1000000000
B_VALUE = 1.0
MAG_MAX = 9.5
AFTERSHOCK_SHARE = 0.2
MAINSHOCK_ABOVE_MC = 2.0  # a mainshock is at least this far above its network's completeness
ALPHA = 0.8  # productivity 10^(ALPHA (M - Mc))
OMORI_C_DAYS, OMORI_P, OMORI_MAX_DAYS = 0.05, 1.1, 365.0
JITTER_KM, DEPTH_JITTER_KM = 25.0, 5.0
KM_PER_DEG = 111.195

COPY_COLUMNS = ("id, time, updated, mag, magtype, place, lon, lat, depth_km, status, eventtype, alert, tsunami, "
                "sig, felt, cdi, mmi, gap, net, code, sources, title, properties")


def load_seeds():
    with open(REAL_WEEK) as f:
        feats = json.load(f)["features"]
    by_net = {}
    for ft in feats:
        p = ft["properties"]
        if p.get("mag") is not None:
            by_net.setdefault(p["net"], []).append(p["mag"])
    mc = {net: sorted(ms)[len(ms) // 10] for net, ms in by_net.items()}
    seeds, centres = [], set()
    for ft in feats:
        p = ft["properties"]
        lon, lat, depth = ft["geometry"]["coordinates"]
        centres.add((lat, lon))
        place = p.get("place") or "Somewhere"
        # place JSON-escaped (for the GeoJSON) and as is (for COPY)
        seeds.append((lon, lat, depth, p["net"], p.get("magType") or "ml", json.dumps(place)[1:-1],
                      p.get("type") or "earthquake", mc.get(p["net"], 1.0), copy_text(place)))
    return seeds, sorted(centres), mc, sum(1 for ft in feats if (ft["properties"]["mag"] or 0) >= 2.5) / len(feats)


def jitter(rng, lon, lat, sigma_km):
    lat2 = lat + rng.gauss(0.0, sigma_km) / KM_PER_DEG
    if lat2 > 89.9:
        lat2 = 179.8 - lat2
    elif lat2 < -89.9:
        lat2 = -179.8 - lat2
    lon2 = lon + rng.gauss(0.0, sigma_km) / (KM_PER_DEG * max(0.05, math.cos(math.radians(lat2))))
    lon2 = (lon2 + 180.0) % 360.0 - 180.0
    return round(lon2, 4), round(lat2, 4)


def decimal15(x):
    """x with at most 15 significant digits and no exponent: the text pgbench sends for a double
    variable (%.15g) is then this very text, so wrk and pgbench send the same centres."""
    t = "%.15g" % x
    if "e" in t:
        t = ("%.12f" % x).rstrip("0").rstrip(".")
    return t


def reflect_depth(d):
    """Jittered depths stay in [-3, 700] km by reflection (no pile-up at the bounds)."""
    if d < -3.0:
        d = -6.0 - d
    return min(700.0, d)


def gr_mag(rng, mc, below=MAG_MAX):
    """Gutenberg-Richter (b = B_VALUE) above mc, below `below` (truncated)."""
    for _ in range(20):
        m = mc - math.log10(1.0 - rng.random()) / B_VALUE
        if m < below:
            return round(m, 2)
    return round(min(mc, below - 0.1), 2)


def omori_delay_ms(rng):
    c, p, tmax = OMORI_C_DAYS, OMORI_P, OMORI_MAX_DAYS
    a = 1.0 - (1.0 + tmax / c) ** (1.0 - p)
    u = rng.random()
    days = c * ((1.0 - u * a) ** (1.0 / (1.0 - p)) - 1.0)
    return int(days * 86400000)


def generate(n, seed):
    rng = random.Random(seed)
    seeds, centres, mc, real_share = load_seeds()
    n_bg = n - int(n * AFTERSHOCK_SHARE)
    span = T1_MS - T0_MS
    # event: (time_ms, lon, lat, depth, mag, seed index)
    ev = []
    for _ in range(n_bg):
        si = rng.randrange(len(seeds))
        s = seeds[si]
        lon, lat = jitter(rng, s[0], s[1], JITTER_KM)
        depth = round(reflect_depth(s[2] + rng.gauss(0.0, DEPTH_JITTER_KM)), 2)
        ev.append((T0_MS + int(rng.random() * span), lon, lat, depth, gr_mag(rng, s[7]), si))
    mains = [e for e in ev if e[4] >= seeds[e[5]][7] + MAINSHOCK_ABOVE_MC]
    n_as = n - n_bg
    if mains and n_as:
        cum, tot = [], 0.0
        for e in mains:
            tot += 10 ** (ALPHA * (e[4] - seeds[e[5]][7]))
            cum.append(tot)
        for _ in range(n_as):
            m = mains[min(len(mains) - 1, bisect.bisect_right(cum, rng.random() * tot))]
            t = m[0] + omori_delay_ms(rng)
            if t >= T1_MS:
                t = m[0] + int(rng.random() * (T1_MS - m[0]))
            lon, lat = jitter(rng, m[1], m[2], max(5.0, 10 ** (0.5 * m[4] - 1.8)))
            depth = round(reflect_depth(m[3] + rng.gauss(0.0, 3.0)), 2)
            s = seeds[m[5]]
            ev.append((t, lon, lat, depth, gr_mag(rng, s[7], m[4]), m[5]))
    ev.sort()
    return ev, seeds, centres, mc, real_share, len(mains)


DAY_CACHE = {}


def iso_us(ms):
    """As the ingest's COPY writes it (time_format_us): 2023-08-04T02:52:13.180000Z."""
    d, r = divmod(ms, 86400000)
    ds = DAY_CACHE.get(d)
    if ds is None:
        ds = DAY_CACHE[d] = time.strftime("%Y-%m-%d", time.gmtime(d * 86400))
    s, msr = divmod(r, 1000)
    return "%sT%02d:%02d:%02d.%03d000Z" % (ds, s // 3600, s // 60 % 60, s % 60, msr)


def copy_text(s):
    if "\\" in s or "\t" in s or "\n" in s or "\r" in s:
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return s


def rows(ev, seeds, rng):
    """Per event: (id, time ms, updated ms, properties JSON text, extra columns); the same draws
    from rng in the same order wherever it runs, so both writers agree."""
    rnd = rng.random
    for i, (t, lon, lat, depth, mag, si) in enumerate(ev):
        s = seeds[si]
        net, magtype, place, etype = s[3], s[4], s[5], s[6]
        eid = str(ID_BASE + i)
        upd = t + 60000 + int(rnd() * 3600000)
        status = "reviewed" if rnd() < 0.9 else "automatic"
        sig = int(max(0.0, mag) * 100 * max(0.0, mag) / 6.5)
        nst = int(5 + rnd() * 60)
        dmin = round(rnd() * 0.5, 5)
        rms = round(0.05 + rnd() * 0.8, 2)
        gap = int(30 + rnd() * 200)
        props = ('{"mag":%r,"place":"%s","time":%d,"updated":%d,"tz":null,'
                 '"url":"https://earthquake.usgs.gov/earthquakes/eventpage/%s",'
                 '"detail":"https://earthquake.usgs.gov/earthquakes/feed/v1.0/detail/%s.geojson",'
                 '"felt":null,"cdi":null,"mmi":null,"alert":%s,"status":"%s","tsunami":0,"sig":%d,"net":"%s",'
                 '"code":"%s","ids":",%s,","sources":",%s,","types":",origin,phase-data,","nst":%d,"dmin":%r,'
                 '"rms":%r,"gap":%d,"magType":"%s","type":"%s","title":"M %.1f - %s"}'
                 % (mag, place, t, upd, eid, eid, '"green"' if mag >= 5.5 else "null", status, sig, net, eid,
                    eid, net, nst, dmin, rms, gap, magtype, etype, mag, place))
        yield i, eid, t, upd, lon, lat, depth, mag, s, status, sig, gap, props


def write_geojson(outdir, ev, seeds, rng):
    gj = open(os.path.join(outdir, "quakes.geojson"), "w", encoding="utf-8")
    ids = open(os.path.join(outdir, "ids.txt"), "w")
    gj.write('{"type":"FeatureCollection","metadata":{"generated":%d,"url":"bench/quakes_gen.py",'
             '"title":"Strata bench: synthetic catalogue","status":200,"api":"1.10.3","count":%d},"features":[\n'
             % (T1_MS, len(ev)))
    gparts, iparts = [], []
    for i, eid, t, upd, lon, lat, depth, mag, s, status, sig, gap, props in rows(ev, seeds, rng):
        gparts.append('%s{"type":"Feature","properties":%s,"geometry":{"type":"Point","coordinates":[%r,%r,%r]},'
                      '"id":"%s"}' % ("," if i else "", props, lon, lat, depth, eid))
        iparts.append(eid)
        if len(gparts) >= 20000:
            gj.write("\n".join(gparts) + "\n")
            ids.write("\n".join(iparts) + "\n")
            gparts, iparts = [], []
    if gparts:
        gj.write("\n".join(gparts) + "\n")
        ids.write("\n".join(iparts) + "\n")
    gj.write("]}\n")
    gj.close()
    ids.close()


def write_tsv(outdir, ev, seeds, rng):
    """The columns the ingest fills (COPY_COLUMNS), as its COPY sends them (store.c copy_row)."""
    tsv = open(os.path.join(outdir, "quakes.tsv"), "w", encoding="utf-8")
    tparts = []
    for i, eid, t, upd, lon, lat, depth, mag, s, status, sig, gap, props in rows(ev, seeds, rng):
        tparts.append("\t".join((
            eid, iso_us(t), iso_us(upd), repr(mag), s[4], s[8], repr(lon), repr(lat), repr(depth), status, s[6],
            "green" if mag >= 5.5 else "\\N", "f", str(sig), "\\N", "\\N", "\\N", repr(float(gap)), s[3], eid,
            ",%s," % s[3], "M %.1f - %s" % (mag, s[8]), copy_text(props))))
        if len(tparts) >= 20000:
            tsv.write("\n".join(tparts) + "\n")
            tparts = []
    if tparts:
        tsv.write("\n".join(tparts) + "\n")
    tsv.close()


def write_all(outdir, ev, seeds, seed):
    """The GeoJSON here, the TSV in a forked child at the same time (2 cores: about half the time)."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            write_tsv(outdir, ev, seeds, random.Random(seed))
            os._exit(0)
        except BaseException:
            import traceback
            traceback.print_exc()
            os._exit(1)
    write_geojson(outdir, ev, seeds, random.Random(seed))
    _, status = os.waitpid(pid, 0)
    if status != 0:
        sys.exit("quakes_gen.py: writing quakes.tsv failed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--events", type=int, default=1000000)
    ap.add_argument("--seed", type=int, default=20230804)
    args = ap.parse_args()
    if args.events > 8999999999:
        sys.exit("too many events for 10-digit ids")
    t0 = time.monotonic()
    ev, seeds, centres, mc, real_share, n_mains = generate(args.events, args.seed)
    t1 = time.monotonic()
    os.makedirs(args.outdir, exist_ok=True)
    write_all(args.outdir, ev, seeds, args.seed + 1)
    with open(os.path.join(args.outdir, "centres.txt"), "w") as f:
        for lat, lon in centres:
            f.write("%s %s\n" % (decimal15(lat), decimal15(lon)))
    t2 = time.monotonic()
    mags = sorted(e[4] for e in ev)
    meta = {
        "events": len(ev), "seed": args.seed, "t0_ms": T0_MS, "t1_ms": T1_MS, "id_min": ID_BASE,
        "id_max": ID_BASE + len(ev) - 1, "id_width": 10, "centres": len(centres),
        "share_m25": round(sum(1 for m in mags if m >= 2.5) / len(mags), 4),
        "share_m25_real_week": round(real_share, 4),
        "mag_p50": mags[len(mags) // 2], "mag_max": mags[-1], "mainshocks": n_mains,
        "completeness_by_net": mc, "aftershock_share": AFTERSHOCK_SHARE, "copy_columns": COPY_COLUMNS,
        "generate_seconds": round(t1 - t0, 1), "write_seconds": round(t2 - t1, 1),
        "geojson_bytes": os.path.getsize(os.path.join(args.outdir, "quakes.geojson")),
    }
    with open(os.path.join(args.outdir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))
    print(f"{meta['events']:,} events, {meta['share_m25']:.1%} M>=2.5, {meta['mainshocks']:,} aftershock sequences,"
          f" {meta['geojson_bytes'] / 1e6:,.0f} MB of GeoJSON, in {t2 - t0:.0f} s")


if __name__ == "__main__":
    main()
