import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
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
    swap: async (to) => ({ status: 202, body: { ok: true, to: to ?? null } }),
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

  test("unknown paths are 404, wrong methods 405, a swap reaches its handler, delegation off 404", async () => {
    assert.equal((await fetch(`${server.url}/nope`)).status, 404);
    assert.equal((await fetch(`${server.url}/status`, { method: "DELETE" })).status, 405);
    const swap = await fetch(`${server.url}/api/swap`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(swap.status, 202);
    assert.deepEqual(await swap.json(), { ok: true, to: null });
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

/** A raw request with a Host header of our choosing (fetch sets Host itself). */
function requestWithHost(url: string, path: string, host: string | undefined, headers: Record<string, string> = {}): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method: "GET", setHost: host !== undefined, headers: { ...(host !== undefined ? { host } : {}), ...headers } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("POST /api/swap is strict", () => {
  const cases: [string, string][] = [
    ["an array", "[]"],
    ["a string", '"main"'],
    ["a number", "7"],
    ["null", "null"],
    ["an empty body", ""],
    ["to empty", '{"to":""}'],
    ["to blank", '{"to":"  "}'],
    ["to a number", '{"to":3}'],
    ["to an object", '{"to":{"name":"main"}}'],
    ["to null", '{"to":null}'],
  ];
  for (const [name, body] of cases) {
    test(`${name} is 400 and requests no swap`, async () => {
      const asked: (string | undefined)[] = [];
      const s = await serve(stubApi({ swap: async (to) => { asked.push(to); return { status: 200, body: { ok: true } }; } }));
      try {
        const r = await fetch(`${s.url}/api/swap`, { method: "POST", headers: { "content-type": "application/json" }, body });
        assert.equal(r.status, 400);
        assert.deepEqual(asked, []);
      } finally {
        await s.close();
      }
    });
  }

  test("{} and {to: NAME} reach the swap", async () => {
    const asked: (string | undefined)[] = [];
    const s = await serve(stubApi({ swap: async (to) => { asked.push(to); return { status: 200, body: { ok: true } }; } }));
    try {
      for (const body of ["{}", '{"to":"spare"}']) {
        assert.equal((await fetch(`${s.url}/api/swap`, { method: "POST", headers: { "content-type": "application/json" }, body })).status, 200);
      }
      assert.deepEqual(asked, [undefined, "spare"]);
    } finally {
      await s.close();
    }
  });
});

describe("Host check (DNS rebinding)", () => {
  let s: RunningServer;
  let port: string;
  before(async () => {
    s = await startHttpServer("127.0.0.1:0", createApiHandler(stubApi(), { log: silentLogger(), listenHost: "127.0.0.1", allowedHosts: ["cf.example.lan"] }));
    port = new URL(s.url).port;
  });
  after(() => s.close());

  const allowed = ["127.0.0.1", "localhost", "LOCALHOST", "[::1]", "cf.example.lan", "cf.example.lan."];
  for (const name of allowed) {
    test(`Host ${name} (with and without the port) passes`, async () => {
      assert.equal(await requestWithHost(s.url, "/health", `${name}:${port}`), 200);
      assert.equal(await requestWithHost(s.url, "/health", name), 200);
    });
  }

  const refused = ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example", "a b", "127.0.0.2"];
  for (const host of refused) {
    test(`Host ${JSON.stringify(host)} is 421 on every route`, async () => {
      for (const path of ["/health", "/status", "/metrics", "/nope"]) assert.equal(await requestWithHost(s.url, path, host), 421, path);
    });
  }

  test("a listen name on another port is 421", async () => {
    assert.equal(await requestWithHost(s.url, "/health", `127.0.0.1:${Number(port) === 1 ? 2 : 1}`), 421);
  });

  test("no Host header at all is refused", async () => {
    // Node itself answers 400 to an HTTP/1.1 request without Host; the gate would say 421.
    assert.ok([400, 421].includes(await requestWithHost(s.url, "/health", undefined)));
  });

  test("the Host check comes before the token: a rebinding page gets 421, not a 401 to probe", async () => {
    const t = await startHttpServer("127.0.0.1:0", createApiHandler(stubApi(), { log: silentLogger(), token: "tok" }));
    try {
      assert.equal(await requestWithHost(t.url, "/health", "evil.example", { authorization: "Bearer tok" }), 421);
      assert.equal(await requestWithHost(t.url, "/health", "localhost", { authorization: "Bearer tok" }), 200);
      assert.equal(await requestWithHost(t.url, "/health", "localhost"), 401);
    } finally {
      await t.close();
    }
  });
});

describe("slow headers", () => {
  // Real server, real socket: the bound is the point. Headers trickle in and never finish.
  test("a client still sending headers after headersTimeout is cut off then, not ~30 s later", async () => {
    const headersTimeoutMs = 600;
    const s = await startHttpServer("127.0.0.1:0", createApiHandler(stubApi(), { log: silentLogger() }), { headersTimeoutMs, requestTimeoutMs: 5_000 });
    const u = new URL(s.url);
    const socket = net.connect(Number(u.port), u.hostname);
    const started = performance.now();
    let trickle: NodeJS.Timeout | undefined;
    try {
      const closedAfter = await new Promise<number>((resolve, reject) => {
        const bound = setTimeout(() => reject(new Error("the server still held the connection after 8 s")), 8_000);
        socket.on("connect", () => {
          socket.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
          let n = 0;
          trickle = setInterval(() => socket.write(`X-Slow-${n++}: 1\r\n`), 100);
        });
        socket.on("error", () => undefined);
        socket.on("close", () => {
          clearTimeout(bound);
          resolve(performance.now() - started);
        });
        socket.resume();
      });
      assert.ok(closedAfter >= headersTimeoutMs - 50, `closed after ${closedAfter} ms, before the timeout`);
      // Node's default check interval (30 s) would hold it far longer; the margin is for a loaded machine.
      assert.ok(closedAfter < headersTimeoutMs + 4_000, `closed after ${closedAfter} ms`);
    } finally {
      clearInterval(trickle);
      socket.destroy();
      await s.close();
    }
  });
});
