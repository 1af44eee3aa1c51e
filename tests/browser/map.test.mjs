// Drives the earthquake dashboard (GET /) in Debian's headless Chromium with playwright-core.
// Started by tests/integration/test_map.py, which owns the server and the data: this script
// starts nothing but the browser.
//
//   node map.test.mjs --url http://127.0.0.1:PORT (--user U --password P | --anonymous) --min-markers N
//        [--xss-id ID --xss-place TEXT]            a loaded event whose place must show as text
//        [--expect-new ID,ID] [--expect-update ID=MAG] [--expect-gone ID]
//        [--filter-minmag M --filter-count N]      then: min. magnitude M applied, N events left
//        [--prefix build/test-browser] [--chromium /usr/bin/chromium] [--timeout-ms 60000]
//        [--artifacts DIR]                         screenshot + page HTML on failure
//        [--screenshot FILE]                       a screenshot at the end (for people)
//
// Steps: the page opens anonymously (the catalogue is not public: the sign-in prompt shows,
// no marker), signs in through the form (--anonymous: the catalogue is public, no sign-in),
// waits for >= N markers and table rows and for the
// live stream to be open, checks that the outlines are drawn and that --xss-place is text,
// then prints {"step":"ready"} on stdout. The test then replays new changes into the
// database; this script waits until every --expect-* change has reached the table and the map.
// Throughout: no dialog may open, no request may leave the server's origin, no script error,
// console error or CSP violation may happen. Prints {"step":"done",...} and exits 0, or
// {"step":"fail","error":...} and exits 1.

import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    user: { type: "string" },
    password: { type: "string" },
    anonymous: { type: "boolean", default: false },
    "min-markers": { type: "string", default: "1" },
    "xss-id": { type: "string" },
    "xss-place": { type: "string" },
    "expect-new": { type: "string", default: "" },
    "expect-update": { type: "string", default: "" },
    "expect-gone": { type: "string", default: "" },
    "filter-minmag": { type: "string" },
    "filter-count": { type: "string" },
    prefix: { type: "string", default: path.join(here, "..", "..", "build", "test-browser") },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    "timeout-ms": { type: "string", default: "60000" },
    artifacts: { type: "string" },
    screenshot: { type: "string" },
  },
});

const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const list = (s) => (s ? s.split(",").filter(Boolean) : []);
const timeout = Number(opt["timeout-ms"]);
const minMarkers = Number(opt["min-markers"]);

if (!opt.url || (!opt.anonymous && (!opt.user || !opt.password))) {
  say({ step: "fail", error: "--url and either --user and --password or --anonymous are required" });
  process.exit(2);
}
const origin = new URL(opt.url).origin;

// playwright-core from the folder scripts/ui.sh browser installs (never from the network)
const require = createRequire(path.join(path.resolve(opt.prefix), "package.json"));
const { chromium } = require("playwright-core");

const problems = [];
const dialogs = [];
const offsite = [];
let browser;
let page;
let signedIn = false;

async function main() {
  browser = await chromium.launch({
    executablePath: opt.chromium,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, serviceWorkers: "block" });
  // Offline by construction: anything not asked of the server under test is refused and noted.
  await context.route("**/*", (route) => {
    const u = route.request().url();
    if (u.startsWith(origin + "/") || u.startsWith("data:")) return route.continue();
    offsite.push(u);
    return route.abort("blockedbyclient");
  });
  page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on("dialog", async (d) => {
    dialogs.push(d.type() + ": " + d.message());
    await d.dismiss().catch(() => {});
  });
  page.on("pageerror", (e) => problems.push("script error: " + e.message));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    // before signing in, the list and the stream are refused on purpose (401: the catalogue
    // is not public here), and Chromium logs both
    if (!signedIn && /status of 401|EventSource/.test(text)) return;
    problems.push("console error: " + text);
  });
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
    });
  });

  // 1. anonymous: the sign-in prompt, nothing on the map (or, when public, the map at once)
  const resp = await page.goto(opt.url + "/", { waitUntil: "load" });
  if (resp.status() !== 200) throw new Error(`GET / answered ${resp.status()}`);
  if (opt.anonymous) {
    signedIn = true;
    await anonymous();
  } else {
    await signIn();
  }
  await afterSignIn();
}

async function anonymous() {
  await page.waitForFunction(() => document.body.dataset.live === "open");
  if (await page.locator("#login-error").isVisible()) throw new Error("a public catalogue asks to sign in");
  if (await page.locator("#whoami").isVisible()) throw new Error("signed in without signing in");
}

async function signIn() {
  await page.locator("#login-error").waitFor({ state: "visible" });
  const prompt = await page.locator("#login-error").textContent();
  if (!/sign in/i.test(prompt)) throw new Error(`unexpected sign-in prompt: ${prompt}`);
  if ((await page.locator("path.quake-marker").count()) !== 0) throw new Error("markers shown before signing in");

  // 2. sign in through the form
  await page.fill("#username", opt.user);
  await page.fill("#password", opt.password);
  signedIn = true;
  await page.click("#login button[type=submit]");
  await page.locator("#whoami").waitFor({ state: "visible" });
  const who = await page.locator("#user").textContent();
  if (who !== opt.user) throw new Error(`signed in as ${who}`);
  if ((await page.inputValue("#password")) !== "") throw new Error("the password field was not cleared");
}

async function afterSignIn() {
  // 3. the events, the outlines, the live stream
  await page.waitForFunction((n) => document.querySelectorAll("path.quake-marker[data-id]").length >= n &&
    document.querySelectorAll("#events tbody tr[data-id]").length >= n, minMarkers);
  await page.waitForFunction(() => document.body.dataset.live === "open");
  await page.waitForFunction(() => document.querySelectorAll(".leaflet-basemap-pane path").length >= 2);
  const outline = await page.evaluate(() => Array.from(document.querySelectorAll(".leaflet-basemap-pane path"))
    .reduce((n, p) => n + (p.getAttribute("d") || "").length, 0));
  if (outline < 10000) throw new Error(`the country outlines look empty (${outline} characters of path)`);
  const markers = await page.locator("path.quake-marker").count();
  const rows = await page.locator("#events tbody tr").count();
  const count = Number(await page.locator("#count").textContent());
  if (count !== rows || rows !== markers) throw new Error(`count ${count}, rows ${rows}, markers ${markers} differ`);

  // 4. USGS text is text: in the table, the tooltip and the popup
  if (opt["xss-id"]) await checkText(opt["xss-id"], opt["xss-place"]);

  say({ step: "ready", markers, rows });

  // 5. live changes (replayed by the test now)
  const fresh = list(opt["expect-new"]);
  for (const id of fresh) {
    await page.locator(`#events tbody tr[data-id="${id}"]`).waitFor({ state: "attached" });
    await page.locator(`path.quake-marker[data-id="${id}"]`).waitFor({ state: "attached" });
  }
  for (const spec of list(opt["expect-update"])) {
    const [id, mag] = spec.split("=");
    await page.waitForFunction(([id, mag]) => {
      const tr = document.querySelector(`#events tbody tr[data-id="${id}"]`);
      return tr && tr.cells[1].textContent.startsWith(Number(mag).toFixed(1));
    }, [id, mag]);
  }
  for (const id of list(opt["expect-gone"])) {
    await page.waitForFunction((id) => !document.querySelector(`#events tbody tr[data-id="${id}"]`) &&
      !document.querySelector(`path.quake-marker[data-id="${id}"]`), id);
  }
  if (opt["xss-id"] && fresh.includes(opt["xss-id"])) await checkText(opt["xss-id"], opt["xss-place"]);
  const after = await page.evaluate(() => ({
    markers: document.querySelectorAll("path.quake-marker").length,
    rows: document.querySelectorAll("#events tbody tr").length,
    count: Number(document.getElementById("count").textContent),
    live: document.body.dataset.live,
    fresh: Array.from(document.querySelectorAll("#events tbody tr.fresh")).map((tr) => tr.dataset.id),
  }));
  if (after.count !== after.rows || after.rows !== after.markers) throw new Error("count, rows and markers differ: " + JSON.stringify(after));
  for (const id of fresh) if (!after.fresh.includes(id)) throw new Error(`live event ${id} is not highlighted`);

  if (opt["filter-minmag"]) await filterCheck(opt["filter-minmag"], Number(opt["filter-count"]));
  await finalChecks();
  if (opt.screenshot) await page.screenshot({ path: opt.screenshot, fullPage: true });
  say({ step: "done", ...after });
}

// The filter form maps to the API: the list is reloaded with minmagnitude, the stream reopened.
async function filterCheck(minmag, want) {
  const lists = [];
  const streams = [];
  const onRequest = (req) => {
    const u = new URL(req.url());
    if (u.pathname === "/api/v1/earthquakes") lists.push(u.searchParams);
    if (u.pathname === "/api/v1/earthquakes/stream") streams.push(u.searchParams);
  };
  page.on("request", onRequest);
  await page.fill("#filters input[name=minmagnitude]", minmag);
  await page.click("#filters button[type=submit]");
  await page.waitForFunction(() => document.body.dataset.live === "open");
  await page.waitForFunction((n) => Number(document.getElementById("count").textContent) === n &&
    document.querySelectorAll("path.quake-marker").length === n &&
    document.querySelectorAll("#events tbody tr").length === n, want);
  page.off("request", onRequest);
  const mags = await page.evaluate(() => Array.from(document.querySelectorAll("#events tbody tr"))
    .map((tr) => parseFloat(tr.cells[1].textContent)));
  if (mags.some((m) => !(m >= Number(minmag)))) throw new Error(`magnitudes below ${minmag} shown: ${mags}`);
  const ok = (p) => p.get("minmagnitude") === minmag && p.has("starttime");
  if (!lists.some(ok)) throw new Error("no list request with minmagnitude=" + minmag + ": " + lists.map(String));
  if (!streams.some(ok)) throw new Error("no stream request with minmagnitude=" + minmag + ": " + streams.map(String));
  if (lists.some((p) => p.has("access_token"))) throw new Error("the token travelled in a list URL");
}

async function checkText(id, place) {
  const cell = page.locator(`#events tbody tr[data-id="${id}"] td.place`);
  await cell.waitFor({ state: "attached" });
  const text = await cell.textContent();
  if (text !== place) throw new Error(`place of ${id} shows as ${JSON.stringify(text)}, not as the text ${JSON.stringify(place)}`);
  // open its popup from the table, hover its marker for the tooltip
  await page.locator(`#events tbody tr[data-id="${id}"] td.time`).click();
  const popup = page.locator(".leaflet-popup-content .quake-popup .place");
  await popup.waitFor({ state: "visible" });
  if ((await popup.textContent()) !== place) throw new Error(`popup of ${id} shows ${await popup.textContent()}`);
  await page.locator(".leaflet-popup-close-button").click();
  const imgs = await page.evaluate(() => document.querySelectorAll("img, iframe, object, embed, script:not([src])").length);
  if (imgs) throw new Error(`${imgs} element(s) created from data (img/iframe/object/embed/inline script)`);
  const inTooltip = await page.evaluate(() => Array.from(document.querySelectorAll(".leaflet-tooltip, .leaflet-popup"))
    .some((t) => t.querySelector("img")));
  if (inTooltip) throw new Error("an img element in a tooltip or popup");
}

async function finalChecks() {
  await page.waitForTimeout(300); // let a late dialog (onerror=alert) fire
  const csp = await page.evaluate(() => window.__csp);
  if (csp.length) problems.push("CSP violations: " + csp.join("; "));
  if (dialogs.length) problems.push("dialogs opened: " + dialogs.join("; "));
  if (offsite.length) problems.push("requests outside the server: " + offsite.join(", "));
  if (problems.length) throw new Error(problems.join("\n"));
}

async function artifacts() {
  if (!opt.artifacts || !page) return;
  try {
    mkdirSync(opt.artifacts, { recursive: true });
    await page.screenshot({ path: path.join(opt.artifacts, "map-failure.png"), fullPage: true });
    writeFileSync(path.join(opt.artifacts, "map-failure.html"), await page.content());
  } catch (e) {
    process.stderr.write("could not save artifacts: " + e.message + "\n");
  }
}

let rc = 0;
try {
  await main();
} catch (e) {
  rc = 1;
  await artifacts();
  const extra = [...problems, ...dialogs.map((d) => "dialog: " + d), ...offsite.map((u) => "offsite: " + u)];
  say({ step: "fail", error: String(e && e.stack || e), also: extra });
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(rc);
