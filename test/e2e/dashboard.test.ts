/**
 * The dashboard in a real browser (Debian's chromium through playwright-core), over a daemon with real
 * tmux and the real Claude Code CLI against the mock: the page shows every session and account (and
 * no secret), pause/cancel/retry/resume from the page, a task seen waiting, active and done, a swap
 * with the countdown on the exhausted account, a session's screen, and the page reconnecting by itself
 * after the daemon restarts. UPDATE_SCREENSHOT=1 also saves docs/dashboard.png.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import path from "node:path";
import type { Page } from "playwright-core";
import { loadConfig } from "../../src/config/loader.js";
import { Daemon } from "../../src/daemon/daemon.js";
import type { DashboardApi } from "../../src/http/dashboard/routes.js";
import { createApiHandler, startHttpServer } from "../../src/http/server.js";
import { silentLogger } from "../../src/lib/logger.js";
import { REPO, makeClaudeSandbox, type ClaudeSandbox } from "../support/claude-sandbox.js";
import { openBrowser } from "../support/browser.js";
import { until } from "../support/until.js";

let sb: ClaudeSandbox;
let daemon: Daemon | undefined;
let browser: Awaited<ReturnType<typeof openBrowser>>;
let listen: string;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function startDaemon(): Promise<Daemon> {
  const d = new Daemon({ config: await loadConfig(sb.configPath), log: sb.logger(), listen });
  await d.start();
  return d;
}

const text = (page: Page, selector: string): Promise<string> => page.locator(selector).innerText();

/** Waits until the section's text matches. */
async function shows(page: Page, selector: string, re: RegExp, ms = 30_000): Promise<string> {
  return until(`${selector} to show ${String(re)}`, async () => {
    const t = await text(page, selector).catch(() => "");
    return re.test(t) ? t : undefined;
  }, ms, { explain: async () => `${selector} shows:\n${await text(page, selector).catch(() => "?")}\n${await sb.evidence(["db-1"])}` });
}

before(async () => {
  sb = await makeClaudeSandbox({
    label: "db", projects: ["web"], pool: { min: 1, max: 1 },
    config: { quota: { poll_interval: "1s", confirm_polls: 2, reactivate_cooldown: "1s", usage_api: false } },
    dedicated: [{ name: "db-ops", cwd: "work/ops" }],
  });
  sb.adoptEnvironment();
  listen = `127.0.0.1:${await freePort()}`;
  daemon = await startDaemon();
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
  await sb?.close();
});

test("the dashboard shows the fleet live, acts on it, and comes back by itself after a restart", { timeout: 300_000 }, async () => {
  const { page } = browser;
  const url = `http://${listen}/`;
  const started = Date.now();
  await page.goto(url);
  assert.ok(Date.now() - started < 5_000, "the page loads at once");
  await shows(page, "#conn", /live/);

  // Every session and account, by name, with its state in words; no account secret anywhere.
  await shows(page, "#sessions", /db-1[\s\S]*db-ops/);
  assert.match(await text(page, "#sessions"), /pool[\s\S]*dedicated/);
  await shows(page, "#accounts", /main\s+active[\s\S]*backup\s+available/);
  assert.doesNotMatch(await page.content(), /token-main|token-backup/);

  // Pause from the page: a dropped task then waits, shown with its (hostile) title as text.
  await page.getByRole("button", { name: "Pause dispatch" }).click();
  await shows(page, "#dispatch", /paused \(paused by operator \(dashboard\)\)/);
  await sb.drop("web", "first.md", "---\ntitle: <b>first</b> & co\n---\nTOKEN-FIRST write the page MOCK_DELAY=4000\n");
  await sb.drop("web", "doomed.md", "TOKEN-DOOMED not wanted after all\n");
  await shows(page, "#queue", /waiting <b>first<\/b> & co \(first\)/);
  assert.equal(await page.locator("#queue b").count(), 0, "the title's markup is text, not markup");

  // Cancel the waiting one: it goes to failed/ as cancelled by operator; then retry it: it waits again.
  await page.click('button[data-action="cancel"][data-id="doomed"]');
  await shows(page, "#queue", /failed doomed/);
  assert.match(await sb.read("web", "failed", "doomed.md"), /cancelled by operator/);
  await page.click('button[data-action="retry"][data-id="doomed"]');
  await shows(page, "#queue", /waiting doomed/);
  assert.deepEqual(await sb.files("web", "failed"), []);

  // Resume: main meets its usage limit on the first turn → swap to backup, where both tasks finish.
  const resetAt = Math.floor(Date.now() / 1000) + 3 * 3600;
  sb.api.script({ token: "token-main", times: 1, respond: { kind: "usage-limit", claim: "five_hour", resetAt } });
  await page.getByRole("button", { name: "Resume dispatch" }).click();
  await shows(page, "#dispatch", /running/);
  await shows(page, "#queue", /active /, 60_000);
  await shows(page, "#swaps", /main → backup/, 120_000);
  await shows(page, "#accounts", /main\s+exhausted resets in [23]h \d\dm[\s\S]*backup\s+active/);
  await until("both tasks shown done", async () => ((await page.locator("#queue li .s-done").count()) === 2 ? true : undefined), 150_000, { explain: () => sb.evidence(["db-1"]) });
  await shows(page, "#queue", /done 2 · failed 0/);
  assert.deepEqual(await sb.files("web", "done"), ["doomed.md", "first.md"]);
  assert.match(await text(page, "#events"), /operator_action/);

  // A task's detail and a session's screen (plain text, read-only).
  await page.click('button[data-action="task"][data-id="first"]');
  await shows(page, "#detail", /Task web\/first[\s\S]*state\s+done[\s\S]*## Result/);
  await page.click('button[data-action="screen"][data-session="db-1"]');
  await shows(page, "#detail", /Screen of db-1/);
  assert.ok(!(await text(page, "#detail")).includes("\u001b"), "no escape sequence reaches the page");
  await page.keyboard.press("Escape");
  assert.equal(await page.locator("#detail-box").isHidden(), true);

  if (process.env.UPDATE_SCREENSHOT === "1") await page.screenshot({ path: path.join(REPO, "docs", "dashboard.png"), fullPage: true });

  // Restart: the page notices, polls, and is live again on the new daemon without a reload.
  await daemon!.stop();
  daemon = undefined;
  await shows(page, "#conn", /reconnecting|unreachable/);
  daemon = await startDaemon();
  await shows(page, "#conn", /^live$/, 30_000);
  await shows(page, "#events", /daemon_started[\s\S]*daemon_started/);

  // Submit from the page (keyboard only), on the new daemon.
  await page.locator("#submit-box summary").focus();
  await page.keyboard.press("Enter");
  // The form is valid only once the project list has come back from the new daemon.
  await until("the project list in the form", async () => ((await page.locator('#submit-project option[value="web"]').count()) > 0 ? true : undefined), 30_000);
  await page.locator("#submit-text").fill("TOKEN-FORM from the page\n");
  await page.locator("#submit-text").press("Tab");
  assert.equal(await page.evaluate<string>("document.activeElement?.textContent ?? ''"), "Submit task", "Tab from the text reaches the submit button");
  await page.keyboard.press("Enter");
  const notice = await shows(page, "#notice", /Submitted web\/\S+\./);
  const id = /Submitted web\/(\S+)\./.exec(notice)![1]!;
  await shows(page, "#queue", new RegExp(`(waiting|active|done) ${id}`));

  // A phone's width: nothing runs off the side.
  await page.setViewportSize({ width: 375, height: 800 });
  const overflow = await page.evaluate<number>("document.documentElement.scrollWidth");
  assert.ok(overflow <= 375, `page is ${overflow}px wide at 375px`);
});

test("with a token: the page asks once, keeps it in sessionStorage, sends it as a header, never in a URL or cookie", async (t) => {
  const stub = {
    snapshot: async () => ({
      active_account: "main", paused: null, accounts: [{ name: "main", state: "available" }], queue: {}, tasks: [], swaps: [], events: [], delegation: null,
      sessions: [{ name: "tok-1", kind: "pool", state: "idle", task: null, account: null, since: new Date().toISOString() }],
    }),
    subscribe: () => () => undefined,
  } as unknown as DashboardApi;
  const base = { health: () => ({ ok: true as const }), status: () => ({}), watchdog: () => ({}), metrics: async () => ({ contentType: "text/plain", body: "" }), hook: async () => ({ ok: true as const }), swap: async () => ({ status: 202, body: { ok: true } }) };
  const server = await startHttpServer("127.0.0.1:0", createApiHandler({ ...base, dashboard: stub }, { log: silentLogger(), token: "page-token-123" }));
  // A tab of its own: the first test's tab still holds a stream to the daemon.
  const { context } = browser;
  const page = await context.newPage();
  try {
    const sent: (string | undefined)[] = [];
    page.on("request", (r) => r.url().includes("/api/") && sent.push(r.headers().authorization));
    await page.goto(`${server.url}/`);
    await shows(page, "#conn", /waiting for the API token/);
    const paint = await page.evaluate<number>("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1");
    t.diagnostic(`first contentful paint ${paint.toFixed(0)} ms`);
    // Typically 100-250 ms from loopback; the bound only catches a page that waits on something
    // (a blocking asset, a CDN on an offline host) on a loaded 2-core CI machine.
    assert.ok(paint >= 0 && paint < 2_000, `first paint after ${paint} ms`);
    await page.locator("#token-input").fill("wrong");
    await page.keyboard.press("Enter");
    await shows(page, "#conn", /waiting for the API token/);
    await page.locator("#token-input").fill("page-token-123");
    await page.keyboard.press("Enter");
    await shows(page, "#conn", /^live$/);
    await shows(page, "#sessions", /tok-1/);
    assert.ok(sent.includes("Bearer page-token-123"));
    assert.doesNotMatch(page.url(), /page-token/);
    assert.deepEqual(await context.cookies(), []);
    assert.equal(await page.evaluate<string>("sessionStorage.getItem('claude-failover-token')"), "page-token-123");
    // A reload in the same tab does not ask again.
    await page.reload();
    await shows(page, "#conn", /^live$/);
    assert.equal(await page.locator("#token").isHidden(), true);
  } finally {
    await page.close();
    await server.close();
  }
});
