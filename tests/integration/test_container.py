"""Container and on-premises deployment files, checked without a Docker engine.

What an engine would catch late, this catches on every test run:
- the runtime stage of the Dockerfile installs the Debian package of every shared library the
  strata binary loads (`ldd` + `dpkg -S`), so the image cannot start without a library;
- docker-compose.yml wires the roles the way docs/deploy.md says (one image, migrate first);
- deploy/onprem/strata.ini is accepted by the real binary (unknown keys are errors there).

The binary is $STRATA_BIN, else build/release/strata, else build/debug/strata. The ASan build links
the sanitizer runtimes, which the release image does not ship: they, and whatever only they load,
are exempt (see sanitizer_only_libraries).

Needs no fixture and no Docker engine; uses ldd, readelf (binutils), dpkg and Debian's
python3-yaml. Alone: STRATA_BIN=$PWD/build/release/strata /usr/bin/python3 -m pytest -q
tests/integration/test_container.py (or add --noconftest to skip the suite's conftest).
"""

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
ONPREM = ROOT / "deploy" / "onprem"

# Strata compose services and the subcommand each runs.
STRATA_ROLES = {"migrate": "migrate", "api": "serve", "worker": "worker", "ingest": "ingest"}

# glibc, the loader and libgcc_s: part of every Debian base image (libc6 and libgcc-s1 are
# Priority: required), so the runtime stage need not name them. libstdc++ is deliberately absent.
BASE_SONAME = re.compile(
    r"^(linux-vdso|linux-gate|ld-linux[^/]*|libc|libm|libpthread|libdl|librt|libresolv|libutil"
    r"|libanl|libgcc_s)\.so(\.|$)"
)
BASE_PACKAGES = {"libc6", "libgcc-s1"}
# Sanitizer runtimes: linked only into the debug (ASan+UBSan) build, never shipped.
SANITIZER_SONAME = re.compile(r"^lib(asan|ubsan|lsan|tsan|hwasan)\.so(\.|$)")


# ---- helpers ------------------------------------------------------------------------------------

def strata_bin():
    env = os.environ.get("STRATA_BIN")
    if env:
        p = Path(env)
        if not p.is_absolute() and not p.exists():
            p = ROOT / p
        if not p.exists():
            pytest.fail(f"STRATA_BIN={env} does not exist")
        return p
    for cand in (ROOT / "build/release/strata", ROOT / "build/debug/strata"):
        if cand.exists():
            return cand
    pytest.fail("no strata binary: set STRATA_BIN or run `make build`")


def dockerfile_instructions(path=DOCKERFILE):
    """[(KEYWORD, arguments)] with continuation lines joined and comment lines dropped, as the
    Docker parser does (a comment line inside a continued instruction is removed too)."""
    out, cur = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line and not cur:
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        if cur.strip():
            kw, _, args = cur.strip().partition(" ")
            out.append((kw.upper(), args.strip()))
        cur = ""
    assert not cur, "Dockerfile ends inside a continued instruction"
    return out


def stages(instrs):
    """Split instructions into stages, each a list starting with its FROM."""
    result = []
    for kw, args in instrs:
        if kw == "FROM":
            result.append([])
        if result:
            result[-1].append((kw, args))
    return result


def apt_install_packages(stage):
    """Package names on the stage's `apt-get install` command lines."""
    pkgs = []
    for kw, args in stage:
        if kw != "RUN" or "apt-get" not in args:
            continue
        words = shlex.split(args)
        # split into simple commands on shell separators
        cmds, cmd = [], []
        for w in words:
            if w in ("&&", "||", ";", "|"):
                cmds.append(cmd)
                cmd = []
            else:
                cmd.append(w)
        cmds.append(cmd)
        for c in cmds:
            if "apt-get" in c and "install" in c:
                pkgs += [w for w in c[c.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def ldd(binary):
    """{soname: resolved path or None} for every library the loader maps, and the raw text."""
    res = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"ldd {binary} failed: {res.stderr}"
    libs = {}
    for line in res.stdout.splitlines():
        line = line.strip()
        m = re.match(r"^(\S+) => (not found|\S+)", line)
        if m:
            libs[m.group(1)] = None if m.group(2) == "not found" else m.group(2)
            continue
        m = re.match(r"^(\S+) \(0x[0-9a-f]+\)$", line)
        if m:  # the loader itself, or the vDSO (no file)
            name = m.group(1)
            libs[os.path.basename(name)] = name if name.startswith("/") else None
    return libs, res.stdout


def needed(path):
    """DT_NEEDED sonames of an ELF file."""
    res = subprocess.run(["readelf", "-d", "-W", str(path)], capture_output=True, text=True,
                         check=True)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", res.stdout)


def sanitizer_only_libraries(binary, libs):
    """Sonames that are loaded only because a sanitizer runtime needs them (libstdc++ through
    libubsan, for instance): those the binary cannot reach without passing through one."""
    reached, todo = set(), list(needed(binary))
    while todo:
        so = todo.pop()
        if so in reached or SANITIZER_SONAME.match(so):
            continue
        reached.add(so)
        path = libs.get(so)
        if path:
            todo += needed(path)
    return {so for so in libs if so not in reached and not SANITIZER_SONAME.match(so)
            and not BASE_SONAME.match(so)}


def path_variants(path):
    """The path, its merged-/usr twin, and the same for its symlink target: dpkg records each
    file under the path its package ships it at, which ldd may not print."""
    out = []
    for p in (path, os.path.realpath(path)):
        out += [p, p[len("/usr"):] if p.startswith("/usr/") else "/usr" + p]
    return list(dict.fromkeys(out))


def dpkg_owners(paths):
    """{library path: [Debian packages owning it] or None}, with one `dpkg -S` call."""
    variants = {p: path_variants(p) for p in paths}
    args = sorted({v for vs in variants.values() for v in vs})
    res = subprocess.run(["dpkg", "-S", *args], capture_output=True, text=True, check=False)
    owned = {}
    for line in res.stdout.splitlines():
        if line.startswith("diversion "):
            continue
        owners, sep, file = line.partition(": ")
        if sep:
            owned[file.strip()] = [o.strip().split(":")[0] for o in owners.split(",")]
    return {p: next((owned[v] for v in vs if v in owned), None) for p, vs in variants.items()}


def final_stage():
    st = stages(dockerfile_instructions())
    assert st, "Dockerfile has no FROM"
    return st[-1]


def compose():
    return yaml.safe_load(COMPOSE.read_text())


def env_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return env


# ---- Dockerfile ---------------------------------------------------------------------------------

def test_dockerfile_has_build_and_runtime_stages_on_pinned_debian():
    st = stages(dockerfile_instructions())
    assert len(st) >= 2, "expected a build stage and a runtime stage"
    froms = [s[0][1].split() for s in st]
    for f in froms:
        image = f[0]
        assert ":" in image and not image.endswith(":latest"), f"base image not pinned: {image}"
    assert froms[0][0] == "debian:12" and [w.lower() for w in froms[0][1:]] == ["as", "build"]
    assert froms[-1][0] == "debian:12-slim"
    copies = [a for kw, a in st[-1] if kw == "COPY"]
    assert any(a.startswith("--from=build") and a.endswith("/usr/local/bin/strata") for a in copies)
    assert any(a.startswith("--from=build") and a.endswith("/usr/share/strata/ui") for a in copies)


def test_build_stage_installs_what_make_build_and_ui_need():
    build = stages(dockerfile_instructions())[0]
    pkgs = set(apt_install_packages(build))
    want = {"build-essential", "pkg-config", "libh2o-evloop-dev", "libwslay-dev", "libpq-dev",
            "libjansson-dev", "libsodium-dev", "libcurl4-openssl-dev", "libssl-dev", "nodejs", "npm"}
    assert want <= pkgs, f"build stage misses {sorted(want - pkgs)}"
    runs = " ".join(a for kw, a in build if kw == "RUN")
    assert "make" in runs and " build" in runs
    assert "scripts/ui.sh" in runs


def test_apt_hygiene_in_every_stage():
    for stage in stages(dockerfile_instructions()):
        for kw, args in stage:
            if kw == "RUN" and "apt-get install" in args:
                assert "--no-install-recommends" in args, args
                assert "rm -rf /var/lib/apt/lists" in args, "apt lists must go in the same layer"


def test_final_stage_runs_as_non_root():
    users = [a for kw, a in final_stage() if kw == "USER"]
    assert users, "final stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"final stage runs as {users[-1]}"
    # the numeric USER must be the `strata` user the stage creates
    runs = " ".join(a for kw, a in final_stage() if kw == "RUN")
    assert re.search(r"useradd\b.*--uid 10001\b.*\bstrata\b", runs)
    assert user in ("strata", "10001")


def test_healthcheck_hits_healthz_with_an_installed_client():
    checks = [a for kw, a in final_stage() if kw == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/healthz" in checks[0]
    if "curl" in checks[0]:
        assert "curl" in apt_install_packages(final_stage()), "HEALTHCHECK uses curl: install it"


def test_runtime_environment_entrypoint_and_port():
    st = final_stage()
    env = " ".join(a for kw, a in st if kw == "ENV")
    assert "STRATA_HTTP_ADDR=0.0.0.0:8080" in env
    assert "STRATA_DOCS_UI_DIR=/usr/share/strata/ui" in env
    assert ("EXPOSE", "8080") in st
    assert ("ENTRYPOINT", '["strata"]') in st
    assert ("CMD", '["serve"]') in st


def test_runtime_stage_installs_every_library_the_binary_loads():
    """ldd -> dpkg -S -> the runtime stage's apt-get install line."""
    for tool in ("ldd", "dpkg", "readelf"):
        assert shutil.which(tool), f"{tool} is needed for this check"
    binary = strata_bin()
    libs, raw = ldd(binary)
    missing_here = [so for so, p in libs.items() if p is None and not so.startswith("linux-")]
    assert not missing_here, f"ldd cannot resolve {missing_here}:\n{raw}"

    runtime = set(apt_install_packages(final_stage()))
    assert runtime, "runtime stage installs no packages"
    sanitizer_only = sanitizer_only_libraries(binary, libs)

    owners_of = dpkg_owners([p for p in libs.values() if p])
    problems, checked = [], []
    for so, path in sorted(libs.items()):
        if not path:
            continue
        if SANITIZER_SONAME.match(so) or so in sanitizer_only:
            continue
        owners = owners_of[path]
        if BASE_SONAME.match(so):
            assert owners is None or set(owners) & BASE_PACKAGES, f"{so} is from {owners}"
            continue
        if not owners:
            problems.append(f"{so} ({path}): no Debian package owns it")
        elif not set(owners) & runtime:
            problems.append(f"{so} ({path}): package {'/'.join(owners)} not in the runtime stage")
        else:
            checked.append(so)
    assert not problems, "\n".join(problems) + f"\nldd {binary}:\n{raw}"
    assert checked, f"nothing checked: ldd {binary}:\n{raw}"
    # the image ships the release build: sanitizer runtimes have no place in it
    shipped = {p for p in runtime if re.match(r"^lib(asan|ubsan|lsan|tsan|hwasan)\d", p)}
    assert not shipped, f"sanitizer runtimes in the image: {shipped}"


def test_runtime_packages_are_debian_packages():
    """Every runtime package name is known to apt (a typo fails here, not in `docker build`)."""
    lists = Path("/var/lib/apt/lists")
    if not shutil.which("apt-cache") or not any(lists.glob("*_Packages*")):
        pytest.skip("no apt package lists on this machine (run apt-get update)")
    pkgs = apt_install_packages(final_stage())
    # one call: apt-cache prints the records it finds and complains about the rest
    res = subprocess.run(["apt-cache", "show", "--no-all-versions", *pkgs],
                         capture_output=True, text=True, check=False)
    known = set(re.findall(r"^Package: (\S+)$", res.stdout, re.M))
    unknown = [p for p in pkgs if p not in known]
    assert not unknown, f"not Debian package names here: {unknown}\n{res.stderr}"


def test_dockerignore_keeps_host_state_out():
    lines = {l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines()}
    for pattern in (".git", "build/", "var/", "**/node_modules", "bench/results/"):
        assert pattern in lines, f".dockerignore lacks {pattern}"


# ---- docker-compose.yml ---------------------------------------------------------------------------

def test_compose_services():
    services = compose()["services"]
    assert {"postgis", *STRATA_ROLES} <= set(services)
    pg = services["postgis"]
    assert pg["image"] == "postgis/postgis:15-3.3"
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    vol = pg["volumes"][0].split(":")[0]
    assert vol in (compose().get("volumes") or {}), "postgis data must be a named volume"


def test_compose_strata_services_use_the_dockerfile_image():
    services = compose()["services"]
    images = set()
    for name, role in STRATA_ROLES.items():
        svc = services[name]
        build = svc.get("build")
        assert build, f"{name}: no build section"
        if isinstance(build, str):
            build = {"context": build}
        ctx = (COMPOSE.parent / build.get("context", ".")).resolve()
        assert ctx == ROOT, f"{name}: build context {ctx}"
        assert (ctx / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
        images.add(svc.get("image"))
        assert svc["command"] == [role], f"{name} runs {svc['command']}"
    assert len(images) == 1 and None not in images, f"one image for every role: {images}"


def test_compose_order_and_environment():
    services = compose()["services"]
    mig = services["migrate"]
    assert mig["depends_on"]["postgis"]["condition"] == "service_healthy"
    assert str(mig["restart"]) == "no"
    for name in STRATA_ROLES:
        env = env_of(services[name])
        assert env["STRATA_DATABASE_URL"] == "postgresql://strata:strata@postgis:5432/strata"
        assert env["STRATA_ENV"] == "production"
        assert re.fullmatch(r"\$\{STRATA_JWT_SECRET:\?[^}]*\}", env["STRATA_JWT_SECRET"]), \
            "STRATA_JWT_SECRET must be a required variable"
        if name == "migrate":
            continue
        assert str(env["STRATA_AUTO_MIGRATE"]).lower() == "false", name
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
    api = services["api"]
    assert "8080:8080" in [str(p) for p in api["ports"]]
    assert "/healthz" in " ".join(api["healthcheck"]["test"])


# ---- on-premises --------------------------------------------------------------------------------

def test_onprem_ini_is_accepted_by_strata():
    """`strata --config strata.ini config --print` exits 0 and every key is read from the file."""
    ini = ONPREM / "strata.ini"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    res = subprocess.run([str(strata_bin()), "--config", str(ini), "config", "--print"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=30,
                         check=False)
    assert res.returncode == 0, f"exit {res.returncode}: {res.stderr}"
    keys = [l.split("=", 1)[0].strip() for l in ini.read_text().splitlines()
            if "=" in l and not l.lstrip().startswith(("#", ";", "["))]
    assert keys
    for key in keys:
        line = next((l for l in res.stdout.splitlines()
                     if l.startswith(f"STRATA_{key.upper()}=")), None)
        assert line and line.endswith("# file"), f"{key}: {line}"


@pytest.mark.parametrize("role,unit", [("serve", "strata-api.service"),
                                       ("worker", "strata-worker.service"),
                                       ("ingest", "strata-ingest.service")])
def test_onprem_systemd_units(role, unit):
    text = (ONPREM / unit).read_text()
    kv = [l.split("=", 1) for l in text.splitlines() if "=" in l and not l.startswith("#")]
    keys = {k: v for k, v in kv}
    assert keys["ExecStart"] == f"/usr/local/bin/strata --config /etc/strata/strata.ini {role}"
    assert keys.get("User") == "strata" or keys.get("DynamicUser") == "yes"
    for k, v in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                 ("PrivateTmp", "yes"), ("CapabilityBoundingSet", "")):
        assert keys.get(k) == v, f"{unit}: {k}={keys.get(k)}"
    assert keys["EnvironmentFile"] == "/etc/strata/strata.env"


def test_onprem_nginx_example():
    text = (ONPREM / "nginx.conf").read_text()
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in text
    sse = re.search(r"location = /api/v1/earthquakes/stream \{([^}]*)\}", text)
    assert sse and "proxy_buffering off" in sse.group(1)
    assert "proxy_set_header Upgrade $http_upgrade" in text
    assert re.search(r"location /ws/ \{", text) and re.search(r"location = /graphql \{", text)
    assert "ssl_certificate" in text
