import type { ClaimResult, FooterFields, QueuePort } from "../dispatch/ports.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { RejectionStuckError } from "../queue/errors.js";
import type { TaskQueue } from "../queue/queue.js";

/** Bad inbox files rejected per project and pass: a flood of them must not hold up supervision. */
export const REJECT_BATCH = 50;

export interface QueuePortOptions {
  /** Asks for another look at the inboxes in `inMs` (0: right after this pass). */
  recheck?: (inMs: number) => void;
  /** Default REJECT_BATCH. */
  rejectBatch?: number;
}

/** The work loop's view of the on-disk queue. */
export function queuePort(queue: TaskQueue, projects: readonly string[], log: Logger, options: QueuePortOptions = {}): QueuePort {
  const batch = options.rejectBatch ?? REJECT_BATCH;
  return {
    projects: () => projects,
    async waiting(project, onStuck) {
      const scan = await queue.scanInbox(project);
      // Q2: what cannot be a task leaves the inbox for failed/ with its reason, once seen — a batch
      // per pass, each move being a few fsyncs; the rest at the next pass, after a supervision.
      for (const bad of scan.invalid.slice(0, batch)) {
        try {
          const file = await queue.rejectEntry(project, bad.name, bad.reason);
          if (file) log.warn({ project, file: bad.name, reason: bad.reason }, "task rejected");
        } catch (err) {
          // One entry's fault must not stop the project's dispatch, nor the others'.
          if (err instanceof RejectionStuckError && onStuck) {
            onStuck({ id: err.activeId, reason: err.rejection.reason, ...(err.rejection.detail !== undefined ? { detail: err.rejection.detail } : {}), error: err });
          } else {
            log.error({ project, file: bad.name, err: describeError(err) }, "could not reject an inbox entry; tried again at the next pass");
          }
        }
      }
      if (scan.invalid.length > batch) {
        log.info({ project, left: scan.invalid.length - batch }, "more bad inbox files: rejected in the next passes");
        options.recheck?.(0);
      }
      // A file still changing (written in place) waits until it has settled.
      if (scan.settlesInMs !== undefined) options.recheck?.(scan.settlesInMs);
      return scan.tasks.filter((t) => t.settled).map((t) => t.id);
    },
    async claim(project, id): Promise<ClaimResult> {
      const r = await queue.claim(project, id);
      if (r.status === "claimed") {
        const t = r.task;
        return { ok: true, task: { project, id, prompt: t.prompt, cwd: t.meta.cwd, ...(t.meta.timeoutMs ? { timeoutMs: t.meta.timeoutMs } : {}), ...(t.meta.title ? { title: t.meta.title } : {}), ...(t.meta.worktree !== undefined ? { worktree: t.meta.worktree } : {}) } };
      }
      if (r.status === "rejected") {
        log.warn({ project, task: id, reason: r.reason }, "task rejected");
        return { ok: false, reason: `rejected: ${r.reason}` };
      }
      return { ok: false, reason: r.status };
    },
    complete: async (project, id, result, footer: FooterFields) => void (await queue.complete(project, id, { result, footer })),
    fail: async (project, id, reason, footer: FooterFields, detail?: string) => void (await queue.fail(project, id, { reason, footer, ...(detail !== undefined ? { detail } : {}) })),
    finishStaged: async (project, id) => (await queue.finishStaged(project, id)) !== undefined,
    requeue: (project, id) => queue.requeue(project, id),
    active: async () => (await queue.listActive()).map((a) => ({ project: a.project, id: a.id })),
    doneSignal: (project, id) => queue.doneSignal(project, id),
  };
}

