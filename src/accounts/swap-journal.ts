/**
 * The swap's journal: what a swap captured and how far it got, persisted before each step's side effect so a
 * restart can finish or undo it (recoverSwap). Plain JSON: the daemon keeps it in state.json.
 */
import { z } from "zod";
import { isValidSessionId } from "../claude/launch.js";
import { taskRecordSchema, type TaskRecord } from "../dispatch/records.js";
import { AppError } from "../lib/errors.js";

/** The steps of contract §6 "A swap", then the three ends. */
export const SWAP_STEPS = [
  "recording",
  "stopping-pool",
  "flipping",
  "ensuring-links",
  "rolling-back",
  "recording-swap",
  "recreating",
  "done",
  "failed",
  "partial-swap",
] as const;
export type SwapStep = (typeof SWAP_STEPS)[number];
export const TERMINAL_STEPS: readonly SwapStep[] = ["done", "failed", "partial-swap"];

export const swapJournalSchema = z.object({
  id: z.string(),
  step: z.enum(SWAP_STEPS),
  trigger: z.enum(["auto", "manual"]),
  from: z.string(),
  to: z.string(),
  from_home: z.string(),
  to_home: z.string(),
  /** The claude link (claude.link). */
  link: z.string(),
  reason: z.string(),
  requested_at: z.number(),
  updated_at: z.number(),
  /** Step 1: every dedicated session and its claude session id (null when unknown). */
  dedicated: z.array(z.object({ session: z.string(), uuid: z.string().nullable() })).default([]),
  /** Step 1: the pool's tasks in flight. */
  pool_tasks: z.array(taskRecordSchema).default([]),
  /** The swap was turned back: `recreating` restores the previous home instead of the target. */
  rolled_back: z.boolean().default(false),
  /** Relaunches and resumes already started ("dedicated:<session>", "task:<project>/<id>"): at most once each. */
  started: z.array(z.string()).default([]),
  error: z.string().nullable().default(null),
  /** The step whose failure turned the swap back (its SwapError code follows from it). */
  failed_at: z.enum(["flipping", "ensuring-links", "recording-swap"]).nullable().default(null),
  /** The target's shared-link problems when ensuring them failed. */
  problems: z.array(z.string()).default([]),
  warnings: z.array(z.string()).default([]),
});
export type SwapJournal = z.infer<typeof swapJournalSchema>;

export type SwapErrorCode =
  | "SWAP_IN_PROGRESS"
  | "SWAP_PARTIAL_STATE"
  | "SWAP_SAME_ACCOUNT"
  | "SWAP_UNKNOWN_ACCOUNT"
  | "SWAP_TARGET_BROKEN"
  | "SWAP_NO_TARGET"
  | "SWAP_NO_ACTIVE"
  | "SWAP_CAPTURE_FAILED"
  | "SWAP_JOURNAL_FAILED"
  | "SWAP_FLIP_FAILED"
  | "SWAP_LINKS_BROKEN"
  | "SWAP_RECORD_FAILED"
  | "SWAP_PARTIAL";

/** How a swap that ran ended, with what it brought back. */
export interface SwapResult {
  outcome: "done" | "failed" | "partial-swap";
  journal: SwapJournal;
  relaunched: string[];
  resumed: string[];
  skipped: { session: string; task: string; why: string }[];
  warnings: string[];
}

/**
 * A swap refused or failed. `rolledBack` is true when nothing is left changed: the active account and the claude
 * link are as before (refusals included). SWAP_PARTIAL (rolledBack false): the link could not be put back;
 * SWAP_PARTIAL_STATE: refused because an earlier swap ended that way (until the daemon restarts). `result` is set
 * when the swap ran to a failed or partial end (not when it was refused or never started): the swap event's matter.
 */
export class SwapError extends AppError {
  readonly rolledBack: boolean;
  readonly problems: readonly string[];
  readonly result: SwapResult | undefined;
  constructor(code: SwapErrorCode, message: string, options: { rolledBack: boolean; problems?: readonly string[]; result?: SwapResult; cause?: unknown }) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.rolledBack = options.rolledBack;
    this.problems = options.problems ?? [];
    this.result = options.result;
  }
}

/** 0.3.0: a dedicated session is relaunched with --resume only for a well-formed id; otherwise it stays at the shell. */
export function resumableId(uuid: string | null): string | null {
  return uuid !== null && uuid.length === 36 && isValidSessionId(uuid) ? uuid : null;
}

export interface ResumePick {
  resume: TaskRecord[];
  skipped: { session: string; task: string; why: string }[];
}

/**
 * Which interrupted pool tasks are resumed with `--resume <id>` and "continue", oldest submitted first (they have
 * waited longest): only those whose prompt reached the agent (`working`) with a valid session id. The others were
 * still being handed over; the work loop's retry rule (Q4) takes them back.
 */
export function pickResumableTasks(records: readonly TaskRecord[]): ResumePick {
  const resume: TaskRecord[] = [];
  const skipped: ResumePick["skipped"] = [];
  for (const r of records) {
    const task = `${r.project}/${r.id}`;
    if (r.phase !== "working") skipped.push({ session: r.session, task, why: `phase ${r.phase}: the prompt may not have reached the agent` });
    else if (resumableId(r.claude_session_id) === null) skipped.push({ session: r.session, task, why: "no valid claude session id to resume" });
    else resume.push(r);
  }
  resume.sort((a, b) => (a.submitted_at ?? Infinity) - (b.submitted_at ?? Infinity) || a.session.localeCompare(b.session));
  return { resume, skipped };
}
