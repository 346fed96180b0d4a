import { z } from "zod";
import { worktreeRecordSchema } from "../git/worktrees.js";

/**
 * A task in flight, as state.json keeps it so a restart knows what each session was doing (Q4).
 * `phase` says how far the hand-over got: a crash before `working` means the prompt may not have
 * reached the agent.
 */
export const taskRecordSchema = z.object({
  project: z.string(),
  id: z.string(),
  session: z.string(),
  account: z.string(),
  claude_session_id: z.string(),
  attempt: z.number().int().min(1),
  phase: z.enum(["claimed", "launching", "submitting", "working"]),
  cwd: z.string(),
  started_at: z.number(),
  submitted_at: z.number().nullable(),
  timeout_ms: z.number(),
  /** Last time the screen changed (stall detection). */
  screen_changed_at: z.number(),
  screen_hash: z.string(),
  idle_polls: z.number().int(),
  /** Time spent held at a usage limit (U5), left out of the timeout; absent: never held. */
  held_ms: z.number().min(0).optional(),
  /** The last poll that found the task held: the next held poll adds the time since. */
  held_at: z.number().optional(),
  /** Control sequences removed from the task text before pasting (S5); absent when none. */
  prompt_changes: z.number().int().min(1).optional(),
  /** The task's title (the commit message of its worktree's last commit). */
  title: z.string().optional(),
  /** The task's own worktree, journaled before it is created. */
  worktree: worktreeRecordSchema.optional(),
});
export type TaskRecord = z.infer<typeof taskRecordSchema>;

/** How long a task has been held at a usage limit, the stretch under way included. */
export function heldMs(r: Pick<TaskRecord, "held_ms" | "held_at">, now: number): number {
  return (r.held_ms ?? 0) + (r.held_at === undefined ? 0 : Math.max(0, now - r.held_at));
}

/** How long a task has been timed: since it started, less every stretch held at a usage limit. */
export function timedMs(r: Pick<TaskRecord, "started_at" | "held_ms" | "held_at">, now: number): number {
  return now - r.started_at - heldMs(r, now);
}

export const taskKey = (project: string, id: string): string => `${project}/${id}`;

/** Where the work loop keeps its records: the daemon's state store, behind a narrow port. */
export interface TaskLedger {
  records(): TaskRecord[];
  get(key: string): TaskRecord | undefined;
  put(record: TaskRecord): void;
  remove(key: string): void;
  /** Attempts already made for a task that went back to the inbox. */
  attempts(key: string): number;
  setAttempts(key: string, n: number | undefined): void;
  /** Resolves once everything above is durable. */
  flush(): Promise<void>;
}
