/**
 * What a crash harness checks once the daemon has drained the queue: where every task ended up (Q1),
 * what its file says, how many times its prompt reached the model, and what state.json kept.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { parseFooter } from "../../src/queue/footer.js";
import type { RecordedRequest } from "./mock-model-api.js";

export interface AuditedTask {
  project: string;
  id: string;
  /** A token found only in this task's prompt: how its deliveries are told apart in the mock's log. */
  marker: string;
  /** The exact bytes submitted. */
  text: string;
  /** Never a task (bad frontmatter): expected in failed/ with no delivery. */
  malformed: boolean;
}

export interface Filed {
  task: AuditedTask;
  folder: "done" | "failed";
  file: string;
  footer: Record<string, string>;
  attempts: number;
  /** Turn requests whose user text carries the task's marker. */
  deliveries: RecordedRequest[];
}

export interface QueueAudit {
  filed: Filed[];
  /** Every broken rule, one line each; empty when the queue is sound. */
  problems: string[];
}

const FOLDERS = ["inbox", "active", "done", "failed"] as const;

/** Turn requests (not the title's side requests) whose user text carries `marker`. */
export function deliveriesOf(requests: readonly RecordedRequest[], marker: string): RecordedRequest[] {
  return requests.filter((r) => r.kind === "turn" && r.userTexts.some((t) => t.includes(marker)));
}

/**
 * Reads every folder of every project and checks: inbox/ and active/ are empty (no task, no staged
 * `.to-done`/`.to-failed`, no signal or temp file); each task is in done/ or failed/ exactly once, as
 * `<id>.md`, and nowhere else; the file starts with the submitted text and ends with a footer whose
 * status is the folder's; a done task reached the model at least once; and a prompt reached the model
 * no more often than the footer's `attempts` say it was tried (an explicit retry is an attempt).
 */
export async function auditQueue(root: string, tasks: readonly AuditedTask[], requests: readonly RecordedRequest[]): Promise<QueueAudit> {
  const problems: string[] = [];
  const filed: Filed[] = [];
  const projects = [...new Set(tasks.map((t) => t.project))].sort();
  const seen = new Map<AuditedTask, string[]>();
  for (const project of projects) {
    for (const folder of FOLDERS) {
      const dir = path.join(root, project, folder);
      const names = (await readdir(dir).catch(() => [] as string[])).sort();
      if (folder === "inbox" || folder === "active") {
        if (names.length > 0) problems.push(`${project}/${folder} still holds ${names.join(", ")}`);
        continue;
      }
      for (const name of names) {
        const text = await readFile(path.join(dir, name), "utf8");
        const owners = tasks.filter((t) => text.includes(t.marker));
        if (owners.length !== 1) {
          problems.push(`${project}/${folder}/${name} belongs to ${owners.length} tasks (expected exactly one)`);
          continue;
        }
        const task = owners[0]!;
        seen.set(task, [...(seen.get(task) ?? []), `${project}/${folder}/${name}`]);
        if (task.project !== project || name !== `${task.id}.md`) problems.push(`${task.project}/${task.id} was filed as ${project}/${folder}/${name}`);
        if (!text.startsWith(task.text)) problems.push(`${project}/${folder}/${name} does not start with the submitted text`);
        const footer = parseFooter(text);
        if (!footer) {
          problems.push(`${project}/${folder}/${name} has no footer`);
          continue;
        }
        if (footer.status !== folder) problems.push(`${project}/${folder}/${name}: footer status ${footer.status ?? "(none)"}`);
        const attempts = Number(footer.attempts);
        if (!Number.isInteger(attempts) || attempts < 0) problems.push(`${project}/${folder}/${name}: footer attempts ${footer.attempts ?? "(none)"}`);
        filed.push({ task, folder, file: name, footer, attempts, deliveries: deliveriesOf(requests, task.marker) });
      }
    }
  }
  for (const task of tasks) {
    const where = seen.get(task) ?? [];
    if (where.length !== 1) problems.push(`${task.project}/${task.id} is filed ${where.length} times${where.length ? `: ${where.join(", ")}` : ""}`);
  }
  for (const f of filed) {
    const key = `${f.task.project}/${f.task.id}`;
    const n = f.deliveries.length;
    if (f.task.malformed) {
      if (f.folder !== "failed" || n !== 0 || f.attempts !== 0) problems.push(`${key} (malformed) is in ${f.folder}/ with attempts ${f.attempts} and ${n} deliveries (expected failed/, 0, 0)`);
      continue;
    }
    if (f.folder === "done" && n === 0) problems.push(`${key} is done but its prompt never reached the model`);
    if (n > f.attempts) {
      problems.push(`${key}: its prompt reached the model ${n} times but the footer counts ${f.attempts} attempt(s): ${f.deliveries.map(describeDelivery).join("; ")}`);
    }
  }
  return { filed, problems };
}

/** `#seq (claude session …, ends "…")`: which agent sent it, and how the prompt ended (a stray `/exit` shows). */
function describeDelivery(r: RecordedRequest): string {
  const session = r.headers["x-claude-code-session-id"];
  const text = JSON.stringify((r.lastUserText ?? "").slice(-24));
  return `request #${r.seq} (claude session ${session ?? "?"}, status ${r.status ?? "?"}, prompt ends ${text})`;
}

/** Names of `<state_dir>/state.json` task records and attempt counters still there. */
export async function leftoverState(stateDir: string): Promise<{ tasks: string[]; attempts: string[] }> {
  const envelope = JSON.parse(await readFile(path.join(stateDir, "state.json"), "utf8")) as { data?: { tasks?: Record<string, unknown>; attempts?: Record<string, unknown> } };
  return { tasks: Object.keys(envelope.data?.tasks ?? {}), attempts: Object.keys(envelope.data?.attempts ?? {}) };
}

/** The lines of `<state_dir>/events.jsonl` (and its rotations), oldest first; torn lines are skipped. */
export async function readEvents(stateDir: string): Promise<Record<string, unknown>[]> {
  const names = (await readdir(stateDir).catch(() => [] as string[])).filter((n) => /^events\.jsonl(\.\d+)?$/.test(n));
  names.sort((a, b) => Number(b.split(".")[2] ?? 0) - Number(a.split(".")[2] ?? 0));
  const out: Record<string, unknown>[] = [];
  for (const name of names) {
    for (const line of (await readFile(path.join(stateDir, name), "utf8")).split("\n")) {
      try {
        const e: unknown = JSON.parse(line);
        if (typeof e === "object" && e !== null) out.push(e as Record<string, unknown>);
      } catch {
        // the torn last line of a killed writer
      }
    }
  }
  return out;
}
