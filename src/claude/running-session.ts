import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { isValidSessionId } from "./launch.js";

/** Processes scanned at most when looking for a pane's descendants (bounds the work on a busy host). */
const MAX_PROCESSES = 20_000;

/** The pids below `root` in the process tree (children, grandchildren …), read from a /proc-like folder. */
export async function descendantPids(root: number, procRoot = "/proc"): Promise<number[]> {
  const parentOf = new Map<number, number>();
  const names = (await readdir(procRoot).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).slice(0, MAX_PROCESSES);
  await Promise.all(
    names.map(async (n) => {
      const stat = await readFile(path.join(procRoot, n, "stat"), "utf8").catch(() => "");
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (Number.isInteger(ppid)) parentOf.set(Number(n), ppid);
    }),
  );
  const out: number[] = [];
  const frontier = [root];
  while (frontier.length > 0 && out.length < 1000) {
    const p = frontier.shift()!;
    for (const [pid, ppid] of parentOf) {
      if (ppid === p && !out.includes(pid)) {
        out.push(pid);
        frontier.push(pid);
      }
    }
  }
  return out;
}

/**
 * The claude session id of the agent running in a pane, if any: Claude Code writes
 * `<config dir>/sessions/<pid>.json` = {pid, sessionId, cwd, …} for each running agent. The pane's
 * process or one of its descendants is the agent; `homes` are the config dirs it may use.
 */
export async function runningSession(panePid: number, homes: readonly string[], procRoot = "/proc"): Promise<{ sessionId: string; cwd: string | null } | null> {
  const pids = [panePid, ...(await descendantPids(panePid, procRoot))];
  for (const pid of pids) {
    for (const home of homes) {
      const text = await readFile(path.join(home, "sessions", `${pid}.json`), "utf8").catch(() => undefined);
      if (text === undefined) continue;
      try {
        const parsed = JSON.parse(text) as { pid?: unknown; sessionId?: unknown; cwd?: unknown };
        if (parsed.pid === pid && typeof parsed.sessionId === "string" && isValidSessionId(parsed.sessionId)) {
          return { sessionId: parsed.sessionId, cwd: typeof parsed.cwd === "string" && path.isAbsolute(parsed.cwd) ? parsed.cwd : null };
        }
      } catch {
        // a half-written or foreign file: not this agent
      }
    }
  }
  return null;
}
