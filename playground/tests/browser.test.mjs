// The playground in a real browser: Debian's Chromium, headless, driven by
// playwright-core, against `scimap playground` on loopback. Run by .ci/run after
// `bash playground/build.sh`; screenshots and timings go to playground/artifacts/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync, statSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const artifacts = path.join(root, "playground/artifacts");
const binary = process.env.SCIMAP_BIN || path.join(root, "target/release/scimap");
const axeSource = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const timings = {};

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
  writeFileSync(path.join(artifacts, "timing.json"), JSON.stringify(timings, null, 2) + "\n");
  console.log("playground timings:", JSON.stringify(timings));
  await browser?.close();
  server?.kill();
});

/// A fresh page (and browser context: no storage shared with other tests) at `url`,
/// waited on until its first result.
async function open(url = base, options = {}) {
  const context = await browser.newContext({
    viewport: options.viewport || { width: 1280, height: 900 },
    colorScheme: options.colorScheme || "light",
    permissions: ["clipboard-read", "clipboard-write"],
  });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.__firstResultMs !== undefined, null, { timeout: 15000 });
  return { page, errors, context };
}

const text = (page, id) => page.evaluate((id) => window.playground.text(id), id);
const set = (page, id, value) => page.evaluate(([id, value]) => window.playground.set(id, value), [id, value]);
const resultIs = (page, value) =>
  page.waitForFunction((v) => document.querySelector("#result-value").textContent === v, value);
const kindIs = (page, words) =>
  page.waitForFunction((w) => document.querySelector("#result-kind").textContent.startsWith(w), words);

/// Types into an editor as a user does, after selecting what is there.
async function type(page, id, keys) {
  await page.click(`#${id} .cm-content`);
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.type(keys);
}

async function axe(page, state) {
  await page.addScriptTag({ path: axeSource });
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] }));
  const found = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  assert.deepEqual(found, [], `axe-core in the ${state} state`);
}

test("the page loads and shows the first result", async () => {
  const { page, errors } = await open();
  timings.firstResultMs = Math.round(await page.evaluate(() => window.__firstResultMs));
  await resultIs(page, '"Zoë Müller"');
  assert.equal(await page.textContent("#result-kind"), "string");
  assert.equal(await page.textContent("#result-note"), "10 characters");
  assert.equal(await page.textContent("#status"), "ready");
  assert.deepEqual(errors, []);
  const wasm = readFileSync(path.join(root, "playground/dist/scimap_bg.wasm"));
  const app = readFileSync(path.join(root, "playground/dist/app.js"));
  Object.assign(timings, {
    wasmBytes: wasm.length, wasmGzipBytes: gzipSync(wasm, { level: 9 }).length,
    appJsBytes: app.length, appJsGzipBytes: gzipSync(app, { level: 9 }).length,
  });
  assert.ok(timings.wasmGzipBytes < 1 << 20, "the wasm stays under 1 MB gzipped");
  await page.waitForFunction(() => document.querySelectorAll("#function-list dt").length > 40);
  await page.fill("#function-filter", "Replace");
  await page.waitForFunction(() => document.querySelectorAll("#function-list dt").length === 1);
  assert.match(await page.textContent("#function-list dt"), /^Replace\(source, oldValue\?/);
  await page.close();
});

test("typing an expression and a record shows the result, its kind and its length", async () => {
  const { page } = await open();
  await set(page, "record", JSON.stringify({ mail: "John.Doe@contoso.com", givenName: "John" }));
  await type(page, "expr", 'ToLower(Replace([mail], "@contoso.com", , , "@fabrikam.com", , ))');
  await resultIs(page, '"john.doe@fabrikam.com"');
  assert.equal(await page.textContent("#result-kind"), "string");
  await set(page, "expr", 'Join(" ", "  padded ", "x")');
  await resultIs(page, '"  padded  x"');
  await set(page, "expr", "IgnoreFlowIfNullOrEmpty([department])");
  await kindIs(page, "flow ignored");
  await set(page, "expr", 'Split("a,b", ",")');
  await kindIs(page, "list");
  assert.deepEqual(JSON.parse(await page.textContent("#result-value")), ["a", "b"]);
  assert.equal(await page.textContent("#result-note"), "2 values");
  await set(page, "expr", "[department]");
  await kindIs(page, "null: not sent");
  // A huge result is cut on the page with a note; Copy still copies all of it.
  await set(page, "record", JSON.stringify({ a: "x".repeat(60_000) }));
  await set(page, "expr", 'Join("", [a], [a])');
  await page.waitForFunction(() => /cut here: the result has 120,000 characters/.test(document.querySelector("#result-note").textContent));
  assert.ok((await page.textContent("#result-value")).length <= 100_002);
  await page.click("#copy-result");
  await page.waitForFunction(() => document.querySelector("#copy-result-note").textContent === "copied");
  assert.equal((await page.evaluate(() => navigator.clipboard.readText())).length, 120_000);
  // Screen readers hear each result.
  await set(page, "expr", '"heard"');
  await page.waitForFunction(() => document.querySelector("#announce").textContent === 'string: "heard"');
  await page.close();
});

test("completion offers functions at the cursor, attributes inside [, and a signature hint", async () => {
  const { page } = await open();
  await type(page, "expr", "ToLo");
  const option = page.locator(".cm-tooltip-autocomplete li").first();
  await option.waitFor();
  assert.match(await option.textContent(), /^ToLower\(source, culture\?\)/);
  // The list opens at the cursor, not at the editor's corner.
  const cursor = await page.locator("#expr .cm-cursor").boundingBox();
  const list = await page.locator(".cm-tooltip-autocomplete").boundingBox();
  assert.ok(Math.abs(list.x - cursor.x) < 80, `the list at x=${list.x}, the cursor at x=${cursor.x}`);
  await page.keyboard.press("Enter");
  assert.equal(await text(page, "expr"), "ToLower()");
  // Inside the call: the hint names the function and marks the current parameter.
  await page.locator(".signature").waitFor();
  assert.equal(await page.textContent(".signature strong"), "source");
  await page.keyboard.type("[giv");
  await page.locator(".cm-tooltip-autocomplete li").first().waitFor();
  assert.equal(await page.locator(".cm-tooltip-autocomplete li").first().textContent(), "givenName");
  await page.keyboard.press("Enter");
  assert.equal(await text(page, "expr"), "ToLower([givenName])");
  await page.keyboard.type(", ");
  await page.waitForFunction(() => document.querySelector(".signature strong")?.textContent === "culture?");
  // A name typed in full is not offered again, so Enter is a new line.
  await type(page, "expr", "Join");
  await page.waitForTimeout(300);
  assert.equal(await page.locator(".cm-tooltip-autocomplete").count(), 0);
  await page.close();
});

test("a broken expression is marked where it breaks, with hover text and a jump", async () => {
  const { page } = await open();
  await set(page, "expr", 'Join(" ", toLower([givenName]), [surname])');
  const marked = page.locator("#expr .cm-lintRange-error");
  await marked.first().waitFor();
  assert.equal(await marked.first().textContent(), "toLower");
  assert.equal(await page.textContent("#expr .tok-invalid"), "toLower", "a name the table lacks is marked");
  assert.equal(await page.getAttribute("#expr .cm-content", "aria-invalid"), "true");
  await marked.first().hover();
  const tip = page.locator(".cm-tooltip-lint");
  await tip.waitFor();
  assert.match(await tip.textContent(), /unknown function `toLower`/);
  const item = page.locator("#expr-problems li").first();
  assert.match(await item.textContent(), /error\[unknown-function\] at 1:11/);
  assert.match(await item.textContent(), /did you mean `ToLower`\?/);
  assert.equal(await page.textContent("#result-kind"), "does not check");
  await item.locator("button").click();
  const head = await page.evaluate(() => window.playground.cursor("expr"));
  assert.equal(head, 10, "the cursor moved to the error");
  await set(page, "expr", 'Join("x", [a]');
  await page.waitForFunction(() => /unclosed/.test(document.querySelector("#expr-problems").textContent));
  assert.equal(await page.locator("#expr-problems li").count(), 1, "only the current error is listed");
  // A regex error points into the pattern, with nothing about lookaround.
  await set(page, "expr", 'Replace("abc", , "a(b", , "x", , )');
  await page.waitForFunction(() => /invalid-regex/.test(document.querySelector("#expr-problems").textContent));
  assert.match(await page.textContent("#expr-problems li"), /at 1:20/);
  assert.doesNotMatch(await page.textContent("#expr-problems"), /lookaround|look-around/i);
  await page.screenshot({ path: path.join(artifacts, "diagnostic.png") });
  await axe(page, "error");
  await page.close();
});

test("explain shows the tree with each node's value, why a Switch fell to its default, and the bytecode", async () => {
  const { page } = await open();
  await set(page, "record", JSON.stringify({ country: "BR", givenName: "Ada", surname: "Lovelace" }));
  await set(page, "expr", 'Switch([country], "Other", "DE", "Germany", "US", "United States")');
  await resultIs(page, '"Other"');
  await page.click("#explain summary");
  await page.waitForFunction(() => document.querySelectorAll("#explain-tree li").length === 7);
  const first = page.locator("#explain-tree li").first();
  assert.match(await first.textContent(), /no key matched "BR": the default/);
  assert.match(await page.locator("#explain-tree li").nth(1).textContent(), /\[country\] string "BR"/);
  assert.match(await page.textContent("#explain-listing"), /\[country\]/);
  await page.locator("#explain-tree li .node").nth(1).click();
  assert.equal(await page.evaluate(() => window.playground.selected("expr")), "[country]");
  await set(page, "expr", 'Join(" ", [givenName], [middleName], [surname])');
  await page.waitForFunction(() => /skipped, being null or empty: \[middleName\]/.test(document.querySelector("#explain-tree").textContent));
  await page.screenshot({ path: path.join(artifacts, "explain.png"), fullPage: true });
  await axe(page, "explain");
  await page.close();
});

test("bad input gets a clear message and never freezes the page", async () => {
  const { page } = await open();
  await set(page, "record", '{"givenName": "Zoë",');
  await page.waitForFunction(() => !document.querySelector("#record-problems").hidden);
  assert.match(await page.textContent("#record-problems"), /record: invalid JSON/);
  await page.locator("#record .cm-lintRange-error").waitFor();
  // Past the evaluation bounds: six copies of 200,000 characters exceed the 1 MiB limit.
  await set(page, "record", JSON.stringify({ a: "x".repeat(200_000) }));
  await set(page, "expr", "Join([a], [a], [a], [a], [a], [a])");
  await kindIs(page, "evaluation error");
  assert.match(await page.textContent("#result-value"), /1048576|1 MiB|limit/i);
  await set(page, "expr", "x".repeat(1_100_000));
  await page.waitForFunction(() => /larger than 1 MiB/.test(document.querySelector("#result-value").textContent));
  await set(page, "expr", '"still alive"');
  await resultIs(page, '"still alive"');
  await set(page, "expr", "DefaultDomain()");
  await kindIs(page, "evaluation error");
  assert.doesNotMatch(await page.textContent("#result-value"), /--tenant-domain/);
  await page.close();
});

/// How long a paste of `size` characters and then one keystroke take, measured to the
/// next painted frame.
async function pasteTiming(page, size) {
  const body = Array.from({ length: Math.ceil(size / 20) }, (_, i) => `"v${i % 10000}"`).join(", ");
  const expression = `Join(",", ${body})`.slice(0, size - 1) + ")";
  return page.evaluate(async (expression) => {
    const frame = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    let started = performance.now();
    window.playground.set("expr", expression);
    await frame();
    const pasteMs = performance.now() - started;
    started = performance.now();
    window.playground.insert("expr", " ");
    await frame();
    return { pasteMs: Math.round(pasteMs), keystrokeMs: Math.round(performance.now() - started) };
  }, expression);
}

test("large pastes stay responsive (times reported, not asserted)", async () => {
  const { page } = await open();
  for (const [name, size] of [["100KB", 100_000], ["1MB", 1_000_000]]) {
    timings[`paste${name}`] = await pasteTiming(page, size);
  }
  await set(page, "expr", '"after"');
  await resultIs(page, '"after"');
  await page.close();
});

test("mapping mode shows the resource, both PATCH shapes and a diff side by side", async () => {
  const { page } = await open();
  await page.click("#tab-mapping");
  await page.waitForFunction(() => window.playground.text("mapping").includes('"objects"'));
  // Expressions inside the mapping's strings are highlighted as expressions.
  await page.waitForFunction(() => [...document.querySelectorAll("#mapping .in-expr.tok-function")].some((e) => e.textContent === "Switch"));
  await page.locator("#mapping .in-expr.tok-property").first().waitFor();
  await set(page, "record", JSON.stringify({ objectId: "u1", userPrincipalName: "zoe@contoso.com", givenName: "Zoë", surname: "Müller", mail: "zoe@contoso.com", accountEnabled: false }));
  await page.waitForFunction(() => document.querySelector("#resource").textContent.includes('"userName": "zoe@contoso.com"'));
  const resource = JSON.parse(await page.textContent("#resource"));
  assert.equal(resource.active, false);
  assert.equal(resource.name.formatted, "Zoë Müller");
  assert.match(await page.textContent("#patch-legacy"), /paste the resource as last exported/);
  await set(page, "exported", JSON.stringify({ userName: "zoe@contoso.com", active: true }));
  await page.waitForFunction(() => document.querySelector("#patch-legacy").textContent.includes("Replace"));
  const legacy = JSON.parse(await page.textContent("#patch-legacy"));
  const rfc = JSON.parse(await page.textContent("#patch-rfc"));
  assert.deepEqual(legacy.Operations.find((o) => o.path === "active"), { op: "Replace", path: "active", value: "False" });
  assert.equal(rfc.Operations[0].op, "replace");
  assert.match(await page.textContent("#diff .removed"), /"active": true/);
  const [a, b] = [await page.locator("#resource").boundingBox(), await page.locator("#diff").boundingBox()];
  assert.ok(Math.abs(a.y - b.y) < 40 && b.x > a.x, "the resource and the diff side by side");
  await page.screenshot({ path: path.join(artifacts, "mapping.png"), fullPage: true });
  await axe(page, "mapping");
  await set(page, "mapping", '{"objects": [');
  await page.waitForFunction(() => /invalid mapping file/.test(document.querySelector("#mapping-problems").textContent));
  await page.locator("#mapping .cm-lintRange-error").waitFor();
  await page.click("#load-default");
  await page.waitForFunction(() => document.querySelector("#mapping-problems").textContent === "");
  await page.click("#undo");
  assert.equal(await text(page, "mapping"), '{"objects": [');
  await page.close();
});

test("links are compact, restore the session, and a link pasted in the same tab opens", async () => {
  const { page, context } = await open();
  await set(page, "record", JSON.stringify({ givenName: "Ada", surname: "Lovelace" }));
  await set(page, "expr", 'Join("-", [givenName], [surname])');
  await resultIs(page, '"Ada-Lovelace"');
  await page.click("#copy-link");
  await page.waitForFunction(() => document.querySelector("#copy-note").textContent === "link copied");
  const url = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(url, page.url());
  timings.linkBytes = new URL(url).hash.length;
  assert.ok(timings.linkBytes < 200, `a one-line session makes a ${timings.linkBytes}-character fragment`);
  const { page: again } = await open(url);
  await resultIs(again, '"Ada-Lovelace"');
  assert.equal(await text(again, "expr"), 'Join("-", [givenName], [surname])');
  // A link pasted into the address bar of an open tab.
  await set(page, "expr", '"changed"');
  await resultIs(page, '"changed"');
  await page.waitForFunction((before) => location.href !== before, url); // the link follows the change
  await page.evaluate((hash) => { location.hash = hash; }, new URL(url).hash);
  await resultIs(page, '"Ada-Lovelace"');
  // The last session is remembered in this browser when no link is given.
  await page.waitForTimeout(500);
  const fresh = await context.newPage();
  await fresh.goto(base);
  await fresh.waitForFunction(() => document.querySelector("#result-value").textContent === '"Ada-Lovelace"');
  // A session too large for a link is kept in this browser, and the page says so.
  await page.evaluate(() => {
    const noise = Array.from({ length: 60_000 }, () => Math.random().toString(36).slice(2, 4)).join("");
    window.playground.set("record", JSON.stringify({ noise }));
  });
  await page.waitForFunction(() => location.hash === "");
  await page.click("#copy-link");
  await page.waitForFunction(() => /too large for a link/.test(document.querySelector("#copy-note").textContent));
  // Links from before (plain base64 JSON) still open.
  const old = Buffer.from(JSON.stringify({ mode: "expression", expr: '"old link"' })).toString("base64url");
  const { page: legacy } = await open(`${base}#${old}`);
  await resultIs(legacy, '"old link"');
  await again.screenshot({ path: path.join(artifacts, "playground.png"), fullPage: true });
  for (const p of [page, again, fresh, legacy]) await p.close();
});

test("recipes load without losing the user's text, and each one runs", async () => {
  const { page } = await open();
  await set(page, "expr", '"mine"');
  await resultIs(page, '"mine"');
  const names = await page.evaluate(() => [...document.querySelectorAll("#recipe-list button")].map((b) => b.textContent));
  assert.ok(names.length >= 7, names.join(", "));
  for (const name of names) {
    await page.click("#recipes");
    await page.getByRole("button", { name, exact: true }).click();
    await page.waitForFunction(() => !document.querySelector("#recipes-dialog").open);
    await page.waitForFunction(() => {
      const kind = document.querySelector(document.body.dataset.mode === "mapping" ? "#outcome-kind" : "#result-kind").textContent;
      return kind && !/error|stopped|does not check|loading/.test(kind);
    }, null, { timeout: 5000 }).catch(() => assert.fail(`recipe ${name} did not run cleanly`));
  }
  assert.equal(await page.textContent("#outcome-kind"), "create");
  await set(page, "record", JSON.stringify({ userPrincipalName: "x@contoso.com", department: "Sales", userType: "Member" }));
  await page.waitForFunction(() => document.querySelector("#outcome-kind").textContent.startsWith("out of scope"));
  await page.click("#recipes");
  await page.getByRole("button", { name: names[1], exact: true }).click();
  await page.click("#undo");
  await page.waitForFunction(() => document.body.dataset.mode === "mapping");
  await page.close();
});

test("settings change Now(), the tenant domain, taken values and PATCH shapes, and travel in the link", async () => {
  const { page } = await open();
  await page.click("#settings");
  await page.fill("#setting-now", "2026-01-31T09:00:00Z");
  await page.fill("#setting-domain", "contoso.onmicrosoft.com");
  await page.fill("#setting-taken", "zoe.muller@contoso.com");
  await page.selectOption("#setting-patch", "rfc");
  await page.click("#settings-form button[type=submit]");
  await set(page, "expr", 'Join(" ", DefaultDomain(), FormatDateTime(Now(), , "yyyy-MM-ddTHH:mm:ssZ", "yyyy-MM-dd"))');
  await resultIs(page, '"contoso.onmicrosoft.com 2026-01-31"');
  await set(page, "record", JSON.stringify({ givenName: "Zoë", surname: "Müller" }));
  await set(page, "expr", 'SelectUniqueValue(Join("@", NormalizeDiacritics(Join(".", [givenName], [surname])), "contoso.com"), Join("@", NormalizeDiacritics([givenName]), "contoso.com"))');
  await resultIs(page, '"Zoe@contoso.com"');
  await page.click("#settings");
  await page.fill("#setting-now", "not a date");
  await page.click("#settings-form button[type=submit]");
  assert.match(await page.textContent("#settings-error"), /date and time/);
  await page.click("#settings-dialog .close");
  await page.waitForTimeout(500);
  // Reference ids fill [manager] in mapping mode.
  await page.click("#settings");
  await page.fill("#setting-now", "");
  await page.fill("#setting-ids", "m1=target-9");
  await page.click("#settings-form button[type=submit]");
  await page.click("#tab-mapping");
  await set(page, "record", JSON.stringify({ userPrincipalName: "z@contoso.com", manager: "m1" }));
  await page.waitForFunction(() => document.querySelector("#resource").textContent.includes('"value": "target-9"'));
  await page.click("#tab-expression");
  await set(page, "record", JSON.stringify({ givenName: "Zoë", surname: "Müller" }));
  await resultIs(page, '"Zoe@contoso.com"');
  await page.waitForTimeout(500);
  const { page: again } = await open(page.url());
  await resultIs(again, '"Zoe@contoso.com"');
  await again.click("#tab-mapping");
  await again.waitForFunction(() => document.querySelector("#patch-legacy-box").hidden && !document.querySelector("#patch-rfc-box").hidden);
  await page.close();
  await again.close();
});

test("light and dark follow the system, with a toggle, and pass axe-core", async () => {
  const { page } = await open(base, { colorScheme: "dark" });
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(await background(), "rgb(21, 23, 28)");
  await axe(page, "dark");
  await page.screenshot({ path: path.join(artifacts, "dark.png") });
  await page.click("#theme"); // system → light
  assert.equal(await background(), "rgb(246, 247, 249)");
  await page.click("#theme"); // light → dark
  assert.equal(await background(), "rgb(21, 23, 28)");
  await page.close();
  const { page: light } = await open();
  await axe(light, "expression");
  await light.close();
});

test("on a phone, inputs and outputs are tabs and every target is at least 44 px", async () => {
  const { page } = await open(base, { viewport: { width: 390, height: 844 } });
  assert.ok(await page.isVisible("#inputs"));
  assert.ok(!(await page.isVisible("#outputs")));
  await page.click("#side-outputs");
  assert.ok(await page.isVisible("#result-value"));
  const small = await page.evaluate(() => [...document.querySelectorAll("button, select, input, summary, [role=tab]")]
    .filter((e) => e.offsetParent !== null)
    .map((e) => [e.id || e.textContent.trim(), e.getBoundingClientRect()])
    .filter(([, r]) => r.width < 44 || r.height < 44)
    .map(([name, r]) => `${name} ${Math.round(r.width)}×${Math.round(r.height)}`));
  assert.deepEqual(small, []);
  await page.screenshot({ path: path.join(artifacts, "phone.png") });
  await page.close();
});

test("the keyboard alone reaches and drives everything", async () => {
  const { page } = await open();
  await page.keyboard.press("Tab"); // the Expression tab
  assert.equal(await page.evaluate(() => document.activeElement.id), "tab-expression");
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.evaluate(() => document.activeElement.id), "tab-mapping");
  await page.waitForFunction(() => document.body.dataset.mode === "mapping");
  await page.keyboard.press("ArrowLeft");
  await page.waitForFunction(() => document.body.dataset.mode === "expression");
  // Onwards to the expression editor.
  for (let i = 0; i < 12 && !(await page.evaluate(() => document.activeElement.closest("#expr"))); i++) {
    await page.keyboard.press("Tab");
  }
  assert.ok(await page.evaluate(() => document.activeElement.closest("#expr")), "the expression editor takes focus");
  await page.keyboard.press("Control+A");
  await page.keyboard.type('"by keyboard"');
  await page.keyboard.press("Control+Enter");
  await resultIs(page, '"by keyboard"');
  await page.keyboard.press("Tab"); // out of the editor, not an indent
  assert.ok(!(await page.evaluate(() => document.activeElement.closest("#expr"))));
  // The list of keys.
  await page.focus("#shortcuts");
  await page.keyboard.press("Enter");
  assert.match(await page.textContent("#shortcuts-dialog"), /Ctrl\+Enter\s*run now/);
  await page.keyboard.press("Escape");
  assert.ok(!(await page.evaluate(() => document.querySelector("#shortcuts-dialog").open)));
  // The panes' divider moves with the arrow keys.
  await page.focus("#divider");
  const before = (await page.locator("#inputs").boundingBox()).width;
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.getAttribute("#divider", "aria-valuenow"), "60");
  assert.ok((await page.locator("#inputs").boundingBox()).width > before + 50, "the inputs grew");
  await page.close();
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
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const cdp = await context.newCDPSession(page);
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
  await page.waitForSelector("#expr .tok-function");
  const visibleMs = Date.now() - started;
  assert.match(await page.textContent("#status"), /loading|engine loaded/);
  await page.waitForFunction(() => window.__firstResultMs !== undefined, null, { timeout: 90_000 });
  const firstResultMs = Date.now() - started;
  await resultIs(page, '"Zoë Müller"');
  await page.waitForFunction(() => document.querySelectorAll("#function-list dt").length > 40, null, { timeout: 30_000 });
  await page.click("#tab-mapping");
  await page.waitForFunction(() => document.querySelector("#resource").textContent.includes('"userName"'), null, { timeout: 30_000 });
  assert.equal(await page.textContent("#mapping-problems"), "");
  assert.equal(wasmFetches.length, 1, `the wasm was fetched ${wasmFetches.length} times`);
  assert.deepEqual(errors, []);
  timings.slowLink = { link: "1.6 Mbit/s, 150 ms", visibleMs, firstResultMs };
  await context.close();
});
