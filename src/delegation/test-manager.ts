import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { MockJobService } from "../../test/support/mock-job-service.js";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { JobClient, type JobService } from "./client.js";
import { DelegationManager, type DelegationEvent, type DelegationNotice } from "./manager.js";
import type { DelegationSettings } from "./settings.js";
import { makeDelegationSandbox, RecordingClock } from "./test-support.js";

export const TEST_KEY = "test-key";
export const START = Date.UTC(2026, 3, 17, 2, 17, 19);

/**
 * A temp queue, a FakeClock, and managers over them talking to `mock` (a new one per `make()`, as after a
 * restart). Notices and events from every manager land in the same arrays.
 */
export async function managerFixture(mock: MockJobService, settings: Partial<DelegationSettings> = {}) {
  const sb = await makeDelegationSandbox();
  const clock = new FakeClock(START);
  const notices: DelegationNotice[] = [];
  const events: DelegationEvent[] = [];
  const managers: DelegationManager[] = [];
  const full: DelegationSettings = { pollIntervalMs: 2000, jobTimeoutMs: 30 * 60_000, reapIntervalMs: 10_000, dailyBudgetUsd: 0, ...settings };
  const client = (): JobClient => new JobClient({ url: mock.url, apiKey: TEST_KEY, clock: new RecordingClock(), random: () => 0.5 });
  /** `untracked`: left running at close() (a manager that "crashed" mid-submit, whose stop() would wait forever). */
  const make = (options: { client?: JobService; untracked?: boolean } = {}): DelegationManager => {
    const m = new DelegationManager({
      queue: { root: sb.root, projects: sb.projects }, client: options.client ?? client(), clock, log: silentLogger(), stateDir: sb.stateDir,
      settings: full, notify: (n) => void notices.push(n), record: (e) => void events.push(e),
    });
    if (!options.untracked) managers.push(m);
    return m;
  };
  return {
    ...sb,
    clock,
    notices,
    events,
    make,
    /** Writes inbox/<id>.md. */
    put: async (project: string, id: string, text: string): Promise<string> => {
      const file = path.join(sb.root, project, "inbox", `${id}.md`);
      await writeFile(file, text);
      return file;
    },
    read: (project: string, folder: string, name: string): Promise<string> => readFile(path.join(sb.root, project, folder, name), "utf8"),
    eventTypes: (): string[] => events.map((e) => e.type),
    close: async (): Promise<void> => {
      await Promise.all(managers.map((m) => m.stop()));
      await sb.cleanup();
    },
  };
}

export type ManagerFixture = Awaited<ReturnType<typeof managerFixture>>;

/** Runs `fn` with a fresh fixture and always closes it. */
export async function withManagerFixture(mock: MockJobService, fn: (f: ManagerFixture) => Promise<void>, settings: Partial<DelegationSettings> = {}): Promise<void> {
  const f = await managerFixture(mock, settings);
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}
