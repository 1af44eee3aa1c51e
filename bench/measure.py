#!/usr/bin/python3
"""Measurement driver for `make bench` (called by scripts/bench.sh; usable by hand).

Runs the load generators (wrk, pgbench) one at a time against an already running Strata
server and PostgreSQL cluster, and records for each measurement the throughput, latency,
errors and the CPU time used by each process group while it ran:

  server    the Strata process (all its threads)            /proc/<pid>/stat utime+stime
  postgres  the postmaster and all its children, including  /proc/<pid>/stat utime+stime of the
            backends that exited during the measurement     live ones + the postmaster's
                                                            cutime+cstime (reaped children)
  loadgen   wrk or pgbench (and, in lookup_logins, the      rusage of the children (os.times
            login wrk's share of the window)                 after they are reaped)
  irq       interrupt and softirq time (loopback TCP work    /proc/stat irq+softirq
            the kernel does not charge to a process)
  machine   every core, every process, irq included          /proc/stat user+nice+system+irq+softirq
  other     machine - server - postgres - loadgen - irq      anything else sharing the machine
  (steal, time the hypervisor gave to other guests, is recorded apart and is not "machine")

For wrk runs it also reads the server's own latency histogram of the route (/metrics,
strata_http_request_duration_seconds) before and after, and records the bucket bound under
which 99 % of the requests were answered server-side: a client p99 far above it means the
time went to queueing outside the request handler (scheduling, sockets, the load generator).

CPU figures are in cores (cpu seconds / wall seconds): 1.0 = one core fully busy.

Authentication (when --token-file and --login-form-file are given; bench.sh does):
  protected      the same wrk lookups on /api/v1/_debug/protected/items/<id> (quakes:read),
                 with "Authorization: Bearer <token>" (bench/protected.lua)
  lookup_logins  the open lookup wrk while a second wrk (bench/login.lua, --login-conns
                 connections) posts password-grant logins back to back; it starts
                 LOGIN_RAMP_SECONDS before the lookup wrk and is stopped (SIGINT) right after.
                 Logins/s = the server's 200s on the token route (/metrics) during the lookup
                 window. The login wrk's non-2xx and socket errors count as errors.

Subcommands (state lives in the JSON-lines file, one object per line):
  warmup    short unrecorded runs of each load
  rounds    N interleaved rounds of static (wrk), lookup (wrk), [protected (wrk), lookup_logins
            (2 wrk),] pgbench; one line each
  single    one recorded measurement of one kind (e.g. lookup with info logging)
  summary   reads the file, appends a summary line, prints a table and the final
            RATIO/LIMIT lines (the quakes benchmark's, from bench/quakes.py, included: its
            measurements are lines of the same file); exits 1 when any measurement had errors
Only the Python standard library is used; run it with /usr/bin/python3.
"""

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")

SETTLE_SECONDS = 0.5  # between measurements: the previous load's connections close, backends exit
TARGET_LOOKUP_VS_PGBENCH = 1.0
TARGET_STATIC_RPS_PER_CORE = 40000.0
MAX_P99_LOOKUP_MS = 10.0
TARGET_PROTECTED_VS_OPEN = 0.9
TARGET_LOOKUPS_DURING_LOGINS = 0.8
LOGIN_ROUTE = "/api/v1/auth/token"
LOGIN_RAMP_SECONDS = 1.0  # logins run this long before the lookup window opens (worker pool busy)
LOGIN_DRAIN_SECONDS = 1.5  # after a login run: logins still in the worker pool finish


# ---- /proc accounting ------------------------------------------------------------------------


def _stat_fields(pid):
    """Fields of /proc/<pid>/stat after the command name (index 0 = state, field 3)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read().decode("ascii", "replace")
    return data[data.rindex(")") + 2:].split()


def proc_ticks(pid, with_children=False):
    """utime+stime (+cutime+cstime) of a process in clock ticks, or None when it is gone."""
    try:
        f = _stat_fields(pid)
    except (OSError, ValueError):
        return None
    # after ')': state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17) -> index n-3
    t = int(f[11]) + int(f[12])
    if with_children:
        t += int(f[13]) + int(f[14])
    return t


def children_of(ppid):
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            f = _stat_fields(name)
        except (OSError, ValueError):
            continue
        if int(f[1]) == ppid:
            kids.append(int(name))
    return kids


def postgres_ticks(postmaster):
    """Postmaster (own + reaped children) plus its live children. Backends that exit between two
    samples move from the live sum into the postmaster's cutime, so deltas stay right -- provided
    the sample itself is consistent: a backend reaped while /proc is being read would be in neither
    sum (right after pgbench disconnects its 16 backends exit at once). So retry until the
    postmaster's cutime is the same before and after reading the children."""
    for _ in range(100):
        before = proc_ticks(postmaster, with_children=True)
        if before is None:
            return 0
        live = 0
        for k in children_of(postmaster):
            live += proc_ticks(k) or 0
        if proc_ticks(postmaster, with_children=True) == before:
            return before + live
        time.sleep(0.01)
    return before + live


def machine_ticks():
    """(busy incl. irq, irq+softirq, steal) in ticks, all cores."""
    with open("/proc/stat") as f:
        parts = f.readline().split()
    v = [int(x) for x in parts[1:9]] + [0] * 8
    # user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
    irq = v[5] + v[6]
    return v[0] + v[1] + v[2] + irq, irq, v[7]


def background_cores(sampler, seconds=1.0):
    """Cores kept busy by other processes while no load runs (ours, and irq, subtracted)."""
    a = sampler.sample()
    time.sleep(seconds)
    _, _, cores = CpuSampler.delta(a, sampler.sample(), 0.0)
    return cores["other"]


class CpuSampler:
    def __init__(self, server_pid, postmaster_pid):
        self.server_pid = server_pid
        self.postmaster_pid = postmaster_pid

    def sample(self):
        return {
            "t": time.monotonic(),
            "server": proc_ticks(self.server_pid) if self.server_pid else 0,
            "postgres": postgres_ticks(self.postmaster_pid),
            "machine": machine_ticks(),
        }

    @staticmethod
    def delta(a, b, loadgen_seconds):
        wall = b["t"] - a["t"]
        secs = {
            "server": ((b["server"] or 0) - (a["server"] or 0)) / CLK_TCK,
            "postgres": (b["postgres"] - a["postgres"]) / CLK_TCK,
            "loadgen": loadgen_seconds,
            "irq": (b["machine"][1] - a["machine"][1]) / CLK_TCK,
            "machine": (b["machine"][0] - a["machine"][0]) / CLK_TCK,
            "steal": (b["machine"][2] - a["machine"][2]) / CLK_TCK,
        }
        secs["other"] = max(0.0, secs["machine"] - secs["server"] - secs["postgres"] - secs["loadgen"]
                            - secs["irq"])
        cores = {k: round(v / wall, 3) for k, v in secs.items()}
        return wall, {k: round(v, 2) for k, v in secs.items()}, cores


# ---- the server's own latency histogram (/metrics) -------------------------------------------

ROUTE_OF = {"lookup": "/api/v1/_debug/items/{id}", "static": "/healthz",
            "protected": "/api/v1/_debug/protected/items/{id}"}
BUCKET_RE = re.compile(r'^strata_http_request_duration_seconds_bucket\{(.*)\} ([0-9.e+]+)$')
COUNT_RE = re.compile(r'^strata_http_requests_total\{(.*)\} ([0-9.e+]+)$')


def metrics_text(url):
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            return r.read().decode("utf-8", "replace")
    except Exception:
        return None


def server_requests(url, route):
    """{status: count} answered on route (all methods), from strata_http_requests_total, or None."""
    text = metrics_text(url)
    if text is None:
        return None
    counts = {}
    for line in text.splitlines():
        m = COUNT_RE.match(line)
        if not m or f'route="{route}"' not in m.group(1):
            continue
        st = re.search(r'status="([^"]+)"', m.group(1))
        if st:
            counts[st.group(1)] = counts.get(st.group(1), 0) + float(m.group(2))
    return counts


def server_histogram(url, route):
    """{le_seconds: cumulative count} for route (all methods and statuses), or None."""
    text = metrics_text(url)
    if text is None:
        return None
    h = {}
    for line in text.splitlines():
        m = BUCKET_RE.match(line)
        if not m or f'route="{route}"' not in m.group(1):
            continue
        le = re.search(r'le="([^"]+)"', m.group(1))
        if not le:
            continue
        k = float("inf") if le.group(1) == "+Inf" else float(le.group(1))
        h[k] = h.get(k, 0) + float(m.group(2))
    return h or None


def server_p99_bound_ms(h0, h1):
    """Smallest bucket bound (ms) under which 99 % of the requests between h0 and h1 finished."""
    if not h0 or not h1:
        return None
    les = sorted(h1)
    d = {le: h1[le] - h0.get(le, 0) for le in les}
    total = d.get(float("inf"))
    if not total:
        return None
    for le in les:
        if d[le] >= 0.99 * total:
            return None if le == float("inf") else round(le * 1000, 3)
    return None


# ---- load generators -------------------------------------------------------------------------

CURRENT_CHILD = None
LOGIN_CHILD = None  # the login wrk of lookup_logins, running next to CURRENT_CHILD


def child_env(args):
    """The load generators' environment: bench/protected.lua reads the access token from it."""
    env = dict(os.environ)
    if getattr(args, "token_file", None):
        with open(args.token_file) as f:
            env["BENCH_TOKEN"] = f.read().strip()
    return env


def run_child(argv, timeout, env=None):
    """Runs argv to completion, returns (rc, stdout, stderr). Its CPU time is read by the caller
    as the growth of this process's RUSAGE_CHILDREN (os.times), which counts reaped children."""
    global CURRENT_CHILD
    # Own session = own scheduler autogroup (kernel.sched_autogroup_enabled=1 on Debian): sharing
    # the server's autogroup gave wrk p99s of 250-960 ms here (10-17 ms apart), not a server effect.
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, env=env)
    CURRENT_CHILD = p
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        err += f"\nmeasure.py: killed after {timeout} s"
    finally:
        CURRENT_CHILD = None
    return p.returncode, out, err


def children_cpu():
    ru = os.times()
    return ru.children_user + ru.children_system


def script_of(kind):
    for prefix in ("lookup", "static", "protected"):
        if kind.startswith(prefix):
            return os.path.join(HERE, prefix + ".lua")
    raise RuntimeError(f"no wrk script for {kind}")


def wrk(args, kind, seconds):
    if kind.startswith("protected") and not args.token_file:
        raise RuntimeError("protected needs --token-file (an access token with quakes:read)")
    argv = ["wrk", f"-t{args.wrk_threads}", f"-c{args.conns}", f"-d{seconds}s", "--latency",
            "-s", script_of(kind), args.url]
    rc, out, err = run_child(argv, seconds + 30, env=child_env(args))
    return parse_wrk(rc, out, err)


def parse_wrk(rc, out, err):
    m = re.search(r"^WRKJSON (\{.*\})$", out, re.M)
    if rc != 0 or not m:
        raise RuntimeError(f"wrk failed (rc {rc}):\n{out}\n{err}")
    w = json.loads(m.group(1))
    e = w["errors"]
    dur = w["duration_us"] / 1e6
    lat = w["latency_us"]
    return {
        "tool": "wrk",
        "requests": w["requests"],
        "rps": round(w["requests"] / dur, 1),
        "tool_seconds": round(dur, 3),
        "errors": {"non_2xx": e["status"], "connect": e["connect"], "read": e["read"],
                   "write": e["write"], "timeout": e["timeout"]},
        "latency_ms": {k: round(lat[k] / 1000.0, 3) for k in ("mean", "p50", "p90", "p99", "p999", "max")},
    }


def pgbench(args, seconds):
    argv = [args.pgbench, "-h", "127.0.0.1", "-p", str(args.pg_port), "-U", "postgres", "-n",
            "-M", "prepared", "-c", str(args.pgbench_clients), "-j", str(args.pgbench_threads),
            "-T", str(seconds), "-f", os.path.join(HERE, "pgbench_lookup.sql"), args.db]
    rc, out, err = run_child(argv, seconds + 30)
    text = out + err
    tps = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", text, re.M)
    n = re.search(r"^number of transactions actually processed: (\d+)", text, re.M)
    failed = re.search(r"^number of failed transactions: (\d+)", text, re.M)
    lat = re.search(r"^latency average = ([0-9.]+) ms", text, re.M)
    if rc != 0 or not tps or not n:
        raise RuntimeError(f"pgbench failed (rc {rc}):\n{text}")
    return {
        "tool": "pgbench",
        "requests": int(n.group(1)),
        "rps": round(float(tps.group(1)), 1),
        "tool_seconds": seconds,
        "errors": {"failed": int(failed.group(1)) if failed else 0},
        "latency_ms": {"mean": float(lat.group(1)) if lat else None},
    }


def start_logins(args, seconds):
    """Starts the login wrk (bench/login.lua) in the background; stop_logins() ends it."""
    global LOGIN_CHILD
    if not args.login_form_file:
        raise RuntimeError("lookup_logins needs --login-form-file (the urlencoded password-grant form)")
    env = child_env(args)
    with open(args.login_form_file) as f:
        env["BENCH_LOGIN_BODY"] = f.read().strip()
    # -d is only a bound: stop_logins() interrupts it (SIGINT: wrk stops and prints its summary)
    argv = ["wrk", "-t1", f"-c{args.login_conns}", f"-d{int(seconds + LOGIN_RAMP_SECONDS) + 30}s",
            "--timeout", "10s", "--latency", "-s", os.path.join(HERE, "login.lua"), args.url]
    LOGIN_CHILD = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True, env=env)
    return LOGIN_CHILD, time.monotonic()


def stop_logins(p, started):
    """SIGINT, reap; returns (wrk result, its CPU seconds, its wall seconds)."""
    global LOGIN_CHILD
    try:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        c0 = children_cpu()
        try:
            out, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            err += "\nmeasure.py: login wrk killed (no exit 15 s after SIGINT)"
        cpu = children_cpu() - c0
    finally:
        LOGIN_CHILD = None
    wall = time.monotonic() - started
    # wrk exits 0 after SIGINT (its handler only ends the run)
    return parse_wrk(p.returncode, out, err), cpu, wall


def measure(args, sampler, kind, seconds):
    if sampler.server_pid and proc_ticks(sampler.server_pid) is None:
        raise RuntimeError(f"the server (pid {sampler.server_pid}) is gone")
    with_logins = kind == "lookup_logins"
    base = "lookup" if with_logins else kind
    route = ROUTE_OF.get(base)
    login = None
    if with_logins:
        login = start_logins(args, seconds)
        time.sleep(LOGIN_RAMP_SECONDS)
        if login[0].poll() is not None:
            r, _, _ = stop_logins(*login)
            raise RuntimeError(f"the login wrk ended before the lookup run: {r}")
    try:
        t0 = server_requests(args.url, LOGIN_ROUTE) if with_logins else None
        h0 = server_histogram(args.url, route) if route else None
        c0 = children_cpu()
        s0 = sampler.sample()
        if kind == "pgbench":
            r = pgbench(args, seconds)
        else:
            r = wrk(args, base, seconds)
        s1 = sampler.sample()
        c1 = children_cpu()
        t1 = server_requests(args.url, LOGIN_ROUTE) if with_logins else None
    finally:
        if login is not None and LOGIN_CHILD is not None:
            lw, login_cpu, login_wall = stop_logins(*login)
    loadgen = c1 - c0
    if login is not None:
        # the login wrk's CPU, pro rata for the lookup window (it also ran during the ramp-up)
        window = s1["t"] - s0["t"]
        login_share = login_cpu * min(1.0, window / login_wall) if login_wall > 0 else 0.0
        loadgen += login_share
    wall, secs, cores = CpuSampler.delta(s0, s1, loadgen)
    if route:
        r["server_p99_le_ms"] = server_p99_bound_ms(h0, server_histogram(args.url, route))
    if sampler.server_pid and proc_ticks(sampler.server_pid) is None:
        raise RuntimeError(f"the server (pid {sampler.server_pid}) died during {kind}")
    if login is not None:
        secs["login_loadgen"] = round(login_share, 2)
        cores["login_loadgen"] = round(login_share / wall, 3)
        ok = bad = None
        if t0 is not None and t1 is not None:
            ok = t1.get("200", 0) - t0.get("200", 0)
            bad = sum(t1.values()) - sum(t0.values()) - ok
        r["logins"] = {
            "conns": args.login_conns,
            # logins answered 200 by the server during the lookup window (/metrics)
            "per_second": round(ok / wall, 2) if ok is not None else lw["rps"],
            "ok_in_window": ok, "non_200_in_window": bad,
            "wrk": {k: lw[k] for k in ("requests", "rps", "tool_seconds", "errors", "latency_ms")},
        }
        for k, v in lw["errors"].items():
            r["errors"]["login_" + k] = v
        if bad:
            r["errors"]["login_server_non_200"] = bad
    r.update({"wall_seconds": round(wall, 3), "cpu_seconds": secs, "cpu_cores": cores})
    return r


# ---- output ------------------------------------------------------------------------------------


def write_line(path, obj):
    with open(path, "a") as f:
        f.write(json.dumps(obj, sort_keys=False) + "\n")


def base_record(args, kind, rnd):
    rec = {"type": "measurement", "run": args.run, "round": rnd, "target": kind,
           "config": {"conns": args.conns if kind != "pgbench" else args.pgbench_clients,
                      "threads": args.wrk_threads if kind != "pgbench" else args.pgbench_threads,
                      "seconds": args.seconds, "log_level": args.log_level}}
    if kind == "lookup_logins":
        rec["config"]["login_conns"] = args.login_conns
    return rec


def progress(rec):
    cc = rec["cpu_cores"]
    lat = rec["latency_ms"]
    p99 = f"p99 {lat['p99']:.2f} ms" if lat.get("p99") is not None else f"avg {lat['mean']:.2f} ms"
    lg = rec.get("logins")
    extra = ""
    if lg:
        extra = (f"  logins {lg['per_second']:.1f}/s (p50 {lg['wrk']['latency_ms']['p50']:.0f} ms,"
                 f" {lg['conns']} conns)")
    print(f"  round {rec['round']} {rec['target']:<27} {rec['rps']:>10.0f} req/s  {p99:<16}"
          f" cpu: server {cc['server']:.2f} postgres {cc['postgres']:.2f} {rec['tool']} {cc['loadgen']:.2f}"
          f" irq {cc['irq']:.2f} other {cc['other']:.2f}  errors {sum(rec['errors'].values())}{extra}",
          flush=True)


def auth_enabled(args):
    return bool(args.token_file and args.login_form_file)


def cmd_warmup(args):
    sampler = CpuSampler(args.server_pid, args.postmaster_pid)
    bg = background_cores(sampler)
    write_line(args.out, {"type": "background", "run": args.run, "cpu_cores_other_processes": bg})
    if bg > 0.2:
        print(f"  NOTE: before the warm-up, other processes kept {bg:.2f} cores busy: "
              "results will be noisy (see 'other' per measurement)", flush=True)
    secs = max(1, args.seconds)
    kinds = ("lookup", "static", "protected", "pgbench") if args.token_file else ("lookup", "static", "pgbench")
    for kind in kinds:
        measure(args, sampler, kind, secs)
    print(f"  warm-up done ({secs} s each of {', '.join(kinds)})", flush=True)


def cmd_rounds(args):
    sampler = CpuSampler(args.server_pid, args.postmaster_pid)
    kinds = ("static", "lookup", "protected", "lookup_logins", "pgbench") if auth_enabled(args) else \
        ("static", "lookup", "pgbench")
    for rnd in range(1, args.rounds + 1):
        for i, kind in enumerate(kinds):
            time.sleep(LOGIN_DRAIN_SECONDS if i and kinds[i - 1] == "lookup_logins" else SETTLE_SECONDS)
            rec = base_record(args, kind, rnd)
            rec.update(measure(args, sampler, kind, args.seconds))
            write_line(args.out, rec)
            progress(rec)


def cmd_single(args):
    sampler = CpuSampler(args.server_pid, args.postmaster_pid)
    base = "lookup" if args.kind.startswith("lookup") else args.kind
    if args.kind == "lookup_logins" or args.kind.startswith("protected"):
        base = "lookup_logins" if args.kind == "lookup_logins" else "protected"
    rec = base_record(args, args.kind, 0)
    rec.update(measure(args, sampler, base, args.seconds))
    write_line(args.out, rec)
    progress(rec)


def rnd(x, nd):
    return None if x is None else round(x, nd)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=2):
    return "-" if x is None else f"{x:,.{nd}f}"


def git_describe(repo):
    try:
        rev = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except Exception:
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def cmd_summary(args):
    recs = []
    load = None
    background = None
    sse = None
    with open(args.out) as f:
        for line in f:
            o = json.loads(line)
            if o.get("type") == "measurement" and o.get("run") == args.run:
                recs.append(o)
            elif o.get("type") == "quakes_sse" and o.get("run") == args.run:
                sse = o
            elif o.get("type") == "load" and o.get("run") == args.run:
                load = o
            elif o.get("type") == "background" and o.get("run") == args.run and background is None:
                background = o.get("cpu_cores_other_processes")
    by = {}
    for r in recs:
        by.setdefault(r["target"], []).append(r)

    def busy(r):
        c = r["cpu_cores"]
        return c["server"] + c["postgres"] + c["loadgen"] + c.get("irq", 0)

    def m_of(kind, get):
        return rnd(med([get(r) for r in by.get(kind, [])]), 3)

    medians = {}
    for kind, rs in by.items():
        medians[kind] = {
            "rounds": len(rs),
            "rps": m_of(kind, lambda r: r["rps"]),
            "p99_ms": m_of(kind, lambda r: r["latency_ms"].get("p99")),
            "p50_ms": m_of(kind, lambda r: r["latency_ms"].get("p50")),
            "mean_ms": m_of(kind, lambda r: r["latency_ms"].get("mean")),
            "server_p99_le_ms": m_of(kind, lambda r: r.get("server_p99_le_ms")),
            "cpu_cores": {k: m_of(kind, lambda r, k=k: r["cpu_cores"].get(k))
                          for k in ("server", "postgres", "loadgen", "irq", "other", "machine", "steal")},
            "rps_per_server_core": m_of(kind, lambda r: r["rps"] / r["cpu_cores"]["server"]
                                        if r["tool"] == "wrk" and r["cpu_cores"]["server"] > 0 else None),
            # requests per CPU-second of everything the benchmark ran (server, PostgreSQL, load
            # generator, kernel network work): comparable across loads when the machine is shared
            "rps_per_busy_core": m_of(kind, lambda r: r["rps"] / busy(r) if busy(r) > 0 else None),
            "errors": sum(sum(r["errors"].values()) for r in rs),
        }
    lookup = medians.get("lookup", {})
    static = medians.get("static", {})
    pgb = medians.get("pgbench", {})
    ratio = (lookup["rps"] / pgb["rps"]) if lookup.get("rps") and pgb.get("rps") else None
    per_round_ratio = []
    for rl in by.get("lookup", []):
        for rp in by.get("pgbench", []):
            if rp["round"] == rl["round"] and rp["rps"]:
                per_round_ratio.append(round(rl["rps"] / rp["rps"], 3))
    static_per_core = static.get("rps_per_server_core")

    def num(x, nd):
        return "nan" if x is None else f"{x:.{nd}f}"

    # Authentication: protected vs open (ratio of the medians), and lookups during logins (median
    # of the per-round ratios lookup_logins / lookup of the same round).
    protected = medians.get("protected", {})
    protected_ratio = (protected["rps"] / lookup["rps"]) if protected.get("rps") and lookup.get("rps") else None

    def per_round(kind, base="lookup"):
        out = []
        for rk in by.get(kind, []):
            for rb in by.get(base, []):
                if rb["round"] == rk["round"] and rk["round"] > 0 and rb["rps"]:
                    out.append(round(rk["rps"] / rb["rps"], 3))
        return out

    per_round_protected = per_round("protected")
    # less sensitive to other processes: requests per CPU-second of the benchmark's own processes
    protected_per_cpu = (protected["rps_per_busy_core"] / lookup["rps_per_busy_core"]
                         if protected.get("rps_per_busy_core") and lookup.get("rps_per_busy_core") else None)
    per_round_logins = per_round("lookup_logins")
    logins_ratio = med(per_round_logins)
    login_recs = [r["logins"] for r in by.get("lookup_logins", []) if r.get("logins")]
    logins = None
    if login_recs:
        logins = {
            "conns": login_recs[0]["conns"],
            "per_second": rnd(med([x["per_second"] for x in login_recs]), 2),
            "p50_ms": rnd(med([x["wrk"]["latency_ms"]["p50"] for x in login_recs]), 1),
            "p99_ms": rnd(med([x["wrk"]["latency_ms"]["p99"] for x in login_recs]), 1),
            "per_round": [x["per_second"] for x in login_recs],
        }
        medians["lookup_logins"]["logins"] = logins
    ratio_per_cpu = (lookup["rps_per_busy_core"] / pgb["rps_per_busy_core"]
                     if lookup.get("rps_per_busy_core") and pgb.get("rps_per_busy_core") else None)
    p99 = lookup.get("p99_ms")
    errors = sum(m["errors"] for m in medians.values())
    if sse and not sse.get("skipped"):
        errors += sum(sse.get("errors", {}).values())
    # the quakes benchmark (bench/quakes.py): nan lines when skipped (BENCH_QUAKES=0)
    import quakes
    quakes_results, quakes_info, quakes_final = quakes.summary_results(by, medians, sse, not args.quakes)
    load_ok = load is None or (load.get("errors") == 0 and load.get("conns_held") == load.get("conns"))

    summary = {
        "type": "summary", "run": args.run, "git": git_describe(os.path.dirname(HERE)),
        "machine": {"cores": os.cpu_count(), "cpu": cpu_model(), "kernel": platform.release(),
                    "background_cores_before": background},
        "medians": medians,
        "per_round_lookup_vs_pgbench": per_round_ratio,
        "lookup_vs_pgbench_per_busy_core": None if ratio_per_cpu is None else round(ratio_per_cpu, 3),
        "per_round_protected_vs_open": per_round_protected,
        "protected_vs_open_per_busy_core": None if protected_per_cpu is None else round(protected_per_cpu, 3),
        "per_round_lookups_during_logins": per_round_logins,
        "logins": logins,
        "results": [
            {"kind": "RATIO", "name": "lookup_vs_pgbench", "measured": rnd(ratio, 3),
             "target": TARGET_LOOKUP_VS_PGBENCH},
            {"kind": "RATIO", "name": "static_rps_per_core", "measured": rnd(static_per_core, 0),
             "target": TARGET_STATIC_RPS_PER_CORE},
            {"kind": "LIMIT", "name": "p99_lookup_ms", "measured": p99, "max": MAX_P99_LOOKUP_MS},
            {"kind": "RATIO", "name": "protected_vs_open", "measured": rnd(protected_ratio, 3),
             "target": TARGET_PROTECTED_VS_OPEN},
            {"kind": "RATIO", "name": "lookups_during_logins", "measured": rnd(logins_ratio, 3),
             "target": TARGET_LOOKUPS_DURING_LOGINS, "logins_per_second": logins and logins["per_second"]},
        ] + quakes_results,
        "quakes_sse": sse,
        "errors": errors,
        "load": load,
    }
    write_line(args.out, summary)

    # Readable table (medians over rounds; CPU in cores, 1.00 = one core busy).
    print()
    print(f"Medians of {max((m['rounds'] for m in medians.values()), default=0)} rounds; "
          f"{os.cpu_count()} cores ({cpu_model()}); CPU in cores used during each measurement")
    w = max([16] + [len(k) for k in medians])
    hdr = (f"{'target':<{w}} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>8} {'srv p99<=':>9} {'server':>7}"
           f" {'postgres':>8} {'loadgen':>8} {'irq':>5} {'other':>6} {'req/s/server core':>17} {'errors':>6}")
    print(hdr)
    print("-" * len(hdr))
    first = ("static", "lookup", "protected", "lookup_logins", "pgbench")
    for kind in first + tuple(k for k in sorted(medians) if k not in first):
        if kind not in medians:
            continue
        m = medians[kind]
        c = m["cpu_cores"]
        if kind == "pgbench" or kind.endswith("_pgbench"):
            p50s, p99s = f"avg {fmt(m['mean_ms'])}", "-"
        else:
            p50s, p99s = fmt(m["p50_ms"]), fmt(m["p99_ms"])
        print(f"{kind:<{w}} {fmt(m['rps'], 0):>9} {p50s:>9} {p99s:>8} {fmt(m['server_p99_le_ms'], 1):>9}"
              f" {fmt(c['server']):>7} {fmt(c['postgres']):>8} {fmt(c['loadgen']):>8} {fmt(c['irq']):>5}"
              f" {fmt(c['other']):>6} {fmt(m['rps_per_server_core'], 0):>17} {m['errors']:>6}")
    print("(loadgen = wrk, or pgbench on the *pgbench lines, strata ingest on quakes_ingest, psql on quakes_copy,"
          " where req/s is rows/s;")
    print(" srv p99<= = bucket bound of the server's own latency histogram;")
    print(" other = CPU of processes that are not part of the benchmark; on lookup_logins, loadgen includes"
          " the login wrk and server includes Argon2id)")
    print(f"lookup/pgbench per round: {', '.join(f'{x:.3f}' for x in per_round_ratio) or '-'};"
          f" per CPU-second of the benchmark's own processes: {fmt(ratio_per_cpu, 3)}")
    if per_round_protected:
        print(f"protected/lookup per round: {', '.join(f'{x:.3f}' for x in per_round_protected)};"
              f" per CPU-second of the benchmark's own processes: {fmt(protected_per_cpu, 3)}")
    if per_round_logins:
        print(f"lookup_logins/lookup per round: {', '.join(f'{x:.3f}' for x in per_round_logins)}")
    if logins:
        print(f"logins during lookup_logins ({logins['conns']} connections): {fmt(logins['per_second'], 1)}/s"
              f" median (per round: {', '.join(fmt(x, 1) for x in logins['per_round'])}),"
              f" login p50 {fmt(logins['p50_ms'], 0)} ms, p99 {fmt(logins['p99_ms'], 0)} ms")
    print(f"results: {os.path.relpath(args.out)}")
    others = [m["cpu_cores"]["other"] for m in medians.values() if m["cpu_cores"]["other"] is not None]
    if (background or 0) > 0.2 or (others and max(others) > 0.2):
        print(f"NOTE: other processes used CPU during the run (up to {max(others + [background or 0]):.2f}"
              " cores): the machine was not dedicated, so throughput and tails are pessimistic.")
    if errors:
        print(f"WARNING: {errors} errors (non-2xx, socket errors, timeouts or failed transactions) "
              "during the measurements; see the JSON lines", file=sys.stderr)
    if load is not None:
        print(f"LOAD conns_held {load.get('conns_held')} errors {load.get('errors')}")
    if logins:
        print(f"LOGINS per_second {num(logins['per_second'], 1)} conns {logins['conns']}")
    for line in quakes_info:
        print(line)
    print()

    print(f"RATIO lookup_vs_pgbench {num(ratio, 3)} target 1.0")
    print(f"RATIO static_rps_per_core {num(static_per_core, 0)} target 40000")
    print(f"LIMIT p99_lookup_ms {num(p99, 2)} max 10")
    # nan when the authentication measurements were skipped (BENCH_AUTH=0)
    print(f"RATIO protected_vs_open {num(protected_ratio, 3)} target 0.9")
    print(f"RATIO lookups_during_logins {num(logins_ratio, 3)} target 0.8")
    for line in quakes_final:
        print(line)
    sys.stdout.flush()
    auth_ok = ((protected_ratio is not None or "protected" not in by) and
               (logins_ratio is not None or "lookup_logins" not in by))
    # the four quakes ratios must exist when the quakes benchmark ran (SSE may be "not measured")
    quakes_ok = not args.quakes or all(r["measured"] is not None for r in quakes_results[:4])
    return 0 if (errors == 0 and load_ok and ratio is not None and auth_ok and quakes_ok) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["warmup", "rounds", "single", "summary"])
    ap.add_argument("--out", required=True, help="JSON-lines results file (appended to)")
    ap.add_argument("--run", required=True, help="run id (UTC timestamp) written on every line")
    ap.add_argument("--url", help="server base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--server-pid", type=int, default=0)
    ap.add_argument("--postmaster-pid", type=int, default=0)
    ap.add_argument("--pg-port", type=int)
    ap.add_argument("--db", default="strata_bench")
    ap.add_argument("--pgbench", default="/usr/lib/postgresql/15/bin/pgbench")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--pgbench-clients", type=int, default=16)
    ap.add_argument("--pgbench-threads", type=int, default=2)
    ap.add_argument("--kind", default="lookup",
                    help="for single: a name starting with lookup, static, protected or pgbench, or lookup_logins")
    ap.add_argument("--log-level", default="warn", help="the server's STRATA_LOG_LEVEL (recorded)")
    ap.add_argument("--token-file", help="file holding an access token with quakes:read (enables protected)")
    ap.add_argument("--login-form-file", help="file holding the urlencoded password-grant form body "
                    "(with --token-file, enables lookup_logins)")
    ap.add_argument("--login-conns", type=int, default=4, help="concurrent logins during lookup_logins")
    ap.add_argument("--quakes", type=int, default=1, help="for summary: 0 when the quakes benchmark was skipped")
    args = ap.parse_args()

    def on_signal(signum, frame):
        for child in (CURRENT_CHILD, LOGIN_CHILD):
            if child is not None and child.poll() is None:
                child.kill()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        if args.cmd == "warmup":
            cmd_warmup(args)
        elif args.cmd == "rounds":
            cmd_rounds(args)
        elif args.cmd == "single":
            cmd_single(args)
        else:
            return cmd_summary(args)
    except RuntimeError as e:
        print(f"measure.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
