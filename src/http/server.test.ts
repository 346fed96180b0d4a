import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../lib/logger.js";
import { SessionRegistry } from "../pool/registry.js";
import { createMetrics } from "./metrics.js";
import { createApiHandler, parseListen, startHttpServer, tokenMatches, type ApiHandlers, type RunningServer } from "./server.js";

function stubApi(over: Partial<ApiHandlers> = {}): ApiHandlers & { hooks: unknown[] } {
  const hooks: unknown[] = [];
  const registry = new SessionRegistry(() => 0);
  registry.set("ccl-auto-11", "pool", "/tmp", "idle");
  const { registry: prom } = createMetrics({ sessions: registry, loops: () => ({ "pool-reconcile": 1_700_000_000_000 }) });
  return {
    hooks,
    health: () => ({ ok: true }),
    status: () => ({ active_account: "main" }),
    watchdog: () => ({ stale: [] }),
    metrics: async () => ({ contentType: prom.contentType, body: await prom.metrics() }),
    hook: async (b) => {
      if ((b as { event?: unknown }).event === undefined) return { ok: false, reason: "no event" };
      hooks.push(b);
      return { ok: true };
    },
    ...over,
  };
}

async function serve(api: ApiHandlers, token?: string): Promise<RunningServer> {
  return startHttpServer("127.0.0.1:0", createApiHandler(api, { log: silentLogger(), token }));
}

describe("HTTP API", () => {
  let server: RunningServer;
  let api: ReturnType<typeof stubApi>;
  before(async () => {
    api = stubApi();
    server = await serve(api);
  });
  after(() => server.close());

  test("binds to loopback", () => assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/));

  test("GET /health is 200 {ok:true}", async () => {
    const r = await fetch(`${server.url}/health`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ok: true });
  });

  test("GET /status answers JSON", async () => {
    const r = await fetch(`${server.url}/status`);
    assert.match(r.headers.get("content-type") ?? "", /application\/json/);
    assert.deepEqual(await r.json(), { active_account: "main" });
  });

  test("GET /metrics is Prometheus text with sessions by state and process metrics", async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /claude_failover_sessions\{kind="pool",state="idle"\} 1/);
    assert.match(text, /claude_failover_sessions\{kind="dedicated",state="busy"\} 0/);
    assert.match(text, /claude_failover_process_resident_memory_bytes \d+/);
    assert.match(text, /claude_failover_loop_last_tick_seconds\{loop="pool-reconcile"\} 1700000000/);
  });

  test("POST /api/hook takes JSON and refuses what is not", async () => {
    const ok = await fetch(`${server.url}/api/hook`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"event":"Stop"}' });
    assert.equal(ok.status, 202);
    assert.deepEqual(api.hooks.at(-1), { event: "Stop" });
    const bad = await fetch(`${server.url}/api/hook`, { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    assert.equal(bad.status, 400);
    const refused = await fetch(`${server.url}/api/hook`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(refused.status, 400);
    assert.deepEqual(await refused.json(), { ok: false, error: "no event" });
    const type = await fetch(`${server.url}/api/hook`, { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" });
    assert.equal(type.status, 415);
    const big = await fetch(`${server.url}/api/hook`, { method: "POST", headers: { "content-type": "application/json" }, body: `"${"x".repeat(1024 * 1024 + 10)}"` });
    assert.equal(big.status, 413);
  });

  test("unknown paths are 404, wrong methods 405, unbuilt swap 501, delegation off 404", async () => {
    assert.equal((await fetch(`${server.url}/nope`)).status, 404);
    assert.equal((await fetch(`${server.url}/status`, { method: "DELETE" })).status, 405);
    const swap = await fetch(`${server.url}/api/swap`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(swap.status, 501);
    assert.equal((await fetch(`${server.url}/api/delegated/status`)).status, 404);
  });

  test("a throwing handler is a 500 without internals", async () => {
    const s = await serve(stubApi({ status: () => { throw new Error("secret internals"); } }));
    try {
      const r = await fetch(`${s.url}/status`);
      assert.equal(r.status, 500);
      assert.doesNotMatch(await r.text(), /secret internals/);
    } finally {
      await s.close();
    }
  });
});

describe("HTTP API with health failing", () => {
  test("/health is 503 with the reason", async () => {
    const s = await serve(stubApi({ health: () => ({ ok: false, reason: "partial-swap" }) }));
    try {
      const r = await fetch(`${s.url}/health`);
      assert.equal(r.status, 503);
      assert.deepEqual(await r.json(), { ok: false, reason: "partial-swap" });
    } finally {
      await s.close();
    }
  });
});

describe("bearer token", () => {
  test("every request needs the token when one is configured", async () => {
    const s = await serve(stubApi(), "s3cret-token");
    try {
      assert.equal((await fetch(`${s.url}/health`)).status, 401);
      assert.equal((await fetch(`${s.url}/health`, { headers: { authorization: "Bearer wrong" } })).status, 401);
      assert.equal((await fetch(`${s.url}/health`, { headers: { authorization: "s3cret-token" } })).status, 401);
      assert.equal((await fetch(`${s.url}/health`, { headers: { authorization: "Bearer s3cret-token" } })).status, 200);
    } finally {
      await s.close();
    }
  });

  test("tokenMatches compares whole tokens", () => {
    assert.equal(tokenMatches("Bearer abc", "abc"), true);
    assert.equal(tokenMatches("Bearer ab", "abc"), false);
    assert.equal(tokenMatches("Bearer abcd", "abc"), false);
    assert.equal(tokenMatches(undefined, "abc"), false);
  });
});

test("parseListen reads v4, names and [v6]", () => {
  assert.deepEqual(parseListen("127.0.0.1:7420"), { host: "127.0.0.1", port: 7420 });
  assert.deepEqual(parseListen("localhost:0"), { host: "localhost", port: 0 });
  assert.deepEqual(parseListen("[::1]:7420"), { host: "::1", port: 7420 });
});
