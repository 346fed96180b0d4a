import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { FakeClock } from "../lib/test-clock.js";
import { IllegalStateError } from "../lib/errors.js";
import { EventLog, isSecretKey, redactSecrets, type EventLogOptions } from "./event-log.js";
import { StateError } from "./store.js";

let dir: string;
let clock: FakeClock;

beforeEach(async () => {
  dir = path.join(await mkdtemp(path.join(os.tmpdir(), "cf-events-")), "state");
  clock = new FakeClock(Date.UTC(2026, 3, 17, 2, 17, 19));
});
afterEach(async () => {
  await rm(path.dirname(dir), { recursive: true, force: true });
});

// The log's mechanics do not depend on the daemon's vocabulary: these tests append any type.
interface EventInput {
  type: string;
  [field: string]: unknown;
}

function makeLog(extra: Partial<EventLogOptions> = {}): EventLog<EventInput> {
  return new EventLog<EventInput>({ dir, clock, ...extra });
}

const eventsFile = (): string => path.join(dir, "events.jsonl");

async function lines(file = eventsFile()): Promise<unknown[]> {
  const text = await readFile(file, "utf8");
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as unknown);
}

/** Writes raw text as the events file, as a crash or another writer might have left it. */
async function plant(text: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(eventsFile(), text);
}

const ev = (i: number): string => `${JSON.stringify({ ts: "2026-01-01T00:00:00.000Z", type: "t", i })}\n`;

void describe("EventLog", () => {
  void test("append adds ts from the clock, writes one line per event, file 0600 in a 0700 folder", async () => {
    const log = makeLog();
    await log.append({ type: "swap", from: "main", to: "backup" });
    await clock.advance(1500);
    await log.append({ type: "task_done", task: "t1", ts: "caller's ts is ignored" });
    await log.close();
    assert.deepEqual(await lines(), [
      { ts: "2026-04-17T02:17:19.000Z", type: "swap", from: "main", to: "backup" },
      { ts: "2026-04-17T02:17:20.500Z", type: "task_done", task: "t1" },
    ]);
    assert.equal((await stat(eventsFile())).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
  });

  void test("concurrent appends are serialised: every line whole, in call order", async () => {
    const log = makeLog();
    const big = "x".repeat(100_000);
    await Promise.all(Array.from({ length: 200 }, (_, i) => log.append({ type: "n", i, pad: i % 10 === 0 ? big : "" })));
    await log.close();
    assert.deepEqual((await lines()).map((l) => (l as { i: number }).i), Array.from({ length: 200 }, (_, i) => i));
  });

  void test("an event that cannot be serialised is dropped and reported, and later appends still work", async () => {
    const errors: unknown[] = [];
    const log = makeLog({ onError: (e) => errors.push(e) });
    await log.append({ type: "bad", n: 10n });
    await log.append({ type: "" });
    await log.append({ type: "good" });
    await log.close();
    assert.deepEqual(errors.map((e) => e instanceof StateError && e.code), ["EVENT_NOT_SERIALISABLE", "EVENT_NOT_SERIALISABLE"]);
    assert.equal(log.dropped, 2);
    assert.deepEqual((await lines()).map((l) => (l as { type: string }).type), ["good"]);
  });

  void test("close is idempotent and later appends are dropped with IllegalStateError", async () => {
    const errors: unknown[] = [];
    const log = makeLog({ onError: (e) => errors.push(e) });
    await log.append({ type: "a" });
    const c = log.close();
    assert.equal(log.close(), c);
    await c;
    await log.append({ type: "late" });
    assert.ok(errors[0] instanceof IllegalStateError);
    assert.equal((await lines()).length, 1);
  });

  void test("a write failure is reported, not thrown", async () => {
    const errors: unknown[] = [];
    await mkdir(path.join(dir, "events.jsonl"), { recursive: true }); // a folder where the file should be
    const log = makeLog({ onError: (e) => errors.push(e) });
    await log.append({ type: "a" });
    assert.ok(errors[0] instanceof StateError && errors[0].code === "EVENT_WRITE_FAILED");
  });

  void test("secrets are redacted on the way in", async () => {
    const log = makeLog();
    await log.append({ type: "x", token: "t0p", headers: { Authorization: "Bearer abc" }, input_tokens: 12 });
    await log.close();
    const text = await readFile(eventsFile(), "utf8");
    assert.ok(!text.includes("t0p") && !text.includes("Bearer abc"), text);
    assert.deepEqual(await lines(), [
      { ts: "2026-04-17T02:17:19.000Z", type: "x", token: "[redacted]", headers: { Authorization: "[redacted]" }, input_tokens: 12 },
    ]);
  });
});

void describe("redactSecrets", () => {
  const keys: [string, boolean][] = [
    ["token", true], ["bot_token", true], ["accessToken", true], ["apiKey", true], ["api_key", true], ["API-KEY", true],
    ["key", true], ["private_key", true], ["secret", true], ["client_secret", true], ["password", true], ["passwd", true],
    ["Authorization", true], ["credentials", true], ["cookie", true],
    ["task", false], ["session", false], ["keyboard", false], ["account", false], ["reason", false],
  ];
  for (const [key, secret] of keys) {
    void test(`key ${key} is ${secret ? "" : "not "}a secret`, () => {
      assert.equal(isSecretKey(key), secret);
    });
  }

  void test("redacts at any depth, in arrays, keeps counts, and cuts cycles", () => {
    const cyclic: Record<string, unknown> = { name: "c" };
    cyclic.self = cyclic;
    const input = {
      nested: { deeper: [{ password: "p", ok: "visible" }] },
      env: { ANTHROPIC_API_KEY: "sk-ant-xyz", PATH: "/bin" },
      output_tokens: 40,
      refresh_token: null,
      credentials: { accessToken: "a" },
      cyclic,
    };
    assert.deepEqual(redactSecrets(input), {
      nested: { deeper: [{ password: "[redacted]", ok: "visible" }] },
      env: { ANTHROPIC_API_KEY: "[redacted]", PATH: "/bin" },
      output_tokens: 40,
      refresh_token: null,
      credentials: "[redacted]",
      cyclic: { name: "c", self: "[circular]" },
    });
  });

  void test("an Error becomes name, message and code", () => {
    const err = Object.assign(new Error("boom"), { code: "E1", secret: "s" });
    assert.deepEqual(redactSecrets({ error: err }), { error: { name: "Error", message: "boom", code: "E1" } });
  });
});

void describe("EventLog.readTail", () => {
  void test("returns the last n events oldest first", async () => {
    const log = makeLog();
    for (let i = 0; i < 10; i++) await log.append({ type: "n", i });
    const tail = await log.readTail(3);
    assert.deepEqual(tail.events.map((e) => e.i), [7, 8, 9]);
    assert.equal(tail.skipped, 0);
  });

  void test("a half-written last line is skipped and counted", async () => {
    await plant(`${ev(1)}${ev(2)}{"ts":"2026-01-01T00:00:00.000Z","type":"t","i":`);
    const tail = await makeLog().readTail(5);
    assert.deepEqual(tail.events.map((e) => e.i), [1, 2]);
    assert.equal(tail.skipped, 1);
  });

  void test("malformed lines are skipped and counted; blank lines are not lines", async () => {
    await plant(`${ev(1)}not json\n\n[1,2]\n{"type":"no ts"}\n${ev(2)}\n`);
    const tail = await makeLog().readTail(10);
    assert.deepEqual(tail.events.map((e) => e.i), [1, 2]);
    assert.equal(tail.skipped, 3);
  });

  void test("a 5 MB file: the tail is read from the end, in bounded bytes", async () => {
    await mkdir(dir, { recursive: true });
    const pad = "p".repeat(200);
    const block = Array.from({ length: 5000 }, (_, i) => `${JSON.stringify({ ts: "x", type: "t", i, pad })}\n`).join("");
    for (let k = 0; k < 5; k++) await appendFile(eventsFile(), block.replace(/"i":(\d+)/g, (_, d: string) => `"i":${k * 5000 + Number(d)}`));
    assert.ok((await stat(eventsFile())).size > 5_000_000);
    const tail = await makeLog().readTail(10);
    assert.deepEqual(tail.events.map((e) => e.i), Array.from({ length: 10 }, (_, j) => 24_990 + j));
    assert.ok(tail.bytesRead <= 64 * 1024, `read ${tail.bytesRead} bytes`);
  });

  // The long line is a valid event, so only the length limit keeps it out of the answer.
  const long = (): string => JSON.stringify({ ts: "x", type: "t", i: 99, pad: "z".repeat(300_000) });
  const longLineCases: { name: string; text: () => string; want: number[]; skipped: number }[] = [
    { name: "in the middle", text: () => `${ev(1)}${long()}\n${ev(2)}`, want: [1, 2], skipped: 1 },
    { name: "as the first line", text: () => `${long()}\n${ev(2)}`, want: [2], skipped: 1 },
    { name: "as the last line, unterminated", text: () => `${ev(1)}${long()}`, want: [1], skipped: 1 },
  ];
  for (const c of longLineCases) {
    for (const readChunkBytes of [997, 64 * 1024]) {
      void test(`a line longer than maxLineBytes ${c.name} is skipped without being held (chunks of ${readChunkBytes})`, async () => {
        await plant(c.text());
        const tail = await makeLog({ maxLineBytes: 1000, readChunkBytes }).readTail(10);
        assert.deepEqual(tail.events.map((e) => e.i), c.want);
        assert.equal(tail.skipped, c.skipped);
      });
    }
  }

  void test("property: the tail equals the last n valid lines, whatever the line sizes and chunk boundaries", async () => {
    const lineArb = fc.oneof(
      fc.record({ kind: fc.constant("event" as const), size: fc.integer({ min: 0, max: 300 }) }),
      fc.record({ kind: fc.constant("junk" as const), size: fc.integer({ min: 1, max: 200 }) }),
      fc.constant({ kind: "blank" as const, size: 0 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(lineArb, { maxLength: 25 }),
        fc.integer({ min: 1, max: 30 }),
        fc.boolean(),
        // Chunks from one byte up: every boundary position (on a newline, just after, mid-line) gets hit.
        fc.integer({ min: 1, max: 400 }),
        async (spec, n, torn, readChunkBytes) => {
          let text = "";
          const kinds: ("event" | "junk")[] = [];
          spec.forEach((l, i) => {
            if (l.kind === "event") text += `${JSON.stringify({ ts: "x", type: "t", i, pad: "q".repeat(l.size) })}\n`;
            else if (l.kind === "junk") text += `${"j".repeat(l.size)}\n`;
            else text += "\n";
            if (l.kind !== "blank") kinds.push(l.kind);
          });
          if (torn) {
            text += '{"ts":"x","type":"t","i":-1,"pad":"qqq';
            kinds.push("junk");
          }
          await plant(text);
          const tail = await makeLog({ readChunkBytes, maxLineBytes: 10_000 }).readTail(n);
          const valid = spec.flatMap((l, i) => (l.kind === "event" ? [i] : []));
          assert.deepEqual(tail.events.map((e) => e.i), valid.slice(-n));
          // Skipped: the junk lines met while walking back to the n-th newest event (or to the start).
          let seen = 0;
          let junk = 0;
          for (let k = kinds.length - 1; k >= 0 && seen < n; k--) {
            if (kinds[k] === "event") seen++;
            else junk++;
          }
          assert.equal(tail.skipped, junk);
        },
      ),
      { numRuns: 300 },
    );
  });
});

void describe("EventLog.rotateIfLarger", () => {
  void test("below the limit nothing moves", async () => {
    const log = makeLog();
    await log.append({ type: "a" });
    assert.equal(await log.rotateIfLarger(10_000), false);
    assert.deepEqual(await readdir(dir), ["events.jsonl"]);
  });

  void test("rotates to .1, .2 … keeping K files; appends continue in a fresh file; the tail spans files", async () => {
    const log = makeLog({ keep: 2 });
    for (let round = 0; round < 4; round++) {
      await log.append({ type: "r", round });
      assert.equal(await log.rotateIfLarger(10), true);
    }
    await log.append({ type: "r", round: 4 });
    assert.deepEqual((await readdir(dir)).sort(), ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]);
    assert.deepEqual(await lines(), [{ ts: "2026-04-17T02:17:19.000Z", type: "r", round: 4 }]);
    assert.deepEqual((await lines(`${eventsFile()}.1`)).map((l) => (l as { round: number }).round), [3]);
    assert.deepEqual((await lines(`${eventsFile()}.2`)).map((l) => (l as { round: number }).round), [2]);
    assert.deepEqual((await log.readTail(10)).events.map((e) => e.round), [2, 3, 4]);
    assert.equal((await stat(eventsFile())).mode & 0o777, 0o600);
    await log.close();
  });

  void test("a missing file is not rotated", async () => {
    assert.equal(await makeLog().rotateIfLarger(0), false);
  });
});

test("subscribe: listeners see each event as written (redacted, with ts) until they unsubscribe; a throwing one harms nothing", async () => {
  const log = makeLog();
  const seen: unknown[] = [];
  const off = log.subscribe((e) => seen.push(e));
  log.subscribe(() => {
    throw new Error("listener bug");
  });
  await log.append({ type: "operator_action", action: "retry", token: "s3cret" });
  off();
  await log.append({ type: "after" });
  await log.close();
  assert.deepEqual(seen, [{ ts: "2026-04-17T02:17:19.000Z", type: "operator_action", action: "retry", token: "[redacted]" }]);
  assert.equal((await lines()).length, 2);
});

test("subscribe: a subscriber that throws is told to onError; the event is written and not counted as dropped", async () => {
  const errors: Error[] = [];
  const log = makeLog({ onError: (e) => errors.push(e) });
  log.subscribe(() => {
    throw new Error("listener bug");
  });
  await log.append({ type: "task_done", task: "t1" });
  await log.close();
  assert.deepEqual(errors.map((e) => [e instanceof StateError, (e as StateError).code]), [[true, "EVENT_LISTENER_FAILED"]]);
  assert.match(errors[0]!.message, /task_done: listener bug/);
  assert.equal(log.dropped, 0);
  assert.equal((await lines()).length, 1);
});
