import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { makeSandbox } from "../../test/support/sandbox.js";
import { FIXTURE_DIR } from "../claude/test-screens.js";
import { transcriptPath } from "../claude/transcripts.js";
import { loadConfig } from "../config/loader.js";
import type { AgentDriver } from "../dispatch/agent-driver.js";
import { HookHub } from "../dispatch/hook-hub.js";
import type { TaskRecord } from "../dispatch/records.js";
import type { WorkLoop } from "../dispatch/work-loop.js";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import type { Notifier } from "../notify/notifier.js";
import type { PoolManager } from "../pool/pool.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import { NOW, screens } from "../quota/test-verdicts.js";
import { Failover } from "./failover.js";
import { openDaemonStateStore } from "./state.js";

const ID = "7c2f4a1e-3b5d-4e6f-8a9b-0c1d2e3f4a5b";

describe("Failover: the transcript as a source (U3)", () => {
  test("a usage-limit error line in a working task's transcript is a sighting once the screen stops being busy, read once per change", async () => {
    const sb = await makeSandbox();
    try {
      const config = await loadConfig(await sb.writeConfig());
      // The sample's weekly-limit line was written at 22:41:33 that day: after this task's submit and
      // after the busy frame below, so it is not history.
      const clock = new FakeClock(Date.UTC(2026, 10, 26, 22, 0));
      const store = openDaemonStateStore(config.state_dir, clock);
      await store.load();
      store.update((s) => void (s.active_account = "main"));
      const events: { type: string; outcome?: string; source?: string; why?: string }[] = [];
      // Only what observeScreen reaches is real (the monitor, the transcript reading); the rest is never called.
      const failover = new Failover({
        config, env: {}, clock, log: silentLogger(), store, tmux: new FakeTmuxClient(), hooks: new HookHub(),
        pool: {} as PoolManager, work: { records: () => [] } as unknown as WorkLoop, driver: {} as AgentDriver,
        notifier: { notify: async () => undefined } as unknown as Notifier,
        record: (e) => void events.push(e),
      });
      const cwd = path.join(sb.dir, "work");
      const record: TaskRecord = {
        project: "p", id: "t1", session: "cf-pool-1", account: "main", claude_session_id: ID, attempt: 1, phase: "working", cwd,
        started_at: Date.UTC(2026, 10, 26, 21, 0), submitted_at: Date.UTC(2026, 10, 26, 21, 0), timeout_ms: 3_600_000, screen_changed_at: 0, screen_hash: "", idle_polls: 0,
      };
      const file = transcriptPath(config.accounts[0]!.home, cwd, ID);
      await mkdir(path.dirname(file), { recursive: true });
      await copyFile(path.join(FIXTURE_DIR, "transcript-samples.jsonl"), file);
      const decisions = () => events.filter((e) => e.type === "quota_decision" && e.outcome === "swap");

      // Busy: not read (the turn is still running).
      failover.observeScreen(record, { state: "busy", detail: "spinner", limit: null });
      await failover.settled();
      assert.deepEqual(decisions(), []);

      // The turn ended; the screen shows no banner (cleared, scrolled away): the transcript tells.
      failover.observeScreen(record, { state: "idle", detail: "ready", limit: null });
      await failover.settled();
      assert.deepEqual(decisions().map((e) => e.source), ["transcript"]);
      // The sample's 429 throttling and 5xx lines were read too, and are not limits (U1).
      assert.ok(events.some((e) => e.outcome === "suppressed" && e.why === "not-a-usage-limit"));

      const seen = events.length;
      failover.observeScreen(record, { state: "idle", detail: "ready", limit: null });
      await failover.settled();
      assert.equal(events.length, seen, "unchanged file: not read again");
      // The ledger's change (main exhausted) is being written: let it land before the sandbox goes.
      await store.flush();
    } finally {
      await sb.close();
    }
  });
});

describe("Failover: the one usage-limit decision supervision asks", () => {
  test("holdsLimit: a limit the monitor confirmed holds the task; a warning banner or another agent does not", async () => {
    const sb = await makeSandbox();
    try {
      const config = await loadConfig(await sb.writeConfig());
      const clock = new FakeClock(NOW);
      const store = openDaemonStateStore(config.state_dir, clock);
      await store.load();
      store.update((s) => void (s.active_account = "main"));
      const failover = new Failover({
        config, env: {}, clock, log: silentLogger(), store, tmux: new FakeTmuxClient(), hooks: new HookHub(),
        pool: {} as PoolManager, work: { records: () => [] } as unknown as WorkLoop, driver: {} as AgentDriver,
        notifier: { notify: async () => undefined } as unknown as Notifier, record: () => undefined,
      });
      const record: TaskRecord = {
        project: "p", id: "t1", session: "cf-pool-1", account: "main", claude_session_id: ID, attempt: 1, phase: "working", cwd: sb.dir,
        started_at: NOW, submitted_at: NOW, timeout_ms: 3_600_000, screen_changed_at: 0, screen_hash: "", idle_polls: 0,
      };
      failover.observeScreen(record, screens.warning());
      await failover.settled();
      assert.equal(failover.holdsLimit(record), false, "a usage warning is not a limit");
      failover.observeScreen(record, screens.limitWithReset());
      await failover.settled();
      assert.equal(failover.holdsLimit(record), true);
      assert.equal(failover.holdsLimit({ ...record, claude_session_id: "1c7a9b63-6a5f-4b54-8b64-8e8e2d2c3f12" }), false, "the next task's agent");
      await store.flush();
    } finally {
      await sb.close();
    }
  });
});
