import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { loadConfig } from "../config/loader.js";
import { writeFileAtomic } from "../lib/atomic-fs.js";
import { FakeClock } from "../lib/test-clock.js";
import { createLogger } from "../lib/logger.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import type { SessionInfo } from "../tmux/client.js";
import { makeSandbox } from "../../test/support/sandbox.js";
import { until } from "../../test/support/until.js";
import { Daemon } from "./daemon.js";

/**
 * Polls a condition the daemon reaches on its own (its loops run on real promises beside the fake clock). `tick`,
 * when given, moves the fake clock before each look: a pass still running when the clock moved last would
 * otherwise sleep on a timer nobody fires.
 */
const reached = (what: string, check: () => boolean | Promise<boolean>, tick?: () => Promise<void>): Promise<true> =>
  until(what, async () => {
    await tick?.();
    return (await check()) || undefined;
  }, 10_000, { everyMs: 10 });

describe("Daemon under a failing state disk", () => {
  test("a claimed task whose hand-over and re-queue fail: /health 503 with the reason, one notification, filed once the disk works, /health 200", async () => {
    const sb = await makeSandbox();
    try {
      const project = path.join(sb.dir, "proj");
      await mkdir(project);
      const config = await loadConfig(await sb.writeConfig({ queue: { root: path.join(sb.dir, "queue"), projects: { p: project }, max_attempts: 1 } }));
      const lines: { msg?: string; notification?: string; key?: string }[] = [];
      const log = createLogger({
        level: "info",
        destination: new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]), cb()) }),
      });
      let full = false;
      const clock = new FakeClock();
      const d = new Daemon({
        config, log, clock, tmux: new FakeTmuxClient(), listen: "127.0.0.1:0",
        writeStateFile: async (file, data, mode) => {
          if (full) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
          await writeFileAtomic(file, data, mode);
        },
      });
      await d.start();
      try {
        const folder = (name: string) => readdir(path.join(config.queue.root, "p", name));
        const health = async () => {
          const res = await fetch(`${d.url!}/health`);
          return { status: res.status, body: (await res.json()) as { ok: boolean; reason?: string } };
        };
        const stuckNotes = () => lines.filter((l) => l.notification === "task-stuck");
        full = true;
        await writeFile(path.join(config.queue.root, "p", "inbox", "t1.md"), "say hello\n");
        await clock.advance(config.watcher.poll_interval);
        const tick = () => clock.advance(config.watcher.poll_interval);
        await reached("the task to be stuck", () => !d.health().ok, tick);
        const sick = await health();
        assert.equal(sick.status, 503);
        assert.deepEqual(d.liveness(), { ok: true }, "a stuck task does not starve the systemd watchdog: a restart would not help it");
        assert.match(sick.body.reason ?? "", /1 task\(s\) stuck since .*: p\/t1: could not be put back.*hand-over.*ENOSPC/);
        assert.deepEqual(await folder("active"), ["t1.md"]);
        for (let i = 0; i < 3; i++) await clock.advance(config.watcher.poll_interval);
        assert.equal((await health()).status, 503);
        assert.deepEqual(await folder("active"), ["t1.md"], "nothing moves while the disk is full");

        full = false;
        await clock.advance(config.watcher.poll_interval);
        await reached("the task to be filed", async () => (await folder("failed")).includes("t1.md"), tick);
        await reached("health to recover", () => d.health().ok, tick);
        assert.equal((await health()).status, 200);
        assert.deepEqual(await folder("active"), []);
        assert.equal(stuckNotes().length, 1, "one notification for the fault, not one per pass");
        assert.equal(stuckNotes()[0]!.key, "p/t1");
      } finally {
        full = false;
        await d.stop();
      }
    } finally {
      await sb.close();
    }
  });

  test("a loop whose pass never ends: liveness (what feeds the systemd watchdog) says so after ten minutes", async () => {
    const sb = await makeSandbox();
    try {
      const config = await loadConfig(await sb.writeConfig({}));
      const held: (() => void)[] = [];
      /** A tmux whose list-sessions stops answering on demand: the pool loop's pass waits on it. */
      class WedgingTmux extends FakeTmuxClient {
        wedged = false;
        override async listSessions(): Promise<SessionInfo[]> {
          if (this.wedged) await new Promise<void>((release) => held.push(release));
          return super.listSessions();
        }
      }
      const tmux = new WedgingTmux();
      const clock = new FakeClock();
      const d = new Daemon({ config, log: createLogger({ level: "silent" }), clock, tmux, listen: "127.0.0.1:0" });
      await d.start();
      try {
        tmux.wedged = true;
        await clock.advance(9 * 60_000);
        await reached("the pool loop to wait on tmux", () => held.length > 0);
        assert.deepEqual(d.liveness(), { ok: true }, "a slow pass is not a wedged one");
        await clock.advance(2 * 60_000);
        const alive = d.liveness();
        assert.match(alive.ok ? "alive" : alive.reason, /^pool loop has finished no pass for \d+ s$/);
        assert.equal(d.health().ok, false, "/health says it too");
      } finally {
        tmux.wedged = false;
        for (const release of held) release();
        await d.stop();
      }
    } finally {
      await sb.close();
    }
  });
});
