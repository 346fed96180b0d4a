import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, realpath, symlink } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { FIXTURE_DIR } from "../claude/test-screens.js";
import { transcriptPath } from "../claude/transcripts.js";
import type { TaskRecord } from "../dispatch/records.js";
import { FakeClock } from "../lib/test-clock.js";
import { createLogger, silentLogger, type Logger } from "../lib/logger.js";
import { tempDir } from "../lib/test-temp.js";
import { NOW, screens } from "../quota/test-verdicts.js";
import type { FailoverEvent } from "./ports.js";
import { FakeHooks, FakeSwapState } from "./test-failover.js";
import { HELD_AFTER_BACK_MS, LimitWatch } from "./watch.js";

const ID = "7c2f4a1e-3b5d-4e6f-8a9b-0c1d2e3f4a5b";

/** Two accounts, main active; only what supervision reaches (the monitor, the transcript reading) is exercised. */
function watchOf(dir: string, clock: FakeClock, record: (e: FailoverEvent) => void, log: Logger = silentLogger()): LimitWatch {
  return new LimitWatch({
    settings: {
      accounts: [{ name: "main", home: path.join(dir, "main") }, { name: "backup", home: path.join(dir, "backup") }],
      confirmPolls: 2, reactivateCooldownMs: 300_000, usageThreshold: 98,
    },
    clock, log, state: new FakeSwapState("main"), records: () => [], hooks: new FakeHooks(), record,
  });
}

describe("LimitWatch: the transcript as a source (U3)", () => {
  test("a usage-limit error line in a working task's transcript is a sighting once the screen stops being busy, read once per change", async () => {
    const dir = await tempDir("cf-watch-");
    // The sample's weekly-limit line was written at 22:41:33 that day: after this task's submit and
    // after the busy frame below, so it is not history.
    const clock = new FakeClock(Date.UTC(2026, 10, 26, 22, 0));
    const events: { type: string; outcome?: string; source?: string; why?: string }[] = [];
    const watch = watchOf(dir, clock, (e) => void events.push(e));
    const cwd = path.join(dir, "work");
    const record: TaskRecord = {
      project: "p", id: "t1", session: "cf-pool-1", account: "main", claude_session_id: ID, attempt: 1, phase: "working", cwd,
      started_at: Date.UTC(2026, 10, 26, 21, 0), submitted_at: Date.UTC(2026, 10, 26, 21, 0), timeout_ms: 3_600_000, screen_changed_at: 0, screen_hash: "", idle_polls: 0,
    };
    const file = transcriptPath(path.join(dir, "main"), cwd, ID);
    await mkdir(path.dirname(file), { recursive: true });
    await copyFile(path.join(FIXTURE_DIR, "transcript-samples.jsonl"), file);
    const decisions = () => events.filter((e) => e.type === "quota_decision" && e.outcome === "swap");

    // Busy: not read (the turn is still running).
    watch.observeScreen(record, { state: "busy", detail: "spinner", limit: null });
    await watch.settled();
    assert.deepEqual(decisions(), []);

    // The turn ended; the screen shows no banner (cleared, scrolled away): the transcript tells.
    watch.observeScreen(record, { state: "idle", detail: "ready", limit: null });
    await watch.settled();
    assert.deepEqual(decisions().map((e) => e.source), ["transcript"]);
    // The sample's 429 throttling and 5xx lines were read too, and are not limits (U1).
    assert.ok(events.some((e) => e.outcome === "suppressed" && e.why === "not-a-usage-limit"));

    const seen = events.length;
    watch.observeScreen(record, { state: "idle", detail: "ready", limit: null });
    await watch.settled();
    assert.equal(events.length, seen, "unchanged file: not read again");
  });

  test("a task whose cwd is reached through a symlink: the transcript under the physical path is read", async () => {
    const dir = await realpath(await tempDir("cf-watch-"));
    const clock = new FakeClock(Date.UTC(2026, 10, 26, 22, 0));
    const events: { type: string; outcome?: string; source?: string }[] = [];
    const watch = watchOf(dir, clock, (e) => void events.push(e));
    await mkdir(path.join(dir, "real-work"));
    await symlink("real-work", path.join(dir, "work"));
    const record: TaskRecord = {
      project: "p", id: "t1", session: "cf-pool-1", account: "main", claude_session_id: ID, attempt: 1, phase: "working", cwd: path.join(dir, "work"),
      started_at: Date.UTC(2026, 10, 26, 21, 0), submitted_at: Date.UTC(2026, 10, 26, 21, 0), timeout_ms: 3_600_000, screen_changed_at: 0, screen_hash: "", idle_polls: 0,
    };
    const file = transcriptPath(path.join(dir, "main"), path.join(dir, "real-work"), ID);
    await mkdir(path.dirname(file), { recursive: true });
    await copyFile(path.join(FIXTURE_DIR, "transcript-samples.jsonl"), file);
    watch.observeScreen(record, { state: "idle", detail: "ready", limit: null });
    await watch.settled();
    assert.deepEqual(events.filter((e) => e.type === "quota_decision" && e.outcome === "swap").map((e) => e.source), ["transcript"]);
  });

  test("a task on an account that is not configured: its transcript is not read, and the log says so once", async () => {
    const dir = await tempDir("cf-watch-");
    const out: string[] = [];
    const log = createLogger({ destination: new Writable({ write(chunk: Buffer, _enc, cb) { out.push(chunk.toString()); cb(); } }) });
    const watch = watchOf(dir, new FakeClock(NOW), () => undefined, log);
    const record: TaskRecord = {
      project: "p", id: "t1", session: "cf-pool-1", account: "gone", claude_session_id: ID, attempt: 1, phase: "working", cwd: dir,
      started_at: NOW, submitted_at: NOW, timeout_ms: 3_600_000, screen_changed_at: 0, screen_hash: "", idle_polls: 0,
    };
    for (let i = 0; i < 2; i++) {
      watch.observeScreen(record, { state: "idle", detail: "ready", limit: null });
      await watch.settled();
    }
    const lines = out.join("").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.account === "gone");
    assert.deepEqual(lines.map((l) => [l.level, l.task]), [["warn", "p/t1"]]);
  });
});

describe("LimitWatch: the one usage-limit decision supervision asks", () => {
  test("holdsLimit: a limit the monitor confirmed holds the task; a warning banner or another agent does not", async () => {
    const dir = await tempDir("cf-watch-");
    const clock = new FakeClock(NOW);
    const watch = watchOf(dir, clock, () => undefined);
    const record: TaskRecord = {
      project: "p", id: "t1", session: "cf-pool-1", account: "main", claude_session_id: ID, attempt: 1, phase: "working", cwd: dir,
      started_at: NOW, submitted_at: NOW, timeout_ms: 3_600_000, screen_changed_at: 0, screen_hash: "", idle_polls: 0,
    };
    watch.observeScreen(record, screens.warning());
    await watch.settled();
    assert.equal(watch.holdsLimit(record), false, "a usage warning is not a limit");
    watch.observeScreen(record, screens.limitWithReset());
    await watch.settled();
    assert.equal(watch.holdsLimit(record), true);
    assert.equal(watch.holdsLimit({ ...record, claude_session_id: "1c7a9b63-6a5f-4b54-8b64-8e8e2d2c3f12" }), false, "the next task's agent");
  });
});

describe("LimitWatch: a hold no continuation ends", () => {
  test("a held task stays held while its account is out, however long; once the account has been usable for HELD_AFTER_BACK_MS it is timed again (logged once)", async () => {
    const dir = await tempDir("cf-watch-");
    const clock = new FakeClock(NOW);
    const out: string[] = [];
    const log = createLogger({ destination: new Writable({ write(chunk: Buffer, _enc, cb) { out.push(chunk.toString()); cb(); } }) });
    const record: TaskRecord = {
      project: "p", id: "t1", session: "cf-pool-1", account: "main", claude_session_id: ID, attempt: 1, phase: "working", cwd: dir,
      started_at: NOW, submitted_at: NOW, timeout_ms: 3_600_000, screen_changed_at: 0, screen_hash: "", idle_polls: 0,
    };
    const watch = new LimitWatch({
      settings: { accounts: [{ name: "main", home: path.join(dir, "main") }, { name: "backup", home: path.join(dir, "backup") }], confirmPolls: 2, reactivateCooldownMs: 300_000, usageThreshold: 98 },
      clock, log, state: new FakeSwapState("main"), records: () => [record], hooks: new FakeHooks(), record: () => undefined,
    });
    const signal = new AbortController().signal;
    watch.observeScreen(record, screens.limitWithReset());
    await watch.settled();
    assert.equal(watch.holdsLimit(record), true);
    const until = watch.ledger.view().find((a) => a.name === "main")?.until;
    assert.ok(until !== undefined && until > clock.now(), "main is out until its reset");

    // Out: held, even well past the task's own timeout.
    await clock.advance(until - clock.now() - 1000);
    await watch.poll(signal);
    assert.equal(watch.holdsLimit(record), true);

    // Back (the resume missed this task): held for HELD_AFTER_BACK_MS more, then no longer.
    await clock.advance(2000);
    await watch.poll(signal);
    assert.equal(watch.ledger.status("main") === "exhausted", false, "main is back");
    assert.equal(watch.holdsLimit(record), true);
    await clock.advance(HELD_AFTER_BACK_MS - 1);
    assert.equal(watch.holdsLimit(record), true);
    await clock.advance(1);
    assert.equal(watch.holdsLimit(record), false);
    assert.equal(watch.holdsLimit(record), false);
    const lapses = out.join("").split("\n").filter((l) => l.includes("no continuation came"));
    assert.equal(lapses.length, 1, "logged once");
    assert.match(lapses[0]!, /"task":"p\/t1"/);
  });
});
