# Strata container image: one image, every role (serve | worker | ingest | mqtt-bridge | migrate),
# chosen by the command: `docker run IMAGE worker`. See docs/deploy.md.
#
# Two stages: `build` has the compilers, -dev packages and node (for the Swagger UI assets);
# the runtime stage has only the shared libraries the binary loads, curl for the health check
# and CA certificates for outgoing HTTPS (USGS, CoinCap, S3, webhooks).
#
# tests/integration/test_container.py checks this file without a Docker engine: it runs `ldd` on
# the strata binary, maps every library to its Debian package with `dpkg -S`, and fails when a
# package is missing from the runtime stage's `apt-get install` line below.

# ---- build -------------------------------------------------------------------------------------
FROM debian:12 AS build

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential pkg-config \
        libh2o-evloop-dev libwslay-dev libpq-dev libjansson-dev libsodium-dev \
        libcurl4-openssl-dev libssl-dev \
        nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Swagger UI assets first, from the pinned ui/package-lock.json only, so that this layer (the
# npm download) is reused until the lock file changes: build/ui/node_modules/swagger-ui-dist.
COPY scripts/ui.sh scripts/ui.sh
COPY ui/ ui/
RUN bash scripts/ui.sh \
 && test -f build/ui/node_modules/swagger-ui-dist/swagger-ui-bundle.js \
 && test -f build/ui/node_modules/leaflet/dist/leaflet.js

# build/release/strata; migrations are embedded in the binary, so no SQL files ship.
# (.dockerignore keeps the host's build/ out, so build/ui from the step above survives.)
COPY . .
RUN make -j"$(nproc)" build

# Stage what the runtime image takes. --strip-debug keeps the symbol table, so backtraces still
# name functions; source maps are only read by browser developer tools.
RUN install -d /out \
 && install -m 0755 build/release/strata /out/strata \
 && strip --strip-debug /out/strata \
 && cp -r build/ui/node_modules/swagger-ui-dist /out/ui \
 && rm -f /out/ui/*.map \
 && install -d /out/map/leaflet/dist /out/map/topojson-client/dist /out/map/world-atlas \
 && cp build/ui/node_modules/leaflet/dist/leaflet.js build/ui/node_modules/leaflet/dist/leaflet.css \
       build/ui/node_modules/leaflet/LICENSE /out/map/leaflet/dist/ \
 && cp build/ui/node_modules/topojson-client/dist/topojson-client.min.js \
       build/ui/node_modules/topojson-client/LICENSE /out/map/topojson-client/dist/ \
 && cp build/ui/node_modules/world-atlas/countries-110m.json build/ui/node_modules/world-atlas/LICENSE \
       /out/map/world-atlas/ \
 && cp -r src/apps/quakes/web /out/web

# ---- runtime -----------------------------------------------------------------------------------
FROM debian:12-slim

# Every package that provides a library `ldd strata` lists, the direct ones and those they load in
# turn, is named here (apt would pull the indirect ones anyway; naming them makes the contract
# checkable). Direct: libh2o-evloop0.13 libwslay1 libpq5 libjansson4 libsodium23 libcurl4 libssl3.
# Indirect: zlib1g (h2o, curl); libpq5 -> Kerberos (libgssapi-krb5-2 libkrb5-3 libk5crypto3
# libkrb5support0 libcom-err2 libkeyutils1) and LDAP (libldap-2.5-0 libsasl2-2 -> libgnutls30
# libp11-kit0 libidn2-0 libunistring2 libtasn1-6 libnettle8 libhogweed6 libgmp10 libffi8);
# libcurl4 -> libnghttp2-14 librtmp1 libssh2-1 libpsl5 libzstd1 libbrotli1.
# curl: the HEALTHCHECK below (debian:12-slim has no HTTP client). ca-certificates: outgoing TLS.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        ca-certificates curl \
        libh2o-evloop0.13 libwslay1 zlib1g \
        libpq5 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1 \
        libldap-2.5-0 libsasl2-2 libgnutls30 libp11-kit0 libidn2-0 libunistring2 libtasn1-6 \
        libnettle8 libhogweed6 libgmp10 libffi8 \
        libjansson4 libsodium23 libssl3 \
        libcurl4 libnghttp2-14 librtmp1 libssh2-1 libpsl5 libzstd1 libbrotli1 \
 && rm -rf /var/lib/apt/lists/*

# Fixed uid/gid so that volumes and Kubernetes securityContext can name them.
RUN groupadd --system --gid 10001 strata \
 && useradd --system --uid 10001 --gid strata --home-dir /var/lib/strata --no-create-home \
        --shell /usr/sbin/nologin strata \
 && install -d -o strata -g strata -m 0750 /var/lib/strata

COPY --from=build /out/strata /usr/local/bin/strata
COPY --from=build /out/ui /usr/share/strata/ui
COPY --from=build /out/map /usr/share/strata/map
COPY --from=build /out/web /usr/share/strata/web

# Fail the image build, not the first container start, when a library is missing.
RUN if ldd /usr/local/bin/strata | grep 'not found'; then exit 1; fi \
 && strata version

ENV STRATA_HTTP_ADDR=0.0.0.0:8080 \
    STRATA_DOCS_UI_DIR=/usr/share/strata/ui \
    STRATA_QUAKES_MAP_ASSETS_DIR=/usr/share/strata/map \
    STRATA_QUAKES_WEB_DIR=/usr/share/strata/web \
    STRATA_VAR_DIR=/var/lib/strata

WORKDIR /var/lib/strata
EXPOSE 8080

# Liveness of the `serve` role. The port follows STRATA_HTTP_ADDR (expanded by /bin/sh when the
# check runs). Roles without an HTTP listener (worker, ingest, migrate) disable it in compose.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${STRATA_HTTP_ADDR##*:}/healthz" || exit 1

# Numeric so that Kubernetes' runAsNonRoot can verify it: this is the `strata` user created above.
USER 10001:10001
ENTRYPOINT ["strata"]
CMD ["serve"]
