import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "../lib/logger.js";
import { tempDir } from "../lib/test-temp.js";
import { acquireLock, LockHeldError, parseLockRecord, readProcStartTime, realProcessProbe, takeDaemonLocks, tmuxLockFile, type ProcessProbe } from "./lock.js";

/** A logger whose lines the test can read. */
function capturingLog(): { log: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const log = createLogger({ destination: new Writable({ write(chunk: Buffer, _enc, cb) { out.push(chunk.toString()); cb(); } }) });
  return { log, lines: () => out.join("").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Processes as the test declares them: pid -> start time (absent = no such process). */
function probe(pid: number, processes: Record<number, string>): ProcessProbe {
  return { pid, startTime: (p) => processes[p] ?? null, exists: (p) => p in processes };
}

describe("state lock", () => {
  test("the first taker holds it; a second, live process is refused with the holder's pid; release frees it", async () => {
    const dir = await tempDir("cf-lock-");
    const file = path.join(dir, "daemon.lock");
    const procs = { 100: "5000", 200: "6000" };
    const { log } = capturingLog();
    const first = await acquireLock({ file, log, probe: probe(100, procs) });
    await assert.rejects(acquireLock({ file, log, probe: probe(200, procs) }), (e: unknown) => e instanceof LockHeldError && e.holder.pid === 100 && /pid 100/.test(e.message));
    assert.equal(parseLockRecord(await readFile(file, "utf8"))?.pid, 100);
    await first.release();
    await first.release();
    const second = await acquireLock({ file, log, probe: probe(200, procs) });
    assert.equal(parseLockRecord(await readFile(file, "utf8"))?.pid, 200);
    await second.release();
    assert.deepEqual(await readdir(dir), []);
  });

  const stale: [string, string, Record<number, string>][] = [
    ["a dead pid", JSON.stringify({ pid: 100, start: "5000", since: "2026-01-01T00:00:00.000Z" }), { 200: "6000" }],
    ["a reused pid (same pid, other start time)", JSON.stringify({ pid: 100, start: "5000", since: "2026-01-01T00:00:00.000Z" }), { 100: "9999", 200: "6000" }],
    ["an empty file (crash mid-write)", "", { 200: "6000" }],
    ["half-written JSON", '{"pid": 10', { 100: "1", 200: "6000" }],
    ["garbage", "\u0000\u0001binary\n", { 200: "6000" }],
    ["a negative pid", JSON.stringify({ pid: -1, start: null }), { 200: "6000" }],
    ["pid 0 (kill(0) would signal our own group)", JSON.stringify({ pid: 0, start: null }), { 200: "6000" }],
    ["a JSON array", "[100]", { 100: "1", 200: "6000" }],
  ];
  for (const [name, content, procs] of stale) {
    test(`a lock holding ${name} is taken over, with a log line`, async () => {
      const dir = await tempDir("cf-lock-");
      const file = path.join(dir, "daemon.lock");
      await writeFile(file, content);
      const { log, lines } = capturingLog();
      const lock = await acquireLock({ file, log, probe: probe(200, procs) });
      assert.equal(parseLockRecord(await readFile(file, "utf8"))?.pid, 200);
      assert.ok(lines().some((l) => l.level === "warn" && /took over/.test(String(l.msg))), JSON.stringify(lines()));
      await lock.release();
      assert.deepEqual(await readdir(dir), [], "no temp or stale file left");
    });
  }

  test("a holder recorded without a start time (no /proc) is trusted while its pid exists", async () => {
    const dir = await tempDir("cf-lock-");
    const file = path.join(dir, "daemon.lock");
    await writeFile(file, JSON.stringify({ pid: 100, start: null, since: "x" }));
    await assert.rejects(acquireLock({ file, log: capturingLog().log, probe: probe(200, { 100: "1", 200: "2" }) }), LockHeldError);
  });

  test("release leaves a lock that is no longer ours", async () => {
    const dir = await tempDir("cf-lock-");
    const file = path.join(dir, "daemon.lock");
    const lock = await acquireLock({ file, log: capturingLog().log, probe: probe(100, { 100: "1" }) });
    await writeFile(file, JSON.stringify({ pid: 300, start: "3", since: "x" }));
    await lock.release();
    assert.equal(parseLockRecord(await readFile(file, "utf8"))?.pid, 300);
  });

  test("the real probe: this process is alive with a start time, a dead child's pid is not", async () => {
    assert.equal(realProcessProbe.exists(process.pid), true);
    assert.match(readProcStartTime(process.pid) ?? "", /^\d+$/);
    assert.equal(readProcStartTime(process.pid), readProcStartTime(process.pid));
    const { spawnSync } = await import("node:child_process");
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid;
    assert.equal(realProcessProbe.exists(dead), false);
  });

  test("takeDaemonLocks takes the state lock and the tmux lock, or neither", async () => {
    const dir = await tempDir("cf-lock-");
    const tmuxLock = path.join(dir, "tmux-1000", "cf.claude-failover.lock");
    const procs = { 100: "1", 200: "2" };
    const log = capturingLog().log;
    const a = await takeDaemonLocks({ stateDir: path.join(dir), tmuxLock, log, probe: probe(100, procs) });
    const otherState = await tempDir("cf-lock-");
    await assert.rejects(takeDaemonLocks({ stateDir: otherState, tmuxLock, log, probe: probe(200, procs) }), LockHeldError);
    assert.deepEqual(await readdir(otherState), [], "the state lock it took was given back");
    for (const l of a) await l.release();
  });

  test("tmuxLockFile sits beside the tmux socket, never on tmux's own <socket>.lock", () => {
    assert.equal(tmuxLockFile("cf-x", {}, 1000), "/tmp/tmux-1000/cf-x.claude-failover.lock");
    assert.equal(tmuxLockFile("", { TMUX_TMPDIR: "/run/t" }, 1000), "/run/t/tmux-1000/default.claude-failover.lock");
  });
});
