import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { systemClock, type Clock } from "../lib/clock.js";
import { FakeClock, flushMicrotasks } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { makeQueue } from "./test-support.js";
import { InboxWatcher, type InboxWatcherOptions } from "./watcher.js";
import { until } from "../../test/support/until.js";

// Bounded, and as fast as the event: real inotify, polled every 5 ms.
const waitFor = (check: () => boolean, what: string): Promise<true> => until(what, () => check() || undefined, 10_000, { everyMs: 5 });

function makeWatcher(root: string, projects: string[], clock: Clock, extra: Partial<InboxWatcherOptions> = {}) {
  const calls: string[] = [];
  const watcher = new InboxWatcher({
    root, projects, clock, log: silentLogger(), rescanIntervalMs: 30_000, debounceMs: 20,
    onWork: (p) => void calls.push(p),
    ...extra,
  });
  return { watcher, calls };
}

describe("InboxWatcher", () => {
  test("a file renamed into an inbox triggers onWork at once, long before the rescan", async () => {
    const q = await makeQueue();
    const { watcher, calls } = makeWatcher(q.root, ["alpha", "beta"], systemClock, { rescanIntervalMs: 3_600_000 });
    try {
      watcher.start();
      await watcher.ready();
      await waitFor(() => calls.length === 2, "the first rescan");
      calls.length = 0;
      const tmp = path.join(q.dir("beta", "inbox"), ".drop.tmp");
      await writeFile(tmp, "task");
      await rename(tmp, path.join(q.dir("beta", "inbox"), "t1.md"));
      await waitFor(() => calls.includes("beta"), "onWork(beta) from the watcher");
      assert.deepEqual(calls, ["beta"]);
    } finally {
      await watcher.stop();
      await q.cleanup();
    }
  });

  test("the rescan offers every existing inbox with the watcher off, and picks up a project created later", async () => {
    const q = await makeQueue({ projects: ["alpha"] });
    const clock = new FakeClock();
    const { watcher, calls } = makeWatcher(q.root, ["alpha", "late"], clock, { useWatcher: false });
    try {
      watcher.start();
      await watcher.ready();
      await flushMicrotasks();
      assert.deepEqual(calls, ["alpha"]);
      await mkdir(path.join(q.root, "late", "inbox"), { recursive: true });
      await clock.advance(29_999);
      assert.deepEqual(calls, ["alpha"]);
      await clock.advance(1);
      await waitFor(() => calls.length === 3, "the second rescan");
      assert.deepEqual(calls, ["alpha", "alpha", "late"]);
    } finally {
      await watcher.stop();
      await q.cleanup();
    }
  });

  test("a burst of hints becomes one onWork after the debounce", async () => {
    const clock = new FakeClock();
    const { watcher, calls } = makeWatcher("/nonexistent-root", ["alpha"], clock, { useWatcher: false });
    watcher.start();
    await flushMicrotasks();
    for (let i = 0; i < 5; i++) watcher.hint("alpha");
    watcher.hint("unknown-project");
    await flushMicrotasks();
    assert.deepEqual(calls, []);
    await clock.advance(20);
    await flushMicrotasks();
    assert.deepEqual(calls, ["alpha"]);
    await watcher.stop();
  });

  test("onWork never runs twice at once for a project; a hint during a run makes one more run", async () => {
    const clock = new FakeClock();
    let release: () => void = () => undefined;
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const { watcher } = makeWatcher("/nonexistent-root", ["alpha"], clock, {
      useWatcher: false,
      onWork: async () => {
        runs++;
        maxRunning = Math.max(maxRunning, ++running);
        await new Promise<void>((r) => (release = r));
        running--;
      },
    });
    watcher.start();
    watcher.hint("alpha");
    await clock.advance(20);
    watcher.hint("alpha");
    await clock.advance(20);
    watcher.hint("alpha");
    await clock.advance(20);
    assert.equal(runs, 1);
    release();
    await flushMicrotasks();
    assert.equal(runs, 2);
    release();
    await flushMicrotasks();
    assert.equal(maxRunning, 1);
    await watcher.stop();
  });

  test("a watcher that fails to start, or reports errors, is logged and the rescan carries on", async () => {
    const q = await makeQueue({ projects: ["alpha"] });
    const clock = new FakeClock();
    const throwing = makeWatcher(q.root, ["alpha"], clock, {
      createWatcher: () => {
        throw new Error("inotify limit reached");
      },
    });
    const emitter = new EventEmitter();
    const erroring = makeWatcher(q.root, ["alpha"], clock, {
      createWatcher: () => {
        queueMicrotask(() => {
          emitter.emit("error", new Error("EMFILE"));
          emitter.emit("ready");
        });
        return Object.assign(emitter, { add: () => undefined, unwatch: () => undefined, close: async () => undefined });
      },
    });
    try {
      for (const { watcher } of [throwing, erroring]) {
        watcher.start();
        await watcher.ready();
      }
      await flushMicrotasks();
      assert.equal(clock.pendingSleeps, 2, "both rescan loops are parked");
      await clock.advance(30_000);
      // The rescan stats the inboxes (real I/O): wait for it, bounded, rather than for a fixed time.
      await waitFor(() => throwing.calls.length === 2 && erroring.calls.length === 2, "the second rescan of both");
      assert.deepEqual(throwing.calls, ["alpha", "alpha"]);
      assert.deepEqual(erroring.calls, ["alpha", "alpha"]);
    } finally {
      await throwing.watcher.stop();
      await erroring.watcher.stop();
      await q.cleanup();
    }
  });

  test("hints come from the inbox folder's own events: task names count, dot-files and editor temp files do not", async () => {
    const q = await makeQueue({ projects: ["alpha", "beta"] });
    const clock = new FakeClock();
    const emitter = new EventEmitter();
    let options: { ignored?: unknown } = {};
    const { watcher, calls } = makeWatcher(q.root, ["alpha", "beta"], clock, {
      createWatcher: (_paths, o) => {
        options = o;
        queueMicrotask(() => emitter.emit("ready"));
        return Object.assign(emitter, { add: () => undefined, unwatch: () => undefined, close: async () => undefined });
      },
    });
    const raw = (name: string | null, project: string) => emitter.emit("raw", "rename", name, { watchedPath: q.dir(project, "inbox") });
    try {
      watcher.start();
      await watcher.ready();
      await waitFor(() => calls.length === 2, "the first rescan");
      calls.length = 0;
      // chokidar is told to ignore every entry of an inbox: it keeps no state per waiting task.
      const ignored = options.ignored as (p: string) => boolean;
      assert.equal(ignored(path.join(q.dir("alpha", "inbox"), "t1.md")), true);
      assert.equal(ignored(q.dir("alpha", "inbox")), false);
      for (const name of [".t1.md.swp", ".drop.tmp", "t1.md~", "#t1.md#", "4913"]) raw(name, "alpha");
      raw("t1.md", "elsewhere");
      emitter.emit("raw", "change", "t1.md", undefined);
      await clock.advance(100);
      await flushMicrotasks();
      assert.deepEqual(calls, [], "no hint from ignored names, unknown folders or events without a folder");
      raw("t2.md", "beta");
      raw(null, "alpha");
      await clock.advance(20);
      await waitFor(() => calls.length === 2, "onWork for both");
      assert.deepEqual(calls.sort(), ["alpha", "beta"]);
    } finally {
      await watcher.stop();
      await q.cleanup();
    }
  });

  test("a throwing onWork is logged and does not stop later runs", async () => {
    const clock = new FakeClock();
    let runs = 0;
    const { watcher } = makeWatcher("/nonexistent-root", ["alpha"], clock, {
      useWatcher: false,
      onWork: () => {
        runs++;
        throw new Error("boom");
      },
    });
    watcher.start();
    watcher.hint("alpha");
    await clock.advance(20);
    watcher.hint("alpha");
    await clock.advance(20);
    assert.equal(runs, 2);
    await watcher.stop();
  });

  test("start and stop are idempotent; stop returns one promise; nothing runs after stop", async () => {
    const q = await makeQueue({ projects: ["alpha"] });
    const { watcher, calls } = makeWatcher(q.root, ["alpha"], systemClock, { rescanIntervalMs: 3_600_000 });
    try {
      watcher.start();
      watcher.start();
      await watcher.ready();
      const a = watcher.stop();
      const b = watcher.stop();
      assert.equal(a, b);
      await a;
      assert.equal(watcher.status, "stopped");
      const before = calls.length;
      watcher.hint("alpha");
      await writeFile(path.join(q.dir("alpha", "inbox"), "late.md"), "x");
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(calls.length, before);
      assert.throws(() => watcher.start(), { code: "ILLEGAL_STATE" });
    } finally {
      await watcher.stop();
      await rm(q.base, { recursive: true, force: true });
    }
  });
});
