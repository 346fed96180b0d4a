import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { FakeClock, flushMicrotasks } from "../lib/test-clock.js";
import { startMockModelApi, type MockModelApi } from "../../test/support/mock-model-api.js";
import { fetchAccountUsage, fetchUsageWithToken, parseUsage, readOAuthCredentials, UsageApiError, type UsageApiErrorCode } from "./usage-api.js";

const TOKEN = "sk-ant-oat01-SECRET-token-value-0123456789";
const NOW = Date.UTC(2026, 3, 17, 2, 0, 0);
let api: MockModelApi;
const roots: string[] = [];

before(async () => {
  api = await startMockModelApi();
});
after(async () => {
  await api.close();
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

async function home(credentials: unknown): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cf-usage-"));
  roots.push(dir);
  if (credentials !== undefined) await writeFile(path.join(dir, ".credentials.json"), typeof credentials === "string" ? credentials : JSON.stringify(credentials));
  return dir;
}

const creds = (token = TOKEN, expiresAt = NOW + 3_600_000) => ({
  claudeAiOauth: { accessToken: token, refreshToken: "sk-ant-ort01-refresh", expiresAt, scopes: ["user:inference"], subscriptionType: "max", rateLimitTier: "default_claude_max_20x" },
});

/** Asserts a UsageApiError of `code` that does not leak the token anywhere. */
function isUsageError(code: UsageApiErrorCode, secret = TOKEN) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof UsageApiError, `expected UsageApiError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    const cause = (e as { cause?: unknown }).cause;
    const everything = `${e.message} ${e.stack ?? ""} ${JSON.stringify(e)} ${cause instanceof Error ? `${cause.message} ${cause.stack ?? ""}` : JSON.stringify(cause ?? null)}`;
    assert.ok(!everything.includes(secret), `the token leaked: ${e.message}`);
    return true;
  };
}

describe("readOAuthCredentials", () => {
  test("reads token, expiry, subscription and tier", async () => {
    assert.deepEqual(await readOAuthCredentials(await home(creds())), {
      accessToken: TOKEN, expiresAt: NOW + 3_600_000, subscriptionType: "max", rateLimitTier: "default_claude_max_20x",
    });
  });

  const bad: [string, unknown, UsageApiErrorCode][] = [
    ["missing file", undefined, "USAGE_CREDENTIALS_MISSING"],
    ["truncated JSON quoting the token", `{"claudeAiOauth":{"accessToken":"${TOKEN}"`, "USAGE_CREDENTIALS_MALFORMED"],
    ["no claudeAiOauth", { other: 1 }, "USAGE_CREDENTIALS_MALFORMED"],
    ["empty token", { claudeAiOauth: { accessToken: "" } }, "USAGE_CREDENTIALS_MALFORMED"],
    ["token not a string", { claudeAiOauth: { accessToken: 12345 } }, "USAGE_CREDENTIALS_MALFORMED"],
    ["an array", [TOKEN], "USAGE_CREDENTIALS_MALFORMED"],
    ["oversized", `{"claudeAiOauth":{"accessToken":"${TOKEN}","pad":"${"x".repeat(100_000)}"}}`, "USAGE_CREDENTIALS_MALFORMED"],
  ];
  for (const [label, content, code] of bad) {
    test(`${label} → ${code}`, async () => {
      await assert.rejects(readOAuthCredentials(await home(content)), isUsageError(code));
    });
  }

  test("a folder in place of the file is malformed", async () => {
    const dir = await home(undefined);
    await mkdir(path.join(dir, ".credentials.json"));
    await assert.rejects(readOAuthCredentials(dir), isUsageError("USAGE_CREDENTIALS_MALFORMED"));
  });

  test("an expiry of the wrong type is ignored, not fatal", async () => {
    const c = await readOAuthCredentials(await home({ claudeAiOauth: { accessToken: TOKEN, expiresAt: "soon" } }));
    assert.deepEqual(c, { accessToken: TOKEN });
  });
});

describe("fetchAccountUsage against the mock", () => {
  const url = (): string => `${api.url}/api/oauth/usage`;
  const clock = new FakeClock(NOW);

  test("parses windows into utilisation and epoch-ms resets, sending the bearer token and beta header", async () => {
    api.setUsage(TOKEN, {
      five_hour: { utilization: 42.5, resets_at: "2026-04-17T04:59:59.000000+00:00" },
      seven_day: { utilization: 98, resets_at: "2026-04-20T10:00:00Z" },
      seven_day_opus: null,
      seven_day_sonnet: { utilization: 0, resets_at: null },
      extra_usage: { is_enabled: false, monthly_limit: null, used_credits: null, utilization: null },
    });
    const usage = await fetchAccountUsage({ home: await home(creds()), url: url(), clock });
    assert.deepEqual(usage, {
      fiveHour: { utilization: 42.5, resetsAt: Date.UTC(2026, 3, 17, 4, 59, 59) },
      sevenDay: { utilization: 98, resetsAt: Date.UTC(2026, 3, 20, 10, 0, 0) },
      sevenDayOpus: null,
      sevenDaySonnet: { utilization: 0, resetsAt: null },
    });
    const request = api.requests.filter((r) => r.path === "/api/oauth/usage").at(-1)!;
    assert.equal(request.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(request.headers["anthropic-beta"], "oauth-2025-04-20");
  });

  test("accounts are told apart by token", async () => {
    const other = "sk-ant-oat01-OTHER-account-token-000000";
    api.setUsage(other, { five_hour: { utilization: 7, resets_at: null }, seven_day: null });
    const usage = await fetchAccountUsage({ home: await home(creds(other)), url: url(), clock });
    assert.deepEqual(usage, { fiveHour: { utilization: 7, resetsAt: null }, sevenDay: null });
  });

  test("an expired token is refused before any request", async () => {
    const before = api.requests.length;
    await assert.rejects(fetchAccountUsage({ home: await home(creds(TOKEN, NOW - 1)), url: url(), clock }), isUsageError("USAGE_TOKEN_EXPIRED"));
    assert.equal(api.requests.length, before);
  });

  test("an HTTP error carries the status, and scrubs a token the body echoes", async () => {
    const echo = "sk-ant-oat01-ECHOED-by-the-server-00000";
    api.setUsage(echo, { status: 401, body: { type: "error", error: { type: "authentication_error", message: `OAuth token ${echo} has been revoked` } } });
    await assert.rejects(fetchAccountUsage({ home: await home(creds(echo)), url: url(), clock }), (e: unknown) => {
      isUsageError("USAGE_HTTP_ERROR", echo)(e);
      assert.equal((e as UsageApiError).status, 401);
      assert.match((e as Error).message, /authentication_error: OAuth token \[redacted\] has been revoked/);
      return true;
    });
  });

  test("a 500 is an HTTP error", async () => {
    const t = "sk-ant-oat01-five-hundred-000000000000";
    api.setUsage(t, { status: 500 });
    await assert.rejects(fetchAccountUsage({ home: await home(creds(t)), url: url(), clock }), (e: unknown) => e instanceof UsageApiError && e.status === 500);
  });

  test("a body of the wrong shape is a bad response", async () => {
    const t = "sk-ant-oat01-bad-shape-0000000000000000";
    api.setUsage(t, { five_hour: { utilization: "high" as unknown as number, resets_at: null }, seven_day: null });
    await assert.rejects(fetchAccountUsage({ home: await home(creds(t)), url: url(), clock }), isUsageError("USAGE_BAD_RESPONSE", t));
  });

  test("nothing listening is a network error without the token", async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    await new Promise((r) => server.close(r));
    await assert.rejects(fetchAccountUsage({ home: await home(creds()), url: `http://127.0.0.1:${port}/api/oauth/usage`, clock }), isUsageError("USAGE_NETWORK"));
  });
});

describe("fetchUsageWithToken: time and cancellation", () => {
  const hanging = (() => new Promise<Response>(() => undefined)) as typeof fetch;

  test("a server that never answers times out at the deadline", async () => {
    const clock = new FakeClock(NOW);
    const pending = fetchUsageWithToken({ token: TOKEN, url: "http://127.0.0.1:9/u", timeoutMs: 5000, fetch: hanging, clock });
    const outcome = assert.rejects(pending, isUsageError("USAGE_TIMEOUT"));
    await flushMicrotasks();
    await clock.advance(5000);
    await outcome;
  });

  test("the caller's signal aborts the request", async () => {
    const clock = new FakeClock(NOW);
    const controller = new AbortController();
    const pending = fetchUsageWithToken({ token: TOKEN, url: "http://127.0.0.1:9/u", fetch: hanging, clock, signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, isUsageError("USAGE_ABORTED"));
  });

  test("an already aborted signal fails at once", async () => {
    await assert.rejects(
      fetchUsageWithToken({ token: TOKEN, url: "http://127.0.0.1:9/u", fetch: hanging, clock: new FakeClock(), signal: AbortSignal.abort() }),
      isUsageError("USAGE_ABORTED"),
    );
  });

  test("a body that is not JSON is a bad response", async () => {
    const html = (async () => new Response("<html>gateway</html>", { status: 200 })) as typeof fetch;
    await assert.rejects(fetchUsageWithToken({ token: TOKEN, url: "http://x/u", fetch: html, clock: new FakeClock() }), isUsageError("USAGE_BAD_RESPONSE"));
  });

  test("a network error quoting the token is scrubbed", async () => {
    const leaky = (async () => {
      throw new TypeError(`fetch failed for Bearer ${TOKEN}`);
    }) as typeof fetch;
    await assert.rejects(fetchUsageWithToken({ token: TOKEN, url: "http://x/u", fetch: leaky, clock: new FakeClock() }), isUsageError("USAGE_NETWORK"));
  });
});

describe("parseUsage", () => {
  const bad: [string, unknown][] = [
    ["null", null],
    ["an array", []],
    ["negative utilisation", { five_hour: { utilization: -1, resets_at: null }, seven_day: null }],
    ["infinite utilisation", { five_hour: { utilization: Infinity, resets_at: null }, seven_day: null }],
    ["a reset that is no date", { five_hour: { utilization: 1, resets_at: "tomorrow-ish" }, seven_day: null }],
    ["a window that is a number", { five_hour: 5, seven_day: null }],
  ];
  for (const [label, body] of bad) test(`refuses ${label}`, () => assert.throws(() => parseUsage(body), isUsageError("USAGE_BAD_RESPONSE")));

  test("missing windows are null; unknown keys are ignored", () => {
    assert.deepEqual(parseUsage({ something_new: { a: 1 } }), { fiveHour: null, sevenDay: null });
  });

  test("utilisation above 100 is kept as reported", () => {
    assert.equal(parseUsage({ five_hour: { utilization: 104, resets_at: null } }).fiveHour?.utilization, 104);
  });
});
