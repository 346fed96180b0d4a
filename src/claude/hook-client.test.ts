import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { FakeClock, flushMicrotasks } from "../lib/test-clock.js";
import { buildPayload, drainSpool, httpPost, MAX_PAYLOAD_BYTES, readStdinBounded, runHookCommand, spoolDir, spoolEnvelope, type DrainedEvent, type PostFn } from "./hook-client.js";
import type { HookEnvelope } from "./hooks.js";

const SID = "11111111-2222-4333-8444-555555555555";
const STOP = JSON.stringify({ session_id: SID, hook_event_name: "Stop", last_assistant_message: "done", cwd: "/tmp/p" });

const roots: string[] = [];
const servers: Server[] = [];
after(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

async function tmp(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cf-hook-"));
  roots.push(dir);
  return dir;
}

interface Received { headers: IncomingMessage["headers"]; body: HookEnvelope }

/** A stand-in daemon on loopback answering `/api/hook` with `status`. */
async function daemon(status = 204): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/api/hook" && req.method === "POST") received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) as HookEnvelope });
      res.writeHead(status).end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/** A loopback port with nothing listening. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}`;
}

const env = { TMUX_PANE: "%7", CLAUDE_CONFIG_DIR: "/home/ops/.claude-main", CLAUDE_CODE_SESSION_ID: SID, SECRET: "not forwarded" };

describe("runHookCommand", () => {
  test("delivers {event, payload, received_at, context} to /api/hook with the bearer token", async () => {
    const d = await daemon();
    const clock = new FakeClock(Date.UTC(2026, 3, 17, 2, 17, 19));
    const r = await runHookCommand({ event: "Stop", stdinText: STOP, env, stateDir: await tmp(), daemonUrl: `${d.url}/`, token: "tok-123", clock });
    assert.deepEqual(r, { outcome: "delivered" });
    assert.equal(d.received.length, 1);
    assert.deepEqual(d.received[0]!.body, {
      event: "Stop", payload: JSON.parse(STOP) as unknown, received_at: "2026-04-17T02:17:19.000Z",
      context: { tmux_pane: "%7", config_dir: "/home/ops/.claude-main", claude_session_id: SID },
    });
    assert.equal(d.received[0]!.headers.authorization, "Bearer tok-123");
  });

  test("daemon down: the envelope is spooled (0700 folder, 0600 file) and drains back intact", async () => {
    const stateDir = await tmp();
    const r = await runHookCommand({ event: "StopFailure", stdinText: STOP, env, stateDir, daemonUrl: await deadUrl(), token: "tok-secret" });
    assert.equal(r.outcome, "spooled");
    assert.match(r.problem ?? "", /unreachable: .*ECONNREFUSED/);
    assert.doesNotMatch(r.problem ?? "", /tok-secret/);
    assert.equal((await stat(spoolDir(stateDir))).mode & 0o777, 0o700);
    assert.equal((await stat(r.spoolFile!)).mode & 0o777, 0o600);
    const drained: DrainedEvent[] = [];
    const result = await drainSpool(spoolDir(stateDir), async (e) => {
      drained.push(e);
    });
    assert.deepEqual(result, { delivered: 1, kept: [], rejected: [] });
    assert.equal(drained[0]!.event.kind, "Stop", "the payload's own event name is what counts");
    assert.equal(drained[0]!.event.sessionId, SID);
    assert.equal(drained[0]!.envelope.event, "StopFailure");
    assert.deepEqual(await readdir(spoolDir(stateDir)), [], "a handled file is deleted");
  });

  test("a daemon answering 500 gets the event spooled", async () => {
    const d = await daemon(500);
    const r = await runHookCommand({ event: "Stop", stdinText: STOP, env: {}, stateDir: await tmp(), daemonUrl: d.url });
    assert.equal(r.outcome, "spooled");
    assert.match(r.problem ?? "", /HTTP 500/);
  });

  test("a daemon that never answers is cut off at the deadline, even if the post ignores its abort signal", async () => {
    const clock = new FakeClock();
    const stateDir = await tmp();
    let called = false;
    const hanging: PostFn = () => {
      called = true;
      return new Promise(() => undefined);
    };
    const pending = runHookCommand({ event: "Stop", stdinText: STOP, env: {}, stateDir, daemonUrl: "http://127.0.0.1:9", timeoutMs: 2000, post: hanging, clock });
    await flushMicrotasks();
    assert.ok(called);
    await clock.advance(1999);
    let settled = false;
    void pending.then(() => (settled = true));
    await flushMicrotasks();
    assert.equal(settled, false, "not before the deadline");
    await clock.advance(1);
    const r = await pending;
    assert.equal(r.outcome, "spooled");
    assert.match(r.problem ?? "", /within 2000 ms/);
  });

  test("the post is aborted at the deadline", async () => {
    const clock = new FakeClock();
    let signal: AbortSignal | undefined;
    const honest: PostFn = (_url, init) => {
      signal = init.signal;
      return new Promise((_resolve, reject) => signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))));
    };
    const pending = runHookCommand({ event: "Stop", stdinText: STOP, env: {}, stateDir: await tmp(), daemonUrl: "http://127.0.0.1:9", timeoutMs: 500, post: honest, clock });
    await flushMicrotasks();
    await clock.advance(500);
    assert.equal((await pending).outcome, "spooled");
    assert.equal(signal?.aborted, true);
  });

  test("non-JSON stdin is forwarded wrapped, never dropped", async () => {
    const d = await daemon();
    const r = await runHookCommand({ event: "Notification", stdinText: "this is not json {", env: {}, stateDir: await tmp(), daemonUrl: d.url });
    assert.equal(r.outcome, "delivered");
    assert.deepEqual(d.received[0]!.body.payload, { _invalid_json: true, _raw: "this is not json {" });
  });

  test("an invalid event argument becomes Unknown", async () => {
    const d = await daemon();
    await runHookCommand({ event: "../../etc", stdinText: STOP, env: {}, stateDir: await tmp(), daemonUrl: d.url });
    assert.equal(d.received[0]!.body.event, "Unknown");
  });

  test("when even the spool cannot be written the result is dropped, and nothing throws", async () => {
    const root = await tmp();
    const stateDir = path.join(root, "a-file");
    await writeFile(stateDir, "x");
    const r = await runHookCommand({ event: "Stop", stdinText: STOP, env: {}, stateDir, daemonUrl: await deadUrl() });
    assert.equal(r.outcome, "dropped");
    assert.match(r.problem ?? "", /spooling failed/);
  });

  test("a payload near the cap still makes a body the daemon accepts (≤ 1 MiB with its envelope)", async () => {
    const d = await daemon();
    const near = JSON.stringify({ session_id: SID, hook_event_name: "Stop", last_assistant_message: "\u0001".repeat(1) + "m".repeat(MAX_PAYLOAD_BYTES - 200) });
    const seen: number[] = [];
    const measuring: PostFn = (url, init) => {
      seen.push(Buffer.byteLength(init.body));
      return httpPost(url, init);
    };
    const r = await runHookCommand({ event: "Stop", stdinText: near, env: { CLAUDE_CONFIG_DIR: "/x".repeat(3000) }, stateDir: await tmp(), daemonUrl: d.url, post: measuring });
    assert.equal(r.outcome, "delivered");
    assert.ok(seen[0]! <= MAX_PAYLOAD_BYTES, `body of ${seen[0]} bytes`);
    const payload = d.received[0]!.body.payload as Record<string, unknown>;
    assert.equal(payload.session_id, SID);
    assert.equal(payload._truncated, true);
  });

  test("a daemon that drops the connection in the middle of its answer gets the event spooled", async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        // Headers and half a body promised, then the socket is gone.
        res.writeHead(200, { "content-length": "100" });
        res.write("{\"ok\":");
        res.socket?.destroy();
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const r = await runHookCommand({ event: "Stop", stdinText: STOP, env: {}, stateDir: await tmp(), daemonUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    assert.equal(r.outcome, "spooled");
    assert.match(r.problem ?? "", /unreachable/);
  });

  test("an https daemon URL is spooled with the reason: the daemon serves plain HTTP", async () => {
    const r = await runHookCommand({ event: "Stop", stdinText: STOP, env: {}, stateDir: await tmp(), daemonUrl: "https://127.0.0.1:9" });
    assert.equal(r.outcome, "spooled");
    assert.match(r.problem ?? "", /https: is not served/);
  });

  test("a malformed daemon URL is spooled, not thrown", async () => {
    const r = await runHookCommand({ event: "Stop", stdinText: STOP, env: {}, stateDir: await tmp(), daemonUrl: "not a url" });
    assert.equal(r.outcome, "spooled");
  });
});

describe("buildPayload", () => {
  test("JSON within the cap is passed through", () => {
    assert.deepEqual(buildPayload(STOP, MAX_PAYLOAD_BYTES), JSON.parse(STOP));
  });

  test("an oversized JSON payload keeps its routing fields and shrinks its long strings", () => {
    const huge = JSON.stringify({ session_id: SID, hook_event_name: "Stop", last_assistant_message: "y".repeat(3 * MAX_PAYLOAD_BYTES) });
    const p = buildPayload(huge, MAX_PAYLOAD_BYTES) as Record<string, unknown>;
    assert.equal(p.session_id, SID);
    assert.equal(p._truncated, true);
    assert.ok(Buffer.byteLength(JSON.stringify(p)) <= MAX_PAYLOAD_BYTES);
    assert.ok(String(p.last_assistant_message).startsWith("yyy"));
  });

  test("an oversized payload made of many fields falls back to the salvaged routing fields", () => {
    const fields = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, "z".repeat(60_000)]));
    const huge = JSON.stringify({ session_id: SID, hook_event_name: "Stop", ...fields });
    assert.deepEqual(buildPayload(huge, MAX_PAYLOAD_BYTES), { session_id: SID, hook_event_name: "Stop", _truncated: true });
  });

  test("a cut-off JSON payload (stdin read up to the cap) still yields its session id", () => {
    const cut = `{"session_id":"${SID}","hook_event_name":"StopFailure","error":"rate_limit","last_assistant_message":"${"q".repeat(5000)}`;
    const p = buildPayload(cut, 1000) as Record<string, unknown>;
    assert.equal(p.session_id, SID);
    assert.equal(p.hook_event_name, "StopFailure");
    assert.equal(p.error, "rate_limit");
    assert.equal(p._invalid_json, true);
    assert.equal(p._truncated, true);
    assert.ok(String(p._raw).length <= 4096);
  });

  test("hostile escapes in salvaged fields stay data", () => {
    const p = buildPayload(`{"session_id":"a\\"b","hook_event_name":"Stop\\u0000", broken`, 10_000) as Record<string, unknown>;
    assert.equal(p.session_id, 'a"b');
    assert.equal(p.hook_event_name, "Stop\u0000");
  });

  test("empty stdin is wrapped as invalid JSON", () => {
    assert.deepEqual(buildPayload("", MAX_PAYLOAD_BYTES), { _invalid_json: true, _raw: "" });
  });
});

describe("spoolEnvelope", () => {
  test("names are unique and sort by time, even when written at the same instant", async () => {
    const stateDir = await tmp();
    const clock = new FakeClock(1_000);
    const files = await Promise.all(Array.from({ length: 50 }, () => spoolEnvelope(stateDir, "Stop", "{}", clock)));
    assert.equal(new Set(files).size, 50);
    clock.now = () => 2_000;
    const later = await spoolEnvelope(stateDir, "Stop", "{}", clock);
    const names = (await readdir(spoolDir(stateDir))).sort();
    assert.equal(names.at(-1), path.basename(later));
    assert.equal(names.length, 51);
  });
});

describe("drainSpool", () => {
  function envelope(event: string, at: string, sid = SID): string {
    return JSON.stringify({ event, payload: { session_id: sid, hook_event_name: event }, received_at: at });
  }

  test("a missing spool folder drains nothing", async () => {
    assert.deepEqual(await drainSpool(path.join(await tmp(), "none"), async () => undefined), { delivered: 0, kept: [], rejected: [] });
  });

  test("delivers oldest first; moves malformed files aside; ignores dot-files and other names", async () => {
    const dir = path.join(await tmp(), "hook-spool");
    await mkdir(dir);
    await writeFile(path.join(dir, "000000000000002-1-aa-Stop.json"), envelope("Stop", "2026-01-01T00:00:02Z"));
    await writeFile(path.join(dir, "000000000000001-1-bb-SessionStart.json"), envelope("SessionStart", "2026-01-01T00:00:01Z"));
    await writeFile(path.join(dir, "000000000000003-1-cc-Stop.json"), '{"event":"Stop","payload":{"session_id":"x"');
    await writeFile(path.join(dir, "000000000000004-1-dd-Stop.json"), JSON.stringify({ event: "Stop", payload: {}, received_at: "2026-01-01T00:00:00Z" }));
    await writeFile(path.join(dir, "000000000000005-1-ee-Stop.json"), JSON.stringify({ hello: "world" }));
    await writeFile(path.join(dir, "000000000000006-1-ff-Stop.json"), "\u0000\u00ff binary");
    await writeFile(path.join(dir, ".000000000000007-1-gg-Stop.json.123.tmp"), "half written");
    await writeFile(path.join(dir, "notes.txt"), "not a spool file");
    await writeFile(path.join(dir, "000000000000008-1-hh-Stop.json"), "x".repeat(400));
    await symlink("/etc/passwd", path.join(dir, "000000000000009-1-ii-Stop.json"));
    const seen: string[] = [];
    const result = await drainSpool(dir, async (e) => {
      seen.push(e.event.kind);
    }, { maxFileBytes: 300 });
    assert.deepEqual(seen, ["SessionStart", "Stop"]);
    assert.equal(result.delivered, 2);
    assert.deepEqual(result.kept, []);
    assert.deepEqual(result.rejected.map((r) => path.basename(r.file)).sort(), [
      "000000000000003-1-cc-Stop.json", "000000000000004-1-dd-Stop.json", "000000000000005-1-ee-Stop.json",
      "000000000000006-1-ff-Stop.json", "000000000000008-1-hh-Stop.json", "000000000000009-1-ii-Stop.json",
    ]);
    assert.ok(result.rejected.every((r) => r.problem.length > 0));
    assert.deepEqual((await readdir(dir)).sort(), [".000000000000007-1-gg-Stop.json.123.tmp", "notes.txt", "rejected"]);
    assert.equal((await readdir(path.join(dir, "rejected"))).length, 6);
    assert.equal(await readFile("/etc/passwd", "utf8").then((t) => t.length > 0), true, "a symlink is moved, its target untouched");
  });

  test("a failing handler leaves the file for the next drain and carries on with the rest", async () => {
    const dir = path.join(await tmp(), "hook-spool");
    await mkdir(dir);
    await writeFile(path.join(dir, "1-a.json"), envelope("Stop", "2026-01-01T00:00:01Z", "session-a"));
    await writeFile(path.join(dir, "2-b.json"), envelope("Stop", "2026-01-01T00:00:02Z", "session-b"));
    const result = await drainSpool(dir, async (e) => {
      if (e.event.sessionId === "session-a") throw new Error("daemon not ready");
    });
    assert.equal(result.delivered, 1);
    assert.deepEqual(result.kept.map((k) => [path.basename(k.file), k.problem]), [["1-a.json", "handler failed: daemon not ready"]]);
    assert.deepEqual(await readdir(dir), ["1-a.json"]);
    const again = await drainSpool(dir, async () => undefined);
    assert.equal(again.delivered, 1);
  });
});

describe("readStdinBounded", () => {
  test("reads everything up to end of input", async () => {
    const s = new PassThrough();
    s.end(STOP);
    assert.equal(await readStdinBounded(s), STOP);
  });

  test("stops at the size cap", async () => {
    const s = new PassThrough();
    s.write("a".repeat(100));
    s.write("b".repeat(100));
    assert.equal(await readStdinBounded(s, { maxBytes: 150 }), `${"a".repeat(100)}${"b".repeat(50)}`);
  });

  test("a writer that never closes is cut off at the deadline with what it sent", async () => {
    const clock = new FakeClock();
    const s = new PassThrough();
    s.write("partial");
    const pending = readStdinBounded(s, { timeoutMs: 1000, clock });
    await flushMicrotasks();
    await clock.advance(1000);
    assert.equal(await pending, "partial");
  });

  test("a terminal on stdin reads as empty, without waiting", async () => {
    const s = Object.assign(new PassThrough(), { isTTY: true });
    assert.equal(await readStdinBounded(s), "");
  });
});
