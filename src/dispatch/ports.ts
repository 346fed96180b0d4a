/** What the work loop needs from the on-disk queue: a narrow port, adapted from TaskQueue in daemon/. */
export interface ClaimedTask {
  project: string;
  id: string;
  prompt: string;
  /** Absolute working directory (inside the project). */
  cwd: string;
  /** The task's own timeout, when its frontmatter sets one. */
  timeoutMs?: number;
  title?: string;
  /** The task's frontmatter `worktree:`, overriding the project's isolation. */
  worktree?: boolean;
}

export type ClaimResult =
  | { ok: true; task: ClaimedTask }
  /** Gone (another claimer won) or unparseable (already filed under failed/ with the reason). */
  | { ok: false; reason: string };

export type { FooterFields } from "../queue/footer.js";
import type { WorktreeFinish, WorktreeRecord } from "../git/worktrees.js";
import type { FooterFields } from "../queue/footer.js";
import type { ScreenVerdict } from "../claude/screen.js";
import type { TaskRecord } from "./records.js";

/**
 * A bad inbox entry that was moved into active/ (as `id`) to be filed under failed/, and could not be filed:
 * the work loop files it with `reason` and `detail` at a later pass.
 */
export interface StuckRejection {
  id: string;
  reason: string;
  detail?: string;
  /** Why the filing failed. */
  error: unknown;
}

export interface QueuePort {
  projects(): readonly string[];
  /**
   * Waiting task ids of a project, in dispatch order. Bad entries are filed on the way; one whose filing
   * failed half-way is handed to `onStuck`.
   */
  waiting(project: string, onStuck?: (stuck: StuckRejection) => void): Promise<string[]>;
  claim(project: string, id: string): Promise<ClaimResult>;
  complete(project: string, id: string, result: string, footer: FooterFields): Promise<void>;
  /** Files active/<id>.md under failed/; `detail` follows the reason in its Failure section. */
  fail(project: string, id: string, reason: string, footer: FooterFields, detail?: string): Promise<void>;
  /** Publishes a finish staged but never published (a fault after staging); false when none is staged. */
  finishStaged(project: string, id: string): Promise<boolean>;
  /** Back to the inbox; resolves the id it now waits under (suffixed if a new task took the name meanwhile). */
  requeue(project: string, id: string): Promise<string>;
  /** Every task in active/, across projects. */
  active(): Promise<{ project: string; id: string }[]>;
  /** True when the signal file active/<id>.done exists. */
  doneSignal(project: string, id: string): Promise<boolean>;
}

/** Where the pool's sessions come from and how their state is told. */
export interface SessionPort {
  /** Idle pool sessions, ready for a task (never dedicated ones: S3). */
  freePoolSessions(): string[];
  /** True while the pool holds fewer sessions than its range allows. */
  canGrow(): boolean;
  /** Asks the pool for one more session; true when one is being created. */
  grow(): Promise<boolean>;
  markBusy(session: string, task: string, account: string): void;
  markIdle(session: string): void;
  /**
   * Takes a pool session whose agent would not end out of service: killed, and handed no task until the
   * pool's reconcile creates it again (S2).
   */
  retire(session: string): Promise<void>;
}

/**
 * Usage limits as supervision meets them: it reports each screen of a working task and asks whether the task is
 * held at a limit (then its swap or reset belongs to the failover, and it is left untimed). One decision, the
 * failover's; supervision never judges a banner itself.
 */
export interface LimitPort {
  observeScreen(record: TaskRecord, verdict: ScreenVerdict): void;
  holdsLimit(record: TaskRecord): boolean;
}

/** An account as its agents are launched: its name, its home (CLAUDE_CONFIG_DIR) and the agents' environment. */
export interface AgentAccount {
  name: string;
  home: string;
  env: Record<string, string>;
}

/** The account to launch with; undefined while every account is exhausted (dispatch pauses). */
export interface AccountPort {
  activeAccount(): AgentAccount | undefined;
}

/**
 * Per-task git worktrees and per-project concurrency, behind a port so the work loop's
 * tests need no git. Absent: every task runs in the project's checkout, no cap.
 */
export interface WorktreePort {
  /** How many tasks of a project may run at once; undefined = no cap. */
  maxParallel(project: string): number | undefined;
  /** Whether the task runs in its own worktree: the project's isolation, or the task's `worktree:`. */
  wanted(task: ClaimedTask): boolean;
  /** Resolves the base and names the branch and folder; nothing is created. */
  plan(task: ClaimedTask): Promise<WorktreeRecord>;
  /** Creates the planned worktree; resolves the task's cwd inside it. */
  create(rec: WorktreeRecord, task: ClaimedTask): Promise<string>;
  /** Undoes a creation whose task never got its prompt through. */
  rollback(rec: WorktreeRecord): Promise<void>;
  /** Commits what the agent left; the footer's branch/commit/base/diffstat. */
  save(rec: WorktreeRecord, task: { project: string; id: string; title: string }): Promise<WorktreeFinish>;
  /** Removes the worktree when nothing in it is uncommitted; the reason it is kept, else undefined. */
  remove(rec: WorktreeRecord): Promise<string | undefined>;
}
