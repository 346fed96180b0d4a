import { classifyScreen } from "../claude/screen.js";
import { InstantClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import type { TaskEvent } from "../state/events.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import { AgentDriver } from "./agent-driver.js";
import { HookHub } from "./hook-hub.js";
import type { SessionPort } from "./ports.js";
import type { TaskLedger, TaskRecord } from "./records.js";
import { FakeClaude, type FakeBehaviour } from "./test-fake-claude.js";
import { FakeQueue } from "./test-fake-queue.js";
import { WorkLoop, type WorkLoopDeps, type WorkLoopSettings } from "./work-loop.js";

/** A WorkLoop over fakes (instant clock, fake tmux running FakeClaude, in-memory queue and ledger), for tests. */
export function memoryLedger(): TaskLedger & { tasks: Map<string, TaskRecord>; tries: Map<string, number> } {
  const tasks = new Map<string, TaskRecord>();
  const tries = new Map<string, number>();
  return {
    tasks, tries,
    records: () => [...tasks.values()].map((r) => ({ ...r })),
    get: (k) => (tasks.has(k) ? { ...tasks.get(k)! } : undefined),
    put: (r) => void tasks.set(`${r.project}/${r.id}`, { ...r }),
    remove: (k) => void tasks.delete(k),
    attempts: (k) => tries.get(k) ?? 0,
    setAttempts: (k, n) => void (n === undefined ? tries.delete(k) : tries.set(k, n)),
    flush: async () => undefined,
  };
}

export interface HarnessOptions {
  sessions?: string[];
  projects?: string[];
  behaviour?: (prompt: string) => FakeBehaviour;
  hooks?: boolean;
  settings?: Partial<WorkLoopSettings>;
  /** Extra deps (onFault, …). */
  deps?: Partial<WorkLoopDeps>;
}

export async function harness(o: HarnessOptions = {}) {
  const clock = new InstantClock();
  const hub = new HookHub();
  const fake = new FakeClaude({ emit: (e) => hub.record(e, clock.now()), behaviour: o.behaviour, hooks: o.hooks });
  const tmux = new FakeTmuxClient(() => clock.now());
  tmux.programFor = () => fake.program;
  const names = o.sessions ?? ["pool-1", "pool-2"];
  for (const n of names) await tmux.newSession({ name: n, cwd: "/" });
  const busy = new Map<string, string>();
  let grown = 0;
  const sessions: SessionPort = {
    freePoolSessions: () => names.filter((n) => !busy.has(n) && tmux.sessions.has(n)),
    canGrow: () => true,
    grow: async () => {
      grown++;
      return false;
    },
    markBusy: (s, task) => void busy.set(s, task),
    markIdle: (s) => void busy.delete(s),
    retire: async (s) => {
      busy.delete(s);
      await tmux.killSession(s);
    },
  };
  const queue = new FakeQueue(o.projects ?? ["p"]);
  const ledger = memoryLedger();
  const events: TaskEvent[] = [];
  const driver = new AgentDriver({ tmux, clock, log: silentLogger(), classify: (c) => classifyScreen(c, { now: clock.now() }), signals: hub });
  const loop = new WorkLoop({
    queue, sessions, driver, hooks: hub, ledger, clock, log: process.env.DEBUG_WL ? (await import("../lib/logger.js")).createLogger({ level: "debug" }) : silentLogger(),
    accounts: { activeAccount: () => ({ name: "main", home: "/h/main", env: {} }) },
    settings: { pollIntervalMs: 5000, idleConfirm: 2, stallTimeoutMs: 20 * 60_000, taskTimeoutMs: 2 * 3_600_000, maxAttempts: 2, ...o.settings },
    launchFor: async (_a, id) => ({ argv: ["claude", "--session-id", id, "--settings", "/s.json"], env: { CLAUDE_CONFIG_DIR: "/h/main" } }),
    lastMessage: async () => "from the transcript",
    promptDelivered: async () => false,
    record: (e) => void events.push(e),
    ...o.deps,
  });
  const tick = passesOf(loop, clock);
  return { clock, hub, fake, tmux, queue, ledger, events, loop, tick, busy, grown: () => grown };
}

/** `tick(n)`: n passes of the loop, each with its supervision settled, 5 s of fake time apart. */
export function passesOf(loop: WorkLoop, clock: { sleep(ms: number): Promise<void> }): (n?: number) => Promise<void> {
  const signal = new AbortController().signal;
  return async (n = 1) => {
    for (let i = 0; i < n; i++) {
      await loop.tick(signal);
      await loop.settled();
      await clock.sleep(5000);
    }
  };
}
