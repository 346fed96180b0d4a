import { access } from "node:fs/promises";
import path from "node:path";
import type { ClaimResult, FooterFields, QueuePort } from "../dispatch/ports.js";
import type { Logger } from "../lib/logger.js";
import type { TaskQueue } from "../queue/queue.js";

/** The work loop's view of the on-disk queue. */
export function queuePort(queue: TaskQueue, root: string, projects: readonly string[], log: Logger): QueuePort {
  return {
    projects: () => projects,
    async waiting(project) {
      const scan = await queue.scanInbox(project);
      // Q2: what cannot be a task leaves the inbox for failed/ with its reason, once seen.
      for (const bad of scan.invalid) {
        const file = await queue.rejectEntry(project, bad.name, bad.reason);
        if (file) log.warn({ project, file: bad.name, reason: bad.reason }, "task rejected");
      }
      return scan.tasks.map((t) => t.id);
    },
    async claim(project, id): Promise<ClaimResult> {
      const r = await queue.claim(project, id);
      if (r.status === "claimed") {
        const t = r.task;
        return { ok: true, task: { project, id, prompt: t.prompt, cwd: t.meta.cwd, ...(t.meta.timeoutMs ? { timeoutMs: t.meta.timeoutMs } : {}), ...(t.meta.title ? { title: t.meta.title } : {}) } };
      }
      if (r.status === "rejected") {
        log.warn({ project, task: id, reason: r.reason }, "task rejected");
        return { ok: false, reason: `rejected: ${r.reason}` };
      }
      return { ok: false, reason: r.status };
    },
    complete: async (project, id, result, footer: FooterFields) => void (await queue.complete(project, id, { result, footer })),
    fail: async (project, id, reason, footer: FooterFields) => void (await queue.fail(project, id, { reason, footer })),
    requeue: (project, id) => queue.requeue(project, id),
    active: async () => (await queue.listActive()).map((a) => ({ project: a.project, id: a.id })),
    async doneSignal(project, id) {
      try {
        await access(path.join(root, project, "active", `${id}.done`));
        return true;
      } catch {
        return false;
      }
    },
  };
}

