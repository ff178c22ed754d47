// The playground in a real browser: Debian's Chromium, headless, driven by
// playwright-core, against `scimap playground` on loopback. Run by .ci/run after
// `bash playground/build.sh`; screenshots and timings go to playground/artifacts/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const artifacts = path.join(root, "playground/artifacts");
const binary = process.env.SCIMAP_BIN || path.join(root, "target/release/scimap");

let server;
let base;
let browser;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  server = spawn(binary, ["playground", "--listen", "127.0.0.1:0"], { cwd: root });
  base = await new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (chunk) => {
      out += chunk;
      const match = /http:\/\/\S+/.exec(out);
      if (match) resolve(match[0]);
    });
    server.stderr.on("data", (chunk) => process.stderr.write(chunk));
    server.on("exit", (code) => reject(new Error(`scimap playground exited with ${code}`)));
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
});

async function open(url = base) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.__firstResultMs !== undefined, null, { timeout: 10000 });
  return { page, errors };
}

async function typeExpression(page, text) {
  await page.fill("#expr", text);
}

async function typeRecord(page, record) {
  await page.fill("#record", JSON.stringify(record));
}

test("the page loads and shows the first result", async () => {
  const { page, errors } = await open();
  const firstResultMs = await page.evaluate(() => window.__firstResultMs);
  await page.waitForFunction(() => document.querySelector("#result-value").textContent === "Zoë Müller");
  assert.equal(await page.textContent("#status"), "ready");
  assert.deepEqual(errors, []);
  const wasm = readFileSync(path.join(root, "playground/dist/scimap_bg.wasm"));
  const timing = {
    firstResultMs: Math.round(firstResultMs),
    wasmBytes: statSync(path.join(root, "playground/dist/scimap_bg.wasm")).size,
    wasmGzipBytes: gzipSync(wasm, { level: 9 }).length,
  };
  writeFileSync(path.join(artifacts, "timing.json"), JSON.stringify(timing, null, 2) + "\n");
  console.log("playground:", JSON.stringify(timing));
  await page.waitForFunction(() => document.querySelectorAll("#function-list dt").length > 40);
  await page.fill("#function-filter", "Replace");
  await page.waitForFunction(() => document.querySelectorAll("#function-list dt").length === 1);
  assert.match(await page.textContent("#function-list dt"), /^Replace\(source, oldValue\?/);
  await page.close();
});

test("typing an expression and a record shows the result and its kind", async () => {
  const { page } = await open();
  await typeRecord(page, { mail: "John.Doe@contoso.com", givenName: "John" });
  await typeExpression(page, 'ToLower(Replace([mail], "@contoso.com", , , "@fabrikam.com", , ))');
  await page.waitForFunction(() => document.querySelector("#result-value").textContent === "john.doe@fabrikam.com");
  assert.equal(await page.textContent("#result-kind"), "string");
  await typeExpression(page, "IgnoreFlowIfNullOrEmpty([department])");
  await page.waitForFunction(() => document.querySelector("#result-kind").textContent.startsWith("flow ignored"));
  await typeExpression(page, 'Split("a,b", ",")');
  await page.waitForFunction(() => document.querySelector("#result-kind").textContent === "list");
  assert.deepEqual(JSON.parse(await page.textContent("#result-value")), ["a", "b"]);
  await typeExpression(page, "[department]");
  await page.waitForFunction(() => document.querySelector("#result-kind").textContent === "null: not sent");
  await page.close();
});

test("autocomplete offers functions from the table", async () => {
  const { page } = await open();
  await page.fill("#expr", "");
  await page.type("#expr", "ToLo");
  await page.waitForSelector("#completions:not([hidden]) li");
  assert.match(await page.textContent("#completions li"), /^ToLower\(source, culture\?\)$/);
  await page.keyboard.press("Tab");
  assert.equal(await page.inputValue("#expr"), "ToLower(");
  await page.type("#expr", '"ABC")');
  await page.waitForFunction(() => document.querySelector("#result-value").textContent === "abc");
  await page.close();
});

test("a broken expression shows its diagnostic at the right place", async () => {
  const { page } = await open();
  await typeExpression(page, 'Join(" ", toLower([givenName]), [surname])');
  const underline = page.locator("#expr-highlight .diag-underline");
  await underline.first().waitFor();
  assert.equal(await underline.first().textContent(), "toLower");
  assert.match(await underline.first().getAttribute("title"), /unknown function `toLower`/);
  const item = page.locator("#diagnostics li").first();
  assert.match(await item.textContent(), /error\[unknown-function\] at 1:11/);
  assert.match(await item.textContent(), /did you mean `ToLower`\?/);
  assert.equal(await page.textContent("#result-kind"), "does not check");
  await typeExpression(page, "Join(\"x\", [a]");
  await page.waitForFunction(() => /unclosed/.test(document.querySelector("#diagnostics").textContent));
  assert.equal(await page.locator("#expr-highlight .diag-underline").first().textContent(), "(");
  await page.screenshot({ path: path.join(artifacts, "diagnostic.png") });
  await page.close();
});

test("bad input gets a clear message and never freezes the page", async () => {
  const { page } = await open();
  await page.fill("#record", '{"givenName": "Zoë",');
  await page.waitForFunction(() => !document.querySelector("#record-error").hidden);
  assert.match(await page.textContent("#record-error"), /record: invalid JSON/);
  // Past the evaluation bounds: six copies of 200,000 characters exceed the 1 MiB limit.
  await page.fill("#record", JSON.stringify({ a: "x".repeat(200_000) }));
  await typeExpression(page, "Join([a], [a], [a], [a], [a], [a])");
  await page.waitForFunction(() => document.querySelector("#result-kind").textContent === "evaluation error");
  assert.match(await page.textContent("#result-value"), /1048576|1 MiB|limit/i);
  await page.fill("#expr", "x".repeat(1_100_000));
  await page.waitForFunction(() => /larger than 1 MiB/.test(document.querySelector("#result-value").textContent));
  await typeExpression(page, '"still alive"');
  await page.waitForFunction(() => document.querySelector("#result-value").textContent === "still alive");
  await page.close();
});

test("mapping mode shows the SCIM resource and both PATCH shapes", async () => {
  const { page } = await open();
  await page.click("#tab-mapping");
  await typeRecord(page, { objectId: "u1", userPrincipalName: "zoe@contoso.com", givenName: "Zoë", surname: "Müller", mail: "zoe@contoso.com", accountEnabled: false });
  await page.waitForFunction(() => document.querySelector("#resource").textContent.includes('"userName": "zoe@contoso.com"'));
  const resource = JSON.parse(await page.textContent("#resource"));
  assert.equal(resource.active, false);
  assert.equal(resource.name.formatted, "Zoë Müller");
  await page.fill("#exported", JSON.stringify({ userName: "zoe@contoso.com", active: true }));
  await page.waitForFunction(() => document.querySelector("#patch-legacy").textContent.includes("Replace"));
  const legacy = JSON.parse(await page.textContent("#patch-legacy"));
  const rfc = JSON.parse(await page.textContent("#patch-rfc"));
  assert.deepEqual(legacy.Operations.find((o) => o.path === "active"), { op: "Replace", path: "active", value: "False" });
  assert.equal(rfc.Operations[0].op, "replace");
  await page.fill("#mapping", '{"objects": [');
  await page.waitForFunction(() => /invalid mapping file/.test(document.querySelector("#mapping-diagnostics").textContent));
  await page.click("#load-default");
  await page.waitForFunction(() => document.querySelector("#mapping-diagnostics").textContent === "");
  await page.screenshot({ path: path.join(artifacts, "mapping.png"), fullPage: true });
  await page.close();
});

test("a shared URL restores the state", async () => {
  const { page } = await open();
  await typeRecord(page, { givenName: "Ada", surname: "Lovelace" });
  await typeExpression(page, 'Join("-", [givenName], [surname])');
  await page.waitForFunction(() => document.querySelector("#result-value").textContent === "Ada-Lovelace");
  // The link is written a moment after the last change.
  await page.waitForFunction(() => atob(location.hash.slice(1).replaceAll("-", "+").replaceAll("_", "/")).includes("Lovelace"));
  const url = page.url();
  await page.close();
  const { page: again } = await open(url);
  await again.waitForFunction(() => document.querySelector("#result-value").textContent === "Ada-Lovelace");
  assert.equal(await again.inputValue("#expr"), 'Join("-", [givenName], [surname])');
  await again.screenshot({ path: path.join(artifacts, "playground.png"), fullPage: true });
  await again.close();
});

test("the wasm is served compressed, with validators the browser revalidates", async () => {
  const url = new URL("scimap_bg.wasm", base);
  const first = await fetch(url, { headers: { "accept-encoding": "gzip" } });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("content-encoding"), "gzip");
  assert.equal(first.headers.get("cache-control"), "no-cache");
  assert.match(first.headers.get("vary"), /accept-encoding/i);
  const lastModified = first.headers.get("last-modified");
  assert.ok(lastModified, "a validator");
  await first.arrayBuffer();
  const again = await fetch(url, { headers: { "accept-encoding": "gzip", "if-modified-since": lastModified } });
  assert.equal(again.status, 304);
  const plain = await fetch(url, { headers: { "accept-encoding": "identity" } });
  assert.equal(plain.headers.get("content-encoding"), null);
  assert.equal((await plain.arrayBuffer()).byteLength, statSync(path.join(root, "playground/dist/scimap_bg.wasm")).size);
});

test("a slow first load starts one engine and fills in everything", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  // About 1.6 Mbit/s down with 150 ms of latency: the wasm alone takes seconds.
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false, latency: 150, downloadThroughput: 200_000, uploadThroughput: 100_000,
  });
  const wasmFetches = [];
  page.on("request", (r) => { if (r.url().endsWith(".wasm")) wasmFetches.push(r.url()); });
  const started = Date.now();
  await page.goto(base);
  // Before the engine: the expression is there, highlighted, and the page says it loads.
  await page.waitForSelector("#expr-highlight .tok-fn");
  const earlyMs = Date.now() - started;
  assert.match(await page.textContent("#status"), /loading|engine loaded/);
  await page.waitForFunction(() => window.__firstResultMs !== undefined, null, { timeout: 90_000 });
  const firstResultMs = Date.now() - started;
  await page.waitForFunction(() => document.querySelector("#result-value").textContent === "Zoë Müller");
  await page.waitForFunction(() => document.querySelectorAll("#function-list dt").length > 40, null, { timeout: 30_000 });
  await page.click("#tab-mapping");
  await page.waitForFunction(() => document.querySelector("#resource").textContent.includes('"userName"'), null, { timeout: 30_000 });
  assert.equal(await page.textContent("#mapping-diagnostics"), "");
  assert.equal(wasmFetches.length, 1, `the wasm was fetched ${wasmFetches.length} times`);
  assert.deepEqual(errors, []);
  const timing = { slowLink: "1.6 Mbit/s, 150 ms", visibleMs: earlyMs, firstResultMs };
  writeFileSync(path.join(artifacts, "timing-slow.json"), JSON.stringify(timing, null, 2) + "\n");
  console.log("playground, slow link:", JSON.stringify(timing));
  await page.close();
});
