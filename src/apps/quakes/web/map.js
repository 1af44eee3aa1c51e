/*
 * Strata: the live earthquake dashboard (GET /, served as /map/map.js). Plain JavaScript, no
 * build step; Leaflet (L) and topojson-client (topojson) are loaded before it by the page.
 *
 *  - basemap: country outlines from world-atlas (TopoJSON, served by strata), no tiles;
 *  - the latest events from GET /api/v1/earthquakes (the filters map to its parameters),
 *    drawn as circles sized by magnitude and coloured by depth, and listed in a table;
 *  - live changes from GET /api/v1/earthquakes/stream (SSE: created, updated, deleted, reset);
 *  - sign-in with the OAuth2 password grant for the public client strata-web; the tokens
 *    live in this page's memory only (a reload signs out).
 *
 * Text from the catalogue (USGS place names, ...) only ever reaches the page through
 * textContent and attribute setters, never through innerHTML; links are made only for https
 * URLs. The page's CSP allows scripts and styles from this server only.
 *
 * Test hooks (tests/browser/map.test.mjs): body[data-live] is idle|connecting|open|closed,
 * #count the number of events shown, each marker is path.quake-marker[data-id], each table
 * row tr[data-id].
 */
"use strict";

(function () {
  var LIST_URL = "/api/v1/earthquakes";
  var STREAM_URL = "/api/v1/earthquakes/stream";
  var TOKEN_URL = "/api/v1/auth/token";
  var REVOKE_URL = "/api/v1/auth/revoke";
  var CLIENT_ID = "strata-web";

  /* Depth classes (km) as USGS colours its maps, shallow (red) to deep (purple). */
  var DEPTHS = [
    { below: 33, color: "#d7301f", label: "< 33 km" },
    { below: 70, color: "#fc8d59", label: "33\u201370" },
    { below: 150, color: "#fdcc8a", label: "70\u2013150" },
    { below: 300, color: "#74c476", label: "150\u2013300" },
    { below: 500, color: "#3182bd", label: "300\u2013500" },
    { below: Infinity, color: "#6a51a3", label: "\u2265 500 km" }
  ];

  function depthColor(km) {
    if (typeof km !== "number" || !isFinite(km)) return "#999999";
    for (var i = 0; i < DEPTHS.length; i++) if (km < DEPTHS[i].below) return DEPTHS[i].color;
    return DEPTHS[DEPTHS.length - 1].color;
  }

  /* Circle radius in pixels: grows about 1.45x per magnitude unit (M2 5 px, M5 10 px, M7 22 px). */
  function radius(mag) {
    if (typeof mag !== "number" || !isFinite(mag)) return 3;
    return Math.max(2.5, 1.6 * Math.pow(1.45, mag));
  }

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmtTime(ms) {
    if (!isFinite(ms)) return "\u2013";
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  function fmtNum(v, digits) {
    if (typeof v !== "number" || !isFinite(v)) return "\u2013";
    var s = v.toFixed(digits);
    return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s; // no "-0.0"
  }

  function fmtMag(ev) {
    return fmtNum(ev.magnitude, 1) + (ev.magtype ? " " + ev.magtype : "");
  }

  function safeHttps(u) {
    return typeof u === "string" && /^https:\/\/[^\s]+$/i.test(u) ? u : null;
  }

  /* ---- state ------------------------------------------------------------------------------ */

  var state = {
    token: null,          // access token (JWT)
    refreshToken: null,
    user: null,
    refreshTimer: null,
    events: new Map(),    // id -> {ev, t (time ms), u (updated ms), marker, row, touched}
    tombstones: new Map(),// id -> updated ms of a deletion seen on the stream
    listGen: 0,           // bumped by every list load; stream changes carry it (see loadList)
    es: null,
    streamGen: 0,
    lastSeq: null,        // id of the last change the stream sent (resume point)
    retryMs: 1000,
    retryTimer: null,
    needLogin: false,
    filters: null         // the applied filters: {params: URLSearchParams, windowS, limit}
  };

  /* ---- the map ---------------------------------------------------------------------------- */

  var map = L.map("map", { worldCopyJump: true, minZoom: 1, maxZoom: 12, zoomSnap: 0.5 });
  map.fitBounds([[-56, -170], [75, 170]]); // the inhabited world, whatever the map's size
  map.attributionControl.addAttribution("Outlines: Natural Earth via world-atlas \u00b7 Events: USGS");
  map.createPane("basemap");
  map.getPane("basemap").style.zIndex = 350; // under the overlay pane (400) the events use
  var markers = L.featureGroup().addTo(map);

  /* world-atlas is made for spherical projections: a few rings cross the antimeridian
   * (Fiji, Wrangel Island, Chukotka), which a planar map draws as a line across the world.
   * Such a ring is made continuous (longitudes past 180 or -180) and moved back near the map;
   * a ring around a pole (Antarctica) is left as it is. */
  function unwrapRing(ring) {
    var out = [ring[0].slice()], shift = 0, jumps = 0, sum = ring[0][0];
    for (var i = 1; i < ring.length; i++) {
      var d = ring[i][0] - ring[i - 1][0];
      if (d > 180) { shift -= 360; jumps++; } else if (d < -180) { shift += 360; jumps++; }
      out.push([ring[i][0] + shift, ring[i][1]]);
      sum += ring[i][0] + shift;
    }
    if (!jumps || shift !== 0) return ring;
    var mean = sum / out.length, by = mean > 180 ? -360 : mean < -180 ? 360 : 0;
    if (by) out.forEach(function (p) { p[0] += by; });
    return out;
  }

  function unwrap(geometry) {
    if (geometry.type === "Polygon")
      geometry.coordinates = geometry.coordinates.map(unwrapRing);
    else if (geometry.type === "MultiPolygon")
      geometry.coordinates = geometry.coordinates.map(function (rings) { return rings.map(unwrapRing); });
  }

  fetch(document.body.dataset.atlas, { credentials: "same-origin" })
    .then(function (r) {
      if (!r.ok) throw new Error("atlas " + r.status);
      return r.json();
    })
    .then(function (topo) {
      var countries = topojson.feature(topo, topo.objects.countries);
      countries.features.forEach(function (f) { if (f.geometry) unwrap(f.geometry); });
      var borders = topojson.mesh(topo, topo.objects.countries, function (a, b) { return a !== b; });
      L.geoJSON(countries, {
        pane: "basemap", interactive: false,
        style: { stroke: false, fill: true, fillColor: "#f4f1ea", fillOpacity: 1 }
      }).addTo(map);
      L.geoJSON(borders, {
        pane: "basemap", interactive: false,
        style: { color: "#a9a59a", weight: 0.7, fill: false }
      }).addTo(map);
    })
    .catch(function (e) { message("The world outlines could not be loaded (" + e.message + ")."); });

  function buildLegend() {
    var legend = $("legend");
    var g = el("div", "group");
    g.appendChild(el("span", null, "Depth:"));
    DEPTHS.forEach(function (d) {
      var item = el("span");
      var sw = el("span", "swatch");
      sw.style.background = d.color;
      item.appendChild(sw);
      item.appendChild(document.createTextNode(d.label));
      g.appendChild(item);
    });
    legend.appendChild(g);
    var m = el("div", "group");
    m.appendChild(el("span", null, "Magnitude:"));
    [2, 4, 6, 8].forEach(function (mag) {
      var item = el("span");
      var dot = el("span", "dot");
      var px = Math.round(2 * radius(mag)) + "px";
      dot.style.width = px;
      dot.style.height = px;
      item.appendChild(dot);
      item.appendChild(document.createTextNode("M" + mag));
      m.appendChild(item);
    });
    legend.appendChild(m);
  }

  function popupContent(id) {
    return function () {
      var entry = state.events.get(id);
      var box = el("div", "quake-popup");
      if (!entry) return box;
      var ev = entry.ev;
      box.appendChild(el("div", "mag", "M " + fmtMag(ev)));
      var place = el("div", "place");
      var href = safeHttps(ev.url);
      if (href) {
        var a = el("a", null, ev.place || ev.title || ev.id);
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        place.appendChild(a);
      } else {
        place.textContent = ev.place || ev.title || ev.id;
      }
      box.appendChild(place);
      box.appendChild(el("div", "meta", fmtTime(entry.t) + " UTC \u00b7 depth " + fmtNum(ev.depth_km, 1) + " km"));
      var extra = [ev.status, ev.alert ? "alert " + ev.alert : null, ev.tsunami ? "tsunami flag" : null,
                   ev.id].filter(Boolean).join(" \u00b7 ");
      box.appendChild(el("div", "meta", extra));
      return box;
    };
  }

  function tooltipContent(id) {
    return function () {
      var entry = state.events.get(id);
      return el("span", null, entry ? "M " + fmtNum(entry.ev.magnitude, 1) + " \u2013 " + (entry.ev.place || entry.ev.id) : id);
    };
  }

  function styleFor(ev) {
    return {
      radius: radius(ev.magnitude),
      color: "#3b3b3b", weight: 0.8, opacity: 0.9,
      fillColor: depthColor(ev.depth_km), fillOpacity: 0.75
    };
  }

  /* ---- the table ---------------------------------------------------------------------------- */

  var tbody = $("events").tBodies[0];

  function fillRow(row, entry) {
    var ev = entry.ev;
    while (row.firstChild) row.removeChild(row.firstChild);
    var t = el("td", "time", fmtTime(entry.t));
    t.title = new Date(entry.t).toString();
    row.appendChild(t);
    row.appendChild(el("td", "num", fmtMag(ev)));
    var place = el("td", "place");
    var href = safeHttps(ev.url);
    if (href) {
      var a = el("a", null, ev.place || ev.title || ev.id);
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.addEventListener("click", function (e) { e.stopPropagation(); });
      place.appendChild(a);
    } else {
      place.textContent = ev.place || ev.title || ev.id;
    }
    row.appendChild(place);
    var depth = el("td", "num");
    var sw = el("span", "swatch");
    sw.style.background = depthColor(ev.depth_km);
    depth.appendChild(sw);
    depth.appendChild(document.createTextNode(fmtNum(ev.depth_km, 1) + " km"));
    row.appendChild(depth);
    row.appendChild(el("td", null, ev.status || ""));
    row.appendChild(el("td", ev.alert ? "alert-" + String(ev.alert).replace(/[^a-z]/g, "") : null, ev.alert || ""));
  }

  /* Rows are kept newest first: insert before the first row that is older. */
  function placeRow(entry) {
    var row = entry.row;
    if (row.parentNode) tbody.removeChild(row);
    var rows = tbody.rows;
    for (var i = 0; i < rows.length; i++) {
      var other = state.events.get(rows[i].dataset.id);
      if (other && (other.t < entry.t || (other.t === entry.t && other.ev.id < entry.ev.id))) {
        tbody.insertBefore(row, rows[i]);
        return;
      }
    }
    tbody.appendChild(row);
  }

  tbody.addEventListener("click", function (e) {
    var tr = e.target.closest("tr[data-id]");
    if (!tr) return;
    var entry = state.events.get(tr.dataset.id);
    if (!entry) return;
    map.panTo(entry.marker.getLatLng());
    entry.marker.openPopup();
  });

  /* ---- the events ---------------------------------------------------------------------------- */

  function valid(ev) {
    return ev && typeof ev.id === "string" && typeof ev.latitude === "number" && typeof ev.longitude === "number" &&
      isFinite(ev.latitude) && isFinite(ev.longitude);
  }

  /* Adds or replaces an event; an older version than the one shown is ignored. fresh: it came
   * from the stream (highlighted, and kept by a list load already under way). */
  function upsert(ev, fresh) {
    if (!valid(ev)) return;
    var t = Date.parse(ev.time), u = Date.parse(ev.updated);
    var dead = state.tombstones.get(ev.id);
    if (dead !== undefined && !(u > dead)) return;
    if (dead !== undefined) state.tombstones.delete(ev.id);
    if (ev.status === "deleted") { remove(ev.id, u); return; }
    var f = state.filters;
    if (f && f.windowS && t < Date.now() - f.windowS * 1000) { remove(ev.id); return; } // left the window
    var entry = state.events.get(ev.id);
    if (entry && u < entry.u) return;
    if (!entry) {
      entry = { ev: ev, t: t, u: u, touched: 0 };
      state.events.set(ev.id, entry);
      entry.marker = L.circleMarker([ev.latitude, ev.longitude], Object.assign({ className: "quake-marker" }, styleFor(ev)));
      entry.marker.bindPopup(popupContent(ev.id));
      entry.marker.bindTooltip(tooltipContent(ev.id), { direction: "top", sticky: true });
      markers.addLayer(entry.marker);
      var path = entry.marker.getElement();
      if (path) path.setAttribute("data-id", ev.id);
      entry.row = document.createElement("tr");
      entry.row.dataset.id = ev.id;
    } else {
      entry.ev = ev;
      entry.t = t;
      entry.u = u;
      entry.marker.setLatLng([ev.latitude, ev.longitude]);
      entry.marker.setStyle(styleFor(ev));
      entry.marker.setRadius(radius(ev.magnitude));
      if (entry.marker.isPopupOpen()) entry.marker.getPopup().setContent(popupContent(ev.id));
    }
    fillRow(entry.row, entry);
    placeRow(entry);
    if (fresh) {
      entry.touched = state.listGen;
      flash(entry);
    }
  }

  function flash(entry) {
    var row = entry.row, path = entry.marker.getElement();
    row.classList.remove("fresh");
    void row.offsetWidth; // restart the animation
    row.classList.add("fresh");
    if (path) {
      path.classList.remove("fresh");
      void path.getBoundingClientRect();
      path.classList.add("fresh");
    }
  }

  function remove(id, deletedAt) {
    if (deletedAt !== undefined) state.tombstones.set(id, deletedAt);
    var entry = state.events.get(id);
    if (!entry) return;
    markers.removeLayer(entry.marker);
    if (entry.row.parentNode) tbody.removeChild(entry.row);
    state.events.delete(id);
  }

  function clearAll() {
    Array.from(state.events.keys()).forEach(function (id) { remove(id); });
  }

  /* The time window slides: drop what has left it, and keep at most the chosen number. */
  function prune() {
    var f = state.filters;
    if (!f) return;
    if (f.windowS) {
      var oldest = Date.now() - f.windowS * 1000;
      state.events.forEach(function (entry, id) { if (entry.t < oldest) remove(id); });
    }
    while (state.events.size > f.limit && tbody.rows.length) remove(tbody.rows[tbody.rows.length - 1].dataset.id);
    // tombstones only matter while a list load may still bring the event back
    if (state.tombstones.size > 5000) state.tombstones.clear();
    updateCount();
  }
  setInterval(prune, 30000);

  function updateCount() {
    $("count").textContent = String(state.events.size);
  }

  /* ---- status line ------------------------------------------------------------------------------ */

  function setLive(mode, text) {
    document.body.dataset.live = mode;
    $("live").textContent = text;
  }

  function message(text) {
    $("message").textContent = text || "";
  }

  /* ---- the API ------------------------------------------------------------------------------ */

  function problemText(status, body) {
    if (body && typeof body === "object") {
      if (Array.isArray(body.errors) && body.errors.length)
        return body.errors.map(function (e) { return e.field + ": " + e.message; }).join("; ");
      if (body.detail) return String(body.detail);
      if (body.error_description) return String(body.error_description);
    }
    return "HTTP " + status;
  }

  function readJson(r) {
    return r.text().then(function (t) {
      try { return t ? JSON.parse(t) : null; } catch (e) { return null; }
    });
  }

  function apiError(status, body, headers) {
    var e = new Error(problemText(status, body));
    e.status = status;
    e.retryAfter = headers ? parseInt(headers.get("Retry-After") || "", 10) : NaN;
    return e;
  }

  /* GET with the access token when signed in; one refresh and retry on a 401. */
  function apiGet(url, retried) {
    var headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    return fetch(url, { headers: headers, credentials: "omit", cache: "no-store" }).then(function (r) {
      if (r.status === 401 && state.refreshToken && !retried)
        return refresh().then(function () { return apiGet(url, true); },
                              function () { throw apiError(401, { detail: "the session has ended" }); });
      return readJson(r).then(function (body) {
        if (!r.ok) throw apiError(r.status, body, r.headers);
        return body;
      });
    });
  }

  function postForm(url, fields) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams(fields).toString(),
      credentials: "omit",
      cache: "no-store"
    }).then(function (r) {
      return readJson(r).then(function (body) {
        if (!r.ok) throw apiError(r.status, body, r.headers);
        return body;
      });
    });
  }

  /* ---- filters ------------------------------------------------------------------------------ */

  var filtersForm = $("filters");

  function readFilters() {
    function field(name) { return filtersForm.elements.namedItem(name).value.trim(); }
    var p = new URLSearchParams();
    ["minmagnitude", "mindepth", "maxdepth", "alertlevel"].forEach(function (name) {
      var v = field(name);
      if (v !== "") p.set(name, v);
    });
    var windowS = parseInt(field("window"), 10);
    var limit = parseInt(field("limit"), 10) || 500;
    return { params: p, windowS: isFinite(windowS) && windowS > 0 ? windowS : 0, limit: limit };
  }

  /* The query both the list and the stream take; starttime is "now minus the window" each time. */
  function queryParams() {
    var f = state.filters;
    var p = new URLSearchParams(f.params);
    if (f.windowS) p.set("starttime", new Date(Date.now() - f.windowS * 1000).toISOString());
    return p;
  }

  filtersForm.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!filtersForm.reportValidity()) return;
    state.filters = readFilters();
    clearAll();
    restart();
  });

  /* ---- the list ------------------------------------------------------------------------------- */

  /* Replaces what is shown by the list's answer. Changes the stream delivered while the list
   * was being fetched (touched == this load's generation) are kept: they are at least as new. */
  function loadList() {
    if (!state.filters) return Promise.resolve();
    var gen = ++state.listGen;
    var p = queryParams();
    p.set("limit", String(state.filters.limit));
    return apiGet(LIST_URL + "?" + p.toString()).then(function (body) {
      if (gen !== state.listGen) return; // a newer load is under way
      var keep = new Set();
      (body && Array.isArray(body.data) ? body.data : []).forEach(function (ev) {
        if (ev && typeof ev.id === "string") keep.add(ev.id);
        upsert(ev, false);
      });
      state.events.forEach(function (entry, id) {
        if (!keep.has(id) && entry.touched < gen) remove(id);
      });
      prune();
      message("");
      updateCount();
    }, function (err) {
      if (gen !== state.listGen) return;
      if (err.status === 401) {
        askLogin(state.token ? "Your session has ended: sign in again." : "Sign in to see the earthquake catalogue.");
      } else if (err.status === 403) {
        message("This account may not read the earthquake catalogue.");
      } else {
        message("The list could not be loaded: " + err.message);
      }
      throw err;
    });
  }

  /* ---- the stream ------------------------------------------------------------------------------ */

  function stopStream() {
    if (state.es) {
      state.es.close();
      state.es = null;
    }
    if (state.retryTimer) {
      clearTimeout(state.retryTimer);
      state.retryTimer = null;
    }
  }

  function onChange(kind, e) {
    if (e.lastEventId) state.lastSeq = e.lastEventId;
    var ev;
    try { ev = JSON.parse(e.data); } catch (x) { return; }
    if (!ev || typeof ev.id !== "string") return;
    if (kind === "deleted") {
      remove(ev.id, Date.parse(ev.updated) || Date.now());
    } else {
      upsert(ev, true);
      prune();
    }
    updateCount();
  }

  /* A new EventSource. Fresh (filters or credentials changed): the list is loaded once the
   * stream is open, so nothing falls between the two: what changes after the subscription
   * comes on the stream, what was there before comes in the list; if the stream does not open
   * soon, the list is loaded anyway. resume (the last stream was refused, e.g. its token had
   * expired): last_event_id asks the server for what was missed, no list is needed (the server
   * sends "reset" when it cannot replay that far). Reconnects after the server ended a stream
   * (overflow, shutdown) are EventSource's own, with Last-Event-ID. */
  function startStream(resume) {
    stopStream();
    var gen = ++state.streamGen;
    var p = queryParams();
    if (state.token) p.set("access_token", state.token);
    resume = resume && state.lastSeq !== null;
    if (resume) p.set("last_event_id", state.lastSeq);
    var listed = resume;
    function listOnce() {
      if (listed || gen !== state.streamGen) return null;
      listed = true;
      var loading = loadList();
      loading.catch(function () {});
      return loading;
    }
    var fallback = setTimeout(listOnce, 3000);
    setLive("connecting", "connecting\u2026");
    var es = new EventSource(STREAM_URL + "?" + p.toString());
    state.es = es;
    es.addEventListener("open", function () {
      if (gen !== state.streamGen) return;
      message("");
      state.retryMs = 1000;
      setLive("open", "live");
      clearTimeout(fallback);
      listOnce();
    });
    ["created", "updated", "deleted"].forEach(function (kind) {
      es.addEventListener(kind, function (e) { if (gen === state.streamGen) onChange(kind, e); });
    });
    es.addEventListener("reset", function () { if (gen === state.streamGen) loadList().catch(function () {}); });
    es.addEventListener("overflow", function () { if (gen === state.streamGen) setLive("connecting", "catching up\u2026"); });
    es.addEventListener("shutdown", function () { if (gen === state.streamGen) setLive("connecting", "server restarting\u2026"); });
    es.addEventListener("error", function () {
      if (gen !== state.streamGen) return;
      if (es.readyState === EventSource.CONNECTING) {
        setLive("connecting", "reconnecting\u2026");
        return;
      }
      // CLOSED: the server refused the stream (401, 400, 404, 503 ...); EventSource gives up
      clearTimeout(fallback);
      streamRefused(gen, listOnce());
    });
  }

  /* Finds out why the stream was refused (EventSource does not tell) from the list's answer
   * (the load under way, or a one-event probe), and tries again later. */
  function streamRefused(gen, loading) {
    stopStream();
    setLive("closed", "live updates unavailable");
    if (state.needLogin) return;
    var wait = state.retryMs;
    state.retryMs = Math.min(state.retryMs * 2, 30000);
    if (!loading) {
      var p = queryParams();
      p.set("limit", "1");
      loading = apiGet(LIST_URL + "?" + p.toString());
    }
    loading.then(function () {
      schedule(gen, wait);
    }, function (err) {
      if (err.status === 401) askLogin(state.token ? "Your session has ended: sign in again." : "Sign in to see the earthquake catalogue.");
      else if (err.status === 400) message("The filters were refused: " + err.message);
      else if (err.status !== 403) schedule(gen, isFinite(err.retryAfter) ? Math.max(wait, err.retryAfter * 1000) : wait);
    });
  }

  function schedule(gen, wait) {
    if (gen !== state.streamGen) return;
    setLive("closed", "live updates unavailable, retrying in " + Math.round(wait / 1000) + " s");
    state.retryTimer = setTimeout(function () {
      if (gen === state.streamGen) startStream(true);
    }, wait);
  }

  /* Filters or credentials changed: a fresh stream and list. */
  function restart() {
    state.needLogin = false;
    state.lastSeq = null;
    startStream(false);
  }

  /* ---- sign-in ------------------------------------------------------------------------------ */

  var loginForm = $("login");

  function showSession() {
    var signedIn = !!state.token;
    loginForm.hidden = signedIn;
    $("whoami").hidden = !signedIn;
    $("user").textContent = state.user || "";
  }

  function loginError(text) {
    var p = $("login-error");
    p.textContent = text || "";
    p.hidden = !text;
  }

  function askLogin(text) {
    state.needLogin = true;
    stopStream();
    state.streamGen++;
    forget();
    setLive("closed", "not connected");
    loginError(text);
    if (!$("username").value) $("username").focus();
  }

  function forget() {
    if (state.refreshTimer) clearTimeout(state.refreshTimer);
    state.refreshTimer = null;
    state.token = null;
    state.refreshToken = null;
    state.user = null;
    showSession();
  }

  function keep(tok) {
    state.token = tok.access_token;
    state.refreshToken = tok.refresh_token || null;
    if (state.refreshTimer) clearTimeout(state.refreshTimer);
    var ttl = Number(tok.expires_in) || 900;
    state.refreshTimer = setTimeout(function () {
      refresh().catch(function () { askLogin("Your session has ended: sign in again."); });
    }, Math.max(10, ttl - 60) * 1000);
  }

  var refreshing = null;
  function refresh() {
    if (!state.refreshToken) return Promise.reject(new Error("no refresh token"));
    if (!refreshing) {
      refreshing = postForm(TOKEN_URL, {
        grant_type: "refresh_token", refresh_token: state.refreshToken, client_id: CLIENT_ID
      }).then(function (tok) {
        refreshing = null;
        keep(tok);
      }, function (err) {
        refreshing = null;
        throw err;
      });
    }
    return refreshing;
  }

  loginForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var user = $("username").value.trim();
    var password = $("password").value;
    if (!user || !password) return;
    var fs = loginForm.querySelector("fieldset");
    fs.disabled = true;
    loginError("");
    postForm(TOKEN_URL, { grant_type: "password", username: user, password: password, client_id: CLIENT_ID })
      .then(function (tok) {
        keep(tok);
        state.user = user;
        $("password").value = "";
        showSession();
        message("");
        restart();
      }, function (err) {
        if (err.status === 429)
          loginError("Too many attempts; try again" + (isFinite(err.retryAfter) ? " in " + err.retryAfter + " s." : " later."));
        else if (err.status === 400 || err.status === 401)
          loginError("Wrong user name or password.");
        else
          loginError("Sign-in failed: " + err.message);
      })
      .then(function () { fs.disabled = false; });
  });

  $("logout").addEventListener("click", function () {
    var rt = state.refreshToken;
    forget();
    if (rt) postForm(REVOKE_URL, { token: rt, client_id: CLIENT_ID }).catch(function () {});
    clearAll();
    updateCount();
    restart(); // anonymous: fine when the catalogue is public, else the sign-in prompt
  });

  /* ---- start ------------------------------------------------------------------------------ */

  buildLegend();
  showSession();
  Array.prototype.forEach.call(document.querySelectorAll("fieldset[disabled]"), function (fs) { fs.disabled = false; });
  state.filters = readFilters();
  restart();
})();
