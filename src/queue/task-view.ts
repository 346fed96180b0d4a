import { lstat } from "node:fs/promises";
import { markerPath, readHead, taskPath } from "./layout.js";
import { assertProjectName, assertTaskId } from "./names.js";

export type TaskPlace = "inbox" | "active" | "done" | "failed" | "delegated";

/** Shown of a task file; a longer one is cut (the view says so). */
export const TASK_VIEW_MAX_BYTES = 256 * 1024;

/**
 * Where task `id` of `project` is and the start of its file, for the dashboard's detail view; undefined
 * when no folder holds it as a regular file (links are never followed).
 */
export async function readTaskForView(root: string, project: string, id: string): Promise<{ folder: TaskPlace; text: string; truncated: boolean } | undefined> {
  assertProjectName(project);
  assertTaskId(id);
  const places: [TaskPlace, string][] = [
    ["active", taskPath(root, project, "active", id)],
    ["inbox", taskPath(root, project, "inbox", id)],
    ["delegated", markerPath(root, project, id)],
    ["failed", taskPath(root, project, "failed", id)],
    ["done", taskPath(root, project, "done", id)],
  ];
  for (const [folder, file] of places) {
    let size: number;
    try {
      const st = await lstat(file);
      if (!st.isFile()) continue;
      size = st.size;
    } catch {
      continue;
    }
    const head = await readHead(file, TASK_VIEW_MAX_BYTES);
    if (head === undefined) continue;
    return { folder, text: head.toString("utf8"), truncated: size > TASK_VIEW_MAX_BYTES };
  }
  return undefined;
}
