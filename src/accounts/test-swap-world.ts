/**
 * Test support for the switcher: two account homes, a shared root and the claude link as REAL files in a temp dir
 * (the real flipLink / ensureSharedLinks do the work), fake session ports that log every call, a real ledger.
 */
import { mkdir, mkdtemp, readlink, realpath, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TaskRecord } from "../dispatch/records.js";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { AccountLedger } from "./ledger.js";
import { ensureSharedLinks, flipLink } from "./shared-links.js";
import type { SwapJournal } from "./swap-journal.js";
import type { SwapNotice, SwitcherDeps } from "./switcher.js";

export const UUID_A = "6f1c2d3e-4a5b-4c6d-8e7f-901234567890";
export const UUID_B = "7a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
export const UUID_C = "8b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e";

export function taskRecord(session: string, id: string, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    project: "proj", id, session, account: "main", claude_session_id: UUID_A, attempt: 1, phase: "working", cwd: "/srv/proj",
    started_at: 1, submitted_at: 2, timeout_ms: 7_200_000, screen_changed_at: 2, screen_hash: "", idle_polls: 0, ...extra,
  };
}

export interface World {
  root: string;
  link: string;
  shared: string;
  homes: { main: string; backup: string };
  clock: FakeClock;
  ledger: AccountLedger;
  /** Every port call and persisted step, in order ("persist:flipping", "kill", "flip:backup" …). */
  calls: string[];
  journals: SwapJournal[];
  notices: SwapNotice[];
  lastSwap: { from: string; to: string; at: number; reason: string } | null;
  captured: { poolTasks: TaskRecord[]; dedicated: { session: string; uuid: string | null }[] };
  deps: SwitcherDeps;
  /** Where the claude link points now, as an account name (or the raw path). */
  linkAccount(): Promise<string>;
  cleanup(): Promise<void>;
}

export interface WorldOptions {
  /** Replaces the real flip (e.g. failing on its n-th call). */
  flip?: (real: typeof flipLink, link: string, home: string, call: number) => Promise<string | null>;
  persist?: (j: SwapJournal) => Promise<void>;
  /** Called at every persist with the journal: lets a test snapshot the world there. */
  onPersist?: (j: SwapJournal) => Promise<void>;
}

export async function makeWorld(options: WorldOptions = {}): Promise<World> {
  const root = await realpath(await mkdtemp(path.join(os.tmpdir(), "cf-swap-")));
  const homes = { main: path.join(root, ".claude-main"), backup: path.join(root, ".claude-backup") };
  const shared = path.join(root, "shared");
  const link = path.join(root, ".claude");
  await Promise.all([mkdir(homes.main), mkdir(homes.backup), mkdir(shared)]);
  await symlink(homes.main, link);
  await ensureSharedLinks(homes.main, shared);
  const clock = new FakeClock(Date.UTC(2026, 3, 16, 19, 0));
  const ledger = new AccountLedger({ accounts: [{ name: "main" }, { name: "backup" }], active: "main", clock });
  const calls: string[] = [];
  const journals: SwapJournal[] = [];
  const notices: SwapNotice[] = [];
  const nameOf = (home: string): string => (home === homes.main ? "main" : home === homes.backup ? "backup" : home);
  let flips = 0;
  const world: World = {
    root, link, shared, homes, clock, ledger, calls, journals, notices, lastSwap: null,
    captured: {
      poolTasks: [
        taskRecord("ccl-auto-12", "t-late", { claude_session_id: UUID_B, submitted_at: 50 }),
        taskRecord("ccl-auto-11", "t-early", { claude_session_id: UUID_A, submitted_at: 10 }),
        taskRecord("ccl-auto-13", "t-handover", { phase: "submitting", claude_session_id: UUID_C }),
      ],
      dedicated: [{ session: "ccl-1-conformvault", uuid: UUID_C }, { session: "ccl-2-scanyze", uuid: "resume-id-corrupted" }],
    },
    deps: undefined as unknown as SwitcherDeps,
    linkAccount: async () => nameOf(path.resolve(root, await readlink(link))),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
  world.deps = {
    accounts: [{ name: "main", home: homes.main }, { name: "backup", home: homes.backup }],
    link,
    sessions: {
      capture: async () => {
        calls.push("capture");
        return structuredClone(world.captured);
      },
      killPoolSessions: async () => void calls.push("kill"),
      recreatePool: async (home) => void calls.push(`recreate:${nameOf(home)}`),
      relaunchDedicated: async (session, home, uuid) => void calls.push(`relaunch:${session}:${nameOf(home)}:${uuid ?? "shell"}`),
      resumePoolTask: async (session, record, home) => void calls.push(`resume:${session}:${record.id}:${nameOf(home)}`),
    },
    links: {
      flipLink: async (l, home) => {
        calls.push(`flip:${nameOf(home)}`);
        flips++;
        return options.flip ? options.flip(flipLink, l, home, flips) : flipLink(l, home);
      },
      ensureLinks: async (home) => {
        calls.push(`ensure:${nameOf(home)}`);
        return (await ensureSharedLinks(home, shared)).problems;
      },
    },
    accountsState: {
      active: () => ledger.active(),
      nextAccount: () => ledger.nextAccount(),
      isBroken: (name) => ledger.isBroken(name),
      setActive: (name) => {
        calls.push(`active:${name}`);
        ledger.setActive(name);
      },
      recordSwap: (swap) => {
        calls.push(`record:${swap.from}>${swap.to}`);
        world.lastSwap = swap;
      },
    },
    persist: async (j) => {
      await options.persist?.(j);
      calls.push(`persist:${j.step}`);
      journals.push(structuredClone(j));
      await options.onPersist?.(j);
    },
    clock,
    log: silentLogger(),
    notify: (n) => void notices.push(n),
    newId: () => "swap-1",
  };
  return world;
}
