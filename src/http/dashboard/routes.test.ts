import { describe, test } from "node:test";
import { createHash } from "node:crypto";
import http from "node:http";
import assert from "node:assert/strict";
import { silentLogger } from "../../lib/logger.js";
import { createApiHandler, startHttpServer, type ApiHandlers, type RunningServer } from "../server.js";
import { MAX_STREAMS, type DashboardApi, type Origin } from "./routes.js";
import { sseReader } from "./test-sse.js";
import type { DashboardSnapshot, EventRow } from "./view.js";

function snapshot(over: Partial<DashboardSnapshot> = {}): DashboardSnapshot {
  return {
    active_account: "main", paused: null,
    sessions: [{ name: "ccl-auto-1", kind: "pool", state: "idle", task: null, account: null, since: "2026-12-06T20:00:00.000Z" }],
    accounts: [{ name: "main", state: "available" }, { name: "backup", state: "available" }],
    queue: { web: { inbox: 0, active: 0, delegated: 0, done: 0, failed: 0 } }, tasks: [], swaps: [], events: [], delegation: null,
    ...over,
  };
}

function stubDashboard() {
  let current = snapshot();
  const listeners = new Set<(c: { event?: EventRow }) => void>();
  const calls: { action: string; args: unknown[]; origin: Origin }[] = [];
  const api: DashboardApi = {
    snapshot: async () => current,
    subscribe: (l) => {
      listeners.add(l);
      return () => void listeners.delete(l);
    },
    submit: async (project, text, origin) => (calls.push({ action: "submit", args: [project, text], origin }), { status: 200, body: { ok: true, id: "t-1" } }),
    retry: async (project, id, origin) => (calls.push({ action: "retry", args: [project, id], origin }), { status: 200, body: { ok: true, id } }),
    cancel: async (project, id, origin) => (calls.push({ action: "cancel", args: [project, id], origin }), { status: 409, body: { ok: false, error: "not waiting" } }),
    setPaused: async (paused, origin) => (calls.push({ action: "pause", args: [paused], origin }), { status: 200, body: { ok: true, paused } }),
    task: async (project, id) => (id === "t<1>" ? { project, id, folder: "failed", text: "<script>x</script>", truncated: false, attempts: 2, session: null, account: null } : undefined),
    screen: async (name) => (name === "ccl-auto-1" ? "\x1b[31mred\x1b[0m <b>" : undefined),
  };
  return {
    api, calls, listeners,
    set: (s: DashboardSnapshot) => void (current = s),
    push: (change: { event?: EventRow }) => listeners.forEach((l) => l(change)),
  };
}

const base: ApiHandlers = {
  health: () => ({ ok: true }), status: () => ({}), watchdog: () => ({}), metrics: async () => ({ contentType: "text/plain", body: "" }), hook: async () => ({ ok: true }),
  swap: async () => ({ status: 202, body: { ok: true } }),
};

async function serve(dashboard: DashboardApi, token?: string): Promise<RunningServer> {
  return startHttpServer("127.0.0.1:0", createApiHandler({ ...base, dashboard }, { log: silentLogger(), ...(token ? { token } : {}) }));
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

describe("dashboard routes", () => {
  test("GET / is the shell with a strict CSP; its script and stylesheet come from the daemon", async () => {
    const s = await serve(stubDashboard().api);
    try {
      const page = await fetch(`${s.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-type") ?? "", /text\/html/);
      const csp = page.headers.get("content-security-policy") ?? "";
      assert.match(csp, /default-src 'none'; script-src 'self'; style-src 'sha256-[A-Za-z0-9+/=]+'/);
      const html = await page.text();
      assert.match(html, /<script type="module" src="\/assets\/dashboard.js">/);
      // The inlined stylesheet is the one the CSP's hash allows, and the only inline content.
      const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
      assert.equal(`'sha256-${createHash("sha256").update(style).digest("base64")}'`, /style-src ('[^']+')/.exec(csp)![1]);
      assert.match(style, /prefers-color-scheme: dark/);
      assert.doesNotMatch(html, /https?:\/\//, "nothing loaded from outside the host");
      const js = await fetch(`${s.url}/assets/dashboard.js`);
      assert.match(js.headers.get("content-type") ?? "", /javascript/);
      assert.match(await js.text(), /api\/events/);
      assert.equal((await fetch(`${s.url}/assets/other.js`)).status, 404);
      assert.equal((await fetch(`${s.url}/`, { method: "POST" })).status, 405);
    } finally {
      await s.close();
    }
  });

  test("without a dashboard the paths are 404, as before", async () => {
    const s = await startHttpServer("127.0.0.1:0", createApiHandler(base, { log: silentLogger() }));
    try {
      assert.equal((await fetch(`${s.url}/`)).status, 404);
      assert.equal((await fetch(`${s.url}/api/events`)).status, 404);
    } finally {
      await s.close();
    }
  });

  test("with a token: the shell and assets load without it (they hold no data); data and actions need it", async () => {
    const d = stubDashboard();
    const s = await serve(d.api, "s3cret-token");
    try {
      assert.equal((await fetch(`${s.url}/`)).status, 200);
      assert.equal((await fetch(`${s.url}/assets/dashboard.js`)).status, 200);
      assert.doesNotMatch(await (await fetch(`${s.url}/`)).text(), /s3cret-token/);
      for (const path of ["/api/events", "/api/dashboard", "/api/task?project=web&id=t%3C1%3E", "/api/sessions/screen?name=ccl-auto-1"]) {
        assert.equal((await fetch(`${s.url}${path}`)).status, 401, path);
      }
      for (const path of ["/api/tasks", "/api/tasks/retry", "/api/tasks/cancel", "/api/dispatch"]) {
        assert.equal((await post(`${s.url}${path}`, { project: "web", id: "x", text: "x", paused: true })).status, 401, path);
      }
      assert.equal(d.calls.length, 0);
      const auth = { authorization: "Bearer s3cret-token" };
      assert.equal((await fetch(`${s.url}/api/dashboard`, { headers: auth })).status, 200);
      assert.equal((await post(`${s.url}/api/dispatch`, { paused: true }, auth)).status, 200);
    } finally {
      await s.close();
    }
  });

  test("the Host check covers the page too: a rebinding name gets 421 on the shell, its script, the stream and the actions", async () => {
    const d = stubDashboard();
    const s = await serve(d.api, "s3cret-token");
    try {
      const u = new URL(s.url);
      const status = (path: string, method = "GET"): Promise<number> => new Promise((resolve, reject) => {
        const req = http.request({ host: u.hostname, port: u.port, path, method, headers: { host: `evil.example:${u.port}`, authorization: "Bearer s3cret-token" } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
      for (const path of ["/", "/assets/dashboard.js", "/api/events", "/api/dashboard"]) assert.equal(await status(path), 421, path);
      assert.equal(await status("/api/tasks/cancel", "POST"), 421);
      assert.equal(d.calls.length, 0);
    } finally {
      await s.close();
    }
  });

  test("GET /api/events: the rendered view at once, each event as it comes, a new view only when it changed", async () => {
    const d = stubDashboard();
    const s = await serve(d.api);
    try {
      const res = await fetch(`${s.url}/api/events`);
      assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
      const sse = sseReader(res);
      const first = await sse.next();
      assert.equal(first.event, "view");
      assert.match((JSON.parse(first.data) as { sessions: string }).sessions, /ccl-auto-1/);
      d.push({ event: { ts: "2026-12-06T20:00:01.000Z", type: "task_done", task: "t1" } });
      assert.deepEqual(await sse.next(), { event: "event", data: '{"ts":"2026-12-06T20:00:01.000Z","type":"task_done","task":"t1"}' });
      d.set(snapshot({ paused: "paused by operator (dashboard)" }));
      d.push({});
      const view = await sse.next();
      assert.equal(view.event, "view", "the unchanged view after the event was not sent again");
      assert.match((JSON.parse(view.data) as { dispatch: string }).dispatch, /paused by operator/);
      await sse.cancel();
    } finally {
      await s.close();
    }
  });

  test("a view frame is rendered once for all the streams that send it", async () => {
    const d = stubDashboard();
    let renders = 0;
    const counted = snapshot();
    // The queue section reads the tasks once per render.
    d.set(Object.defineProperty({ ...counted }, "tasks", { get: () => (renders++, counted.tasks), enumerable: true }));
    const s = await serve(d.api);
    try {
      const streams = [sseReader(await fetch(`${s.url}/api/events`)), sseReader(await fetch(`${s.url}/api/events`)), sseReader(await fetch(`${s.url}/api/events`))];
      for (const sse of streams) assert.equal((await sse.next()).event, "view");
      assert.equal(renders, 1);
      for (const sse of streams) await sse.cancel();
    } finally {
      await s.close();
    }
  });

  test("closing the server ends open event streams (close() does not hang) and drops their subscriptions", async () => {
    const d = stubDashboard();
    const s = await serve(d.api);
    const sse = sseReader(await fetch(`${s.url}/api/events`));
    await sse.next();
    assert.equal(d.listeners.size, 1);
    await s.close();
    await assert.rejects(sse.next(), /stream ended|terminated/);
    assert.equal(d.listeners.size, 0);
  });

  test("at most 16 event streams: the next one is refused with 503 and a reason", async () => {
    const d = stubDashboard();
    const s = await serve(d.api);
    try {
      const open = [];
      for (let i = 0; i < MAX_STREAMS; i++) {
        const sse = sseReader(await fetch(`${s.url}/api/events`));
        await sse.next();
        open.push(sse);
      }
      const refused = await fetch(`${s.url}/api/events`);
      assert.equal(refused.status, 503);
      assert.match(((await refused.json()) as { error: string }).error, /too many open event streams \(16\)/);
      assert.equal(d.listeners.size, MAX_STREAMS, "the refused one subscribed to nothing");
      for (const sse of open) await sse.cancel();
    } finally {
      await s.close();
    }
  });

  test("a client that stops reading is ended once 1 MiB waits for it, after a bounded number of events", async () => {
    const d = stubDashboard();
    const s = await serve(d.api);
    try {
      const u = new URL(s.url);
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: u.hostname, port: u.port, path: "/api/events" }, resolve).on("error", reject);
      });
      const ended = new Promise<void>((resolve) => res.once("close", () => resolve()).once("error", () => resolve()));
      res.once("data", () => res.pause());
      // The view arrives first; then nothing is read.
      await new Promise<void>((resolve) => res.once("pause", resolve));
      const big = "x".repeat(64 * 1024);
      let pushed = 0;
      // 64 MiB at most: far past the socket buffers and the 1 MiB bound.
      while (d.listeners.size > 0 && pushed < 1024) {
        d.push({ event: { ts: "2026-12-06T20:00:01.000Z", type: "bulk", big } });
        pushed++;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      assert.equal(d.listeners.size, 0, `still subscribed after ${pushed} events of 64 KiB`);
      assert.ok(pushed < 1024);
      res.destroy();
      await ended;
    } finally {
      await s.close();
    }
  });

  test("an event after the server has ended the streams is not written (no write after end)", async () => {
    const d = stubDashboard();
    const handler = createApiHandler({ ...base, dashboard: d.api }, { log: silentLogger() });
    const s = await startHttpServer("127.0.0.1:0", handler);
    try {
      const sse = sseReader(await fetch(`${s.url}/api/events`));
      await sse.next();
      handler.closeStreams();
      // Still subscribed until the response's close event: this write must not throw.
      assert.equal(d.listeners.size, 1);
      d.push({ event: { ts: "2026-12-06T20:00:01.000Z", type: "late" } });
      await assert.rejects(sse.next(), /stream ended|terminated/);
    } finally {
      await s.close();
    }
  });

  test("GET /api/dashboard answers the same sections for polling", async () => {
    const s = await serve(stubDashboard().api);
    try {
      const body = (await (await fetch(`${s.url}/api/dashboard`)).json()) as { sections: Record<string, string> };
      assert.deepEqual(Object.keys(body.sections).sort(), ["accounts", "delegation", "dispatch", "events", "queue", "sessions", "swaps"]);
    } finally {
      await s.close();
    }
  });

  test("actions: validated bodies, the origin says dashboard only when the page sent it, the daemon's answer passed on", async () => {
    const d = stubDashboard();
    const s = await serve(d.api);
    try {
      const r = await post(`${s.url}/api/tasks`, { project: "web", text: "do it" }, { "x-cf-origin": "dashboard" });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { ok: true, id: "t-1" });
      assert.equal((await post(`${s.url}/api/tasks/retry`, { project: "web", id: "t1" })).status, 200);
      assert.equal((await post(`${s.url}/api/tasks/cancel`, { project: "web", id: "t1" })).status, 409);
      assert.equal((await post(`${s.url}/api/dispatch`, { paused: false })).status, 200);
      assert.deepEqual(d.calls.map((c) => [c.action, c.args, c.origin.via]), [
        ["submit", ["web", "do it"], "dashboard"], ["retry", ["web", "t1"], "api"], ["cancel", ["web", "t1"], "api"], ["pause", [false], "api"],
      ]);
      assert.match(d.calls[0]!.origin.remote, /127\.0\.0\.1/);
      const bad: [string, unknown][] = [
        ["/api/tasks", { project: "web" }], ["/api/tasks", { project: "", text: "x" }], ["/api/tasks", { project: 1, text: "x" }],
        ["/api/tasks/retry", { project: "web" }], ["/api/tasks/cancel", { id: "x" }], ["/api/tasks/retry", { project: "web", id: "x".repeat(201) }],
        ["/api/dispatch", { paused: "yes" }], ["/api/dispatch", []], ["/api/tasks", "text"],
      ];
      for (const [path, body] of bad) assert.equal((await post(`${s.url}${path}`, body)).status, 400, `${path} ${JSON.stringify(body)}`);
      assert.equal((await fetch(`${s.url}/api/tasks/retry`, { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" })).status, 415);
      assert.equal(d.calls.length, 4, "no refused body reached the daemon");
    } finally {
      await s.close();
    }
  });

  test("detail views: a task's file and a session's screen come escaped (and the screen without escape sequences); unknown ones are 404", async () => {
    const s = await serve(stubDashboard().api);
    try {
      const task = (await (await fetch(`${s.url}/api/task?project=web&id=t%3C1%3E`)).json()) as { html: string; attempts: number };
      assert.equal(task.attempts, 2);
      assert.match(task.html, /&lt;script&gt;x&lt;\/script&gt;/);
      assert.doesNotMatch(task.html, /<script>/);
      assert.match(task.html, /data-action="retry"/);
      assert.equal((await fetch(`${s.url}/api/task?project=web&id=nope`)).status, 404);
      assert.equal((await fetch(`${s.url}/api/task?project=web`)).status, 400);
      const screen = (await (await fetch(`${s.url}/api/sessions/screen?name=ccl-auto-1`)).json()) as { html: string };
      assert.match(screen.html, /<pre class="screen"[^>]*>red &lt;b&gt;<\/pre>/);
      assert.equal((await fetch(`${s.url}/api/sessions/screen?name=other`)).status, 404);
      assert.equal((await fetch(`${s.url}/api/sessions/screen`)).status, 404);
    } finally {
      await s.close();
    }
  });
});
