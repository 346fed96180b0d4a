import { mkdtemp, mkdir, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import type { OpenForRead } from "./layout.js";
import { TaskQueue } from "./queue.js";

/** A queue over a fresh temp root with projects `alpha` and `beta` (each with its own working directory). */
export async function makeQueue(options: { clock?: FakeClock; projects?: string[]; settleMs?: number; openFile?: OpenForRead } = {}) {
  const base = await mkdtemp(path.join(os.tmpdir(), "cf-queue-"));
  const root = path.join(base, "queue");
  const projects: Record<string, string> = {};
  for (const p of options.projects ?? ["alpha", "beta"]) {
    projects[p] = path.join(base, "work", p);
    await mkdir(projects[p], { recursive: true });
  }
  const clock = options.clock ?? new FakeClock(Date.UTC(2026, 3, 17, 2, 17, 19));
  const queue = new TaskQueue({ root, projects, clock, log: silentLogger(), ...(options.settleMs !== undefined ? { settleMs: options.settleMs } : {}),
    ...(options.openFile ? { openFile: options.openFile } : {}) });
  await queue.ensureLayout();
  return {
    base,
    root,
    projects,
    clock,
    queue,
    dir: (project: string, folder: string) => path.join(root, project, folder),
    cleanup: () => rm(base, { recursive: true, force: true }),
  };
}

/** Writes a file into a project's folder, optionally with a given mtime (epoch seconds). */
export async function putFile(root: string, project: string, folder: string, name: string, content: string | Uint8Array, mtimeSec?: number): Promise<string> {
  const file = path.join(root, project, folder, name);
  await writeFile(file, content);
  if (mtimeSec !== undefined) await utimes(file, mtimeSec, mtimeSec);
  return file;
}

/** Sorted names per folder of one project, for assertions on where things are. */
export async function layoutOf(root: string, project: string): Promise<{ inbox: string[]; active: string[]; done: string[]; failed: string[] }> {
  const list = async (folder: string) => (await readdir(path.join(root, project, folder)).catch(() => [] as string[])).sort();
  return { inbox: await list("inbox"), active: await list("active"), done: await list("done"), failed: await list("failed") };
}

export async function readText(file: string): Promise<string> {
  return readFile(file, "utf8");
}
