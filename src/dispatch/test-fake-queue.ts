import { AppError } from "../lib/errors.js";
import type { ClaimResult, FooterFields, QueuePort } from "./ports.js";

interface FakeTask {
  prompt: string;
  cwd: string;
  timeoutMs?: number;
  title?: string;
  where: "inbox" | "active" | "done" | "failed";
  result?: string;
  reason?: string;
  footer?: FooterFields;
  doneSignal?: boolean;
}

/** An in-memory QueuePort with the same one-place-at-a-time rule as the disk queue (Q1). */
export class FakeQueue implements QueuePort {
  readonly tasks = new Map<string, FakeTask>();
  readonly moves: string[] = [];

  constructor(private readonly projectNames: string[] = ["p"]) {}

  add(project: string, id: string, prompt: string, extra: Partial<FakeTask> = {}): void {
    this.tasks.set(`${project}/${id}`, { prompt, cwd: `/work/${project}`, where: "inbox", ...extra });
  }

  where(project: string, id: string): FakeTask["where"] | undefined {
    return this.tasks.get(`${project}/${id}`)?.where;
  }

  get(project: string, id: string): FakeTask | undefined {
    return this.tasks.get(`${project}/${id}`);
  }

  projects(): readonly string[] {
    return this.projectNames;
  }

  async waiting(project: string): Promise<string[]> {
    return [...this.tasks.entries()].filter(([k, t]) => k.startsWith(`${project}/`) && t.where === "inbox").map(([k]) => k.slice(project.length + 1));
  }

  private move(project: string, id: string, from: FakeTask["where"], to: FakeTask["where"]): FakeTask {
    const t = this.tasks.get(`${project}/${id}`);
    // The disk queue's code for a task that is not where it was asked for.
    if (!t || t.where !== from) throw new AppError("QUEUE_NOT_FOUND", `fake queue: ${project}/${id} is not in ${from} (it is in ${t?.where ?? "nowhere"})`);
    t.where = to;
    this.moves.push(`${project}/${id}:${from}->${to}`);
    return t;
  }

  async claim(project: string, id: string): Promise<ClaimResult> {
    const t = this.tasks.get(`${project}/${id}`);
    if (!t || t.where !== "inbox") return { ok: false, reason: "gone" };
    this.move(project, id, "inbox", "active");
    return { ok: true, task: { project, id, prompt: t.prompt, cwd: t.cwd, ...(t.timeoutMs ? { timeoutMs: t.timeoutMs } : {}), ...(t.title !== undefined ? { title: t.title } : {}) } };
  }

  async complete(project: string, id: string, result: string, footer: FooterFields): Promise<void> {
    Object.assign(this.move(project, id, "active", "done"), { result, footer });
  }

  async fail(project: string, id: string, reason: string, footer: FooterFields): Promise<void> {
    Object.assign(this.move(project, id, "active", "failed"), { reason, footer });
  }

  async finishStaged(): Promise<boolean> {
    return false;
  }

  async requeue(project: string, id: string): Promise<string> {
    this.move(project, id, "active", "inbox");
    return id;
  }

  async active(): Promise<{ project: string; id: string }[]> {
    return [...this.tasks.entries()].filter(([, t]) => t.where === "active").map(([k]) => {
      const [project = "", id = ""] = k.split("/");
      return { project, id };
    });
  }

  async doneSignal(project: string, id: string): Promise<boolean> {
    return this.tasks.get(`${project}/${id}`)?.doneSignal === true;
  }
}
