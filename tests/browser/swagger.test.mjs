// Swagger UI at /docs, in Debian's headless Chromium: the Authorize dialog's OAuth2 password
// flow obtains a token from the real token endpoint with the public client strata-web, and a
// protected operation then succeeds through "Try it out". Started by
// tests/integration/test_swagger_ui.py, which owns the server.
//
//   node swagger.test.mjs --url http://127.0.0.1:PORT --user U --password P
//        [--prefix build/test-browser] [--chromium /usr/bin/chromium]
// Prints {"step":"done",...} and exits 0, or {"step":"fail","error":...} and exits 1.

import { createRequire } from "node:module";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    user: { type: "string" },
    password: { type: "string" },
    prefix: { type: "string", default: path.join(here, "..", "..", "build", "test-browser") },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const require = createRequire(path.join(path.resolve(opt.prefix), "package.json"));
const { chromium } = require("playwright-core");

let browser;
try {
  browser = await chromium.launch({
    executablePath: opt.chromium,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await (await browser.newContext()).newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  const tokenResponses = [];
  page.on("response", (r) => { if (r.url().endsWith("/api/v1/auth/token")) tokenResponses.push(r.status()); });
  page.setDefaultTimeout(30000);

  await page.goto(opt.url + "/docs");
  await page.locator(".swagger-ui .information-container").waitFor();
  await page.locator("button.authorize").first().click();
  // the OAuth2 scheme's form (password flow): client_id is prefilled with strata-web by initOAuth
  const user = page.locator("#oauth_username");
  await user.waitFor();
  await user.fill(opt.user);
  await page.locator("#oauth_password").fill(opt.password);
  const clientId = await page.locator("#client_id_password").inputValue();
  if (clientId !== "strata-web") throw new Error("client_id is " + JSON.stringify(clientId));
  const form = page.locator(".auth-container", { has: page.locator("#oauth_username") });
  await form.locator("button.authorize").click();
  // authorized: the form turns into a summary with a Logout button
  await page.locator(".modal-ux button", { hasText: "Logout" }).first().waitFor();
  if (!tokenResponses.includes(200)) throw new Error("token endpoint answered " + JSON.stringify(tokenResponses));
  await page.locator(".modal-ux button.close-modal").click();

  // a protected operation through "Try it out": GET /api/v1/users needs users:admin
  const op = page.locator(".opblock-get", { has: page.locator(".opblock-summary-path[data-path='/api/v1/users']") }).first();
  await op.locator(".opblock-summary").click();
  await op.locator("button.try-out__btn").click();
  const done = page.waitForResponse((r) => r.url().includes("/api/v1/users") && r.request().method() === "GET");
  await op.locator("button.execute").click();
  const resp = await done;
  const auth = resp.request().headers()["authorization"] || "";
  if (resp.status() !== 200) throw new Error("GET /api/v1/users answered " + resp.status());
  if (!auth.startsWith("Bearer ")) throw new Error("no bearer token sent: " + JSON.stringify(auth));
  const bad = problems.filter((p) => !p.includes("favicon"));
  if (bad.length) throw new Error(bad.join("; "));
  say({ step: "done", token_status: tokenResponses, users_status: resp.status() });
  await browser.close();
  process.exit(0);
} catch (e) {
  say({ step: "fail", error: String(e && e.message || e) });
  if (browser) await browser.close();
  process.exit(1);
}
